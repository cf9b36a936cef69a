"""The engine from outside, through the contract only: two workers on the embedded broker.

Events are produced into ``clickstream``/``catalog`` and lists read back from
``recommendations`` and ``deadletter``; state is read through the web views of
either worker.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from contract_client import (
    Worker,
    isolated_settings,
    json_value,
    produce,
    read_topic,
    running_worker,
    truth_from,
    wait_for,
)

from engine.datasets import read_records
from engine.settings import Settings
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker
from engine.stream.replay import replay
from engine.topics import load_definitions

REES46 = Path(__file__).resolve().parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
EVENTS = 3000
MAX_BYTES = 4096
LIST_SCHEMA = load_definitions()["recommendations"].schema
DEADLETTER_SCHEMA = load_definitions()["deadletter"].schema


class Cluster:
    def __init__(self, settings: Settings, workers: list[Worker], records: list[Any]) -> None:
        self.settings = settings
        self.workers = workers
        self.records = records
        self.counts, self.last_event = truth_from(records)

    def processed(self) -> int:
        return sum(w.stats()["events_processed"] + w.stats()["duplicates_skipped"]
                   for w in self.workers)


@pytest.fixture(scope="module")
def cluster(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two workers of one app, the first 3,000 REES46 events replayed and processed."""
    logs = tmp_path_factory.mktemp("contract")
    settings = isolated_settings(broker.url, "contract", logs / "data", max_event_bytes=MAX_BYTES)
    asyncio.run(create_topics(settings))
    second = isolated_settings(broker.url, "unused", logs / "data2")
    second_settings = type(settings)(**{**settings.__dict__, "web_port": second.web_port,
                                        "data_dir": second.data_dir})
    with running_worker(settings, logs) as first, running_worker(second_settings, logs) as other:
        workers = [first, other]
        wait_for(lambda: all(w.get("/health")[0] == 200 for w in workers), 90, "both healthy")
        records = list(read_records(REES46, limit=EVENTS))
        asyncio.run(replay(settings, REES46, limit=EVENTS, progress=False))
        built = Cluster(settings, workers, records)
        distinct = sum(sum(c.values()) for c in built.counts.values())
        wait_for(lambda: built.processed() >= len([r for r in records
                                                   if r.topic == "clickstream"]),
                 120, f"{distinct} events processed")
        yield built


def test_every_user_gets_a_valid_list_triggered_by_their_last_event(cluster: Cluster) -> None:
    topic = cluster.settings.topic("recommendations")

    def latest(records: list[Any]) -> dict[str, Any]:
        lists: dict[str, Any] = {}
        for record in records:
            lists[record.key.decode()] = json_value(record)
        return lists

    def complete(records: list[Any]) -> bool:
        lists = latest(records)
        return all(
            user in lists and lists[user]["trigger_event_id"] == event_id
            for user, event_id in cluster.last_event.items()
        )

    lists = latest(read_topic(cluster.settings, topic, complete, timeout=120))
    purchased = {
        (r.value["user_id"], r.value["item_id"])
        for r in cluster.records if r.topic == "clickstream" and r.value["type"] == "purchase"
    }
    assert set(cluster.last_event) <= set(lists)
    for user, event_id in cluster.last_event.items():
        listing = lists[user]
        jsonschema.validate(listing, LIST_SCHEMA)
        assert listing["trigger_event_id"] == event_id
        assert listing["user_id"] == user and listing["rec_id"]
        items = [item["item_id"] for item in listing["items"]]
        assert len(items) <= cluster.settings.top_n
        assert len(items) == len(set(items)), "no duplicates"
        assert all(item["reasons"] for item in listing["items"])
        assert not {(user, item) for item in items} & purchased, "never what the user bought"
    # The whole stream arrives at once on an empty engine: the first users' lists are made
    # before any item popularity has reached the world view, and may be empty.
    assert sum(1 for lst in lists.values() if lst["items"]) > 0.75 * len(lists)


def test_profile_counts_are_exact_on_either_worker(cluster: Cluster) -> None:
    for user, counts in itertools.islice(cluster.counts.items(), 150):
        answers = [w.get(f"/users/{user}/profile") for w in cluster.workers]
        for status, profile in answers:
            assert status == 200, profile
            assert {k: v for k, v in profile["counts"].items() if v} == counts
        assert answers[0] == answers[1], "routed to the owner: the same answer from both"


def test_cold_start_user_gets_a_list_and_unknown_profile_is_404(cluster: Cluster) -> None:
    for worker in cluster.workers:
        status, listing = worker.get("/recommendations/never-seen-user?n=5")
        assert status == 200
        jsonschema.validate(listing, LIST_SCHEMA)
        assert 0 < len(listing["items"]) <= 5
        assert all(item["reasons"] == ["trending now"] for item in listing["items"])
        assert worker.get("/users/never-seen-user/profile")[0] == 404


def test_similar_items_stats_health_and_metrics_answer(cluster: Cluster) -> None:
    worker = cluster.workers[0]
    popular = worker.get("/recommendations/never-seen-user?n=1")[1]["items"][0]["item_id"]
    status, similar = worker.get(f"/items/{popular}/similar?n=5")
    assert status == 200 and len(similar["items"]) <= 5
    assert all(s["reason"] and 0 < s["score"] <= 1 for s in similar["items"])
    assert worker.get("/recommendations/u?n=0")[0] == 400
    stats = worker.stats()
    for key in ("events_processed", "dead_lettered", "duplicates_skipped",
                "recommendations_published", "models", "online"):
        assert key in stats
    assert {"blend", "learned-ranker"} <= set(stats["models"])
    published = sum(row["lists"] for strategies in stats["online"].values()
                    for row in strategies.values())
    assert published == stats["recommendations_published"]
    # every event is processed (the cluster fixture waited for it): nothing left to read
    lags = {p: n for w in cluster.workers for p, n in w.stats()["clickstream_lag"].items()}
    assert lags and set(lags) <= {str(p) for p in range(worker.settings.partitions)}
    assert sum(lags.values()) == 0
    assert worker.get("/health")[0] == 200
    import urllib.request

    with urllib.request.urlopen(worker.base + "/metrics") as response:
        exposition = response.read()
    assert b"engine_events_processed_total" in exposition
    assert b"\nprocess_resident_memory_bytes " in exposition  # the operator's view of memory


def test_users_with_similar_taste_are_found_on_any_partition(cluster: Cluster) -> None:
    """A user's items reach users of every partition (so of either worker) through the items.

    The taster saw x3, five other items, then x1 and x2: x3 is out of the
    co-occurrence window of x1 and x2 and no next item of theirs, so only
    the users with similar taste can propose it to those who saw x1 and x2.
    """
    from engine.stream.increments import item_partition  # the default partitioner on ids

    partitions = cluster.settings.partitions
    names = (f"taste-{n}" for n in itertools.count())
    users: dict[int, str] = {}
    while len(users) < partitions:
        user = next(names)
        users.setdefault(item_partition(user, partitions), user)
    taster, *others = users.values()
    seen = ["ux3", *(f"ufill{n}" for n in range(5)), "ux1", "ux2"]
    events = [(taster, item) for item in seen] + [(o, i) for o in others for i in ("ux1", "ux2")]
    produce(cluster.settings, cluster.settings.topic("clickstream"), [
        (user.encode(), orjson.dumps({"event_id": f"{user}-{item}", "user_id": user,
                                      "item_id": item, "type": "view",
                                      "ts": 1569888000.0 + n}))  # REES46's first second
        for n, (user, item) in enumerate(events)])

    def proposed(user: str) -> list[str]:
        listing = cluster.workers[0].get(f"/recommendations/{user}?n=100")[1]
        return [reason for item in listing["items"] if item["item_id"] == "ux3"
                for reason in item["reasons"]]

    wait_for(lambda: all("users with similar taste liked it" in proposed(user)
                         for user in others), 60,
             "x3 proposed to the users of every other partition, for their similar taste")


def test_a_session_id_keeps_a_session_together_across_a_pause(cluster: Cluster) -> None:
    """Two views three hours apart in one session, by its id: one is "viewed next after" the other.

    Without the id, the pause (longer than ENGINE_SESSION_GAP) would end the session.
    """
    start = 1569888000.0  # REES46's first second
    views = [("sess-walker", "usess-a", start, "visit-1"),
             ("sess-walker", "usess-b", start + 3 * 3600, "visit-1"),
             ("sess-follower", "usess-a", start + 3 * 3600 + 10, None)]
    produce(cluster.settings, cluster.settings.topic("clickstream"), [
        (user.encode(), orjson.dumps({"event_id": f"{user}-{item}", "user_id": user,
                                      "item_id": item, "type": "view", "ts": ts,
                                      "session_id": session}))
        for user, item, ts, session in views])

    def reasons_for_b() -> list[str]:
        listing = cluster.workers[0].get("/recommendations/sess-follower?n=100")[1]
        return [reason for item in listing["items"] if item["item_id"] == "usess-b"
                for reason in item["reasons"]]

    wait_for(lambda: "often viewed next after usess-a" in reasons_for_b(), 60,
             "usess-b proposed as viewed next after usess-a, across the pause")


def _event(user: str, **fields: Any) -> bytes:
    event = {"user_id": user, "item_id": "i1", "type": "view", "ts": 1700000000.0, **fields}
    return orjson.dumps(event)


BAD_RECORDS: dict[str, tuple[bytes | None, str]] = {
    "not-json": (b"hello, world", "not JSON"),
    "truncated": (b'{"user_id": "bad-truncated", "item_id": "i1", "ty', "not JSON"),
    "wrong-type": (orjson.dumps({"user_id": 42, "item_id": "i", "type": "view", "ts": 1}),
                   "user_id"),
    "missing-user": (orjson.dumps({"item_id": "i", "type": "view", "ts": 1}),
                     "missing field user_id"),
    "missing-item": (orjson.dumps({"user_id": "bad-missing-item", "type": "click", "ts": 1}),
                     "missing field item_id"),
    "missing-ts": (orjson.dumps({"user_id": "bad-missing-ts", "item_id": "i", "type": "view"}),
                   "missing field ts"),
    "unknown-type": (_event("bad-unknown-type", type="like"), "type"),
    "oversize": (_event("bad-oversize", context={"pad": "x" * MAX_BYTES}), "oversize"),
    "bad-bytes": (b'\xff\xfe{"user_id": "bad-bytes"}', "UTF-8"),
    "nan": (b'{"user_id": "bad-nan", "item_id": "i", "type": "view", "ts": NaN}', "not JSON"),
    "array": (b"[1, 2, 3]", "not a JSON object"),
    "null": (None, "empty"),
    "rating-without-value": (_event("bad-rating", type="rating"), "missing field value"),
    "bad-ts": (_event("bad-ts", ts="yesterday afternoon"), "ts"),
}


def test_malformed_records_of_every_kind_are_dead_lettered_and_the_worker_goes_on(
    cluster: Cluster,
) -> None:
    settings = cluster.settings
    produce(settings, settings.topic("clickstream"),
            [(f"bad-{name}".encode(), raw) for name, (raw, _) in BAD_RECORDS.items()])
    produce(settings, settings.topic("catalog"), [
        (b"bad-item", orjson.dumps({"item_id": "bad-item", "price": "cheap"})),
        (b"bad-item-json", b"{not json"),
    ])
    produce(settings, settings.topic("clickstream"), [(b"after-bad", _event("after-bad"))])

    def by_key(records: list[Any]) -> dict[str, Any]:
        return {r.key.decode(): json_value(r) for r in records if r.key}

    expected = {f"bad-{name}" for name in BAD_RECORDS} | {"bad-item", "bad-item-json"}
    letters = by_key(read_topic(settings, settings.topic("deadletter"),
                                lambda rs: expected <= set(by_key(rs)), timeout=60))
    assert expected <= set(letters)
    for name, (raw, reason) in BAD_RECORDS.items():
        letter = letters[f"bad-{name}"]
        jsonschema.validate(letter, DEADLETTER_SCHEMA)
        assert reason.lower() in letter["error"].lower(), (name, letter["error"])
        assert letter["topic"] == settings.topic("clickstream")
        if raw is not None:
            kept = (base64.b64decode(letter["raw"]) if letter["raw_encoding"] == "base64"
                    else letter["raw"].encode())
            assert kept == raw, "the original bytes are kept"
    assert letters["bad-item"]["topic"] == settings.topic("catalog")
    wait_for(lambda: any(w.get("/users/after-bad/profile")[0] == 200 for w in cluster.workers),
             30, "the valid event after the bad ones")
    assert all(w.proc.poll() is None and w.get("/health")[0] == 200 for w in cluster.workers)
