"""How the engine's state grows with the stream: memory after N events of a steady population.

A live shop sees the same users and items again and again; its state must
stop growing once it has seen them. The stream measured here is a dataset
repeated: round ``r`` gives every event id the suffix ``-r{r}``, shifts event
times by ``r`` times the dataset's span, and maps each user into one of
``copies`` copies of the dataset's users (``-p{r % copies}``); item ids stay
as they are. After ``copies`` rounds every user and item of the population
exists, and later rounds revisit them.

The state is that of :class:`~engine.simulation.Simulation`: the same
profiles, item rows, world and learned ranker a worker keeps (a worker
holding every partition), measured in process: the embedded broker keeps
every record in memory, with no retention, so a million-event run through a
worker would measure the broker's memory more than the worker's.

>>> base = [Event("e1", "u1", "a", "view", 0.0), Event("e2", "u2", "b", "view", 9.0)]
>>> [(e.event_id, e.user_id, e.ts) for e in steady_stream(base, copies=2, total=5)]
... # doctest: +NORMALIZE_WHITESPACE
[('e1-r0', 'u1-p0', 0.0), ('e2-r0', 'u2-p0', 9.0), ('e1-r1', 'u1-p1', 10.0),
 ('e2-r1', 'u2-p1', 19.0), ('e1-r2', 'u1-p0', 20.0)]
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from engine.datasets import read_records
from engine.errors import InvalidRecord
from engine.events import CatalogItem, Event, decode_event, decode_item
from engine.pipeline import EngineConfig
from engine.simulation import Simulation

__all__ = ["measure_growth", "memory_report", "process_rss_mb", "state_size", "steady_stream"]


def steady_stream(events: Sequence[Event], copies: int, total: int) -> Iterator[Event]:
    """``total`` events: ``events`` repeated over ``copies`` copies of their users."""
    if not events:
        return
    times = [e.ts for e in events]
    span = max(times) - min(times) + 1.0
    produced = 0
    for round_ in itertools.count():
        for event in events:
            if produced == total:
                return
            yield replace(event, event_id=f"{event.event_id}-r{round_}",
                          user_id=f"{event.user_id}-p{round_ % copies}",
                          ts=event.ts + round_ * span)
            produced += 1


def process_rss_mb(status: Path = Path("/proc/self/status")) -> float | None:
    """This process's resident set size in MB (``VmRSS``), None where /proc is not there."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def state_size(sim: Simulation) -> dict[str, Any]:
    """What the engine holds: counts, and the bytes of profiles and rows as stored (JSON)."""
    profile_bytes = sum(len(orjson.dumps(p.to_dict())) for p in sim.profiles.values())
    row_bytes = sum(len(orjson.dumps(r.to_dict())) for r in sim.rows.values())
    return {
        "profiles": len(sim.profiles),
        "profile_bytes": profile_bytes,
        "bytes_per_profile": round(profile_bytes / max(len(sim.profiles), 1)),
        "item_rows": len(sim.rows),
        "row_bytes": row_bytes,
        "bytes_per_row": round(row_bytes / max(len(sim.rows), 1)),
        "world_items": sim.world.known_item_count(),
        "ranker_examples": sim.ranker.examples,
    }


def measure_growth(
    config: EngineConfig,
    catalog: Sequence[CatalogItem],
    events: Sequence[Event],
    checkpoints: Sequence[int],
    *,
    copies: int = 10,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Run a steady-population stream through the engine; its size at each checkpoint."""
    sim = Simulation(config)
    for item in catalog:
        sim.add_item(item)
    wanted = sorted(set(checkpoints))
    found: list[dict[str, Any]] = []
    for done, event in enumerate(steady_stream(events, copies, wanted[-1] if wanted else 0), 1):
        sim.apply(event)
        if progress is not None:
            progress.update(1)
        if done in wanted:
            gc.collect()
            found.append({"events": done, "rss_mb": process_rss_mb(), **state_size(sim)})
    return found


def memory_report(config: EngineConfig, path: Path, checkpoints: Sequence[int], *,
                  copies: int = 10, progress: Any = None) -> list[dict[str, Any]]:
    """:func:`measure_growth` on a dataset file's catalog and valid events."""
    catalog: list[CatalogItem] = []
    events: list[Event] = []
    for record in read_records(path):
        raw = record.payload()
        if raw is None:
            continue
        try:
            if record.topic == "catalog":
                catalog.append(decode_item(raw, config.input_limits))
            else:
                events.append(decode_event(raw, config.input_limits))
        except InvalidRecord:
            continue
    return measure_growth(config, catalog, events, checkpoints, copies=copies,
                          progress=progress)
