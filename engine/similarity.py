"""Item co-occurrence rows, kept per item, and their neighbour lists.

Each item has one :class:`ItemRow`: its total interaction weight, its
co-occurrence weight with the items users engaged with around it, the part of
that weight from items the same users *bought* together (both bounded to the
strongest ``max_pairs``), and its popularity decayed by event time. Rows are
updated by :class:`RowIncrement` s, which :func:`row_increments` derives from a
user's interaction; the row remembers the last input offset it applied, so a
redelivered increment is applied once.

Neighbour scores normalise the co-occurrence weight ``c_ij`` by the items'
weights ``w_i``, ``w_j`` (:data:`SIMILARITIES`, chosen by ``RowLimits.similarity``):

- ``cosine``: ``c_ij / sqrt(w_i * w_j)``;
- ``jaccard``: ``c_ij / (w_i + w_j - c_ij)``;
- ``conditional``: ``c_ij / (w_i * w_j ** alpha)``, that is ``P(j | i)`` with
  the neighbour's popularity damped by the exponent ``alpha`` (Deshpande and
  Karypis, "Item-based top-N recommendation algorithms", 2004).

Each row also keeps its latest ``RowLimits.engagers`` engagers, users known
only by their :func:`~engine.privacy.engager_key`, with the event time of
their latest interaction: what user-based collaborative filtering needs to
find users who engaged with the same items. A row keeps a user only while the
item is among the user's recent items (the user's interaction that pushes the
item out of them, and ``forget_user``, remove the user: :class:`~engine.profiles.Erasure`).

With ``RowLimits.pair_half_life`` > 0 the weights decay by event time: they
are stored as of the row's reference time ``pair_ts`` (older and newer
evidence discounted or grown by its distance from it), so the result does not
depend on the order increments arrive in.

>>> rows = {}
>>> for item, inc in row_increments(PairUpdate("a", 2.0, (("b", 1.0),), ts=0.0)).items():
...     rows[item], _ = apply_increment(rows.get(item), item, inc, 7, RowLimits())
>>> rows["a"].pairs, rows["b"].pairs
({'b': 1.0}, {'a': 1.0})
>>> top_neighbours(rows["a"], {"a": 2.0, "b": 1.0}, 5)  # P(b | a) = 1 / 2
[('b', 0.5)]
>>> top_neighbours(rows["a"], {"a": 2.0, "b": 1.0}, 5, RowLimits(similarity="cosine"))
[('b', 0.707107)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from engine.profiles import EVENT_WEIGHTS, Erasure, PairUpdate

__all__ = [
    "BOUGHT",
    "SIMILARITIES",
    "ItemRow",
    "RowIncrement",
    "RowLimits",
    "apply_increment",
    "apply_increments",
    "latest_engagers",
    "row_increments",
    "top_neighbours",
    "top_next",
]

#: The normalisations of co-occurrence weights into neighbour scores.
SIMILARITIES = ("conditional", "cosine", "jaccard")
#: A user's weight for an item that means they bought it (ratings and carts stay below).
BOUGHT = EVENT_WEIGHTS["purchase"]
_FORGOTTEN = 1e-6  # decayed weights below this are dropped from a row
_MAX_EXPONENT = 500.0  # bound of 2**x when growing another row's weight (no overflow)
_VECTORISE_FROM = 24  # rows with more pairs are scored with numpy (faster from about there)

Number = TypeVar("Number", float, npt.NDArray[np.float64])


@dataclass(frozen=True)
class RowLimits:
    """How rows are kept and normalised (from the settings)."""

    max_pairs: int = 200
    half_life: float = 86400.0  # of popularity, in seconds of event time
    similarity: str = "conditional"  # one of SIMILARITIES (measured best: see the README)
    alpha: float = 0.25  # conditional: exponent of the neighbour's weight (popularity damping)
    pair_half_life: float = 0.0  # of weights and pair weights, in seconds; 0: no decay
    engagers: int = 20  # latest engagers kept per item (user-based CF); 0: none

    def __post_init__(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")


@dataclass(frozen=True, slots=True)
class RowIncrement:
    """What one interaction adds to one item's row."""

    gain: float  # to the item's own weight and popularity
    pairs: dict[str, float]  # partner -> co-occurrence weight
    ts: float
    next: dict[str, float] = field(default_factory=dict)  # item engaged with right after
    bought: dict[str, float] = field(default_factory=dict)  # the part of pairs bought together
    # (input partition, offset) of the event it comes from: applied once per row, however
    # often it is sent (a worker re-sends the increments of a redelivered event)
    source: tuple[int, int] | None = None
    engager: str = ""  # the engager key of the user who engaged with the item ("": none)
    forget: tuple[str, ...] = ()  # engager keys the row must forget


def row_increments(update: PairUpdate | Erasure) -> dict[str, RowIncrement]:
    """The increments of every row an interaction touches (the item and its partners).

    A pair is also "bought together" when the user has bought both items. The
    item's own row learns the user's engager key; the rows of the items that
    left the user's recent items forget it (as do all the rows of an
    :class:`~engine.profiles.Erasure`).

    >>> a = row_increments(PairUpdate("b", 7.0, (("a", 8.0), ("c", 1.0)), 5.0, level=8.0))["a"]
    >>> a.gain, a.pairs, a.bought
    (0.0, {'b': 7.0}, {'b': 7.0})
    >>> rows = row_increments(PairUpdate("b", 1.0, (), 5.0, user="k1", dropped=("z",)))
    >>> rows["b"].engager, rows["z"].forget
    ('k1', ('k1',))
    >>> {item: inc.forget for item, inc in row_increments(Erasure("k1", ("a", "b"), 9.0)).items()}
    {'a': ('k1',), 'b': ('k1',)}
    """
    if isinstance(update, Erasure):
        return {item: RowIncrement(0.0, {}, update.ts, forget=(update.user,))
                for item in update.items}
    pairs = {partner: min(update.gain, weight) for partner, weight in update.partners}
    level = update.gain if update.level is None else update.level
    bought = {partner: pairs[partner] for partner, weight in update.partners
              if weight >= BOUGHT} if level >= BOUGHT else {}
    increments = {update.item_id: RowIncrement(update.gain, pairs, update.ts, bought=bought,
                                               engager=update.user)}
    for partner, weight in pairs.items():
        increments[partner] = RowIncrement(
            0.0, {update.item_id: weight}, update.ts,
            bought={update.item_id: weight} if partner in bought else {},
        )
    if update.previous is not None:
        before = increments.get(update.previous) or RowIncrement(0.0, {}, update.ts)
        increments[update.previous] = RowIncrement(
            before.gain, before.pairs, update.ts, {update.item_id: 1.0}, before.bought
        )
    if update.user:
        for item in update.dropped:
            before = increments.get(item) or RowIncrement(0.0, {}, update.ts)
            increments[item] = replace(before, forget=(update.user,))
    return increments


@dataclass(slots=True)
class ItemRow:
    item_id: str
    weight: float = 0.0
    pairs: dict[str, float] = field(default_factory=dict)
    next: dict[str, float] = field(default_factory=dict)  # transitions to the next item
    popularity: float = 0.0
    popularity_ts: float = 0.0
    applied_offset: int = -1
    bought: dict[str, float] = field(default_factory=dict)  # pair weights, bought together
    pair_ts: float = 0.0  # weight, pairs and bought are as of this event time (with decay)
    sources: dict[str, int] = field(default_factory=dict)  # input partition -> last offset applied
    engagers: dict[str, float] = field(default_factory=dict)  # engager key -> latest event time

    def popularity_key(self, half_life: float) -> float:
        """A number that orders items by decayed popularity at any common time."""
        if self.popularity <= 0:
            return -math.inf
        return math.log(self.popularity) + math.log(2) * self.popularity_ts / half_life

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemRow:
        return cls(**data)

    def summary(self, weights: Mapping[str, float], k: int, limits: RowLimits,
                weight_times: Mapping[str, float] | None = None) -> dict[str, Any]:
        """What every worker is told of this row (the item-neighbours topic's value).

        ``weights`` (and ``weight_times``) are the items' published weights
        (:func:`top_neighbours`).
        ``bought`` is left out while the row has no bought-together evidence,
        ``weight_ts`` (the time ``weight`` is as of) when weights do not decay.
        """
        summary: dict[str, Any] = {
            "item_id": self.item_id,
            "weight": self.weight,
            "popularity": [self.popularity, self.popularity_ts],
            "neighbours": top_neighbours(self, weights, k, limits, weight_times),
            "next": top_next(self, k),
        }
        if limits.pair_half_life > 0:
            summary["weight_ts"] = self.pair_ts
        if self.bought:
            summary["bought"] = top_neighbours(self, weights, k, limits, weight_times,
                                               bought=True)
        if self.engagers:
            summary["engagers"] = latest_engagers(self)
        return summary


def apply_increment(
    row: ItemRow | None, item_id: str, increment: RowIncrement, offset: int, limits: RowLimits
) -> tuple[ItemRow, bool]:
    """Apply an increment read at input ``offset``; returns (row, applied).

    An offset at or below the last one applied is a redelivery and changes nothing.
    Takes ownership of ``row``.
    """
    return apply_increments(row, item_id, [increment], offset, limits)


def apply_increments(
    row: ItemRow | None,
    item_id: str,
    increments: Sequence[RowIncrement],
    offset: int,
    limits: RowLimits,
) -> tuple[ItemRow, bool]:
    """Apply all the increments one input record (at ``offset``) holds for this row, once.

    An increment with a ``source`` at or below the last one applied from that
    input partition was applied already (sent again after a crash) and is
    skipped: increments from one input partition reach a row in input order.
    Erasures of engagers for a row that does not exist (evicted) are not
    applied: nothing to forget, and no empty row made. Returns whether
    anything was applied.
    """
    if row is None and all(_erasure_only(increment) for increment in increments):
        return ItemRow(item_id), False
    row = row or ItemRow(item_id)
    if offset <= row.applied_offset:
        return row, False
    row.applied_offset = offset
    applied = False
    for increment in increments:
        if increment.source is not None:
            partition, source_offset = str(increment.source[0]), increment.source[1]
            if source_offset <= row.sources.get(partition, -1):
                continue
            row.sources[partition] = source_offset
        _add(row, increment, limits)
        applied = True
    if not applied:
        return row, False
    row.pairs = _bounded(row.pairs, limits.max_pairs)
    row.bought = _bounded(row.bought, limits.max_pairs)
    row.next = _bounded(row.next, limits.max_pairs)
    if len(row.engagers) > limits.engagers:
        row.engagers = dict(_newest_first(row.engagers)[: limits.engagers])
    return row, True


def _erasure_only(increment: RowIncrement) -> bool:
    return not (increment.gain or increment.pairs or increment.bought or increment.next
                or increment.engager)


def _evidence_scale(row: ItemRow, ts: float, half_life: float) -> float:
    """What evidence at ``ts`` is worth as of the row's reference time ``pair_ts``.

    The reference moves to ``ts`` (everything decayed to it) when ``ts`` is
    more than a half-life after it, so stored values stay within a factor 2 of
    their current worth; decayed-away pairs are dropped then.
    """
    if half_life <= 0:
        row.pair_ts = max(row.pair_ts, ts)
        return 1.0
    if row.weight <= 0 and not row.pairs and not row.bought:
        row.pair_ts = ts
    elif ts - row.pair_ts > half_life:
        factor = 0.5 ** ((ts - row.pair_ts) / half_life)
        row.weight *= factor
        row.pairs = _decayed(row.pairs, factor)
        row.bought = _decayed(row.bought, factor)
        row.pair_ts = ts
    return float(0.5 ** ((row.pair_ts - ts) / half_life))


def _decayed(weights: dict[str, float], factor: float) -> dict[str, float]:
    return {j: w * factor for j, w in weights.items() if w * factor >= _FORGOTTEN}


def _add(row: ItemRow, increment: RowIncrement, limits: RowLimits) -> None:
    for user in increment.forget:
        row.engagers.pop(user, None)
    if increment.engager and limits.engagers > 0:
        row.engagers[increment.engager] = max(increment.ts,
                                              row.engagers.get(increment.engager, increment.ts))
    if _erasure_only(increment):
        return  # the weights and their reference time stay as they are
    scale = _evidence_scale(row, increment.ts, limits.pair_half_life)
    if increment.gain > 0:
        row.weight += increment.gain * scale
        if increment.ts >= row.popularity_ts:
            elapsed = increment.ts - row.popularity_ts
            row.popularity = row.popularity * 0.5 ** (elapsed / limits.half_life) + increment.gain
            row.popularity_ts = increment.ts
        else:
            elapsed = row.popularity_ts - increment.ts
            row.popularity += increment.gain * 0.5 ** (elapsed / limits.half_life)
    for partner, weight in increment.pairs.items():
        row.pairs[partner] = row.pairs.get(partner, 0.0) + weight * scale
    for partner, weight in increment.bought.items():
        row.bought[partner] = row.bought.get(partner, 0.0) + weight * scale
    for following, count in increment.next.items():
        row.next[following] = row.next.get(following, 0.0) + count


def _bounded(weights: dict[str, float], bound: int) -> dict[str, float]:
    if len(weights) <= bound:
        return weights
    return dict(sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:bound])


def _newest_first(engagers: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(engagers.items(), key=lambda kv: (-kv[1], kv[0]))


def latest_engagers(row: ItemRow) -> list[str]:
    """The row's engager keys, the latest to engage first (ties by key).

    >>> latest_engagers(ItemRow("a", engagers={"k1": 5.0, "k2": 9.0, "k0": 5.0}))
    ['k2', 'k0', 'k1']
    """
    return [user for user, _ts in _newest_first(row.engagers)]


def top_next(row: ItemRow, k: int) -> list[tuple[str, float]]:
    """The ``k`` items most often engaged with right after this one: P(next = j | this).

    >>> top_next(ItemRow("a", next={"b": 3.0, "c": 1.0}), 5)
    [('b', 0.75), ('c', 0.25)]
    """
    total = sum(row.next.values())
    if total <= 0:
        return []
    ranked = sorted(row.next.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return [(item, round(count / total, 6)) for item, count in ranked]


def top_neighbours(
    row: ItemRow,
    weights: Mapping[str, float],
    k: int,
    limits: RowLimits = RowLimits(),
    weight_times: Mapping[str, float] | None = None,
    *,
    bought: bool = False,
) -> list[tuple[str, float]]:
    """The ``k`` most similar items by ``limits.similarity``, scores in [0, 1], best first.

    ``bought`` ranks the bought-together weights instead of all co-occurrence.
    ``weights`` are the other items' published weights; with decay, each is
    as of its time in ``weight_times`` and is decayed to this row's reference
    time. An unknown weight is taken to be the pair weight (nobody engaged
    with that item apart from this item). A pair weight counts at most the
    weight of either item. Large rows are scored with numpy: the worker does
    this for every row a batch touches.

    >>> row = ItemRow("a", weight=4.0, pairs={"b": 3.0, "c": 1.0})
    >>> weights = {"b": 30.0, "c": 1.0}
    >>> top_neighbours(row, weights, 5, RowLimits(similarity="cosine"))  # the rare c first
    [('c', 0.5), ('b', 0.273861)]
    >>> top_neighbours(row, weights, 5, RowLimits(similarity="conditional", alpha=0.0))
    [('b', 0.75), ('c', 0.25)]
    """
    counts = row.bought if bought else row.pairs
    w_i = row.weight
    if w_i <= 0 or not counts:
        return []
    ts, half_life = row.pair_ts, limits.pair_half_life
    times = weight_times if half_life > 0 and weight_times is not None else None
    score, alpha = _SCORES[limits.similarity], limits.alpha
    partners = list(counts)
    if len(partners) <= _VECTORISE_FROM:
        others: Iterable[float] = map(weights.get, partners, repeat(0.0))
        if times is not None:
            others = (w_j * 2.0 ** min(_MAX_EXPONENT, (as_of - ts) / half_life)
                      for w_j, as_of in zip(others, map(times.get, partners, repeat(0.0)),
                                            strict=True))
        # a pair counts at most either item's weight; an unknown (0) weight is the pair's
        scores = [score(c if c < w_i else w_i, w_i, w_j if w_j > c else c, alpha)
                  for c, w_j in zip(counts.values(), others, strict=True)]
        cut = -math.inf
    else:
        n = len(partners)
        pair = np.fromiter(counts.values(), float, n)
        w = np.fromiter(map(weights.get, partners, repeat(0.0)), float, n)
        if times is not None:
            as_of = np.fromiter(map(times.get, partners, repeat(0.0)), float, n)
            w *= np.exp2(np.minimum(_MAX_EXPONENT, (as_of - ts) / half_life))
        w = np.maximum(w, pair)
        vector = score(np.minimum(pair, w_i), w_i, w, alpha)
        cut = float(np.partition(vector, -k)[-k]) if n > k else -math.inf
        scores = vector.tolist()
    best = sorted(((s, j) for s, j in zip(scores, partners, strict=True) if s >= cut),
                  key=lambda sj: (-sj[0], sj[1]))[:k]
    return [(partner, round(min(1.0, similarity), 6)) for similarity, partner in best]


# The normalisations, for a number or a numpy array of pair weights c <= min(w_i, w_j).

def _cosine(c: Number, w_i: float, w_j: Number, alpha: float) -> Number:
    return c / (w_i * w_j) ** 0.5  # type: ignore[no-any-return]


def _jaccard(c: Number, w_i: float, w_j: Number, alpha: float) -> Number:
    return c / (w_i + w_j - c)


def _conditional(c: Number, w_i: float, w_j: Number, alpha: float) -> Number:
    return c / (w_i * w_j**alpha)  # type: ignore[no-any-return]


_SCORES = {"cosine": _cosine, "jaccard": _jaccard, "conditional": _conditional}
