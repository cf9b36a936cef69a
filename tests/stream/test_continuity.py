"""The clickstream agent notices input records the consumer skipped and gets them back."""

from __future__ import annotations

import asyncio

from engine.stream.continuity import InputContinuity


class Log:
    """A partition's records by offset, and what was read back from it."""

    def __init__(self, committed: int | None) -> None:
        self.committed = committed
        self.reads: list[tuple[int, int]] = []

    def committed_offset(self, topic: str, partition: int) -> int | None:
        return self.committed

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[int]:
        self.reads.append((start, end))
        return list(range(start, end))


def missing(continuity: InputContinuity, offsets: list[int]) -> list[list[int]]:
    async def run() -> list[list[int]]:
        return [await continuity.missing("clickstream", 0, o) for o in offsets]

    return asyncio.run(run())


def test_consecutive_records_from_the_committed_offset_need_nothing() -> None:
    log = Log(committed=10)
    assert missing(InputContinuity(log.committed_offset, log.read), [10, 11, 12]) == [[], [], []]
    assert log.reads == []


def test_records_skipped_after_the_committed_offset_are_read_back() -> None:
    log = Log(committed=10)
    assert missing(InputContinuity(log.committed_offset, log.read), [13, 14]) == [[10, 11, 12], []]


def test_a_hole_in_the_middle_is_read_back_once() -> None:
    log = Log(committed=0)
    found = missing(InputContinuity(log.committed_offset, log.read), [0, 1, 5, 6, 9])
    assert found == [[], [], [2, 3, 4], [], [7, 8]]
    assert log.reads == [(2, 5), (7, 9)]


def test_redelivered_records_are_not_a_hole() -> None:
    log = Log(committed=0)
    assert missing(InputContinuity(log.committed_offset, log.read), [0, 1, 2, 1, 2, 3]) == [
        [], [], [], [], [], []]


def test_a_revoked_partition_starts_again_from_the_committed_offset() -> None:
    log = Log(committed=0)
    continuity = InputContinuity(log.committed_offset, log.read)
    missing(continuity, [0, 1, 2])
    continuity.forget([("clickstream", 0)])
    log.committed = 40  # another worker processed and committed up to 40 meanwhile
    assert missing(continuity, [40, 41]) == [[], []]
    assert log.reads == []


def test_without_a_committed_offset_the_partition_starts_at_zero() -> None:
    log = Log(committed=None)
    assert missing(InputContinuity(log.committed_offset, log.read), [2]) == [[0, 1]]
