"""(d) Latency: event produced → its list consumed, at fixed rates, on a caught-up worker.

For each rate, new events (the sample's, with fresh user and event ids and
later event times) are produced at that rate for ``latency_seconds``; a
group-less consumer of the recommendations topic (``fetch_max_wait_ms`` 10)
matches lists to events by ``trigger_event_id``. Producer and consumer are
tasks of one event loop in this process, so both timestamps come from the same
``time.time()``. Reported: p50/p95/p99/max of (list received - event sent) in
ms, and the share of events whose list was seen (an event that changes nothing
publishes none). Memory (e): the worker's VmRSS after each step.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.settings import Settings
from engine.stream.bench.data import KV, BenchData, latency_events
from engine.stream.bench.kafka import assign_all, group_less_consumer
from engine.stream.bench.process import cpu_seconds, rss_mb
from engine.stream.bench.worker import collector_pauses, done_count, wait_done
from engine.stream.child_worker import wait_settled
from engine.stream.connection import client_options

__all__ = ["latency_steps"]

_GRACE = 1.0  # seconds to wait for lists once the worker has finished a step's events


def latency_steps(bench: Settings, proc: subprocess.Popen[bytes], data: BenchData, events: int,
                  rates: tuple[int, ...], seconds: float) -> list[dict[str, Any]]:
    """One latency step per rate, each after the worker has caught up with everything before.

    ``events``: what the worker has been given before (their event times come first).
    """
    steps = []
    total = events
    first_round = -(-events // len(data.events))  # after the throughput rounds' event times
    for number, rate in enumerate(rates):
        step_events = latency_events(data, rate, seconds, first_round + number)
        click.echo(f"(d) latency at {rate} events/s for {seconds:g} s ...")
        cpu, started = cpu_seconds(proc.pid), time.perf_counter()
        paused = collector_pauses(bench)
        drain = 30.0 + len(step_events) / 100  # an overloaded worker drains its backlog
        step = asyncio.run(_latency_step(bench, step_events, rate, total + len(step_events),
                                         drain=drain))
        step["worker_cpu_share"] = round(
            (cpu_seconds(proc.pid) - cpu) / (time.perf_counter() - started), 2)
        total += len(step_events)
        for _ in wait_done(bench, proc, total, 120.0 + len(step_events) / 200):
            pass  # caught up before the next step and before reading its memory
        step["worker_idle_after_s"] = round(wait_settled(bench, proc, 120.0) - started, 1)
        if paused is not None and (now := collector_pauses(bench)) is not None:
            step["gc_pause_s"] = round(now[0] - paused[0], 3)  # until the worker settled
            step["full_collections"] = now[1] - paused[1]
        step["worker_rss_mb"] = rss_mb(proc.pid)
        steps.append(step)
    return steps


async def _latency_step(settings: Settings, events: list[KV], rate: int, target: int,
                        drain: float) -> dict[str, Any]:
    """Produce ``events`` at ``rate``/s; match the lists they trigger; latency figures.

    ``target``: the worker's finished-events count once it has all of ``events``.
    """
    lists = _Lists()
    consumer = group_less_consumer(settings)
    producer = AIOKafkaProducer(**client_options(settings))
    await consumer.start()
    await producer.start()
    try:
        partitions = await assign_all(consumer, settings.topic("recommendations"))
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end now, before anything is sent
            await consumer.position(tp)
        sending = asyncio.create_task(_send_paced(producer, settings, events, rate, lists.sent))
        await _match_lists(consumer, sending, lists, lambda: done_count(settings), target, drain)
        elapsed = await sending
    finally:
        await producer.stop()
        await consumer.stop()
    computed = sorted(lists.computed.values())
    return {"rate": rate, "sent": len(lists.sent),
            "achieved_rate": round(len(lists.sent) / elapsed),
            **_latency_figures(lists.sent, lists.seen),
            "until_computed_p50_ms": _percentile_ms(computed, 0.5),
            "until_computed_p99_ms": _percentile_ms(computed, 0.99)}


async def _send_paced(producer: AIOKafkaProducer, settings: Settings, events: list[KV],
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

