"""What the embedded broker (Tansu) does where it differs from Kafka, as measured today.

These tests record behaviour, not wishes: when a broker upgrade changes one,
the failing assertion says what changed, and the engine's workaround for it
(see /work/shared/faust-on-tansu.md) can be re-examined.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.protocol.metadata import MetadataRequest

from engine.errors import EngineError, TopicError
from engine.settings import Settings
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker
from engine.stream.offsets import log_end_offsets

MakeSettings = Callable[..., Settings]  # the make_settings fixture of conftest.py


def _unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def _new_topic(bootstrap: str, partitions: int, **configs: str) -> str:
    name = _unique("conformance")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
        assert [entry[:2] for entry in response.topic_errors] == [(name, 0)]
    finally:
        await admin.close()
    return name


async def _produce_batches(bootstrap: str, topic: str, sizes: list[int]) -> list[int]:
    """Produce ``sizes[i]`` records in batch i to partition 0; the base offset of each batch."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=500, max_batch_size=1 << 20)
    await producer.start()
    try:
        bases = []
        for size in sizes:
            sent = [await producer.send(topic, b"x" * 100, partition=0) for _ in range(size)]
            metadata = await asyncio.gather(*sent)
            first = metadata[0].offset
            assert [m.offset for m in metadata] == list(range(first, first + size))
            bases.append(metadata[0].offset)
        return bases
    finally:
        await producer.stop()


async def _end_offsets(bootstrap: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def _fetch_highwater(bootstrap: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        for _ in range(10):
            await consumer.getmany(tp, timeout_ms=500)
            if consumer.highwater(tp) is not None:
                break
        highwater: int | None = consumer.highwater(tp)
        return highwater
    finally:
        await consumer.stop()


def test_end_offsets_after_multi_record_batches(broker: EmbeddedBroker) -> None:
    async def scenario() -> tuple[list[int], int, dict[TopicPartition, int]]:
        topic = await _new_topic(broker.bootstrap, partitions=2)
        bases = await _produce_batches(broker.bootstrap, topic, [100, 50])
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        listed = (await _end_offsets(broker.bootstrap, tps))[tps[0]]
        return bases, listed, await log_end_offsets({"bootstrap_servers": broker.bootstrap}, tps)

    bases, listed, true_ends = asyncio.run(scenario())
    print(f"\nconformance: batches at {bases}; ListOffsets end={listed}; log end={true_ends}")
    assert bases == [0, 100]
    assert listed == 101, (
        f"ListOffsets (consumer.end_offsets) now says {listed} after batches of 100 and 50 "
        "records: Tansu used to answer 101 (base of the last batch + 1). If it says 150, "
        "the broker reports the true log end and log_end_offsets' fetch is only a safety net."
    )
    assert list(true_ends.values()) == [150, 0], "log_end_offsets must return the true log end"


def test_fetch_highwater_is_the_log_end(broker: EmbeddedBroker) -> None:
    async def scenario() -> int | None:
        topic = await _new_topic(broker.bootstrap, partitions=1)
        await _produce_batches(broker.bootstrap, topic, [100, 50])
        return await _fetch_highwater(broker.bootstrap, TopicPartition(topic, 0))

    highwater = asyncio.run(scenario())
    print(f"\nconformance: fetch high-water={highwater}")
    assert highwater == 150, (
        f"the Fetch response's high-water is {highwater}, not 150: log_end_offsets relies on it"
    )


def test_log_end_offsets_with_single_record_batches(broker: EmbeddedBroker) -> None:
    async def scenario() -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        topic = await _new_topic(broker.bootstrap, partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            for _ in range(7):
                await producer.send_and_wait(topic, b"x", partition=0)
        finally:
            await producer.stop()
        tps = [TopicPartition(topic, 0)]
        return await _end_offsets(broker.bootstrap, tps), await log_end_offsets(
            {"bootstrap_servers": broker.bootstrap}, tps
        )

    listed, true_ends = asyncio.run(scenario())
    assert list(listed.values()) == [7], "one record per batch: ListOffsets is right"
    assert list(true_ends.values()) == [7]


def test_log_end_offsets_tries_again_then_refuses_to_answer_short(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> dict[TopicPartition, int]:
        topic = await _new_topic(broker.bootstrap, partitions=1)
        # no time to read anything: every attempt ends with the partition not drained
        return await log_end_offsets({"bootstrap_servers": broker.bootstrap},
                                     [TopicPartition(topic, 0)], read_for=0.0, attempts=3)

    with caplog.at_level(logging.WARNING, logger="engine.stream.offsets"), \
            pytest.raises(EngineError, match=r"to its end within 0 s \(3 attempts\): "
                                             r"cannot tell the log end offsets"):
        asyncio.run(scenario())
    assert [r.getMessage().rsplit("(", 1)[1] for r in caplog.records] == [
        "attempt 2 of 3)", "attempt 3 of 3)"]


def test_group_join_time(broker: EmbeddedBroker) -> None:
    async def scenario() -> float:
        topic = await _new_topic(broker.bootstrap, partitions=4)
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap,
            group_id=_unique("conformance-group"),
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            rebalance_timeout_ms=6000,
            enable_auto_commit=False,
        )
        started = time.monotonic()
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.05)
                assert time.monotonic() - started < 60, "no partitions assigned after 60 s"
            assert len(consumer.assignment()) == 4
            return time.monotonic() - started
        finally:
            await consumer.stop()

    joined = asyncio.run(scenario())
    print(
        f"\nconformance: group join (session 6 s, heartbeat 1 s, rebalance 6 s) took {joined:.2f} s"
    )
    assert joined < 20, f"joining a group took {joined:.1f} s (used to be ~4 s: half the session)"


def test_unknown_topics_are_auto_created_with_4_partitions(broker: EmbeddedBroker) -> None:
    async def scenario() -> tuple[int, int, int, bool]:
        produced, described, refused = _unique("auto"), _unique("auto"), _unique("no-auto")
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(produced, b"x")
            by_producer = len(await producer.partitions_for(produced))
        finally:
            await producer.stop()
        client = AIOKafkaClient(bootstrap_servers=broker.bootstrap)
        await client.bootstrap()
        try:
            request = MetadataRequest([refused], allow_auto_topic_creation=False)
            response = await client.send(client.get_random_node(), request)
            refused_code = response.to_object()["topics"][0]["error_code"]
        finally:
            await client.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            by_metadata = len((await admin.describe_topics([described]))[0]["partitions"])
            refused_exists = refused in await admin.list_topics()
        finally:
            await admin.close()
        return by_producer, by_metadata, refused_code, refused_exists

    by_producer, by_metadata, refused_code, refused_exists = asyncio.run(scenario())
    print(f"\nconformance: auto-created partitions: produce={by_producer}, metadata={by_metadata}")
    assert by_producer == 4, f"producing to an unknown topic now creates {by_producer} partitions"
    assert by_metadata == 4, f"a metadata request for an unknown topic now creates {by_metadata}"
    assert (refused_code, refused_exists) == (3, False), (
        "a metadata request with allow_auto_topic_creation=False used to answer "
        f"UNKNOWN_TOPIC_OR_PARTITION (3) and create nothing; now {refused_code}, "
        f"created={refused_exists}"
    )


def test_topic_creation_is_lax(broker: EmbeddedBroker) -> None:
    """Tansu accepts unknown config keys and a replication factor above its broker count."""

    async def scenario() -> tuple[list[tuple[str, int]], dict[str, str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            bogus, replicated = _unique("lax"), _unique("lax")
            response = await admin.create_topics(
                [
                    NewTopic(bogus, 1, 1, topic_configs={"no.such.config": "1"}),
                    NewTopic(replicated, 1, 3, topic_configs={"cleanup.policy": "compact"}),
                ]
            )
            configs = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, replicated)]
            )
            entries = configs[0].resources[0][4]
            return [e[:2] for e in response.topic_errors], {e[0]: e[1] for e in entries}
        finally:
            await admin.close()

    errors, stored = asyncio.run(scenario())
    assert [code for _, code in errors] == [0, 0], (
        f"topic creation errors {errors}: Tansu used to accept unknown config keys and "
        "replication factor 3 on one broker (Kafka rejects both: codes 40 and 38)"
    )
    assert stored.get("cleanup.policy") == "compact", f"topic configs stored: {stored}"


def test_create_topics_is_idempotent(make_settings: MakeSettings) -> None:
    settings = make_settings(partitions=2)
    first = asyncio.run(create_topics(settings))
    again = asyncio.run(create_topics(settings))
    names = [name for name, _ in first]
    assert {status for _, status in first} == {"created"}
    assert again == [(name, "exists") for name in names]
    assert settings.topic("clickstream") in names
    assert f"{settings.app_id}-item-pairs" in names


def test_create_topics_refuses_a_partition_mismatch(make_settings: MakeSettings) -> None:
    asyncio.run(create_topics(make_settings(partitions=2)))
    settings = make_settings(partitions=3)
    with pytest.raises(TopicError, match=r"exists with 2 partitions, expected 3") as raised:
        asyncio.run(create_topics(settings))
    assert settings.app_id in str(raised.value)


def test_create_topics_refuses_an_auto_created_topic(
    broker: EmbeddedBroker, make_settings: MakeSettings
) -> None:
    settings = make_settings(partitions=2)

    async def auto_create() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic("clickstream"), b"x")
        finally:
            await producer.stop()

    asyncio.run(auto_create())
    with pytest.raises(TopicError, match=r"clickstream' exists with 4 partitions, expected 2"):
        asyncio.run(create_topics(settings))


def test_read_range_reads_exactly_the_asked_offsets(broker: EmbeddedBroker) -> None:
    from engine.stream.continuity import read_range

    async def scenario() -> list[int]:
        topic = await _new_topic(broker.bootstrap, partitions=1)
        await _produce_batches(broker.bootstrap, topic, [20])
        records = await read_range({"bootstrap_servers": broker.bootstrap}, topic, 0, 5, 12)
        return [r.offset for r in records]

    assert asyncio.run(scenario()) == list(range(5, 12))


def test_group_committed_reads_a_group_s_committed_offset_without_joining(
    broker: EmbeddedBroker,
) -> None:
    from aiokafka.structs import OffsetAndMetadata

    from engine.stream.continuity import group_committed

    connection = {"bootstrap_servers": broker.bootstrap}

    async def scenario() -> tuple[int | None, int | None, int | None]:
        topic = await _new_topic(broker.bootstrap, partitions=2)
        group = _unique("group")
        await _produce_batches(broker.bootstrap, topic, [20])
        before = await group_committed(connection, group, topic, 0)
        member = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                  enable_auto_commit=False)
        await member.start()
        try:
            member.assign([TopicPartition(topic, 0)])
            await member.commit({TopicPartition(topic, 0): OffsetAndMetadata(17, "")})
            committed = await group_committed(connection, group, topic, 0)
            other = await group_committed(connection, group, topic, 1)
        finally:
            await member.stop()
        return before, committed, other

    assert asyncio.run(scenario()) == (None, 17, None)
