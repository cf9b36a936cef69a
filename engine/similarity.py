"""Item co-occurrence rows, kept per item, and their cosine neighbour lists.

Each item has one :class:`ItemRow`: its total interaction weight, its
co-occurrence weight with the items users engaged with around it (bounded to
the strongest ``max_pairs``), and its popularity decayed by event time. Rows
are updated by :class:`RowIncrement` s, which :func:`row_increments` derives
from a user's interaction; the row remembers the last input offset it applied,
so a redelivered increment is applied once.

>>> rows = {}
>>> for item, inc in row_increments(PairUpdate("a", 2.0, (("b", 1.0),), ts=0.0)).items():
...     rows[item], _ = apply_increment(rows.get(item), item, inc, 7, RowLimits())
>>> rows["a"].pairs, rows["b"].pairs
({'b': 1.0}, {'a': 1.0})
>>> top_neighbours(rows["a"], {"a": 2.0, "b": 1.0}.get, 5)
[('b', 0.707107)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.profiles import PairUpdate

__all__ = [
    "ItemRow",
    "RowIncrement",
    "RowLimits",
    "apply_increment",
    "apply_increments",
    "row_increments",
    "top_neighbours",
    "top_next",
]


@dataclass(frozen=True)
class RowLimits:
    max_pairs: int = 200
    half_life: float = 86400.0  # of popularity, in seconds of event time


@dataclass(frozen=True, slots=True)
class RowIncrement:
    """What one interaction adds to one item's row."""

    gain: float  # to the item's own weight and popularity
    pairs: dict[str, float]  # partner -> co-occurrence weight
    ts: float
    next: dict[str, float] = field(default_factory=dict)  # item engaged with right after


def row_increments(update: PairUpdate) -> dict[str, RowIncrement]:
    """The increments of every row an interaction touches (the item and its partners)."""
    pairs = {partner: min(update.gain, weight) for partner, weight in update.partners}
    increments = {update.item_id: RowIncrement(update.gain, pairs, update.ts)}
    for partner, weight in pairs.items():
        increments[partner] = RowIncrement(0.0, {update.item_id: weight}, update.ts)
    if update.previous is not None:
        before = increments.get(update.previous) or RowIncrement(0.0, {}, update.ts)
        increments[update.previous] = RowIncrement(
            before.gain, before.pairs, update.ts, {update.item_id: 1.0}
        )
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

    def summary(self, weight_of: Callable[[str], float | None], k: int) -> dict[str, Any]:
        """What every worker is told of this row (the item-neighbours topic's value)."""
        return {
            "item_id": self.item_id,
            "weight": self.weight,
            "popularity": [self.popularity, self.popularity_ts],
            "neighbours": top_neighbours(self, weight_of, k),
            "next": top_next(self, k),
        }


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
    """Apply all the increments one input record (at ``offset``) holds for this row, once."""
    row = row or ItemRow(item_id)
    if offset <= row.applied_offset:
        return row, False
    row.applied_offset = offset
    for increment in increments:
        _add(row, increment, limits)
    row.pairs = _bounded(row.pairs, limits.max_pairs)
    row.next = _bounded(row.next, limits.max_pairs)
    return row, True


def _add(row: ItemRow, increment: RowIncrement, limits: RowLimits) -> None:
    if increment.gain > 0:
        row.weight += increment.gain
        if increment.ts >= row.popularity_ts:
            elapsed = increment.ts - row.popularity_ts
            row.popularity = row.popularity * 0.5 ** (elapsed / limits.half_life) + increment.gain
            row.popularity_ts = increment.ts
        else:
            elapsed = row.popularity_ts - increment.ts
            row.popularity += increment.gain * 0.5 ** (elapsed / limits.half_life)
    for partner, weight in increment.pairs.items():
        row.pairs[partner] = row.pairs.get(partner, 0.0) + weight
    for following, count in increment.next.items():
        row.next[following] = row.next.get(following, 0.0) + count


def _bounded(weights: dict[str, float], bound: int) -> dict[str, float]:
    if len(weights) <= bound:
        return weights
    return dict(sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:bound])


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
    row: ItemRow, weight_of: Callable[[str], float | None], k: int
) -> list[tuple[str, float]]:
    """The ``k`` most similar items by cosine: ``c_ij / sqrt(w_i * w_j)``, best first.

    ``weight_of`` gives another item's total weight (None when not known yet:
    the co-occurrence weight stands in for it).
    """
    if row.weight <= 0:
        return []
    scored = []
    for partner, together in row.pairs.items():
        other = weight_of(partner) or together
        similarity = min(1.0, together / math.sqrt(row.weight * max(other, together)))
        scored.append((round(similarity, 6), partner))
    scored.sort(key=lambda sp: (-sp[0], sp[1]))
    return [(partner, similarity) for similarity, partner in scored[:k]]
