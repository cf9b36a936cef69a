"""Privacy through the contract: pseudonymous storage and complete erasure on ``forget_user``.

With ``ENGINE_PSEUDONYM_KEY`` set, no topic the engine writes (changelogs,
internal topics, dead letters) other than the user's own list, no log line
and no metric holds a raw user id. ``forget_user`` erases the user within a
second: the profile answers 404, the profile's changelog ends in a tombstone,
and the user's list is tombstoned on ``recommendations``, and no item's row
summary on the item-neighbours topic holds the user's engager key any more.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from contract_client import Worker, produce, read_topic, running_worker, truth_from, wait_for

from engine.datasets import Record, read_records
from engine.privacy import Pseudonymiser, engager_key
from engine.settings import Settings
from engine.stream.admin import create_topics
from engine.stream.connection import client_options

REES46 = Path(__file__).resolve().parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
EVENTS = 600
KEY = "test-pseudonym-key"


def _person(raw: str) -> str:
    """A user id that cannot occur by chance in other fields (REES46 ids are bare numbers)."""
    return f"person-{raw}-zq"


class Run:
    def __init__(self, settings: Settings, worker: Worker, log: Path,
                 events: list[dict[str, Any]]) -> None:
        self.settings = settings
        self.worker = worker
        self.log = log
        self.events = events
        self.users = sorted({e["user_id"] for e in events})


@pytest.fixture(scope="module")
def run(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    from contract_client import isolated_settings

    logs = tmp_path_factory.mktemp("privacy")
    settings = isolated_settings(broker.url, "privacy", logs / "data", pseudonym_key=KEY)
    asyncio.run(create_topics(settings))
    records = list(read_records(REES46, limit=EVENTS))
    events = []
    for record in records:
        if record.topic == "clickstream" and record.value is not None:
            event = dict(record.value, user_id=_person(record.value["user_id"]))
            event["context"] = {"email": f"{event['user_id']}@example.com"}
            event["email"] = f"{event['user_id']}@example.com"  # personal data: dropped
            events.append(event)
    catalog = [(r.key.encode(), orjson.dumps(r.value)) for r in records
               if r.topic == "catalog" and r.value is not None]
    with running_worker(settings, logs) as worker:
        produce(settings, settings.topic("catalog"), catalog)
        produce(settings, settings.topic("clickstream"),
                [(e["user_id"].encode(), orjson.dumps(e)) for e in events])
        wait_for(lambda: worker.stats()["events_processed"]
                 + worker.stats()["duplicates_skipped"] >= len(events),
                 120, f"{len(events)} events processed")
        yield Run(settings, worker, logs / f"worker-{settings.web_port}.log", events)


def _engine_topics(settings: Settings) -> list[str]:
    """Every topic of this app but the input ``clickstream`` (which producers wrote)."""

    async def names() -> list[str]:
        admin = AIOKafkaAdminClient(**client_options(settings))
        await admin.start()
        try:
            return sorted(str(t) for t in await admin.list_topics())
        finally:
            await admin.close()

    prefix = settings.app_id
    return [t for t in asyncio.run(names())
            if t.startswith(prefix) and t != settings.topic("clickstream")]


def _records_naming_users(run: Run) -> list[tuple[str, int, str]]:
    """(topic, offset, user) of every record that names a raw user id, but the user's own lists."""
    raw_ids = [user.encode() for user in run.users]
    found = []
    for topic in _engine_topics(run.settings):
        own_lists = topic == run.settings.topic("recommendations")
        for record in read_topic(run.settings, topic, lambda _: False, timeout=3.0):
            text = (record.key or b"") + b"\x00" + (record.value or b"")
            found.extend((topic, record.offset, user.decode()) for user in raw_ids
                         if user in text and not (own_lists and record.key == user))
    return found


def test_profiles_are_kept_under_a_pseudonym_and_counted_exactly(run: Run) -> None:
    counts, _ = truth_from(Record("clickstream", e["user_id"], e) for e in run.events)
    for user in run.users[:20]:
        status, body = run.worker.get(f"/users/{user}/profile")
        assert status == 200, body
        assert body["user_id"] == user
        assert body["stored_as"] == Pseudonymiser(KEY)(user)
        assert {k: v for k, v in body["counts"].items() if v} == counts[user]


def test_no_topic_log_or_metric_holds_a_raw_user_id(run: Run) -> None:
    assert len(_engine_topics(run.settings)) >= 6  # changelogs and internal topics included
    assert _records_naming_users(run) == []
    log_text = run.log.read_text(errors="replace")
    with urllib.request.urlopen(run.worker.base + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    stats = orjson.dumps(run.worker.stats()).decode()
    for user in run.users:
        assert user not in log_text, user
        assert user not in metrics and user not in stats, user
    assert "@example.com" not in log_text


def test_the_users_own_list_is_keyed_and_named_by_the_raw_id(run: Run) -> None:
    user = run.users[0]
    lists = read_topic(run.settings, run.settings.topic("recommendations"),
                       lambda recs: any(r.key == user.encode() for r in recs))
    own = [orjson.loads(r.value) for r in lists if r.key == user.encode()]
    assert own and all(listing["user_id"] == user for listing in own)


def _items_knowing(run: Run, engager: str) -> set[bytes]:
    """Items whose latest summary on the item-neighbours topic names ``engager``."""
    latest: dict[bytes, bytes | None] = {}
    for record in read_topic(run.settings, run.settings.internal_topic("item-neighbours"),
                             lambda _: False, timeout=2.0):
        latest[record.key] = record.value
    return {item for item, value in latest.items()
            if value is not None and engager in orjson.loads(value).get("engagers", ())}


def test_forget_user_erases_the_user_as_the_event_is_consumed(run: Run) -> None:
    user = run.users[1]
    assert run.worker.get(f"/users/{user}/profile")[0] == 200
    engager = engager_key(Pseudonymiser(KEY)(user))
    assert _items_knowing(run, engager), "the user's engager key reached every worker's world"
    forgotten_before = run.worker.stats()["users_forgotten"]
    forget = {"event_id": f"forget-{user}", "user_id": user, "type": "forget_user",
              "ts": time.time()}
    produce(run.settings, run.settings.topic("clickstream"),
            [(user.encode(), orjson.dumps(forget))])
    wait_for(lambda: run.worker.stats()["users_forgotten"] > forgotten_before, 30,
             "the forget_user event consumed")
    # Erasure happens in the handling of the event itself: once it is counted,
    # the user is gone (well within the second the issue allows).
    assert run.worker.get(f"/users/{user}/profile")[0] == 404

    pseudonym = Pseudonymiser(KEY)(user).encode()
    changelog = next(t for t in _engine_topics(run.settings) if t.endswith("profiles-changelog"))
    last = [r for r in read_topic(run.settings, changelog, lambda _: False, timeout=3.0)
            if r.key == pseudonym][-1]
    assert last.value is None  # the profile's changelog ends in a tombstone

    lists = read_topic(run.settings, run.settings.topic("recommendations"),
                       lambda recs: any(r.key == user.encode() and r.value is None
                                        for r in recs))
    assert [r.value for r in lists if r.key == user.encode()][-1] is None
    listing = run.worker.get(f"/recommendations/{user}")[1]  # a stranger again: cold start
    assert listing["user_id"] == user and listing["trigger_event_id"] is None
    # the item side forgets the user as soon as it applies the erasure (the item agent)
    wait_for(lambda: not _items_knowing(run, engager), 30,
             "no row summary names the user's engager key")
