"""The baselines ``engine evaluate`` scores beside the engine, on the same stream.

Each follows :class:`engine.evaluation.Method`: it learns an event, and
publishes a user's list (at most :data:`engine.evaluation.CUTOFF` items).

>>> from engine.events import Event
>>> knn = ItemKNN()
>>> for i, item in enumerate(["a", "b", "a", "b", "c"]):
...     knn.learn(Event(f"e{i}", f"u{i // 2}", item, "view", float(i)))
>>> knn.lists("u0", 5.0)["item_knn"]
['a']
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Mapping

from engine.evaluation import CUTOFF
from engine.events import Event
from engine.mf import MFConfig, OnlineMF
from engine.profiles import same_session, session_key

__all__ = ["ItemKNN", "MatrixFactorisation", "Popularity", "RecentPopularity", "SequentialRules"]


class _CachedTop:
    """Top items by a score, recomputed every ``every`` updates (a full sort per event is slow)."""

    def __init__(self, every: int = 50, size: int = 2 * CUTOFF) -> None:
        self.every = every
        self.size = size
        self.updates = 0
        self.cached: list[str] = []

    def top(self, scores: Mapping[str, float]) -> list[str]:
        if self.updates % self.every == 0 or not self.cached:
            self.cached = [k for k, _ in heapq.nlargest(self.size, scores.items(),
                                                        key=lambda kv: (kv[1], kv[0]))]
        return self.cached


class Popularity:
    """Baseline: the most interacted-with items of all time."""

    names: tuple[str, ...] = ("popularity",)

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.cache = _CachedTop()

    def learn(self, event: Event) -> None:
        if event.item_id is not None:
            self.counts[event.item_id] += 1
            self.cache.updates += 1

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        return {self.names[0]: self.cache.top(self.counts)[:CUTOFF]}


class RecentPopularity:
    """Baseline: popularity decayed by event time (half-life one hour)."""

    names: tuple[str, ...] = ("recent_popularity",)

    def __init__(self, half_life: float = 3600.0) -> None:
        self.half_life = half_life
        self.keys: dict[str, float] = {}  # log-space decayed score
        self.cache = _CachedTop()

    def learn(self, event: Event) -> None:
        if event.item_id is None:
            return
        now = math.log(2) * event.ts / self.half_life
        old = self.keys.get(event.item_id)
        self.keys[event.item_id] = now if old is None else max(old, now) + math.log1p(
            math.exp(-abs(old - now)))
        self.cache.updates += 1

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        return {self.names[0]: self.cache.top(self.keys)[:CUTOFF]}


class ItemKNN:
    """Baseline: plain co-occurrence item-kNN — cosine neighbours of the user's last item."""

    names: tuple[str, ...] = ("item_knn",)

    def __init__(self, history: int = 20) -> None:
        self.history = history
        self.counts: Counter[str] = Counter()
        self.pairs: dict[str, Counter[str]] = defaultdict(Counter)
        self.recent: dict[str, list[str]] = defaultdict(list)
        self.fallback = Popularity()

    def learn(self, event: Event) -> None:
        self.fallback.learn(event)
        item = event.item_id
        if item is None:
            return
        recent = self.recent[event.user_id]
        if item not in recent:
            self.counts[item] += 1
            for other in recent:
                self.pairs[item][other] += 1
                self.pairs[other][item] += 1
        else:
            recent.remove(item)
        recent.append(item)
        del recent[: -self.history]

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        recent = self.recent.get(user_id)
        if not recent:
            return {self.names[0]: self.fallback.lists(user_id, now)["popularity"]}
        last = recent[-1]
        row = self.pairs.get(last, Counter())
        scored = sorted(
            ((c / math.sqrt(self.counts[last] * self.counts[j]), j) for j, c in row.items()),
            key=lambda sj: (-sj[0], sj[1]),
        )
        return {self.names[0]: [j for _, j in scored[:CUTOFF]]}


class SequentialRules:
    """Baseline: sequential rules (Ludewig & Jannach, 2018), recommending by the last item.

    Within a session (as the engine tells them, :func:`~engine.profiles.same_session`:
    at most ``session_gap`` seconds of event time between two events, or the
    same ``session_id`` on both), each item adds the rule ``a -> b`` from every
    item ``a`` up to ``steps`` positions before it, weighted ``1 / steps
    between them``; the list is the rules of the user's last item, strongest
    first (before a user's first event: popularity).

    >>> rules = SequentialRules()
    >>> for n, item in enumerate("abcab"):
    ...     rules.learn(Event(f"e{n}", "u1", item, "view", float(n)))
    >>> dict(rules.rules["a"]), rules.lists("u1", 5.0)["sequential_rules"]
    ({'b': 2.25, 'c': 0.5}, ['c', 'a'])
    """

    names: tuple[str, ...] = ("sequential_rules",)

    def __init__(self, steps: int = 10, session_gap: float = 1800.0) -> None:
        self.steps = steps
        self.session_gap = session_gap
        self.rules: dict[str, dict[str, float]] = defaultdict(dict)
        # user -> (last ts, its session_key, the session's items)
        self.sessions: dict[str, tuple[float, str | None, list[str]]] = {}
        self.fallback = Popularity()

    def learn(self, event: Event) -> None:
        self.fallback.learn(event)
        item = event.item_id
        if item is None:
            self.sessions.pop(event.user_id, None)  # forget_user
            return
        session = session_key(event.session_id)
        last_ts, last_session, items = self.sessions.get(event.user_id, (event.ts, session, []))
        if not same_session(last_ts, last_session, event.ts, session, self.session_gap):
            items = []
        for gap, earlier in enumerate(reversed(items[-self.steps:]), start=1):
            if earlier != item:
                row = self.rules[earlier]
                row[item] = row.get(item, 0.0) + 1.0 / gap
        items.append(item)
        self.sessions[event.user_id] = (event.ts, session, items[-self.steps:])

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        session = self.sessions.get(user_id)
        if session is None:
            return {self.names[0]: self.fallback.lists(user_id, now)["popularity"]}
        row = self.rules.get(session[2][-1], {})
        best = heapq.nsmallest(CUTOFF, row.items(), key=lambda kv: (-kv[1], kv[0]))
        return {self.names[0]: [item for item, _ in best]}


class MatrixFactorisation:
    """Baseline: River's BiasedMF alone (:class:`engine.mf.OnlineMF`, as the engine's source).

    Learns every event as the engine's model does (ratings as ratings, other
    events as implicit positives with sampled negatives) and ranks every item
    it keeps (all items seen, up to its bound) for the user, except the
    user's last item. Before a user's first event: popularity, as item-kNN.
    """

    names: tuple[str, ...] = ("mf",)

    def __init__(self, config: MFConfig | None = None) -> None:
        self.model = OnlineMF(config)
        self.fallback = Popularity()
        self.recent: dict[str, list[str]] = {}
        self.engaged: dict[str, set[str]] = defaultdict(set)

    def learn(self, event: Event) -> None:
        self.fallback.learn(event)
        if event.item_id is None:
            self.recent.pop(event.user_id, None)
            self.engaged.pop(event.user_id, None)
            self.model.forget(event.user_id)
            return
        engaged = self.engaged[event.user_id]
        engaged.add(event.item_id)
        self.model.learn_event(event, engaged)
        self.recent[event.user_id] = [event.item_id]

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        if not self.model.knows_user(user_id):
            return {self.names[0]: self.fallback.lists(user_id, now)["popularity"]}
        found = self.model.top(user_id, CUTOFF, exclude=self.recent.get(user_id, ()))
        return {self.names[0]: [item for item, _ in found]}
