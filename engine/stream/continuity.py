"""No input record is skipped: the agents read back what Faust did not hand them.

Faust can skip input records around a rebalance or a restart (a message
fetched while the flow is suspended is dropped, and its offset still counts
as read; faust-streaming #596/#606), and then treats the hole as acknowledged
and commits past it: the events are lost for good. Kill tests saw it about
once in eight restarts in the middle of a burst.

On a topic that is neither compacted nor transactional, the offsets of one
partition are consecutive, so the agent can tell: it knows the next offset it
should see (the group's committed offset after an assignment, then the last
offset it processed plus one). When a message arrives beyond that, the
records in between are read directly from the broker with a group-less
consumer and processed first, in order. State updates are idempotent (event
ids and input offsets are kept with the state), so a record that was in fact
processed is skipped as a duplicate.

The committed offset is Faust's record of it when Faust has one, else the
broker's. Faust forgets it when partitions are revoked and records it again
only when its recovery seeks the new assignment to the committed offsets,
after it has resumed fetching them: the first records of a newly assigned
partition can reach an agent before that. Taking "not known yet" for "offset
0" read a whole partition back (in crash tests: 595 to 2,340 records at once,
each event a redelivery whose list was published again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["InputContinuity", "group_committed", "read_range"]

log = logging.getLogger(__name__)

Reader = Callable[[str, int, int, int], Awaitable[list[Any]]]
Known = Callable[[str, int], int | None]
Committed = Callable[[str, int], Awaitable[int | None]]


async def read_range(
    connection: Mapping[str, Any], topic: str, partition: int, start: int, end: int,
    *, read_for: float = 30.0,
) -> list[Any]:
    """The records of ``topic[partition]`` with ``start <= offset < end``, read directly."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**connection, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        records: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + read_for
        while await consumer.position(tp) < end:
            if loop.time() > deadline:
                raise TimeoutError(f"could not read {topic}[{partition}] {start}..{end - 1} "
                                   f"within {read_for:.0f} s")
            batches = await consumer.getmany(tp, timeout_ms=200)
            records.extend(r for r in batches.get(tp, ()) if start <= r.offset < end)
        return records
    finally:
        await consumer.stop()


async def group_committed(
    connection: Mapping[str, Any], group_id: str, topic: str, partition: int
) -> int | None:
    """The committed offset of ``group_id`` for ``topic[partition]``, asked of the broker.

    None if the group has committed none. The consumer asks (OffsetFetch)
    without joining the group, so the group's members are not disturbed.
    """
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**connection, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(tp)
        return offset
    finally:
        await consumer.stop()


class InputContinuity:
    """Per input partition, the next offset the agent should see; finds skipped records.

    ``known(topic, partition)``: the group's committed offset (the next record
    to read) as the consumer knows it since its last assignment, None when it
    does not know it (yet). ``committed(topic, partition)``: the group's
    committed offset asked of the broker, None if there is none.
    ``reader(topic, partition, start, end)``: the records in ``[start, end)``.
    """

    def __init__(self, known: Known, committed: Committed, reader: Reader) -> None:
        self._known = known
        self._committed = committed
        self._reader = reader
        self._next: dict[tuple[str, int], int] = {}

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Partitions revoked: after the next assignment, start again from the committed offset."""
        for where in partitions:
            self._next.pop(where, None)

    def next_offsets(self, topic: str) -> dict[int, int]:
        """The offset expected next on each partition of ``topic`` that has had a record."""
        return {partition: offset for (name, partition), offset in list(self._next.items())
                if name == topic}

    async def missing(self, topic: str, partition: int, offset: int) -> list[Any]:
        """Records before ``offset`` the agent should have seen and did not (usually none).

        If reading them fails, the error propagates and nothing is marked as
        seen: the next record of the partition looks for them again.
        """
        where = (topic, partition)
        expected = self._next.get(where)
        if expected is None:  # first record since an assignment (none precedes offset 0)
            expected = 0 if offset == 0 else await self._start(topic, partition)
        records = []
        if offset > expected:  # else in order, or a redelivery (idempotent state skips it)
            records = await self._reader(topic, partition, expected, offset)
        self._next[where] = max(offset + 1, self._next.get(where, 0))
        if records:
            log.warning("%s input records of %s[%s] before offset %s were skipped by the "
                        "consumer: processing them now", len(records), topic, partition, offset)
        return records

    async def _start(self, topic: str, partition: int) -> int:
        """The committed offset (0 if the group has none: the partition is read from the start)."""
        known = self._known(topic, partition)
        if known is not None:
            return known
        committed = await self._committed(topic, partition)
        log.info("committed offset of %s[%s] not known to the consumer yet; the broker's: %s",
                 topic, partition, committed)
        return 0 if committed is None else committed
