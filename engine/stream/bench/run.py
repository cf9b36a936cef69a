"""One bench run: a broker, the events, the ceilings, the engine worker, the report."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from engine.errors import EngineError
from engine.settings import Settings
from engine.stream.admin import create_topics
from engine.stream.bench.ceilings import faust_consume_only, faust_pass_through, raw_ceiling
from engine.stream.bench.data import BenchData, bench_data, repeated_events
from engine.stream.bench.kafka import (
    bench_settings,
    create_topic,
    produce,
    records_held,
    topic_names,
)
from engine.stream.bench.latency import Floor, latency_steps
from engine.stream.bench.pass_through import pass_through_process
from engine.stream.bench.process import rss_mb
from engine.stream.bench.report import environment, print_report, ratios
from engine.stream.bench.worker import engine_throughput
from engine.stream.broker import EmbeddedBroker
from engine.stream.child_worker import worker_process, worker_stats

__all__ = ["run_bench"]


def run_bench(settings: Settings, *, events: int = 20000,
              rates: tuple[int, ...] = (500, 1000, 2000), latency_seconds: float = 10.0,
              out: Path | None = None) -> dict[str, Any]:
    """Measure (a)-(e) (see the module docstring); print a table, return the figures.

    ``out``: also write them there as JSON. Starts and stops its own broker
    and children; raises :class:`~engine.errors.EngineError` on a failed step.
    """
    if events <= 0 or any(rate <= 0 for rate in rates) or latency_seconds <= 0:
        raise EngineError("events, rates and latency_seconds must be positive")
    workdir = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    data = bench_data()
    timeout = 120.0 + events / 200
    results: dict[str, Any] = {"environment": environment(), "events": events,
                               "partitions": settings.partitions, "logs": str(workdir)}
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        bench = bench_settings(settings, broker.url, workdir)
        click.echo(f"broker {broker.url}; logs in {workdir}")
        _prepare(bench, data, events)
        results["throughput"] = throughput = _baselines(bench, events, workdir, timeout)
        with worker_process(bench, workdir / "worker.log") as proc:
            click.echo("(c) engine worker: starting, then consuming the same events ...")
            throughput.update(engine_throughput(bench, proc, events, timeout, broker.pid))
            results["records_per_event"] = _records_per_event(bench, events)
            results["worker_rss_mb_after_throughput"] = rss_mb(proc.pid)
            source, sink = _floor_topics(bench)
            with pass_through_process(bench, source, sink, workdir / "pass-through") as floor:
                results["latency"] = latency_steps(
                    bench, proc, data, events, rates, latency_seconds, broker_pid=broker.pid,
                    floor=Floor(floor, source, sink))
            results["worker_stats"] = worker_stats(bench)
    results["environment"]["loadavg_end"] = os.getloadavg()
    ratios(results)
    print_report(results)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        click.echo(f"figures written to {out}")
    return results


def _records_per_event(bench: Settings, events: int) -> dict[str, float]:
    """Records the worker has written per event, by topic (the bench's prefix left out).

    Counted once (c) has settled: every record the worker wrote for the
    throughput run's events, on each topic it writes (lists, changelogs,
    row increments, neighbour lists, dead letters, checkpoints).
    """
    prefix = f"{bench.app_id}-"
    not_written = {bench.topic("clickstream"), bench.topic("catalog"), *_bench_topics(bench)}
    written = written_by_worker(prefix, not_written, asyncio.run(topic_names(bench)))
    held = asyncio.run(records_held(bench, written))
    return {name.removeprefix(prefix): round(count / events, 3)
            for name, count in sorted(held.items())}


def written_by_worker(prefix: str, not_written: set[str], names: Iterable[str]) -> list[str]:
    """The topics of ``names`` under ``prefix``, but ``not_written``, sorted.

    >>> written_by_worker("b-", {"b-clickstream"}, ["b-clickstream", "b-lists", "other", "b-a"])
    ['b-a', 'b-lists']
    """
    return sorted(name for name in names if name.startswith(prefix) and name not in not_written)


def _bench_topics(bench: Settings) -> tuple[str, ...]:
    """The topics the bench itself writes: the ceilings' outputs and the floor's."""
    return (f"{bench.app_id}-raw-out", f"{bench.app_id}-pass-through-out",
            *_floor_topics(bench))


def _floor_topics(bench: Settings) -> tuple[str, str]:
    """The source and sink topics of the latency floor's pass-through."""
    return f"{bench.app_id}-floor-in", f"{bench.app_id}-floor-out"


def _prepare(bench: Settings, data: BenchData, events: int) -> None:
    asyncio.run(create_topics(bench))
    for topic in _bench_topics(bench):
        asyncio.run(create_topic(bench, topic))
    items = asyncio.run(produce(bench, bench.topic("catalog"), data.catalog))
    produced = asyncio.run(produce(bench, bench.topic("clickstream"),
                                   repeated_events(data, events)))
    click.echo(f"produced {items} catalog records and {produced} events "
               f"({bench.partitions} partitions)")


def _baselines(bench: Settings, events: int, workdir: Path, timeout: float) -> dict[str, Any]:
    click.echo("(a) raw aiokafka loop ...")
    raw = asyncio.run(raw_ceiling(bench, bench.topic("clickstream"),
                                  f"{bench.app_id}-raw-out", events, timeout))
    click.echo("(b) Faust consume-only app: starting, then consuming ...")
    faust = faust_consume_only(bench, bench.topic("clickstream"), events, workdir, timeout)
    click.echo("(b') Faust pass-through app: starting, then consuming and producing ...")
    passing = faust_pass_through(bench, bench.topic("clickstream"),
                                 f"{bench.app_id}-pass-through-out", events, workdir, timeout)
    return {"raw": raw, "faust_consume_only": faust, "faust_pass_through": passing}

