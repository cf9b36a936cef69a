"""``replay`` and ``produce_raw`` against the embedded broker: what is sent arrives."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from engine.datasets import read_records
from engine.settings import TOPIC_ROLES, Settings
from engine.stream.broker import EmbeddedBroker
from engine.stream.replay import ReplayStats, produce_raw, replay

pytestmark = pytest.mark.integration

REES46 = Path(__file__).parents[2].parent / "shared" / "data" / "rees46_ecommerce_oct2019_head"

Message = tuple[bytes | None, bytes | None]


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def settings_for(broker: EmbeddedBroker, prefix: str) -> Settings:
    """Fresh topic names per test, so tests sharing the broker do not see each other."""
    return Settings(broker=broker.url, topics={r: f"{prefix}-{r}" for r in TOPIC_ROLES})


async def consume(broker: EmbeddedBroker, topic: str, count: int) -> list[Message]:
    """The first ``count`` messages of ``topic`` (all partitions), or fail after 30 s."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    messages: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while len(messages) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            messages += [(m.key, m.value) for batch in batches.values() for m in batch]
    finally:
        await consumer.stop()
    return messages


def by_key(messages: list[Message]) -> dict[bytes | None, list[Any]]:
    """Decoded values per key, in arrival order (one key lives on one partition)."""
    grouped: dict[bytes | None, list[Any]] = defaultdict(list)
    for key, value in messages:
        grouped[key].append(None if value is None else orjson.loads(value))
    return dict(grouped)


def test_replay_delivers_the_events_and_their_catalog_items(broker: EmbeddedBroker) -> None:
    if not REES46.exists():
        pytest.skip(f"dataset not available: {REES46}")
    settings = settings_for(broker, "replay")
    expected = list(read_records(REES46, limit=500))
    events = [(r.key.encode(), r.value) for r in expected if r.topic == "clickstream"]
    items = {r.key.encode(): r.value for r in expected if r.topic == "catalog"}

    stats = asyncio.run(replay(settings, REES46, limit=500, progress=False))
    assert stats == ReplayStats(500, len(items), stats.seconds)

    got_events = asyncio.run(consume(broker, "replay-clickstream", 500))
    assert len(got_events) == 500
    assert by_key(got_events) == by_key([(k, orjson.dumps(v)) for k, v in events])

    got_items = by_key(asyncio.run(consume(broker, "replay-catalog", len(items))))
    assert {key: versions[-1] for key, versions in got_items.items()} == items
    used = {event["item_id"].encode() for values in by_key(got_events).values() for event in values}
    assert used <= got_items.keys()  # every event's item is in the catalog


def test_replay_paces_events_at_the_given_rate(broker: EmbeddedBroker) -> None:
    if not REES46.exists():
        pytest.skip(f"dataset not available: {REES46}")
    stats = asyncio.run(
        replay(settings_for(broker, "paced"), REES46, rate=100, limit=51, progress=False)
    )
    assert stats.events == 51
    assert stats.seconds >= 0.5  # 50 intervals of 10 ms


def test_produce_raw_sends_bytes_as_they_are(broker: EmbeddedBroker) -> None:
    raw: list[Message] = [(b"u1", b"{not json"), (None, b"\xff\xfe"), (b"i7", None)]
    sent = asyncio.run(produce_raw(settings_for(broker, "raw"), "raw-input", raw))
    assert sent == 3
    assert sorted(asyncio.run(consume(broker, "raw-input", 3)), key=repr) == sorted(raw, key=repr)


def test_lines_that_are_no_contract_record_go_to_the_clickstream_as_they_were(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # the worker dead-letters them with their reasons, as any bad input (test_contract.py)
    path = tmp_path / "mixed.jsonl"
    good = '{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000}'
    path.write_text(f'{{"item_id": "i1"}}\nnot json\n{good}\n[1, 2]\n{{"ts": 1}}\n')
    stats = asyncio.run(replay(settings_for(broker, "mixed"), path, progress=False))
    assert (stats.events, stats.catalog_items, stats.unreadable) == (1, 1, 3)
    assert stats.first_problem is not None and stats.first_problem.startswith(f"{path}:2: ")
    got = asyncio.run(consume(broker, "mixed-clickstream", 4))
    assert sorted(got, key=repr) == sorted(
        [(b"u1", orjson.dumps(orjson.loads(good))), (None, b"not json"), (None, b"[1, 2]"),
         (None, b'{"ts": 1}')], key=repr)
