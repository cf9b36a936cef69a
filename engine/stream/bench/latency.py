"""(d) Latency: event produced → its list consumed, at fixed rates, on a caught-up worker.

For each rate, new events (the sample's, with fresh user and event ids and
later event times) are produced at that rate for ``latency_seconds``; a
group-less consumer of the recommendations topic (``fetch_max_wait_ms`` 10)
matches lists to events by ``trigger_event_id``. Producer and consumer are
tasks of one event loop in this process, so both timestamps come from the same
``time.time()``. Reported: p50/p95/p99/max of (list received - event sent) in
ms, the share of events whose list was seen (an event that changes nothing
publishes none), and the shares of a core the worker and the broker used.
Memory (e): the worker's VmRSS after each step.

(d0) The floor: just before each step, the same events go through a raw
aiokafka pass-through (:mod:`.pass_through`) on topics of its own, measured
the same way, each event matched by its ``event_id``.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.settings import Settings
from engine.stream.bench.data import KV, BenchData, latency_events
from engine.stream.bench.kafka import assign_all_from_end, group_less_consumer
from engine.stream.bench.process import cpu_seconds, rss_mb
from engine.stream.bench.worker import collector_pauses, done_count, wait_done
from engine.stream.child_worker import wait_settled
from engine.stream.connection import client_options

__all__ = ["Floor", "floor_latency", "latency_steps", "send_paced"]

_GRACE = 1.0  # seconds to wait for lists once the worker has finished a step's events


def latency_steps(bench: Settings, proc: subprocess.Popen[bytes], data: BenchData, events: int,
                  rates: tuple[int, ...], seconds: float, *, broker_pid: int | None = None,
                  floor: Floor | None = None) -> list[dict[str, Any]]:
    """One latency step per rate, each after the worker has caught up with everything before.

    ``events``: what the worker has been given before (their event times come first).
    ``floor``: the pass-through (:mod:`.pass_through`) and its source and sink topics;
    each step's events go through it first, measured the same way (``"floor"``).
    ``broker_pid``: to report the broker's share of a core during each step.
    """
    steps = []
    total = events
    first_round = -(-events // len(data.events))  # after the throughput rounds' event times
    for number, rate in enumerate(rates):
        step_events = latency_events(data, rate, seconds, first_round + number)
        floor_step = None
        if floor is not None:
            click.echo(f"(d0) raw pass-through at {rate} events/s for {seconds:g} s ...")
            floor_step = floor_latency(bench, floor, step_events, rate, broker_pid=broker_pid)
        click.echo(f"(d) latency at {rate} events/s for {seconds:g} s ...")
        paused = collector_pauses(bench)
        target = total + len(step_events)
        started = time.perf_counter()
        step = _measured(proc.pid, broker_pid, _latency_step(
            bench, step_events, rate, source=bench.topic("clickstream"),
            sink=bench.topic("recommendations"), trigger=_trigger, drain=_drain(step_events),
            finished=partial(_has_done, bench, target)))
        step["worker_cpu_share"] = step.pop("cpu_share")
        total = target
        for _ in wait_done(bench, proc, total, 120.0 + len(step_events) / 200):
            pass  # caught up before the next step and before reading its memory
        step["worker_idle_after_s"] = round(wait_settled(bench, proc, 120.0) - started, 1)
        if paused is not None and (now := collector_pauses(bench)) is not None:
            step["gc_pause_s"] = round(now[0] - paused[0], 3)  # until the worker settled
            step["full_collections"] = now[1] - paused[1]
        step["worker_rss_mb"] = rss_mb(proc.pid)
        if floor_step is not None:
            step["floor"] = floor_step
        steps.append(step)
    return steps


@dataclass(frozen=True)
class Floor:
    """The running pass-through of :mod:`.pass_through`, and the topics it connects."""

    proc: subprocess.Popen[bytes]
    source: str
    sink: str


def floor_latency(bench: Settings, floor: Floor, events: list[KV], rate: int, *,
                  broker_pid: int | None = None) -> dict[str, Any]:
    """(d0): ``events`` through the pass-through at ``rate``/s; the same figures as a step's.

    ``cpu_share``: the pass-through's share of a core meanwhile.
    """
    return _measured(floor.proc.pid, broker_pid, _latency_step(
        bench, events, rate, source=floor.source, sink=floor.sink, trigger=_event_id,
        finished=None, drain=_drain(events)))


def _drain(events: list[KV]) -> float:
    """Seconds to wait for answers after the last send: an overloaded worker drains a backlog."""
    return 30.0 + len(events) / 100


def _has_done(bench: Settings, target: int) -> bool:
    """Whether the worker has finished ``target`` events (its ``/stats``)."""
    return (done_count(bench) or 0) >= target


def _measured(pid: int, broker_pid: int | None,
              step: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """``step``'s figures, with the shares of a core that ``pid``, the broker and this
    process (the load and the measuring consumer: ``bench_cpu_share``) used meanwhile."""
    cpu, own = cpu_seconds(pid), time.process_time()
    broker = cpu_seconds(broker_pid) if broker_pid is not None else 0.0
    started = time.perf_counter()
    figures = asyncio.run(step)
    elapsed = time.perf_counter() - started
    figures["cpu_share"] = round((cpu_seconds(pid) - cpu) / elapsed, 2)
    figures["bench_cpu_share"] = round((time.process_time() - own) / elapsed, 2)
    if broker_pid is not None:
        figures["broker_cpu_share"] = round((cpu_seconds(broker_pid) - broker) / elapsed, 2)
    return figures


#: What identifies the event an output record answers, and when it was made (None: unknown).
Trigger = Callable[[bytes | None], tuple[str | None, float | None]]


async def _latency_step(settings: Settings, events: list[KV], rate: int, *, source: str,
                        sink: str, trigger: Trigger, finished: Callable[[], bool] | None,
                        drain: float) -> dict[str, Any]:
    """Produce ``events`` to ``source`` at ``rate``/s; match what ``sink`` answers; figures.

    ``finished``: whether whoever answers has taken every event (asked in a
    thread); None when every event is answered.
    """
    lists = _Lists(trigger)
    consumer = group_less_consumer(settings)
    producer = AIOKafkaProducer(**client_options(settings))
    await consumer.start()
    await producer.start()
    try:
        await assign_all_from_end(consumer, sink)  # before anything is sent
        sending = asyncio.create_task(send_paced(producer, source, events, rate, lists.sent))
        await _match_lists(consumer, sending, lists, finished, drain)
        elapsed = await sending
    finally:
        await producer.stop()
        await consumer.stop()
    computed = sorted(lists.computed.values())  # none for a pass-through
    return {"rate": rate, "sent": len(lists.sent),
            "achieved_rate": round(len(lists.sent) / elapsed),
            **_latency_figures(lists.sent, lists.seen),
            "until_computed_p50_ms": _percentile_ms(computed, 0.5),
            "until_computed_p99_ms": _percentile_ms(computed, 0.99)}


async def send_paced(producer: AIOKafkaProducer, topic: str, events: list[KV],
                     rate: int, sent: dict[str, float] | None = None) -> float:
    """Send ``events`` to ``topic`` at ``rate``/s and flush; the seconds it took.

    ``sent``: where to note each event's id and send time.
    """
    started = time.monotonic()
    for index, (key, value) in enumerate(events):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if sent is not None:
            sent[orjson.loads(value)["event_id"]] = time.time()
        await producer.send(topic, value, key=key)
    await producer.flush()
    return time.monotonic() - started


async def _match_lists(consumer: AIOKafkaConsumer, sending: asyncio.Task[float],
                       lists: _Lists, finished: Callable[[], bool] | None,
                       drain: float) -> None:
    """Match lists to sent events until every event has its list, or ``finished()`` and
    ``_GRACE`` s passed (events that change nothing publish no list), or ``drain`` s passed
    after the last send."""
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
        if finished is not None and finish == float("inf") and now - checked > 0.5:
            checked = now
            if await asyncio.to_thread(finished):
                finish = now + _GRACE


class _Lists:
    """Send times by event id, and what was seen of the lists those events triggered."""

    def __init__(self, trigger: Trigger) -> None:
        self.trigger = trigger
        self.sent: dict[str, float] = {}
        self.seen: dict[str, float] = {}  # event id -> list received - event sent (s)
        self.computed: dict[str, float] = {}  # event id -> list generated_at - event sent (s)

    def receive(self, batches: Iterable[list[Any]], received: float) -> None:
        for records in batches:
            for record in records:
                event_id, generated_at = self.trigger(record.value)
                if event_id in self.sent and event_id not in self.seen:
                    self.seen[event_id] = received - self.sent[event_id]
                    if generated_at is not None:
                        self.computed[event_id] = generated_at - self.sent[event_id]


def _trigger(value: bytes | None) -> tuple[str | None, float | None]:
    """A list's ``trigger_event_id`` and ``generated_at`` (None, None for a tombstone)."""
    if value is None:
        return None, None
    listing = orjson.loads(value)
    trigger = listing.get("trigger_event_id")
    return (trigger if isinstance(trigger, str) else None), float(listing["generated_at"])


def _event_id(value: bytes | None) -> tuple[str | None, float | None]:
    """The ``event_id`` of an event passed through as it was (no time of making).

    >>> _event_id(b'{"event_id": "e-1", "user_id": "u"}'), _event_id(None)
    (('e-1', None), (None, None))
    """
    event_id = orjson.loads(value).get("event_id") if value is not None else None
    return (event_id if isinstance(event_id, str) else None), None


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

