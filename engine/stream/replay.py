"""The producer side of ``engine replay PATH``: a dataset file into the input topics.

Records come from :func:`engine.datasets.read_records`, in replay order; each
goes to the configured name of its topic, keyed by its UTF-8 key, its value
encoded with orjson (a catalog tombstone as a null value).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from engine.datasets import read_records
from engine.settings import Settings
from engine.stream.connection import client_options, start_client

__all__ = ["ReplayStats", "produce_raw", "replay"]

_CHECK_EVERY = 1000  # sends between two checks that deliveries succeed


@dataclass(frozen=True)
class ReplayStats:
    """What a replay produced, and how long it took (wall-clock seconds)."""

    events: int
    catalog_items: int
    seconds: float
    #: lines that were no contract record, produced as they are; and where the first one is
    unreadable: int = 0
    first_problem: str | None = None


def _producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        linger_ms=5,
    )


async def replay(
    settings: Settings,
    path: str | Path,
    *,
    rate: float | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> ReplayStats:
    """Produce a dataset's records; at most ``rate`` events a second, ``limit`` events.

    Catalog records are neither paced nor counted by ``limit``. The progress
    bar counts events, and only shows on a terminal. A JSON Lines line that is
    no contract record goes to ``clickstream`` as it is, without a key: the
    worker dead-letters it with its reason, as it would any bad input.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    events = catalog_items = unreadable = 0
    first_problem: str | None = None
    pending: list[asyncio.Future[object]] = []
    started = time.monotonic()
    producer = _producer(settings)
    await start_client(producer, settings)
    try:
        with tqdm(total=limit, unit="event", disable=None if progress else True) as bar:
            for record in read_records(path, limit=limit):
                if record.problem is not None:
                    unreadable += 1
                    first_problem = first_problem or record.problem
                elif record.topic == "clickstream":
                    if rate is not None:
                        await _pace(started + events / rate)
                    events += 1
                    bar.update()
                else:
                    catalog_items += 1
                key = None if record.key is None else record.key.encode()
                topic = settings.topic(record.topic)
                pending.append(await producer.send(topic, record.payload(), key=key))
                if len(pending) >= _CHECK_EVERY:
                    await asyncio.gather(*pending)  # raises the first failed delivery
                    pending.clear()
            await producer.flush()
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return ReplayStats(events, catalog_items, time.monotonic() - started, unreadable,
                       first_problem)


async def _pace(due: float) -> None:
    """Sleep until the monotonic clock reaches ``due`` (no-op when already past it)."""
    delay = due - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def produce_raw(
    settings: Settings,
    topic_name: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
) -> int:
    """Produce ``(key, value)`` byte pairs as they are to ``topic_name``; returns the count.

    For tests that need input the datasets cannot express (invalid JSON,
    oversize values, ...). ``topic_name`` is the topic's actual name.
    """
    producer = _producer(settings)
    await start_client(producer, settings)
    try:
        futures = [await producer.send(topic_name, value, key=key) for key, value in records]
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures)
