"""Every worker reads the catalog and the item-neighbours topic whole.

Recommendations for a user need any item's catalog facts and neighbours, not
just those of the worker's partitions. These two topics are small (one record
per item, compacted on Kafka), so each worker reads all their partitions with
a group-less consumer into its :class:`~engine.world.World` — the role of a
Faust GlobalTable, without its recovery problems. The agents wait until the
reader has caught up with the log end seen at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from engine.errors import InvalidRecord
from engine.events import decode_item
from engine.stream.app import EngineApp, Runtime
from engine.stream.connection import client_options
from engine.stream.offsets import log_end_offsets

__all__ = ["install"]

log = logging.getLogger(__name__)


def _apply(rt: Runtime, role: str, record: ConsumerRecord[bytes, bytes]) -> None:
    key, value = record.key, record.value
    if role == "catalog":
        if value is None:
            if key is not None:
                rt.world.remove_item(key.decode("utf-8", "replace"))
                rt.stats.inc("catalog_records_read")
            return
        try:
            rt.world.set_item(decode_item(value, rt.config.input_limits))
            rt.stats.inc("catalog_records_read")
        except InvalidRecord:
            pass  # dead-lettered once by the catalog agent that owns the partition
        return
    if value is not None:
        rt.world.apply_summary(orjson.loads(value))
        rt.stats.inc("summaries_read")
    elif key is not None:  # the owner evicted the row (ENGINE_MAX_ITEMS)
        rt.world.forget_evidence(key.decode("utf-8", "replace"))


async def _read(rt: Runtime, connection: dict[str, Any]) -> None:
    roles = {rt.topics[role].get_topic_name(): role for role in ("catalog", "item-neighbours")}
    consumer = AIOKafkaConsumer(
        **connection,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=rt.settings.fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        await consumer.topics()  # load metadata
        partitions = [
            TopicPartition(topic, p)
            for topic in roles
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        targets = await log_end_offsets(connection, partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                for record in records:
                    try:
                        _apply(rt, roles[tp.topic], record)
                    except Exception:
                        log.exception("ignoring unreadable %s record at %s", tp, record.offset)
            rt.stats.world_items.set(rt.world.known_item_count())
            if not rt.world_ready.is_set() and await _caught_up(consumer, targets):
                log.info("world view caught up: %s catalog items", rt.world.item_count())
                rt.world_ready.set()
    finally:
        await consumer.stop()


async def _caught_up(consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
    for tp, target in targets.items():
        if await consumer.position(tp) < target:
            return False
    return True


def install(app: EngineApp, rt: Runtime) -> None:
    """Run the broadcast reader with the worker, restarting it after failures."""
    connection = client_options(rt.settings)

    @app.task  # type: ignore[untyped-decorator]
    async def read_broadcast_topics() -> None:
        while True:
            try:
                await _read(rt, connection)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broadcast reader failed; restarting in 1 s")
                await asyncio.sleep(1.0)
