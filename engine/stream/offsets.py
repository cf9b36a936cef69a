"""The true log end offset of partitions, on Kafka and on Tansu.

Tansu answers ListOffsets (``consumer.end_offsets()``) with the base offset of
the last record batch + 1, not the log end: after a batch of 100 records and
one of 50 it says 101 instead of 150. Anything that trusts it -- Faust's
table recovery among them -- stops short and silently drops the tail. The
high-water mark in a Fetch response is right.

:func:`log_end_offsets` therefore takes ``end_offsets()`` and, for every
partition, reads from a little below ``end`` with a temporary consumer (no group, no
commits) until a fetch brings nothing new, and returns ``max(end_offsets, fetch
high-water, last fetched offset + 1)``. On Kafka the maximum is a no-op: both
answers agree.

It is a plain coroutine that uses only the running event loop, so it can be
awaited from inside Faust's consumer (its own thread and loop) as well as
from a test's ``asyncio.run``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.errors import EngineError

__all__ = ["log_end_offsets"]

log = logging.getLogger(__name__)

_MARGIN = 1000  # records read below what ListOffsets says


async def log_end_offsets(
    connection: Mapping[str, Any],
    partitions: Iterable[TopicPartition],
    *,
    read_for: float = 30.0,
    fetch_wait_ms: int = 200,
    attempts: int = 3,
) -> dict[TopicPartition, int]:
    """The offset the next record of each partition will get.

    ``connection`` holds the client options (:func:`engine.stream.connection.client_options`).
    Every partition is read from
    a little below what ListOffsets says until a fetch brings nothing new (ListOffsets
    is never trusted alone, not even when it says the partition is empty). A
    partition not drained within ``read_for`` seconds is tried again with a new
    consumer, with a warning, up to ``attempts`` times in all (a worker on a
    loaded machine, recovering its tables, should not die of one slow read);
    then it raises :class:`~engine.errors.EngineError` rather than answer short.
    """
    # Faust passes its own ``TP`` tuples; aiokafka insists on ``TopicPartition``.
    wanted = list(dict.fromkeys(TopicPartition(tp.topic, tp.partition) for tp in partitions))
    if not wanted:
        return {}
    for attempt in range(1, attempts + 1):
        try:
            return await _read_to_the_end(connection, wanted, read_for, fetch_wait_ms)
        except _NotDrained as exc:
            names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(exc.pending))
            problem = f"could not read {names} to its end within {read_for:.0f} s"
            if attempt == attempts:
                raise EngineError(f"{problem} ({attempts} attempts): "
                                  "cannot tell the log end offsets") from None
            log.warning("%s; trying again (attempt %d of %d)", problem, attempt + 1, attempts)
    raise AssertionError("unreachable")  # pragma: no cover


class _NotDrained(Exception):
    def __init__(self, pending: set[TopicPartition]) -> None:
        super().__init__()
        self.pending = pending


async def _read_to_the_end(connection: Mapping[str, Any], wanted: list[TopicPartition],
                           read_for: float, fetch_wait_ms: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        **connection,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait_ms,
    )
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(wanted))
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(wanted)
        consumer.assign(wanted)
        for tp in wanted:  # a margin, in case ListOffsets points into the middle of a batch
            consumer.seek(tp, max(ends[tp] - _MARGIN, starts[tp]))
        pending = set(wanted)
        deadline = time.monotonic() + read_for
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=fetch_wait_ms * 2)
            for tp in list(pending):
                records = batches.get(tp, [])
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue  # no fetch response for it yet
                ends[tp] = max(ends[tp], highwater)
                if not records and await consumer.position(tp) >= highwater:
                    pending.discard(tp)  # drained: nothing beyond what we have seen
        if pending:
            raise _NotDrained(pending)
        return ends
    finally:
        await consumer.stop()
