"""Blend candidates into one list: score, apply business rules, explain.

>>> from engine.candidates import Candidate
>>> lists = {"co_occurrence": [Candidate("b", 1.0, "co_occurrence", "viewed with a"),
...                            Candidate("c", 0.5, "co_occurrence", "viewed with a")],
...          "trending": [Candidate("c", 1.0, "trending", "trending now"),
...                       Candidate("x", 0.9, "trending", "trending now")]}
>>> [(r.item_id, r.reasons) for r in blend(lists, {"x"}, lambda i: True, DEFAULT_WEIGHTS, 5)]
[('b', ['viewed with a']), ('c', ['viewed with a', 'trending now'])]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from engine.candidates import Candidate

__all__ = [
    "DEFAULT_WEIGHTS",
    "CategoryCap",
    "Pool",
    "RankedItem",
    "backfill",
    "blend",
    "blend_pool",
    "diversify",
]

#: How much each source counts in the blend.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "sequence": 1.0,
    "bought_together": 0.5,  # also counted in co_occurrence: adds to it without dominating
    "co_occurrence": 1.0,
    "similar_users": 0.1,  # within noise of 0 on both datasets (README); gives its reason
    "category": 0.35,
    "content": 0.0,  # opt-in (ENGINE_BLEND_WEIGHTS): +5% HR@10 on REES46, ~1 ms per list
    "trending": 0.1,
}
_MAX_REASONS = 3


@dataclass(frozen=True, slots=True)
class RankedItem:
    item_id: str
    score: float
    reasons: list[str]

    def to_dict(self) -> dict[str, object]:
        return {"item_id": self.item_id, "score": self.score, "reasons": self.reasons}


class CategoryCap:
    """Diversity: admits items until their category has filled ``limit`` places (0: no cap).

    Items without a category are never capped.

    >>> cap = CategoryCap({"a": "shoes", "b": "shoes", "c": None}.get, 1)
    >>> [cap.admit(i) for i in "abc"]
    [True, False, True]
    """

    def __init__(self, category_of: Callable[[str], str | None], limit: int) -> None:
        self.category_of = category_of
        self.limit = limit
        self.filled: dict[str, int] = {}

    def admit(self, item_id: str) -> bool:
        if self.limit <= 0 or (category := self.category_of(item_id)) is None:
            return True
        if self.filled.get(category, 0) >= self.limit:
            return False
        self.filled[category] = self.filled.get(category, 0) + 1
        return True


def diversify(
    items: Sequence[str],
    order: Iterable[int],
    n: int,
    *,
    category_of: Callable[[str], str | None] = lambda item: None,
    max_per_category: int = 0,
) -> list[int]:
    """The first ``n`` indices of ``order`` whose items the per-category cap admits.

    >>> diversify(["a", "b", "c"], [2, 1, 0], 2, category_of={"c": "x", "b": "x"}.get,
    ...           max_per_category=1)
    [2, 0]
    """
    if max_per_category <= 0:
        return list(itertools.islice(order, n))
    cap = CategoryCap(category_of, max_per_category)
    picked: list[int] = []
    for index in order:
        if len(picked) == n:
            break
        if cap.admit(items[index]):
            picked.append(index)
    return picked


@dataclass(frozen=True)
class Pool:
    """The blend's best candidates, best first; each explained only when asked."""

    items: list[str]
    scores: list[float]
    #: item -> what each source contributed: (weighted score, reason, source, score, rank)
    contributions: Mapping[str, list[tuple[float, str, str, float, int]]]

    def reasons(self, index: int) -> list[str]:
        """The item's distinct reasons, strongest contribution first (at most three)."""
        contributions = self.contributions[self.items[index]]
        if len(contributions) == 1:  # most items: one source proposed them
            return [contributions[0][1]]
        explained = sorted(contributions, key=lambda c: -c[0])
        return list(dict.fromkeys(c[1] for c in explained))[:_MAX_REASONS]

    def ranked(self, index: int) -> RankedItem:
        return RankedItem(self.items[index], self.scores[index], self.reasons(index))


def blend_pool(
    candidates: Mapping[str, Sequence[Candidate]],
    exclude: set[str],
    is_recommendable: Callable[[str], bool],
    weights: Mapping[str, float],
    size: int,
    cap: CategoryCap | None = None,
) -> Pool:
    """The ``size`` best items by weighted score; never an excluded, unavailable or repeated one.

    With a ``cap``, only the items it admits (diversity).
    """
    weighted = [(source, weight, items) for source, items in candidates.items()
                if (weight := weights.get(source, 0.0)) > 0]
    scores: dict[str, float] = {}
    for _source, weight, items in weighted:
        for item, score, _, _reason in items:
            if item not in exclude:
                scores[item] = scores.get(item, 0.0) + weight * score
    chosen: list[str] = []
    chosen_scores: list[float] = []
    for item, score in _best_first(scores):
        if len(chosen) == size:
            break
        if not is_recommendable(item) or (cap is not None and not cap.admit(item)):
            continue
        chosen.append(item)
        chosen_scores.append(round(score, 6))
    # what each source said of the chosen items only: the rest need no explaining
    contributions: dict[str, list[tuple[float, str, str, float, int]]] = {
        item: [] for item in chosen}
    for source, weight, items in weighted:
        for rank, (item, score, _, reason) in enumerate(items):
            if (found := contributions.get(item)) is not None:
                found.append((weight * score, reason, source, score, rank))
    return Pool(chosen, chosen_scores, contributions)


#: The reason of an item a list falls back on (see :func:`backfill`).
NEW_IN_CATALOG = "new in the catalog"
#: The most catalog items :func:`backfill` looks at for one list.
BACKFILL_SCAN = 2000


def backfill(
    pool: Pool,
    newest: Iterable[str],
    exclude: set[str],
    is_recommendable: Callable[[str], bool],
    size: int,
    cap: CategoryCap | None = None,
) -> Pool:
    """``pool`` filled up to ``size`` with the catalog's newest items, when the sources
    proposed too few: a new shop, a user of an empty corner of the catalog.

    The filling comes after every proposed item, at score 0, with the reason
    "new in the catalog", under the same rules (never an excluded, unavailable
    or repeated item; with a ``cap``, only the items it admits). At most
    :data:`BACKFILL_SCAN` items of ``newest`` are looked at. A full pool is
    returned as it is.

    >>> pool = Pool(["a"], [1.0], {"a": [(1.0, "trending now", "trending", 1.0, 0)]})
    >>> filled = backfill(pool, ["d", "c", "b", "a"], {"c"}, lambda item: True, 3)
    >>> filled.items, filled.scores, filled.reasons(2)
    (['a', 'd', 'b'], [1.0, 0.0, 0.0], ['new in the catalog'])
    """
    if len(pool.items) >= size:
        return pool
    items, scores = list(pool.items), list(pool.scores)
    contributions = dict(pool.contributions)
    for item in itertools.islice(newest, BACKFILL_SCAN):
        if len(items) == size:
            break
        if item in contributions or item in exclude or not is_recommendable(item) or (
                cap is not None and not cap.admit(item)):
            continue
        contributions[item] = [(0.0, NEW_IN_CATALOG, "catalog", 0.0, len(items))]
        items.append(item)
        scores.append(0.0)
    return Pool(items, scores, contributions)


def blend(
    candidates: Mapping[str, Sequence[Candidate]],
    exclude: set[str],
    is_recommendable: Callable[[str], bool],
    weights: Mapping[str, float],
    n: int,
    *,
    category_of: Callable[[str], str | None] = lambda item: None,
    max_per_category: int = 0,
) -> list[RankedItem]:
    """The ``n`` best items by weighted score; never an excluded, unavailable or repeated item.

    Each item keeps its reasons, strongest contribution first. With
    ``max_per_category`` > 0, no category fills more than that many places
    (diversity); items without a category are not capped.
    """
    pool = blend_pool(candidates, exclude, is_recommendable, weights, n,
                      CategoryCap(category_of, max_per_category))
    return [pool.ranked(index) for index in range(len(pool.items))]


def _best_first(scores: dict[str, float]) -> Iterator[tuple[str, float]]:
    """Items by descending score (ties by id).

    A pool merges a few hundred candidates at most (each source proposes
    ``EngineConfig.pool``), so one sort in C is cheaper than a partial sort.

    >>> list(_best_first({"a": 1.0, "b": 2.0, "c": 1.0}))
    [('b', 2.0), ('a', 1.0), ('c', 1.0)]
    """
    for negative, item in sorted([(-score, item) for item, score in scores.items()]):
        yield item, -negative
