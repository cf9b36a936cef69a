"""Create the topics of :func:`engine.topics.topic_plan` on the broker, idempotently.

Every topic is created explicitly, before any worker starts: a broker that
auto-creates topics (Tansu: 4 partitions) would otherwise give a source topic
and its table's changelog different partition counts.

Topics are looked up with a metadata request for *all* topics: asking for a
named topic that does not exist auto-creates it on Tansu and on Kafka with
``auto.create.topics.enable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from engine.errors import TopicError
from engine.settings import Settings
from engine.stream.connection import client_options, start_client
from engine.topics import PlannedTopic, topic_plan

__all__ = ["create_topics", "wait_for_topics"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_INVALID_CONFIG = 40




async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    """Partition count of every topic on the cluster (a metadata request for all topics)."""
    topics: list[dict[str, Any]] = await admin.describe_topics()  # no names: creates nothing
    return {t["topic"]: len(t["partitions"]) for t in topics if t["error_code"] == 0}


def _check_partitions(topic: PlannedTopic, actual: int) -> None:
    if actual != topic.partitions:
        raise TopicError(
            f"topic {topic.name!r} exists with {actual} partitions, expected {topic.partitions}: "
            "its partition count must match the plan (delete it, or set ENGINE_PARTITIONS)"
        )


async def _create(
    admin: AIOKafkaAdminClient, topics: Sequence[PlannedTopic], replication: int, *, configs: bool
) -> dict[str, int]:
    """Send one CreateTopics request; the error code of each topic."""
    new = [
        NewTopic(t.name, t.partitions, replication, topic_configs=dict(t.config) if configs else {})
        for t in topics
    ]
    response = await admin.create_topics(new)
    return {entry[0]: entry[1] for entry in response.topic_errors}


async def create_topics(settings: Settings) -> list[tuple[str, str]]:
    """Create every planned topic; ``[(name, "created" | "exists"), ...]`` in plan order.

    A topic that exists with another partition count raises
    :class:`~engine.errors.TopicError`. A topic whose config the broker rejects
    is created without it, with a warning.
    """
    plan = topic_plan(settings)
    admin = AIOKafkaAdminClient(**client_options(settings), client_id=f"{settings.app_id}-admin")
    await start_client(admin, settings)
    try:
        cluster = await admin.describe_cluster()
        replication = max(1, min(3, len(cluster["brokers"])))
        counts = await _partition_counts(admin)
        status = {t.name: "exists" for t in plan if t.name in counts}
        for topic in plan:
            if topic.name in counts:
                _check_partitions(topic, counts[topic.name])
        missing = [t for t in plan if t.name not in counts]
        codes = await _create(admin, missing, replication, configs=True) if missing else {}
        rejected = [t for t in missing if codes.get(t.name) == _INVALID_CONFIG]
        if rejected:
            log.warning(
                "broker rejected the config of %s; creating them without it",
                ", ".join(t.name for t in rejected),
            )
            codes.update(await _create(admin, rejected, replication, configs=False))
        raced = [t for t in missing if codes.get(t.name) == _TOPIC_ALREADY_EXISTS]
        if raced:  # created meanwhile by someone else (or auto-created): check it like the rest
            counts = await _partition_counts(admin)
        for topic in missing:
            code = codes.get(topic.name, -1)
            if code == 0:
                status[topic.name] = "created"
            elif code == _TOPIC_ALREADY_EXISTS and topic.name in counts:
                _check_partitions(topic, counts[topic.name])
                status[topic.name] = "exists"
            else:
                error = for_code(code).__name__ if code >= 0 else "no answer"
                raise TopicError(f"could not create topic {topic.name!r}: {error} (code {code})")
    finally:
        await admin.close()
    await wait_for_topics(settings, {t.name: t.partitions for t in plan})
    return [(t.name, status[t.name]) for t in plan]


async def wait_for_topics(
    settings: Settings, topics: Mapping[str, int] | Iterable[str], *, deadline: float = 30.0
) -> None:
    """Wait until metadata shows every topic (with its partition count, if given) and leaders.

    Asks for all topics, never for the named ones, so it auto-creates nothing.
    Raises :class:`~engine.errors.TopicError` after ``deadline`` seconds.
    """
    expected = dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, 0)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
    try:
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline
        while True:
            described: list[dict[str, Any]] = await admin.describe_topics()
            ready = {
                t["topic"]: len(t["partitions"])
                for t in described
                if t["error_code"] == 0 and all(p["leader"] >= 0 for p in t["partitions"])
            }
            waiting = sorted(
                name for name, n in expected.items() if name not in ready or ready[name] < n
            )
            if not waiting:
                return
            if loop.time() >= until:
                raise TopicError(f"topics not ready after {deadline} s: {', '.join(waiting)}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
