"""The embedded broker's latency floor, step after step, as the broker fills up.

Starts a fresh embedded broker and the raw pass-through of ``engine bench``'s
latency floor (d0), with no engine worker, then runs latency steps one after
the other: ``--rate`` events/s for ``--seconds`` each, ``--steps`` times over
the list of rates. Each step prints the pass-through's latency percentiles
(event sent → passed-on record consumed) and the CPU shares of the broker,
the pass-through and this process (the load generator and the measuring
consumer). What it shows is what the broker and the clients alone cost at a
rate, and how that changes with the data the broker already holds.

With ``--produce-only`` the steps only produce, and print the broker's CPU
share; nothing reads unless ``--reader`` adds one group-less consumer of the
topic (the worker's fetch wait). The two tell the cost of producing from the
cost of fetching.

    .venv/bin/python benchmarks/broker_floor.py --rate 1000 --steps 5
    .venv/bin/python benchmarks/broker_floor.py --rate 300 --rate 1000 --steps 3 --seconds 10
    .venv/bin/python benchmarks/broker_floor.py --rate 300 --steps 4 --seconds 15 --produce-only
    .venv/bin/python benchmarks/broker_floor.py --rate 300 --steps 4 --produce-only --reader
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.settings import Settings, load_settings
from engine.stream.bench.data import KV, bench_data, latency_events
from engine.stream.bench.kafka import assign_all_from_end, bench_settings, create_topic
from engine.stream.bench.latency import Floor, floor_latency, send_paced
from engine.stream.bench.pass_through import pass_through_process
from engine.stream.bench.process import cpu_seconds
from engine.stream.broker import EmbeddedBroker
from engine.stream.connection import client_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, action="append", help="events/s (repeatable)")
    parser.add_argument("--steps", type=int, default=3, help="rounds over the rates")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of a step")
    parser.add_argument("--produce-only", action="store_true", help="no pass-through, no reader")
    parser.add_argument("--reader", action="store_true", help="with --produce-only: one reader")
    args = parser.parse_args()
    rates = args.rate or [1000]
    workdir = Path(tempfile.mkdtemp(prefix="broker-floor-"))
    data = bench_data()
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        settings = bench_settings(load_settings(), broker.url, workdir)
        source, sink = f"{settings.app_id}-floor-in", f"{settings.app_id}-floor-out"
        for topic in (source, sink):
            asyncio.run(create_topic(settings, topic))
        print(f"broker {broker.url}; fetch wait {settings.fetch_max_wait_ms} ms, "
              f"linger {settings.producer_linger_ms} ms; logs in {workdir}")
        if args.produce_only:
            _produce_only(settings, source, broker.pid, rates, args.steps, args.seconds,
                          reader=args.reader)
            return
        print(f"{'step':>4}{'rate/s':>8}{'held':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
              f"{'broker CPU':>11}{'pass-through':>13}{'bench':>7}")
        with pass_through_process(settings, source, sink, workdir / "pass-through") as proc:
            held = 0  # events the broker holds (each also once passed on)
            for step in range(args.steps * len(rates)):
                rate = rates[step % len(rates)]
                events = latency_events(data, rate, args.seconds, step)
                own, started = time.process_time(), time.perf_counter()
                figures = floor_latency(settings, Floor(proc, source, sink), events, rate,
                                        broker_pid=broker.pid)
                bench = (time.process_time() - own) / (time.perf_counter() - started)
                held += len(events)
                print(f"{step + 1:>4}{rate:>8}{held:>8,}"
                      + "".join(f"{figures[k] or 0:>8.1f}"
                                for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
                      + f"{figures['broker_cpu_share']:>11.0%}{figures['cpu_share']:>13.0%}"
                      + f"{bench:>7.0%}", flush=True)


def _produce_only(settings: Settings, topic: str, broker_pid: int | None, rates: list[int],
                  steps: int, seconds: float, *, reader: bool) -> None:
    """Steps that produce (as the latency steps send), and with ``reader`` one consumer reads
    along; the broker's CPU share of each."""
    data = bench_data()
    print(f"{'step':>4}{'rate/s':>8}{'held':>8}{'broker CPU':>11}")
    held = 0
    for step in range(steps * len(rates)):
        rate = rates[step % len(rates)]
        events = latency_events(data, rate, seconds, step)
        broker = cpu_seconds(broker_pid) if broker_pid is not None else 0.0
        started = time.perf_counter()
        asyncio.run(_send_paced_only(settings, topic, events, rate, reader=reader))
        share = ((cpu_seconds(broker_pid) - broker) / (time.perf_counter() - started)
                 if broker_pid is not None else 0.0)
        held += len(events)
        print(f"{step + 1:>4}{rate:>8}{held:>8,}{share:>11.0%}", flush=True)


async def _send_paced_only(settings: Settings, topic: str, events: list[KV], rate: int, *,
                           reader: bool) -> None:
    producer = AIOKafkaProducer(**client_options(settings))  # as the latency steps' producer
    await producer.start()
    reading = asyncio.create_task(_read_along(settings, topic)) if reader else None
    try:
        await send_paced(producer, topic, events, rate)
    finally:
        await producer.stop()
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading


async def _read_along(settings: Settings, topic: str) -> None:
    """Read ``topic`` from its end until cancelled, with the worker's fetch wait."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="latest",
                                fetch_max_wait_ms=settings.fetch_max_wait_ms)
    await consumer.start()
    try:
        await assign_all_from_end(consumer, topic)
        while True:
            await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


if __name__ == "__main__":
    main()
