"""What the learned ranker knows of a candidate: one row of numbers per item of the pool.

The pool is the blend's best candidates, best first, with what each source
contributed to each. For each item, the row holds
what every source said of it (score and rank, 0 when the source did not
propose it), what the blend made of it, how popular it is, how well it fits
the user's interests and whether the user has engaged with it before. Values
are rounded so that a row stored in a profile and read back is the row that
was scored.

>>> from engine.candidates import Candidate
>>> from engine.ranking import blend_pool
>>> lists = {"co_occurrence": [Candidate("b", 1.0, "co_occurrence", "viewed with a"),
...                            Candidate("c", 0.5, "co_occurrence", "viewed with a")],
...          "trending": [Candidate("c", 1.0, "trending", "trending now")]}
>>> pool = blend_pool(lists, set(), lambda item: True, {"co_occurrence": 1, "trending": 1}, 5)
>>> pool.items, pool.scores
(['c', 'b'], [1.5, 1.0])
>>> c = dict(zip(FEATURES, candidate_features(pool, None, World())[0]))
>>> c["co_occurrence"], c["co_occurrence_rank"], c["trending"], c["blend_rank"], c["sources"]
(0.5, 0.5, 1.0, 1.0, 0.2857)
"""

from __future__ import annotations

import numpy as np

from engine.candidates import SOURCES
from engine.profiles import Profile, interest_shares
from engine.ranking import Pool
from engine.world import World

__all__ = ["FEATURES", "Row", "candidate_features"]

Row = tuple[float, ...]  # one candidate's features, in the order of FEATURES

_SOURCES = tuple(SOURCES)

#: The names of a row's columns, in order.
FEATURES: tuple[str, ...] = (
    *_SOURCES,  # each source's score (0: not proposed by it)
    *(f"{source}_rank" for source in _SOURCES),  # 1 / (1 + rank) in that source's list
    "blend",  # the blend's weighted score
    "blend_rank",  # 1 / (1 + rank) in the blend
    "sources",  # share of the sources that proposed the item
    "popularity",  # log(1 + all-time interaction weight)
    "trend",  # log(1 + popularity decayed to the latest event time)
    "category_share",  # the user's interest share of the item's category
    "favourite_category",  # 1 when that category is the user's strongest
    "current_category",  # 1 when it is the category of the item the user is on now
    "recent",  # 1 / (1 + position) in the user's recent items (0: never engaged with)
)

_DIGITS = 4
_RANKS = len(_SOURCES)  # first column of the sources' ranks
_BLEND = 2 * len(_SOURCES)  # first column after them
_COLUMN = {source: column for column, source in enumerate(_SOURCES)}


def candidate_features(pool: Pool, profile: Profile | None, world: World) -> list[Row]:
    """One row (see :data:`FEATURES`) per item of ``pool``, in the pool's order.

    Rows are tuples: a profile remembers them, and tuples of floats are left out of
    the garbage collector's scans (lists of them made its full collections long).
    """
    items = pool.items
    if not items:
        return []
    shares = interest_shares(profile.category) if profile else {}
    favourite = next(iter(shares), None)
    recent = {entry[0]: position for position, entry in enumerate(profile.recent)} \
        if profile else {}
    current_item = world.item(profile.recent[0][0]) if profile and profile.recent else None
    current = current_item.category if current_item else None
    # what the sources said, and what the user and the catalog say: Python, item by item;
    # the columns that need no lookup are filled by numpy below
    said: list[list[float]] = []
    about: list[tuple[int, float, float, float, float, float]] = []
    contributions, column_of, weights, catalog = pool.contributions, _COLUMN, world.weights, \
        world.item
    width = 2 * len(_SOURCES)
    for item_id in items:
        row = [0.0] * width
        proposed = 0
        for _weighted, _reason, source, source_score, rank in contributions[item_id]:
            column = column_of.get(source)
            if column is not None:
                row[column] = source_score
                row[_RANKS + column] = 1.0 / (1 + rank)
                proposed += 1
        said.append(row)
        item = catalog(item_id)
        category = item.category if item else None
        position = recent.get(item_id)
        weight = weights.get(item_id, 0.0)
        about.append((
            proposed,
            weight if weight > 0.0 else 0.0,
            shares.get(category, 0.0) if category is not None else 0.0,
            float(category == favourite) if category is not None else 0.0,
            float(category == current) if category is not None else 0.0,
            1.0 / (1 + position) if position is not None else 0.0,
        ))
    size = len(items)
    facts = np.array(about, dtype=float)
    table = np.empty((size, len(FEATURES)))
    table[:, :width] = said
    table[:, _BLEND] = pool.scores
    table[:, _BLEND + 1] = 1.0 / (1 + np.arange(size))
    table[:, _BLEND + 2] = facts[:, 0] / len(_SOURCES)
    table[:, _BLEND + 3] = np.log1p(facts[:, 1])
    table[:, _BLEND + 4] = np.log1p(world.popularities(items))
    table[:, _BLEND + 5 :] = facts[:, 2:]
    rounded: list[list[float]] = np.round(table, _DIGITS).tolist()
    return list(map(tuple, rounded))
