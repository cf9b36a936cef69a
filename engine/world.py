"""What every worker knows of all items: the catalog, neighbour lists, trending.

Each item has two neighbour lists: items engaged with around it (viewed
together) and items bought together with it (both bought by the same users).
It also has its latest engagers (users, by engager key, for whom it is a
recent item), and the world keeps the inverse, each engager's items: the two
sides of user-based collaborative filtering, bounded by the items times
``ENGINE_ITEM_ENGAGERS``.

The stream layer feeds it from two broadcast topics (``catalog`` and the
internal item-neighbours topic), read whole by every worker; evaluation and
tests feed it directly. Trending is ordered by decayed popularity in event
time (see :meth:`engine.similarity.ItemRow.popularity_key`), so no clock is
needed to compare items.

>>> w = World(trending_half_life=3600.0)
>>> w.set_item(CatalogItem("a", category="shoes"))
>>> w.set_neighbours("a", 3.0, (5.0, 100.0), [("b", 0.5)])
>>> w.set_neighbours("b", 1.0, (1.0, 100.0), [("a", 0.5)])
>>> w.trending(5), w.trending_in("shoes", 5), w.neighbours("a"), w.weights["a"]
([('a', 1.0), ('b', 0.2)], [('a', 1.0)], [('b', 0.5)], 3.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from sortedcontainers import SortedList

from engine.content import ContentIndex, category_levels
from engine.events import CatalogItem

__all__ = ["World"]

T = TypeVar("T")
#: A trending list as made: (popularity changes then, items asked for, the list).
_Made = tuple[int, int, list[tuple[str, float]]]

#: A cached trending list may lag behind one popularity change per this many known
#: items (at least one change): exact while the world is small, cheap once it is large.
_ITEMS_PER_STALE_CHANGE = 50


class World:
    """Read-mostly view of all items; updates are cheap, trending lists are cached.

    A cached trending list is recomputed once popularity changes as many as 2%
    of the known items have come in (a small world's lists are always exact):
    bounded staleness instead of a walk down the popularity order for every
    list. Availability is always current: the ranking checks
    :meth:`is_recommendable` for every item it returns.
    """

    def __init__(self, trending_half_life: float = 86400.0) -> None:
        self._half_life = trending_half_life
        self._items: dict[str, CatalogItem] = {}
        self._removed: set[str] = set()
        self._neighbours: dict[str, list[tuple[str, float]]] = {}
        self._bought: dict[str, list[tuple[str, float]]] = {}
        self._next: dict[str, list[tuple[str, float]]] = {}
        self._weights: dict[str, float] = {}
        self._weight_ts: dict[str, float] = {}  # as of when the weight decays (else 0)
        self._popularity: dict[str, float] = {}  # item -> log-space popularity key
        self._engagers: dict[str, tuple[str, ...]] = {}  # item -> engager keys, latest first
        self._engaged: dict[str, dict[str, None]] = {}  # engager key -> its items (ordered set)
        self._latest = 0.0  # the latest event time of any popularity seen
        self._members: dict[str, set[str]] = {}  # category (any level) -> items
        self._levels: dict[str, tuple[str, ...]] = {}  # item -> its category's levels
        # (popularity key, item) of every item with a popularity, in order; and the same
        # for the members of each category asked for (made on the first question)
        self._ranked: SortedList = SortedList()
        self._ranked_in: dict[str, SortedList] = {}
        self.content = ContentIndex()
        self._changes = 0  # popularity changes so far
        self._trending: _Made | None = None
        self._trending_by_category: dict[str, _Made] = {}
        self._derived: dict[Hashable, tuple[Hashable, Any]] = {}  # see derived()

    # -- updates ---------------------------------------------------------
    def set_item(self, item: CatalogItem) -> None:
        old = self._items.get(item.item_id)
        self._items[item.item_id] = item
        self._removed.discard(item.item_id)
        self.content.add(item)
        if old is None or old.category != item.category:
            self._index(item.item_id, old.category if old else None, item.category)

    def remove_item(self, item_id: str) -> None:
        old = self._items.pop(item_id, None)
        self._removed.add(item_id)
        self.content.remove(item_id)
        if old is not None:
            self._index(item_id, old.category, None)

    def _index(self, item_id: str, old: str | None, new: str | None) -> None:
        key = self._popularity.get(item_id)
        old_levels = category_levels(old)
        for level in old_levels:
            self._members.get(level, set()).discard(item_id)
            if key is not None and (ranked := self._ranked_in.get(level)) is not None:
                ranked.remove((key, item_id))
        levels = category_levels(new)
        for level in levels:
            self._members.setdefault(level, set()).add(item_id)
            if key is not None and (ranked := self._ranked_in.get(level)) is not None:
                ranked.add((key, item_id))
        if levels:
            self._levels[item_id] = tuple(levels)
        else:
            self._levels.pop(item_id, None)
        for level in {*old_levels, *levels}:
            self._trending_by_category.pop(level, None)

    def apply_summary(self, summary: dict[str, Any]) -> None:
        """Store a row summary as published on the item-neighbours topic."""
        popularity = summary["popularity"]
        self.set_neighbours(
            str(summary["item_id"]),
            float(summary["weight"]),
            (float(popularity[0]), float(popularity[1])),
            summary["neighbours"],
            following=summary.get("next", ()),
            bought=summary.get("bought", ()),
            weight_ts=float(summary.get("weight_ts", 0.0)),
        )
        self.set_engagers(str(summary["item_id"]), summary.get("engagers", ()))

    def set_engagers(self, item_id: str, engagers: Sequence[str]) -> None:
        """Store an item's latest engagers (engager keys, latest first) and their inverse.

        >>> w = World()
        >>> w.set_engagers("a", ["k1", "k2"])
        >>> w.set_engagers("b", ["k2"])
        >>> w.set_engagers("a", ["k2"])
        >>> w.engagers("a"), list(w.engaged_items("k2")), list(w.engaged_items("k1"))
        (('k2',), ['a', 'b'], [])
        """
        new = tuple(str(user) for user in engagers)
        old = self._engagers.get(item_id, ())
        if new == old:
            return
        if new:
            self._engagers[item_id] = new
        else:
            self._engagers.pop(item_id, None)
        for user in set(old).difference(new):
            items = self._engaged.get(user)
            if items is not None:
                items.pop(item_id, None)
                if not items:
                    del self._engaged[user]
        for user in new:
            self._engaged.setdefault(user, {})[item_id] = None

    def forget_evidence(self, item_id: str) -> None:
        """Drop an item's row summary (its owner evicted the row: a tombstone on item-neighbours).

        >>> w = World()
        >>> w.set_neighbours("a", 2.0, (2.0, 0.0), [("b", 0.5)])
        >>> w.set_engagers("a", ["k1"])
        >>> w.forget_evidence("a")
        >>> w.neighbours("a"), w.known_item_count(), w.engagers("a"), list(w.engaged_items("k1"))
        ([], 0, (), [])
        """
        for table in (self._neighbours, self._next, self._bought, self._weights, self._weight_ts):
            table.pop(item_id, None)
        self.set_engagers(item_id, ())
        if (key := self._popularity.pop(item_id, None)) is not None:
            self._rerank(item_id, key, None)
            self._changes += 1

    def set_neighbours(
        self,
        item_id: str,
        weight: float,
        popularity: tuple[float, float],
        neighbours: Sequence[Sequence[Any]],
        following: Sequence[Sequence[Any]] = (),
        bought: Sequence[Sequence[Any]] = (),
        weight_ts: float = 0.0,
    ) -> None:
        """Store an item's row summary: weight (as of ``weight_ts``), (popularity, as of ts),
        neighbours, next items and items bought together."""
        self._neighbours[item_id] = [(str(j), float(s)) for j, s in neighbours]
        self._next[item_id] = [(str(j), float(p)) for j, p in following]
        if bought:
            self._bought[item_id] = [(str(j), float(s)) for j, s in bought]
        else:
            self._bought.pop(item_id, None)
        self._weights[item_id] = weight
        if weight_ts:
            self._weight_ts[item_id] = weight_ts
        else:
            self._weight_ts.pop(item_id, None)
        value, as_of = popularity
        self._latest = max(self._latest, as_of)
        key = (
            math.log(value) + math.log(2) * as_of / self._half_life if value > 0 else -math.inf
        )
        if (old := self._popularity.get(item_id)) != key:
            self._popularity[item_id] = key
            self._rerank(item_id, old, key)
            self._changes += 1

    def _rerank(self, item_id: str, old: float | None, new: float | None) -> None:
        """Move an item to its new popularity in the ranked lists it is in."""
        lists = [self._ranked]
        lists.extend(ranked for level in self._levels.get(item_id, ())
                     if (ranked := self._ranked_in.get(level)) is not None)
        for ranked in lists:
            if old is not None:
                ranked.remove((old, item_id))
            if new is not None:
                ranked.add((new, item_id))

    def _fresh(self, made_at: int) -> bool:
        """Few enough popularity changes since ``made_at`` for a list made then to stand."""
        allowed = max(1, len(self._popularity) // _ITEMS_PER_STALE_CHANGE)
        return self._changes - made_at < allowed

    # -- queries ---------------------------------------------------------
    def item(self, item_id: str) -> CatalogItem | None:
        return self._items.get(item_id)

    def newest_items(self) -> Iterator[str]:
        """Catalog items, the last this world received first (an update keeps an
        item's place; across catalog partitions, the order they were read in):
        what a list falls back on when the sources cannot fill it."""
        return reversed(self._items.keys())

    def is_recommendable(self, item_id: str) -> bool:
        """Not removed from the catalog and not marked unavailable."""
        if item_id in self._removed:
            return False
        item = self._items.get(item_id)
        return item is None or item.available

    @property
    def weights(self) -> Mapping[str, float]:
        """Every item's published co-occurrence weight (read-only)."""
        return self._weights

    @property
    def weight_times(self) -> Mapping[str, float]:
        """The event time each decaying weight is as of (items without one: 0)."""
        return self._weight_ts

    def neighbours(self, item_id: str) -> list[tuple[str, float]]:
        """Items engaged with around this one, most similar first."""
        return self._neighbours.get(item_id, [])

    def bought_with(self, item_id: str) -> list[tuple[str, float]]:
        """Items bought together with this one, most similar first."""
        return self._bought.get(item_id, [])

    def next_items(self, item_id: str) -> list[tuple[str, float]]:
        """Items engaged with right after this one, with P(next | this)."""
        return self._next.get(item_id, [])

    def engagers(self, item_id: str) -> tuple[str, ...]:
        """The item's latest engagers (engager keys), the latest first."""
        return self._engagers.get(item_id, ())

    def engaged_items(self, user: str) -> Collection[str]:
        """The items whose latest engagers include this engager key."""
        return self._engaged.get(user, {}).keys()

    def popularity(self, item_id: str) -> float:
        """The item's popularity decayed to the latest event time the world has seen (0: none).

        >>> w = World(trending_half_life=10.0)
        >>> w.set_neighbours("a", 4.0, (4.0, 0.0), [])
        >>> w.set_neighbours("b", 1.0, (1.0, 20.0), [])
        >>> w.popularity("a"), w.popularity("b"), w.popularity("c")
        (1.0, 1.0, 0.0)
        """
        return self.popularities([item_id])[0]

    def popularities(self, item_ids: Sequence[str]) -> list[float]:
        """:meth:`popularity` of each item, in order.

        >>> w = World(trending_half_life=10.0)
        >>> w.set_neighbours("a", 4.0, (4.0, 0.0), [])
        >>> w.popularities(["a", "c"])
        [4.0, 0.0]
        """
        keys = self._popularity
        now = math.log(2) * self._latest / self._half_life
        exp, none = math.exp, -math.inf
        return [0.0 if (key := keys.get(item_id, none)) == none else exp(key - now)
                for item_id in item_ids]

    def item_count(self) -> int:
        return len(self._items)

    def known_item_count(self) -> int:
        return len(self._popularity)

    def trending(self, n: int) -> list[tuple[str, float]]:
        """Most popular recommendable items now, score 1.0 for the top one."""
        if not self._serves(self._trending, n):
            self._trending = (self._changes, n, self._top(self._ranked, n))
        assert self._trending is not None
        return self._trending[2][:n]

    def trending_version(self) -> int:
        """Changes when :meth:`trending` may answer differently (it was made again)."""
        return self._trending[0] if self._trending is not None else -1

    def _serves(self, made: _Made | None, n: int) -> bool:
        """A list made earlier is fresh enough and long enough (or holds every item)."""
        return (made is not None and self._fresh(made[0])
                and (n <= made[1] or len(made[2]) < made[1]))

    def derived(self, key: Hashable, version: Hashable, make: Callable[[], T]) -> T:
        """A value derived from the world, kept until ``version`` changes, then made again.

        For what every user's list shares (the trending candidates, say).

        >>> w = World()
        >>> [w.derived("x", version, lambda: [made]) for version, made in [(1, 1), (1, 2), (2, 3)]]
        [[1], [1], [3]]
        """
        kept = self._derived.get(key)
        if kept is None or kept[0] != version:
            kept = self._derived[key] = (version, make())
        return cast(T, kept[1])

    def trending_in(self, category: str, n: int) -> list[tuple[str, float]]:
        """Most popular recommendable items of a category (or its sub-categories)."""
        cached = self._trending_by_category.get(category)
        if not self._serves(cached, n):
            ranked = self._ranked_in.get(category)
            if ranked is None:
                popularity = self._popularity
                ranked = self._ranked_in[category] = SortedList(
                    (popularity[item_id], item_id)
                    for item_id in self._members.get(category, ()) if item_id in popularity)
            cached = self._trending_by_category[category] = (
                self._changes, n, self._top(ranked, n))
        assert cached is not None
        return cached[2][:n]

    def _top(self, ranked: SortedList, n: int) -> list[tuple[str, float]]:
        """The ``n`` most popular recommendable items of ``ranked`` (ties: the larger id first)."""
        removed, items = self._removed, self._items  # is_recommendable, inlined
        top: list[tuple[float, str]] = []
        if n <= 0:
            return []
        for key, item_id in reversed(ranked):
            if item_id in removed or ((item := items.get(item_id)) is not None
                                      and not item.available):
                continue
            top.append((key, item_id))
            if len(top) == n:
                break
        if not top or top[0][0] == -math.inf:
            return []
        best = top[0][0]
        return [(item_id, round(math.exp(key - best), 6)) for key, item_id in top]
