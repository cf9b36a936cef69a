"""Test-then-train evaluation: before each event, was its item in the user's list in force?

Every method sees the same stream in event-time order and follows one
protocol: after a user's event it learns it and publishes the user's next
list; the next event of that user is scored against that list (a user's first
event against a cold-start list made at that moment). Metrics: HR@10, HR@20,
NDCG@10, MRR@20, catalog coverage and novelty of what was shown.

>>> from engine.events import Event
>>> stream = [Event(f"e{i}", f"u{i % 3}", f"i{i % 4}", "view", float(i)) for i in range(60)]
>>> report = evaluate(stream, [Popularity()])
>>> report["popularity"]["events"], 0 <= report["popularity"]["hr@10"] <= 1
(60, True)
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.events import Event
from engine.mf import SOURCE as MF_SOURCE
from engine.mf import MFConfig, OnlineMF
from engine.pipeline import SOURCE_NAMES, EngineConfig
from engine.simulation import Simulation

__all__ = [
    "CUTOFF",
    "EngineMethods",
    "ItemKNN",
    "MatrixFactorisation",
    "Method",
    "Popularity",
    "RecentPopularity",
    "RecordedLists",
    "SequentialRules",
    "evaluate",
]

CUTOFF = 20
SEGMENTS = 20  # parts of the stream HR@10 is also reported for (its course over the stream)


class Method(Protocol):
    """A recommender under evaluation: it learns events and publishes lists."""

    names: tuple[str, ...]  # one method may publish several lists (the engine's variants)

    def learn(self, event: Event) -> None: ...

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]: ...


@dataclass
class _Score:
    events: int = 0
    hits10: int = 0
    hits20: int = 0
    ndcg10: float = 0.0
    rr: float = 0.0
    shown: set[str] = field(default_factory=set)
    novelty: float = 0.0
    shown_count: int = 0
    marks: bytearray = field(default_factory=bytearray)  # 1 per event whose item was in the top 10

    def add(self, items: list[str], target: str, popularity: Counter[str], total: int) -> None:
        self.events += 1
        self.marks.append(target in items[:10])
        if target in items[:CUTOFF]:
            rank = items.index(target) + 1
            self.hits20 += 1
            self.rr += 1.0 / rank
            if rank <= 10:
                self.hits10 += 1
                self.ndcg10 += 1.0 / math.log2(rank + 1)
        for item in items[:10]:
            self.shown.add(item)
            self.novelty += -math.log2((popularity[item] + 1) / (total + 1))
            self.shown_count += 1

    def summary(self, catalog_size: int) -> dict[str, Any]:
        n = max(self.events, 1)
        return {
            "events": self.events,
            "hr@10": round(self.hits10 / n, 4),
            "hr@20": round(self.hits20 / n, 4),
            "ndcg@10": round(self.ndcg10 / n, 4),
            "mrr@20": round(self.rr / n, 4),
            "coverage": round(len(self.shown) / max(catalog_size, 1), 4),
            "novelty": round(self.novelty / max(self.shown_count, 1), 3),
            "hr@10_over_stream": _segments(self.marks, SEGMENTS),
        }


def _segments(marks: bytearray, segments: int) -> list[float]:
    """HR@10 in each of ``segments`` consecutive, equal parts of the scored events.

    >>> _segments(bytearray([1, 1, 0, 0, 0, 1]), 3)
    [1.0, 0.0, 0.5]
    """
    size = max(1, math.ceil(len(marks) / segments))
    return [round(sum(marks[i:i + size]) / len(marks[i:i + size]), 4)
            for i in range(0, len(marks), size)]


def evaluate(
    stream: Iterable[Event], methods: list[Method], progress: Any = None,
    *, cold_start: bool = True,
) -> dict[str, dict[str, Any]]:
    """Replay ``stream`` test-then-train through every method; a report per list name.

    ``cold_start=False`` scores only the events of users seen before (every
    method then has a list in force for them): for methods whose cold-start
    lists cannot be asked for at the moment of the event, such as lists
    recorded from a broker.
    """
    in_force: dict[str, dict[str, list[str]]] = defaultdict(dict)
    scores: dict[str, _Score] = {name: _Score() for m in methods for name in m.names}
    popularity: Counter[str] = Counter()
    seen: set[str] = set()
    total = 0
    for event in stream:
        scored = cold_start or event.user_id in seen
        if event.type == "forget_user":
            seen.discard(event.user_id)
        else:
            seen.add(event.user_id)
        if scored and event.item_id is not None and event.type != "forget_user":
            for method in methods:
                current = in_force[method.names[0]]
                lists = ({name: in_force[name][event.user_id] for name in method.names}
                         if event.user_id in current else method.lists(event.user_id, event.ts))
                for name, items in lists.items():
                    scores[name].add(items, event.item_id, popularity, total)
        if event.item_id is not None and event.type != "forget_user":
            popularity[event.item_id] += 1
            total += 1
        for method in methods:
            method.learn(event)
            for name, items in method.lists(event.user_id, event.ts).items():
                in_force[name][event.user_id] = items
        if progress is not None:
            progress.update(1)
    return {name: score.summary(len(popularity)) for name, score in scores.items()}


class EngineMethods:
    """The engine's variants and each of its candidate sources alone, on one simulation.

    ``engine`` is the blend (the ``heuristic`` variant); ``engine:learned`` is
    what the ``learned`` variant serves (the ranker once it is warm and, with
    the guard on, measurably better than the blend, else the blend);
    ``engine:ranker`` is the ranker's order whenever it is warm, unguarded.
    The ranker learns from implicit feedback only: datasets carry no rec_id.
    ``only`` keeps just the named lists.
    """

    def __init__(self, config: EngineConfig, *, sources: bool = True,
                 only: Collection[str] | None = None) -> None:
        wanted = set(only) if only is not None else {f"engine:{MF_SOURCE}"} if sources else set()
        self.sim = Simulation(config, mf=f"engine:{MF_SOURCE}" in wanted or None)
        self.variants: dict[str, dict[str, Any]] = {
            "engine": {"variant": "heuristic"},
            "engine:learned": {"variant": "learned"},
            "engine:ranker": {"variant": "learned", "guard": False},
        }
        if sources:
            self.variants.update({f"engine:{source}": {"weights": {source: 1.0}}
                                  for source in SOURCE_NAMES})
        if only is not None:
            self.variants = {name: v for name, v in self.variants.items() if name in only}
        self.names = tuple(self.variants)

    def learn(self, event: Event) -> None:
        self.sim.apply(event)

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        return {
            name: [i["item_id"] for i in self.sim.recommend(
                user_id, now=now, n=CUTOFF, **overrides)["items"]]
            for name, overrides in self.variants.items()
        }


class RecordedLists:
    """Lists made elsewhere (read from a broker, say), by the id of the event that triggered them.

    After an event, the user's list in force is the one that event triggered;
    an event that triggered none (a duplicate) leaves the previous one in force.

    >>> recorded = RecordedLists("r", {"e1": ["a", "b"]})
    >>> recorded.learn(Event("e1", "u1", "x", "view", 1.0))
    >>> recorded.learn(Event("e9", "u1", "y", "view", 2.0))
    >>> recorded.lists("u1", 2.0), recorded.lists("u2", 2.0)
    ({'r': ['a', 'b']}, {'r': []})
    """

    def __init__(self, name: str, by_trigger: Mapping[str, list[str]]) -> None:
        self.names: tuple[str, ...] = (name,)
        self.by_trigger = by_trigger
        self.last: dict[str, str] = {}
        self.used: set[str] = set()

    def learn(self, event: Event) -> None:
        if event.type == "forget_user":
            self.last.pop(event.user_id, None)
        elif event.event_id in self.by_trigger and event.event_id not in self.used:
            self.used.add(event.event_id)  # a repeated id triggered nothing the second time
            self.last[event.user_id] = event.event_id

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        trigger = self.last.get(user_id)
        return {self.names[0]: self.by_trigger[trigger] if trigger is not None else []}


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

    Within a session (a user's events with less than ``session_gap`` seconds of
    event time between them), each item adds the rule ``a -> b`` from every
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
        self.sessions: dict[str, tuple[float, list[str]]] = {}  # user -> (last ts, items)
        self.fallback = Popularity()

    def learn(self, event: Event) -> None:
        self.fallback.learn(event)
        item = event.item_id
        if item is None:
            self.sessions.pop(event.user_id, None)  # forget_user
            return
        last_ts, items = self.sessions.get(event.user_id, (event.ts, []))
        if event.ts - last_ts > self.session_gap:
            items = []
        for gap, earlier in enumerate(reversed(items[-self.steps:]), start=1):
            if earlier != item:
                row = self.rules[earlier]
                row[item] = row.get(item, 0.0) + 1.0 / gap
        items.append(item)
        self.sessions[event.user_id] = (event.ts, items[-self.steps:])

    def lists(self, user_id: str, now: float) -> dict[str, list[str]]:
        session = self.sessions.get(user_id)
        if session is None:
            return {self.names[0]: self.fallback.lists(user_id, now)["popularity"]}
        row = self.rules.get(session[1][-1], {})
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
