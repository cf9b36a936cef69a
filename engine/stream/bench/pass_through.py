"""(d0) The latency floor: a raw aiokafka pass-through running in a child process.

For each latency rate, the bench sends the same events through this process
first, then through the engine's worker, and measures both the same way. What
the pass-through takes is what the broker, the clients and the fetch waits
cost on this machine at that rate, with no work in between: no worker can
publish a list sooner. It reads a topic of its own from the end (group-less,
every partition, the worker's fetch wait), decodes and encodes each value
with orjson as (a) does, and hands it to a producer with the worker's linger
and batch size, on uvloop as the worker runs.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.settings import Settings, replace
from engine.stream.bench.children import child_process, wait_for_file
from engine.stream.bench.kafka import assign_all_from_end
from engine.stream.connection import client_options

__all__ = ["pass_through_main", "pass_through_process"]

_READY_WITHIN = 60.0  # seconds for the child to connect and find the ends of its topic


@contextmanager
def pass_through_process(settings: Settings, source: str, sink: str,
                         files: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The pass-through from ``source`` to ``sink`` in a child process, once it is reading.

    ``files``: where its config, log and ready marker go (``files``.*).
    """
    ready, log_path = files.with_suffix(".ready"), files.with_suffix(".log")
    config = {"broker": settings.broker, "source": source, "sink": sink,
              "fetch_max_wait_ms": settings.fetch_max_wait_ms,
              "producer_linger_ms": settings.producer_linger_ms,
              "producer_batch_bytes": settings.producer_batch_bytes, "ready": str(ready)}
    with child_process("engine.stream.bench.pass_through", "pass_through_main", config,
                       files.with_suffix(".json"), log_path) as proc:
        wait_for_file(proc, ready, _READY_WITHIN, "the pass-through",
                      f"was not reading after {_READY_WITHIN:.0f} s", log_path)
        yield proc


def pass_through_main(config_path: str | None = None) -> None:
    """Child process: pass every record of ``source`` on to ``sink`` until terminated.

    ``config_path`` (default: ``sys.argv[1]``) is a JSON file with ``broker``,
    ``source``, ``sink``, ``fetch_max_wait_ms``, ``producer_linger_ms``,
    ``producer_batch_bytes`` and ``ready`` (a file it creates once it reads).
    """
    import uvloop

    config = json.loads(Path(config_path or sys.argv[1]).read_text())
    uvloop.run(_pass_through(config))


async def _pass_through(config: dict[str, Any]) -> None:
    options = client_options(replace(Settings(), broker=config["broker"]))
    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="latest",
                                fetch_max_wait_ms=config["fetch_max_wait_ms"])
    producer = AIOKafkaProducer(**options, linger_ms=config["producer_linger_ms"],
                                max_batch_size=config["producer_batch_bytes"])
    await consumer.start()
    await producer.start()
    try:
        await assign_all_from_end(consumer, config["source"])  # before anything is sent
        await asyncio.to_thread(Path(config["ready"]).write_text, "reading\n")
        sink = config["sink"]
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    await producer.send(sink, orjson.dumps(orjson.loads(record.value)),
                                        key=record.key)
    finally:
        await producer.stop()
        await consumer.stop()
