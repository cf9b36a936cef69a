"""``engine bench`` counts the records the worker wrote per topic, batches and all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.settings import Settings
from engine.stream.bench.kafka import create_topic, produce, records_held, topic_names

MakeSettings = Callable[..., Settings]  # the make_settings fixture of conftest.py


def test_every_record_of_every_partition_is_counted_after_multi_record_batches(
        make_settings: MakeSettings) -> None:
    settings = make_settings()
    lists, rows, empty = (f"{settings.app_id}-{name}" for name in ("lists", "rows", "empty"))
    for topic in (lists, rows, empty):
        asyncio.run(create_topic(settings, topic))
    # produced with a linger: several records per batch, where Tansu's ListOffsets falls short
    asyncio.run(produce(settings, lists, [(f"u{i}".encode(), b"{}") for i in range(50)]))
    asyncio.run(produce(settings, rows, [(f"i{i % 3}".encode(), b"{}") for i in range(7)]))

    assert {lists, rows, empty} <= asyncio.run(topic_names(settings))
    assert asyncio.run(records_held(settings, [lists, rows, empty])) == {
        lists: 50, rows: 7, empty: 0}
