"""Row increments are coalesced: one message per owning partition, nothing lost or doubled."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from engine.profiles import PairUpdate
from engine.stream.increments import IncrementBuffer, decode_increments, item_partition


def _flushed(updates: list[PairUpdate], partitions: int = 4) -> dict[int, bytes]:
    sent: dict[int, bytes] = {}

    async def send(partition: int, value: bytes) -> None:
        assert partition not in sent, "one message per partition and flush"
        sent[partition] = value

    buffer = IncrementBuffer(send, partitions)
    for update in updates:
        buffer.add(update)
    asyncio.run(buffer.flush())
    assert len(buffer) == 0
    return sent


def test_each_row_increment_reaches_the_partition_that_owns_its_item() -> None:
    updates = [PairUpdate("a", 1.0, (("b", 1.0),), 10.0),
               PairUpdate("c", 8.0, (("a", 1.0), ("b", 1.0)), 20.0, previous="a")]
    sent = _flushed(updates)
    by_item = {}
    for partition, value in sent.items():
        for item_id, increments in decode_increments(value).items():
            assert item_partition(item_id, 4) == partition
            by_item[item_id] = increments
    assert sorted(by_item) == ["a", "b", "c"]
    assert [(i.gain, i.pairs, i.ts) for i in by_item["c"]] == [(8.0, {"a": 1.0, "b": 1.0}, 20.0)]
    # a: its own interaction, then partner of c, then c follows it
    assert [(i.gain, i.pairs, i.next) for i in by_item["a"]] == [
        (1.0, {"b": 1.0}, {}), (0.0, {"c": 1.0}, {"c": 1.0})]
    assert len(by_item["b"]) == 2


def test_the_buffer_says_when_it_is_full() -> None:
    async def send(partition: int, value: bytes) -> None:
        pass

    buffer = IncrementBuffer(send, 4, max_pending=3)
    buffer.add(PairUpdate("a", 1.0, (("b", 1.0),), 0.0))
    assert len(buffer) == 2 and not buffer.full()
    buffer.add(PairUpdate("c", 1.0, (), 0.0))
    assert buffer.full()


def test_increments_a_failed_send_did_not_deliver_stay_pending() -> None:
    attempts: list[int] = []

    async def flaky(partition: int, value: bytes) -> None:
        attempts.append(partition)
        if len(attempts) == 1:
            raise ConnectionError("broker away")

    buffer = IncrementBuffer(flaky, 4)
    buffer.add(PairUpdate("a", 1.0, (("b", 1.0), ("c", 1.0), ("d", 1.0)), 0.0))
    before = len(buffer)
    with pytest.raises(ConnectionError):
        asyncio.run(buffer.flush())
    assert len(buffer) == before, "nothing lost"
    asyncio.run(buffer.flush())
    assert len(buffer) == 0


def test_bought_together_evidence_reaches_the_item_side_only_where_there_is_some() -> None:
    updates = [PairUpdate("b", 8.0, (("a", 8.0), ("c", 1.0)), 30.0, level=8.0)]
    sent = _flushed(updates)
    by_item = {item_id: increments for value in sent.values()
               for item_id, increments in decode_increments(value).items()}
    assert [(i.pairs, i.bought) for i in by_item["b"]] == [({"a": 8.0, "c": 1.0}, {"a": 8.0})]
    assert [i.bought for i in by_item["a"]] == [{"b": 8.0}]
    assert [i.bought for i in by_item["c"]] == [{}]
    raw = {item_id: increments for value in sent.values()
           for item_id, increments in orjson.loads(value)["rows"].items()}
    assert "bought" not in raw["c"][0], "no empty bought maps on the wire"
