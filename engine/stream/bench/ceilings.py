"""The ceilings the engine is compared with, over the same pre-filled topic.

(a) **raw**: in this process, a group-less aiokafka consumer → ``orjson.loads``
    → ``orjson.dumps`` → an aiokafka producer (the Python ceiling).
(b) **Faust consume only**: a minimal Faust app in a child process whose one
    agent only counts (the framework's ceiling), with the engine's transport,
    so the same fetch wait, and on uvloop as the engine's worker.
(b') **Faust pass-through**: the same app, whose agent also hands each event
    to the producer for an output topic, as the engine hands over each list:
    the ceiling of any Faust design that publishes one record per event.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from engine.errors import EngineError
from engine.settings import Settings, replace
from engine.stream.bench.children import child_process, wait_for_file
from engine.stream.bench.kafka import assign_all, group_less_consumer
from engine.stream.bench.process import rate
from engine.stream.connection import client_options

__all__ = ["faust_consume_only", "faust_pass_through", "faust_sink_main", "raw_ceiling"]


async def raw_ceiling(settings: Settings, source: str, sink: str, n: int,
                      limit: float) -> dict[str, float]:
    """(a): ``n`` events of ``source`` decoded, encoded again and produced to ``sink``.

    Events / (first batch received → last record handed over and flushed).
    """
    consumer = group_less_consumer(settings)
    producer = AIOKafkaProducer(**client_options(settings),
                                linger_ms=settings.producer_linger_ms,
                                max_batch_size=settings.producer_batch_bytes)
    await consumer.start()
    await producer.start()
    try:
        await consumer.seek_to_beginning(*await assign_all(consumer, source))
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
    return rate(len(futures), elapsed, cpu)


# -- (b) Faust consume only, (b') Faust pass-through ------------------------------


def faust_sink_main(config_path: str | None = None) -> None:
    """Child process of (b) and (b'): a Faust app whose one agent counts the events of a topic.

    ``config_path`` (default: ``sys.argv[1]``) is a JSON file with ``broker``,
    ``app_id``, ``topic``, ``partitions``, ``events``, ``data_dir``,
    ``session_timeout``, ``heartbeat_interval``, ``fetch_max_wait_ms``,
    ``producer_linger_ms``, ``producer_batch_bytes``, ``forward_to`` and
    ``result``. With ``forward_to`` (a topic name; null for (b)) the agent
    also hands each event's key and value to the producer for that topic,
    through the call the engine's worker sends its lists with. When the N-th
    event arrives (and, with ``forward_to``, the producer is flushed) the
    agent writes ``{"seconds", "cpu_seconds"}`` (first event → N-th) to
    ``result``; the parent then stops the process.
    """
    import faust
    import uvloop

    from engine.stream.transport import EngineTransport

    config = json.loads(Path(config_path or sys.argv[1]).read_text())

    class SinkApp(faust.App):
        engine_settings = replace(Settings(), broker=config["broker"],
                                  fetch_max_wait_ms=config["fetch_max_wait_ms"])

        def _new_transport(self) -> Any:
            return EngineTransport(self.conf.broker_consumer, self)

    # uvloop, as the engine's worker runs (13-20% less CPU per message in Faust's paths)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = SinkApp(config["app_id"], broker=config["broker"], store="memory://",
                  datadir=config["data_dir"], web_enabled=False, autodiscover=False,
                  topic_disable_leader=True, topic_partitions=config["partitions"],
                  key_serializer="raw", value_serializer="raw",
                  consumer_auto_offset_reset="earliest",
                  broker_session_timeout=config["session_timeout"],
                  broker_heartbeat_interval=config["heartbeat_interval"],
                  broker_rebalance_timeout=config["session_timeout"],
                  producer_linger=config["producer_linger_ms"] / 1000.0,
                  producer_max_batch_size=config["producer_batch_bytes"])
    topic = app.topic(config["topic"], key_type=bytes, value_type=bytes,
                      partitions=config["partitions"])
    app.agent(topic, name="sink")(_sink_agent(app, config["events"], Path(config["result"]),
                                              config["forward_to"]))
    worker = faust.Worker(app, loglevel="info", redirect_stdouts=False)
    worker.spinner = None  # the spinner turns the root logger to DEBUG
    worker.execute_from_commandline()


def _sink_agent(app: Any, events: int, result: Path,
                forward_to: str | None) -> Callable[[Any], Any]:
    async def sink(stream: Any) -> None:
        seen = 0
        started = cpu = 0.0
        async for event in stream.events():
            seen += 1
            if forward_to is not None:  # as the worker hands over a list (Runtime.send_to)
                message = event.message
                await app.producer.send(forward_to, message.key, message.value, None, None, None)
            if seen == 1:
                started, cpu = time.perf_counter(), time.process_time()
            if seen == events:
                if forward_to is not None:
                    await app.producer.flush()
                report = {"seconds": time.perf_counter() - started,
                          "cpu_seconds": time.process_time() - cpu}
                result.with_suffix(".tmp").write_text(json.dumps(report))
                result.with_suffix(".tmp").rename(result)

    return sink


def faust_consume_only(settings: Settings, topic: str, n: int, workdir: Path,
                       timeout: float) -> dict[str, float]:
    """(b): events / (first message in the child's agent → ``n``-th), as the child reports it."""
    return _faust_child(settings, topic, None, n, workdir / "faust-sink", timeout)


def faust_pass_through(settings: Settings, topic: str, sink: str, n: int, workdir: Path,
                       timeout: float) -> dict[str, float]:
    """(b'): as (b), each event also handed to the producer for ``sink`` (flushed at the end)."""
    return _faust_child(settings, topic, sink, n, workdir / "faust-pass-through", timeout)


def _faust_child(settings: Settings, topic: str, forward_to: str | None, n: int, files: Path,
                 timeout: float) -> dict[str, float]:
    """Run :func:`faust_sink_main` in a child process; its figures (files: ``files``.*)."""
    name = files.name
    result, log_path = files.with_suffix(".json"), files.with_suffix(".log")
    config = {"broker": settings.broker, "app_id": f"{settings.app_id}-{name}",
              "topic": topic, "partitions": settings.partitions, "events": n,
              "data_dir": str(files.with_name(f"{name}-data")),
              "session_timeout": settings.session_timeout,
              "heartbeat_interval": settings.heartbeat_interval,
              "fetch_max_wait_ms": settings.fetch_max_wait_ms,
              "producer_linger_ms": settings.producer_linger_ms,
              "producer_batch_bytes": settings.producer_batch_bytes,
              "forward_to": forward_to, "result": str(result)}
    with child_process("engine.stream.bench.ceilings", "faust_sink_main", config,
                       files.with_name(f"{name}-config.json"), log_path) as proc:
        wait_for_file(proc, result, timeout, f"the Faust {name} app",
                      f"did not see {n} events in {timeout:.0f} s", log_path)
    report = json.loads(result.read_text())
    return rate(n, report["seconds"], report["cpu_seconds"])

