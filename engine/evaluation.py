"""Test-then-train evaluation: before each event, was its item in the user's list in force?

Every method sees the same stream in event-time order and follows one
protocol: after a user's event it learns it and publishes the user's next
list; the next event of that user is scored against that list (a user's first
event against a cold-start list made at that moment). Metrics: HR@10, HR@20,
NDCG@10, MRR@20, catalog coverage and novelty of what was shown.

>>> from engine.baselines import Popularity
>>> from engine.events import Event
>>> stream = [Event(f"e{i}", f"u{i % 3}", f"i{i % 4}", "view", float(i)) for i in range(60)]
>>> report = evaluate(stream, [Popularity()])
>>> report["popularity"]["events"], 0 <= report["popularity"]["hr@10"] <= 1
(60, True)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.events import Event
from engine.mf import SOURCE as MF_SOURCE
from engine.pipeline import SOURCE_NAMES, EngineConfig
from engine.simulation import Simulation

__all__ = ["CUTOFF", "EngineMethods", "Method", "RecordedLists", "evaluate"]

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
