"""A memory budget for per-key state: the least recently active keys make room.

A worker keeps one profile per user of its partitions; a flood of new ids
(bots, a million one-off visitors) would grow that without bound. The
:class:`RecencyIndex` orders the keys a worker owns by their last activity and
names the ones to evict once there are more than the budget. The stream layer
deletes them from the table (a changelog tombstone, so recovery does not bring
them back). An evicted user is a new user again on their next event.

>>> index = RecencyIndex(budget=2)
>>> for user in ("u1", "u2", "u1", "u3"):
...     index.touch(user, partition=0)
>>> index.evictions()
[('u2', 0)]
>>> len(index), index.evictions()
(2, [])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["RecencyIndex"]


class RecencyIndex:
    """Keys by last activity, each with the partition it lives in; ``budget`` 0 is unlimited."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._order: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: object) -> bool:
        return key in self._order

    def touch(self, key: str, partition: int) -> None:
        """``key`` was active just now."""
        self._order[key] = partition
        self._order.move_to_end(key)

    def remove(self, key: str) -> None:
        self._order.pop(key, None)

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        """Forget the keys of partitions this worker no longer owns (never evict those)."""
        gone = set(partitions)
        for key in [k for k, p in self._order.items() if p in gone]:
            del self._order[key]

    def adopt(self, keys: Iterable[tuple[str, int, float]]) -> None:
        """Index keys found in state (after recovery), oldest activity first, behind the known.

        ``keys`` are ``(key, partition, last activity)``; keys already indexed
        keep their place.
        """
        found = sorted((k for k in keys if k[0] not in self._order), key=lambda k: (k[2], k[0]))
        for key, partition, _ in reversed(found):
            self._order[key] = partition
            self._order.move_to_end(key, last=False)

    def evictions(self) -> list[tuple[str, int]]:
        """The least recently active keys beyond the budget, removed from the index."""
        if self.budget <= 0:
            return []
        evicted = []
        while len(self._order) > self.budget:
            evicted.append(self._order.popitem(last=False))
        return evicted
