"""What the learned ranker knows of a candidate: one row of numbers per item of the pool.

The pool is the blend's best candidates, best first. For each, the row holds
what every source said of it (score and rank, 0 when the source did not
propose it), what the blend made of it, how popular it is, how well it fits
the user's interests and whether the user has engaged with it before. Values
are rounded so that a row stored in a profile and read back is the row that
was scored.

>>> from engine.candidates import Candidate
>>> from engine.ranking import RankedItem
>>> lists = {"co_occurrence": [Candidate("b", 1.0, "co_occurrence", "viewed with a"),
...                            Candidate("c", 0.5, "co_occurrence", "viewed with a")],
...          "trending": [Candidate("c", 1.0, "trending", "trending now")]}
>>> pool = [RankedItem("b", 1.0, ["viewed with a"]), RankedItem("c", 0.6, ["viewed with a"])]
>>> rows = candidate_features(pool, lists, None, World())
>>> dict(zip(FEATURES, rows[1]))["co_occurrence_rank"], dict(zip(FEATURES, rows[1]))["trending"]
(0.5, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from engine.candidates import SOURCES, Candidate
from engine.profiles import Profile, interest_shares
from engine.ranking import RankedItem
from engine.world import World

__all__ = ["FEATURES", "candidate_features"]

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
    "recent",  # 1 / (1 + position) in the user's recent items (0: never engaged with)
)

_DIGITS = 4


def candidate_features(
    pool: Sequence[RankedItem],
    candidates: Mapping[str, Sequence[Candidate]],
    profile: Profile | None,
    world: World,
) -> list[list[float]]:
    """One row (see :data:`FEATURES`) per item of ``pool``, in the pool's order."""
    proposed: dict[str, dict[str, tuple[float, int]]] = {}
    for source, items in candidates.items():
        if source in SOURCES:
            for rank, candidate in enumerate(items):
                proposed.setdefault(candidate.item_id, {})[source] = (candidate.score, rank)
    shares = interest_shares(profile.category) if profile else {}
    favourite = next(iter(shares), None)
    recent = {entry[0]: position for position, entry in enumerate(profile.recent)} \
        if profile else {}
    rows = []
    for rank, ranked in enumerate(pool):
        item_id = ranked.item_id
        by_source = proposed.get(item_id, {})
        item = world.item(item_id)
        category = item.category if item else None
        position = recent.get(item_id)
        row = [
            *(by_source[s][0] if s in by_source else 0.0 for s in _SOURCES),
            *(1.0 / (1 + by_source[s][1]) if s in by_source else 0.0 for s in _SOURCES),
            ranked.score,
            1.0 / (1 + rank),
            len(by_source) / len(_SOURCES),
            math.log1p(max(world.weight(item_id) or 0.0, 0.0)),
            math.log1p(world.popularity(item_id)),
            shares.get(category, 0.0) if category else 0.0,
            1.0 if category is not None and category == favourite else 0.0,
            0.0 if position is None else 1.0 / (1 + position),
        ]
        rows.append([round(value, _DIGITS) for value in row])
    return rows
