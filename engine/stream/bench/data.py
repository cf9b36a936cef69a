"""The bench's events: the bundled REES46 sample, repeated with remapped ids and later times."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from engine.datasets import read_records
from engine.errors import EngineError
from engine.stream.demo import SAMPLE

__all__ = ["KV", "BenchData", "bench_data", "latency_events", "repeated_events"]

KV = tuple[bytes, bytes]


@dataclass(frozen=True)
class BenchData:
    """The sample's catalog records and its events (decoded), and the span of its event times."""

    catalog: list[KV]
    events: list[dict[str, Any]]
    span: float  # seconds: shifting ts by this keeps event time increasing


def bench_data(path: Path = SAMPLE) -> BenchData:
    """Read a dataset once: catalog records encoded, events as dicts."""
    catalog: list[KV] = []
    events: list[dict[str, Any]] = []
    for record in read_records(path):
        if record.topic == "clickstream" and record.value is not None:
            events.append(record.value)
        elif record.value is not None and record.key is not None:
            catalog.append((record.key.encode(), orjson.dumps(record.value)))
    if not events:
        raise EngineError(f"{path}: no events to benchmark with")
    times = [float(e["ts"]) for e in events]
    return BenchData(catalog, events, max(times) - min(times) + 1.0)


def _remapped(event: dict[str, Any], suffix: str, shift: float) -> dict[str, Any]:
    return {**event, "event_id": f"{event['event_id']}{suffix}",
            "user_id": f"{event['user_id']}{suffix}", "ts": float(event["ts"]) + shift}


def repeated_events(data: BenchData, count: int) -> Iterator[KV]:
    """``count`` encoded events: the sample, then again with ``-rK`` ids, ``K·span`` later."""
    produced = 0
    for round_ in itertools.count():
        for event in data.events:
            if produced == count:
                return
            value = _remapped(event, f"-r{round_}", round_ * data.span) if round_ else event
            yield str(value["user_id"]).encode(), orjson.dumps(value)
            produced += 1


def latency_events(data: BenchData, rate: int, seconds: float, round_: int) -> list[KV]:
    """Events for one step: fresh users and ids (``-latK``), after every earlier event time."""
    count = max(1, round(rate * seconds))
    unique = list({e["event_id"]: e for e in data.events}.values())  # one list per event
    events = []
    for index in range(count):
        cycle, position = divmod(index, len(unique))
        value = _remapped(unique[position], f"-lat{round_}-{cycle}", round_ * data.span)
        events.append((str(value["user_id"]).encode(), orjson.dumps(value)))
    return events

