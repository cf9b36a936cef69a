"""The matrix factorisation's kept items in numpy arrays: one row per item, scored at once.

River keeps an item's factors and bias in dicts; :class:`ItemFactors` mirrors
them in a matrix and a vector, so scoring every kept item for a user is one
matrix-vector product (:meth:`ItemFactors.top`) and explaining a list is one
matrix product (:meth:`ItemFactors.closest`). Rows freed by evicted items are
reused; the arrays grow by doubling up to the item budget.

>>> import numpy as np
>>> items = ItemFactors(factors=2, max_items=10)
>>> items.put("a", np.array([1.0, 0.0]), 0.0); items.put("b", np.array([0.0, 1.0]), 0.5)
>>> items.top(np.array([2.0, 1.0]), 0.0, 2)
[('a', 2.0), ('b', 1.5)]
>>> items.drop("a"); items.top(np.array([2.0, 1.0]), 0.0, 2)
[('b', 1.5)]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ItemFactors"]

_INITIAL_CAPACITY = 1024  # rows at first; doubled up to max_items


class ItemFactors:
    """Kept items' factors and biases, a row each; the least recently put item first."""

    def __init__(self, factors: int, max_items: int) -> None:
        self.factors, self.max_items = factors, max(max_items, 1)
        self._rows: OrderedDict[str, int] = OrderedDict()  # item -> row, least recent first
        capacity = min(_INITIAL_CAPACITY, self.max_items)
        self._matrix = np.zeros((capacity, factors))
        self._bias = np.zeros(capacity)
        self._valid = np.zeros(capacity, dtype=bool)
        self._row_items: list[str | None] = [None] * capacity
        self._free: list[int] = []
        self._used = 0  # rows ever handed out (the others are beyond the end)

    # -- the items ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, item: object) -> bool:
        return item in self._rows

    def __iter__(self) -> Iterator[str]:
        """The items, least recently put first."""
        return iter(self._rows)

    def row_of(self, item: str) -> int:
        return self._rows[item]

    def put(self, item: str, vector: np.ndarray, bias: float) -> None:
        """Set an item's factors and bias; a new item takes a free row and goes last."""
        row = self._rows.get(item)
        if row is None:
            row = self._rows[item] = self._new_row(item)
        else:
            self._rows.move_to_end(item)
        self._matrix[row] = vector
        self._bias[row] = bias

    def oldest(self) -> str:
        """The least recently put item."""
        return next(iter(self._rows))

    def drop(self, item: str) -> None:
        """Forget an item; its row is free for the next new one."""
        row = self._rows.pop(item)
        self._valid[row] = False
        self._matrix[row] = 0.0
        self._bias[row] = 0.0
        self._row_items[row] = None
        self._free.append(row)

    def _new_row(self, item: str) -> int:
        if self._free:
            row = self._free.pop()
        else:
            if self._used == len(self._valid):
                self._grow()
            row = self._used
            self._used += 1
        self._claim(item, row)
        return row

    def _claim(self, item: str, row: int) -> None:
        self._valid[row] = True
        self._row_items[row] = item

    def _grow(self) -> None:
        capacity = min(2 * len(self._valid), self.max_items + 1)
        extra = capacity - len(self._valid)
        self._matrix = np.vstack([self._matrix, np.zeros((extra, self.factors))])
        self._bias = np.concatenate([self._bias, np.zeros(extra)])
        self._valid = np.concatenate([self._valid, np.zeros(extra, dtype=bool)])
        self._row_items.extend([None] * extra)

    # -- where each item sits ----------------------------------------------
    def layout(self) -> dict[str, Any]:
        """Which rows are in use and free (JSON-safe); each item's row is :meth:`row_of`."""
        return {"used": self._used, "free": list(self._free)}

    def take_layout(self, layout: Any, rows: Mapping[str, int]) -> bool:
        """Put the items of ``rows`` in those rows, with ``layout``'s free rows, before any is put.

        The items then sit where they sat in the model that saved them, so the
        matrix product gives the same scores to the last bit (a BLAS kernel's
        rounding can depend on a row's position) and later items take the
        same rows. Items put afterwards keep their row. False, leaving
        everything as it is, for no layout, one whose rows do not add up, or
        one larger than ``max_items`` allows: the items then take rows in the
        order they are put.
        """
        if not isinstance(layout, dict) or self._rows:
            return False
        used, free = int(layout["used"]), [int(row) for row in layout["free"]]
        taken = [int(row) for row in rows.values()]
        if (len(set(taken) | set(free)) != len(taken) + len(free) or len(taken) + len(free) != used
                or any(not 0 <= row < used for row in taken + free)):
            return False
        while len(self._valid) < used:
            before = len(self._valid)
            self._grow()
            if len(self._valid) == before:  # capped by max_items
                return False
        self._used, self._free = used, free
        for item, row in rows.items():  # reserved: put() finds them in place
            self._rows[item] = row
            self._claim(item, row)
        return True

    # -- scoring -----------------------------------------------------------
    def top(
        self,
        vector: np.ndarray,
        offset: float,
        n: int,
        exclude: Collection[str] = (),
        allowed: Callable[[str], bool] | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` items with the highest ``offset + bias + factors · vector``, best first.

        Ties go by the item's row. Items in ``exclude``, or that ``allowed``
        refuses, are passed over.
        """
        if n <= 0 or not self._rows:
            return []
        used = self._used
        scores = self._bias[:used] + self._matrix[:used] @ vector
        scores += offset
        scores[~self._valid[:used]] = -np.inf
        wanted = 2 * n + len(exclude)  # room for what is passed over; else all are sorted
        if wanted < used:
            head = np.argpartition(-scores, wanted - 1)[:wanted]
            rows = head[np.argsort(-scores[head], kind="stable")]
        else:
            rows = np.argsort(-scores, kind="stable")
        found = self._pick(rows, scores, n, exclude, allowed)
        if len(found) < n and wanted < used:  # many passed over: look at every item
            found = self._pick(np.argsort(-scores, kind="stable"), scores, n, exclude, allowed)
        return found

    def _pick(self, rows: np.ndarray, scores: np.ndarray, n: int, exclude: Collection[str],
              allowed: Callable[[str], bool] | None) -> list[tuple[str, float]]:
        found: list[tuple[str, float]] = []
        for row in rows.tolist():
            item = self._row_items[row]
            if item is None or item in exclude or (allowed is not None and not allowed(item)):
                continue
            found.append((item, float(scores[row])))
            if len(found) == n:
                break
        return found

    def closest(self, items: Sequence[str], seeds: Sequence[str]) -> list[str | None]:
        """For each item, the seed whose factors agree most with its own (dot product > 0).

        One matrix product for all of them; an item is never its own seed.

        >>> ItemFactors(factors=2, max_items=10).closest(["x"], ["a"])
        [None]
        """
        kept = [(seed, self._rows[seed]) for seed in dict.fromkeys(seeds) if seed in self._rows]
        found: list[str | None] = [None] * len(items)
        rows = [(index, self._rows[item]) for index, item in enumerate(items)
                if item in self._rows]
        if not kept or not rows:
            return found
        agreement = self._matrix[[row for _, row in rows]] @ self._matrix[
            [row for _, row in kept]].T
        column = {seed: j for j, (seed, _) in enumerate(kept)}
        for r, (index, _) in enumerate(rows):
            if (j := column.get(items[index])) is not None:
                agreement[r, j] = -np.inf
        best = agreement.argmax(axis=1)
        for r, (index, _) in enumerate(rows):
            if agreement[r, best[r]] > 0:
                found[index] = kept[int(best[r])][0]
        return found
