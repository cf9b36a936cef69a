"""The agents notice input records the consumer skipped and get them back."""

from __future__ import annotations

import asyncio

import pytest

from engine.stream.continuity import InputContinuity


class Log:
    """A partition's records by offset, the group's committed offset, and who was asked what.

    ``committed``: the group's committed offset on the broker (None: none).
    ``known``: whether the consumer has recorded it (Faust records it only
    when its recovery seeks to it, after fetching has resumed).
    """

    def __init__(self, committed: int | None, *, known: bool = True) -> None:
        self.committed = committed
        self.known = known
        self.reads: list[tuple[int, int]] = []
        self.lookups = 0
        self.failing_reads = 0

    def known_offset(self, topic: str, partition: int) -> int | None:
        return self.committed if self.known else None

    async def broker_offset(self, topic: str, partition: int) -> int | None:
        self.lookups += 1
        return self.committed

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[int]:
        if self.failing_reads:
            self.failing_reads -= 1
            raise TimeoutError("broker unavailable")
        self.reads.append((start, end))
        return list(range(start, end))

    def continuity(self) -> InputContinuity:
        return InputContinuity(self.known_offset, self.broker_offset, self.read)


def missing(continuity: InputContinuity, offsets: list[int]) -> list[list[int]]:
    async def run() -> list[list[int]]:
        return [await continuity.missing("clickstream", 0, o) for o in offsets]

    return asyncio.run(run())


def test_consecutive_records_from_the_committed_offset_need_nothing() -> None:
    log = Log(committed=10)
    assert missing(log.continuity(), [10, 11, 12]) == [[], [], []]
    assert log.reads == []
    assert log.lookups == 0  # the consumer knew the committed offset


def test_records_skipped_after_the_committed_offset_are_read_back() -> None:
    log = Log(committed=10)
    assert missing(log.continuity(), [13, 14]) == [[10, 11, 12], []]


def test_a_hole_in_the_middle_is_read_back_once() -> None:
    log = Log(committed=0)
    found = missing(log.continuity(), [0, 1, 5, 6, 9])
    assert found == [[], [], [2, 3, 4], [], [7, 8]]
    assert log.reads == [(2, 5), (7, 9)]


def test_redelivered_records_are_not_a_hole() -> None:
    log = Log(committed=0)
    assert missing(log.continuity(), [0, 1, 2, 1, 2, 3]) == [[], [], [], [], [], []]


def test_a_revoked_partition_starts_again_from_the_committed_offset() -> None:
    log = Log(committed=0)
    continuity = log.continuity()
    missing(continuity, [0, 1, 2])
    continuity.forget([("clickstream", 0)])
    log.committed = 40  # another worker processed and committed up to 40 meanwhile
    assert missing(continuity, [40, 41]) == [[], []]
    assert log.reads == []


def test_a_committed_offset_the_consumer_does_not_know_yet_is_asked_of_the_broker() -> None:
    # A newly assigned partition's first records can reach the agent before
    # Faust has recorded its committed offset: that is not "offset 0".
    log = Log(committed=2340, known=False)
    assert missing(log.continuity(), [2340, 2341]) == [[], []]
    assert log.reads == []
    assert log.lookups == 1  # once per assignment, not per record


def test_a_hole_after_an_unknown_committed_offset_is_read_from_the_broker_s_offset() -> None:
    log = Log(committed=2340, known=False)
    assert missing(log.continuity(), [2343]) == [[2340, 2341, 2342]]


def test_a_group_without_a_committed_offset_reads_the_partition_from_the_start() -> None:
    log = Log(committed=None, known=False)
    assert missing(log.continuity(), [2]) == [[0, 1]]


def test_a_failed_read_back_is_tried_again_with_the_next_record() -> None:
    log = Log(committed=10)
    log.failing_reads = 1
    continuity = log.continuity()
    with pytest.raises(TimeoutError):
        missing(continuity, [13])
    assert missing(continuity, [14]) == [[10, 11, 12, 13]]


def test_a_partition_s_first_record_needs_no_committed_offset() -> None:
    log = Log(committed=None, known=False)
    assert missing(log.continuity(), [0, 1]) == [[], []]
    assert log.lookups == 0


def test_the_offset_expected_next_is_known_per_partition_read() -> None:
    continuity = Log(committed=10).continuity()

    async def run() -> None:
        await continuity.missing("clickstream", 0, 10)
        await continuity.missing("clickstream", 0, 11)
        await continuity.missing("clickstream", 2, 10)
        await continuity.missing("item-pairs", 1, 10)

    asyncio.run(run())
    assert continuity.next_offsets("clickstream") == {0: 12, 2: 11}
    continuity.forget([("clickstream", 0)])  # revoked: no longer this worker's to report
    assert continuity.next_offsets("clickstream") == {2: 11}
