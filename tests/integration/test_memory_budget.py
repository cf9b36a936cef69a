"""A flood of new users stays within ENGINE_MAX_USERS: the least recently active are evicted.

Evicted profiles are deleted with a changelog tombstone, so a restarted
worker recovers no more than the budget either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from pathlib import Path

import orjson
from contract_client import (
    committed_offsets,
    isolated_settings,
    produce,
    running_worker,
    wait_for,
)

from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker, free_port
from engine.stream.increments import item_partition  # Kafka's default partitioner

BUDGET = 50
USERS = 600


def test_a_flood_of_new_users_keeps_the_worker_within_its_user_budget(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker.url, "budget", tmp_path / "data", max_users=BUDGET,
                                 partitions=2)
    asyncio.run(create_topics(settings))
    # one event for each of USERS one-off visitors, in event-time order
    flood = [{"event_id": f"e{n}", "user_id": f"visitor-{n}", "item_id": f"i{n % 7}",
              "type": "view", "ts": 1_700_000_000 + n} for n in range(USERS)]
    with running_worker(settings, tmp_path) as worker:
        produce(settings, settings.topic("clickstream"),
                [(e["user_id"].encode(), orjson.dumps(e)) for e in flood])
        wait_for(lambda: worker.stats()["events_processed"] >= USERS, 120, "the flood processed")
        stats = worker.stats()
        assert stats["users_held"] == BUDGET
        assert stats["users_evicted"] == USERS - BUDGET
        # the partition consumed last keeps its latest visitor (the order in which the two
        # partitions are consumed is the consumer's); the very first ones are gone
        last_of = {item_partition(e["user_id"], 2): e["user_id"] for e in flood}
        assert any(worker.get(f"/users/{user}/profile")[0] == 200 for user in last_of.values())
        assert worker.get("/users/visitor-0/profile")[0] == 404
        wait_for(lambda: sum(committed_offsets(settings).values()) >= USERS, 60,
                 "the flood committed")  # so that the restart re-reads nothing
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait()

    restarted = dataclasses.replace(settings, web_port=free_port())
    with running_worker(restarted, tmp_path) as worker:
        held = sum(worker.get(f"/users/{e['user_id']}/profile")[0] == 200 for e in flood)
        assert held == BUDGET  # tombstones, and evictions redone after the recovery
        assert worker.stats()["users_held"] == BUDGET


ITEM_BUDGET = 30
ITEMS = 400


def test_a_flood_of_new_items_keeps_item_rows_and_every_world_within_the_item_budget(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker.url, "items", tmp_path / "data", max_items=ITEM_BUDGET,
                                 partitions=2)
    asyncio.run(create_topics(settings))
    flood = [{"event_id": f"e{n}", "user_id": f"u{n % 20}", "item_id": f"new-item-{n}",
              "type": "view", "ts": 1_700_000_000 + n} for n in range(ITEMS)]
    with running_worker(settings, tmp_path) as worker:
        produce(settings, settings.topic("clickstream"),
                [(e["user_id"].encode(), orjson.dumps(e)) for e in flood])
        wait_for(lambda: worker.stats()["events_processed"] >= ITEMS, 120, "the flood processed")
        # the item side applies the flood's increments after the clickstream side has counted
        # the events: every new item gets a row, and all but the budget are evicted
        wait_for(lambda: worker.stats()["items_evicted"] >= ITEMS - ITEM_BUDGET, 60,
                 "the item side to evict all but the budget")
        wait_for(lambda: worker.stats()["items_with_neighbours"] <= ITEM_BUDGET, 60,
                 "the world to forget evicted rows", quiet=True)
        stats = worker.stats()
        assert stats["item_rows_held"] == ITEM_BUDGET
        assert stats["items_with_neighbours"] <= ITEM_BUDGET  # tombstones reached the World
        # the rows kept are the most recently updated: recent items and their partners
        def known_items() -> list[int]:
            return [n for n in range(ITEMS)
                    if worker.get(f"/items/new-item-{n}/similar")[1]["weight"] is not None]

        wait_for(lambda: 0 < len(known_items()) <= ITEM_BUDGET, 60,
                 "the item side to settle", quiet=True)  # increments may still be in flight
        known = known_items()
        assert 0 < len(known) <= ITEM_BUDGET
        assert min(known) >= ITEMS // 2, known
