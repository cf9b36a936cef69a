"""Broker plumbing of the bench: its settings, topics, producers and group-less consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.errors import EngineError
from engine.settings import TOPIC_ROLES, Settings, replace
from engine.stream.bench.data import KV
from engine.stream.broker import free_port
from engine.stream.connection import client_options
from engine.stream.offsets import log_end_offsets

__all__ = [
    "FETCH_WAIT_MS", "assign_all", "assign_all_from_end", "bench_settings", "create_topic",
    "group_less_consumer", "produce", "records_held", "topic_names",
]

FETCH_WAIT_MS = 10  # the bench's own consumers


def bench_settings(base: Settings, broker_url: str, workdir: Path) -> Settings:
    """``base`` on the bench's broker, under a fresh app id, topic names, web port and data dir."""
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    return replace(base, broker=broker_url, app_id=prefix, web_port=free_port(),
                   web_host="127.0.0.1", data_dir=str(workdir / "data"),
                   topics=MappingProxyType({role: f"{prefix}-{role}" for role in TOPIC_ROLES}))


async def create_topic(settings: Settings, name: str) -> None:
    """Create one topic with ``settings.partitions`` partitions."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, settings.partitions, 1)])
    finally:
        await admin.close()


async def produce(settings: Settings, topic: str, records: Iterable[KV]) -> int:
    """Produce ``records`` (key, value) to ``topic`` and wait for every delivery; how many."""
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await producer.flush()
        await asyncio.gather(*futures)  # raises the first failed delivery
    finally:
        await producer.stop()
    return len(futures)


async def assign_all(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to ``consumer``; the partitions."""
    await consumer.topics()
    partitions = [TopicPartition(topic, p)
                  for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        raise EngineError(f"topic {topic!r} has no partitions on the bench broker")
    consumer.assign(partitions)
    return partitions


async def assign_all_from_end(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """:func:`assign_all`, reading from each partition's end as it is now (resolved at once,
    so that nothing sent afterwards is missed)."""
    partitions = await assign_all(consumer, topic)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    return partitions


def group_less_consumer(settings: Settings) -> AIOKafkaConsumer:
    """A consumer without a group, from the earliest offset, with the bench's fetch wait."""
    return AIOKafkaConsumer(**client_options(settings), group_id=None,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            fetch_max_wait_ms=FETCH_WAIT_MS)


async def topic_names(settings: Settings) -> set[str]:
    """Every topic on the broker (a metadata request for all of them: creates nothing)."""
    consumer = group_less_consumer(settings)
    await consumer.start()
    try:
        names: set[str] = await consumer.topics()
        return names
    finally:
        await consumer.stop()


async def records_held(settings: Settings, topics: Iterable[str]) -> dict[str, int]:
    """How many records each topic holds: the sum of its partitions' log ends.

    The true log ends (:func:`~engine.stream.offsets.log_end_offsets`), which
    Tansu's ListOffsets understates after multi-record batches.
    """
    consumer = group_less_consumer(settings)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = {topic: [TopicPartition(topic, p)
                              for p in sorted(consumer.partitions_for_topic(topic) or ())]
                      for topic in topics}
    finally:
        await consumer.stop()
    ends = await log_end_offsets(client_options(settings),
                                 [tp for tps in partitions.values() for tp in tps])
    return {topic: sum(ends.get(tp, 0) for tp in tps) for topic, tps in partitions.items()}
