"""The true log end offset of partitions, on Kafka and on Tansu.

Tansu answers ListOffsets (``consumer.end_offsets()``) with the base offset of
the last record batch + 1, not the log end: after a batch of 100 records and
one of 50 it says 101 instead of 150. Anything that trusts it -- Faust's
table recovery among them -- stops short and silently drops the tail. The
high-water mark in a Fetch response is right.

:func:`log_end_offsets` therefore takes ``end_offsets()`` and, for each
non-empty partition, fetches from ``end - 1`` with a temporary consumer (no
group, no commits) and returns ``max(end_offsets, fetch high-water, last
fetched offset + 1)``. On Kafka the maximum is a no-op: both answers agree.

It is a plain coroutine that uses only the running event loop, so it can be
awaited from inside Faust's consumer (its own thread and loop) as well as
from a test's ``asyncio.run``.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.errors import EngineError

__all__ = ["log_end_offsets"]


async def log_end_offsets(
    bootstrap: str,
    partitions: Iterable[TopicPartition],
    *,
    attempts: int = 5,
    fetch_wait_ms: int = 200,
) -> dict[TopicPartition, int]:
    """The offset the next record of each partition will get.

    ``bootstrap`` is ``host:port[,host:port]``. A partition whose fetch gives
    no high-water within ``attempts`` fetches of ``fetch_wait_ms`` each raises
    :class:`~engine.errors.EngineError` rather than answer short.
    """
    # Faust passes its own ``TP`` tuples; aiokafka insists on ``TopicPartition``.
    wanted = list(dict.fromkeys(TopicPartition(tp.topic, tp.partition) for tp in partitions))
    if not wanted:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=fetch_wait_ms,
    )
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(wanted))
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(wanted)
        pending = [tp for tp in wanted if ends[tp] > starts[tp]]
        if not pending:
            return ends
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, max(ends[tp] - 1, starts[tp]))
        for _ in range(attempts):
            batches = await consumer.getmany(*pending, timeout_ms=fetch_wait_ms * 2)
            for tp, records in batches.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
            for tp in pending:
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    ends[tp] = max(ends[tp], highwater)
            pending = [tp for tp in pending if consumer.highwater(tp) is None]
            if not pending:
                return ends
        raise EngineError(
            f"no fetch response for {', '.join(f'{tp.topic}[{tp.partition}]' for tp in pending)} "
            f"after {attempts} fetches: cannot tell their log end offsets"
        )
    finally:
        await consumer.stop()
