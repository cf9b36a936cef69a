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

import binascii
import itertools
from collections.abc import Sequence

import numpy as np

from engine.candidates import SOURCES
from engine.profiles import Profile, interest_shares
from engine.ranking import Pool
from engine.world import World

__all__ = ["FEATURES", "Row", "candidate_features", "feature_rows", "feature_table", "pack_rows",
           "take_rows", "unpack_rows"]

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
_SCALE = 10.0**_DIGITS
_RANKS = len(_SOURCES)  # first column of the sources' ranks
_BLEND = 2 * len(_SOURCES)  # first column after them
_COLUMN = {source: column for column, source in enumerate(_SOURCES)}
_LOGS = slice(_BLEND + 3, _BLEND + 5)  # popularity and trend: log(1 + value)


def feature_table(pool: Pool, profile: Profile | None, world: World) -> np.ndarray:
    """One row (see :data:`FEATURES`) per item of ``pool``, in the pool's order, as an array.

    The ranker scores the array as it is; :func:`pack_rows` packs it for a
    profile to remember. Each row is filled in Python, item by item (the lookups
    need it), and the array is made from them in one pass: numpy's per-call
    cost makes column-wise filling dearer at this size.
    """
    items = pool.items
    if not items:
        return np.empty((0, len(FEATURES)))
    shares = interest_shares(profile.category) if profile else {}
    favourite = next(iter(shares), None)
    recent = {entry[0]: position for position, entry in enumerate(profile.recent)} \
        if profile else {}
    current_item = world.item(profile.recent[0][0]) if profile and profile.recent else None
    current = current_item.category if current_item else None
    contributions, column_of, weights, catalog = pool.contributions, _COLUMN, world.weights, \
        world.item
    scores, popularities = pool.scores, world.popularities(items)
    sources = len(_SOURCES)
    rows: list[list[float]] = []
    for index, item_id in enumerate(items):
        row = [0.0] * _BLEND  # each source's score and rank
        proposed = 0
        for _weighted, _reason, source, source_score, rank in contributions[item_id]:
            column = column_of.get(source)
            if column is not None:
                row[column] = source_score
                row[_RANKS + column] = 1.0 / (1 + rank)
                proposed += 1
        item = catalog(item_id)
        category = item.category if item else None
        position = recent.get(item_id)
        weight = weights.get(item_id, 0.0)
        row += (
            scores[index],
            1.0 / (1 + index),
            proposed / sources,
            weight if weight > 0.0 else 0.0,  # log1p below, with the next column
            popularities[index],
            shares.get(category, 0.0) if category is not None else 0.0,
            float(category == favourite) if category is not None else 0.0,
            float(category == current) if category is not None else 0.0,
            1.0 / (1 + position) if position is not None else 0.0,
        )
        rows.append(row)
    table = np.fromiter(itertools.chain.from_iterable(rows), float,
                        len(rows) * len(FEATURES)).reshape(len(rows), len(FEATURES))
    table[:, _LOGS] = np.log1p(table[:, _LOGS])
    return np.round(table, _DIGITS)


def feature_rows(table: np.ndarray) -> list[Row]:
    """The rows of a :func:`feature_table`, as tuples of floats."""
    rounded: list[list[float]] = table.tolist()
    return list(map(tuple, rounded))


def pack_rows(table: np.ndarray) -> str:
    """A table of rows as a profile remembers it: one short ASCII string (see :func:`unpack_rows`).

    About half the values of a feature table are 0: a bit per value says which
    are not, and only those are kept, as float32 when that gives back exactly
    the table's rounded values (:func:`unpack_rows` rounds them again), else as
    float64. A served list's 20 rows take about 1.2 KB this way, against 2 KB
    as JSON numbers, and one string object in memory against 460 floats and
    the tuples of them.

    >>> table = np.array([[0.0, 0.3333, 12.5], [1.0, 0.0, 0.0]])
    >>> packed = pack_rows(table)
    >>> packed[:5], bool((unpack_rows(packed) == table).all())
    ('f2x3:', True)
    >>> pack_rows(np.array([[1 / 3]]))[:4]  # not rounded: kept as float64, exactly
    'd1x1'
    """
    table = np.asarray(table, dtype=float)
    count, width = table.shape
    present = table != 0.0
    values = table[present]
    narrow = values.astype("<f4")
    exact = bool((_rounded(narrow) == values).all())
    kind, kept = ("f", narrow) if exact else ("d", values.astype("<f8"))
    data = np.packbits(present).tobytes() + kept.tobytes()
    return f"{kind}{count}x{width}:{binascii.b2a_base64(data, newline=False).decode('ascii')}"


def unpack_rows(packed: str) -> np.ndarray:
    """The table :func:`pack_rows` packed, the same to the last bit; ValueError if malformed."""
    head, colon, body = packed.partition(":")
    count, _x, width = head[1:].partition("x")
    if not colon or head[:1] not in ("f", "d") or not (count.isdigit() and width.isdigit()):
        raise ValueError(f"not packed feature rows: {packed[:20]!r}")
    cells = int(count) * int(width)
    data = binascii.a2b_base64(body, strict_mode=True)  # (raises binascii.Error, a ValueError)
    flags = (cells + 7) // 8
    present = np.unpackbits(np.frombuffer(data[:flags], np.uint8), count=cells).view(bool) \
        if len(data) >= flags else None
    kept = np.frombuffer(data[flags:], "<f4" if head[0] == "f" else "<f8")
    if present is None or np.count_nonzero(present) != len(kept):
        raise ValueError(f"packed feature rows of the wrong size: {head}")
    table = np.zeros(cells)
    table[present] = _rounded(kept) if head[0] == "f" else kept
    return table.reshape(int(count), int(width))


def take_rows(packed: str, indices: Sequence[int]) -> str:
    """``pack_rows(unpack_rows(packed)[indices])``, the same string, without decoding the values.

    A remembered list keeps only its shown rows once a newer list is in force
    (:func:`engine.feedback.remember`), after every list published: here the
    bits of the chosen rows are moved and their four-byte values copied,
    where unpacking and packing again takes a dozen numpy calls. Rows kept
    in eight bytes (rare) are unpacked and packed again: fewer of them may fit
    in four. ValueError if ``packed`` is malformed; IndexError for an index
    outside ``range(count)``.

    >>> table = np.array([[0.0, 0.5, 2.0], [1.0, 0.0, 0.0], [0.25, 0.0, 3.0]])
    >>> take_rows(pack_rows(table), [2, 0]) == pack_rows(table[[2, 0]])
    True
    """
    head, colon, body = packed.partition(":")
    count, _x, width = head[1:].partition("x")
    if head[:1] != "f" or not colon or not (count.isdigit() and width.isdigit()):
        table = unpack_rows(packed)
        _check_rows(indices, len(table))
        return pack_rows(table[list(indices)])
    rows, columns = int(count), int(width)
    data = binascii.a2b_base64(body, strict_mode=True)
    flags = (rows * columns + 7) // 8
    bits = int.from_bytes(data[:flags], "big")  # np.packbits: the first cell is the top bit
    mask = (1 << columns) - 1
    shift = flags * 8 - columns  # of the first row's bits
    row_bits = [(bits >> (shift - row * columns)) & mask for row in range(rows)]
    starts = list(itertools.accumulate((4 * b.bit_count() for b in row_bits), initial=0))
    values = data[flags:]
    if len(data) < flags or starts[-1] != len(values):
        raise ValueError(f"packed feature rows of the wrong size: {head}")
    _check_rows(indices, rows)
    taken = 0
    for index in indices:
        taken = taken << columns | row_bits[index]
    kept = len(indices) * columns
    taken_flags = (kept + 7) // 8
    packed_bits = (taken << (taken_flags * 8 - kept)).to_bytes(taken_flags, "big")
    chosen = b"".join([values[starts[index]:starts[index + 1]] for index in indices])
    encoded = binascii.b2a_base64(packed_bits + chosen, newline=False).decode("ascii")
    return f"f{len(indices)}x{columns}:{encoded}"


def _check_rows(indices: Sequence[int], rows: int) -> None:
    """IndexError unless every index is one of ``range(rows)`` (numpy would take -1 too)."""
    if not all(0 <= index < rows for index in indices):
        raise IndexError(f"rows {list(indices)} of {rows}")


def _rounded(values: np.ndarray) -> np.ndarray:
    """``np.round(values, _DIGITS)`` in float64, to the bit, without its per-call overhead."""
    return np.rint(values.astype(float) * _SCALE) / _SCALE


def candidate_features(pool: Pool, profile: Profile | None, world: World) -> list[Row]:
    """One row (see :data:`FEATURES`) per item of ``pool``, in the pool's order."""
    return feature_rows(feature_table(pool, profile, world))
