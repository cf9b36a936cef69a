"""A worker under fire: 10,000 hostile records mixed with real events, on the embedded broker.

The corpus is generated once by hypothesis (deterministically, the same on
every run) from the strategies in ``hostile.py``: every hostile kind of event
and catalog item, valid events that are odd on purpose (any script, unknown
and personal-data fields, repeated keys, every time format), REES46 events
read with the engine's dataset reader, and repeated REES46 events (the same
``event_id`` again). It is produced in two halves. After each half:

- the dead-letter topic holds exactly the hostile records, each once, with
  the reason its kind calls for and the original bytes;
- every user's profile counts equal the truth computed from the valid input
  (each event id once), and ``/stats`` adds up: applied, duplicates,
  dead-lettered, nothing re-routed, no internal error;
- the worker is alive and healthy, and the group's committed offsets on
  ``clickstream`` and ``catalog`` reached the end of what was produced, so
  they kept advancing past the hostile records.

``RELIABILITY_HOSTILE_RECORDS`` sets the number of hostile events (default
10,000; the issue asks for at least that many). ``RELIABILITY_VALID_EVENTS``
the number of REES46 events (default 3,000).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import random
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from contract_client import (
    Worker,
    isolated_settings,
    json_value,
    read_topic,
    running_worker,
    wait_for,
)
from hostile import LIMITS, Case, hostile_events, hostile_items, valid_events
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.datasets import read_records
from engine.events import EVENT_TYPES, decode_event
from engine.settings import Settings
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker
from engine.stream.connection import client_options
from engine.topics import load_definitions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

HOSTILE = int(os.environ.get("RELIABILITY_HOSTILE_RECORDS", "10000"))
REAL_EVENTS = int(os.environ.get("RELIABILITY_VALID_EVENTS", "3000"))
ODD_VALID = max(1, HOSTILE // 10)  # valid events that are odd on purpose
HOSTILE_ITEMS = max(1, HOSTILE // 30)
REPEATS = max(1, REAL_EVENTS // 10)  # REES46 events sent a second time
LARGE = 8192  # bytes: records above it (oversize, huge strings) are kept to a budget ...
LARGE_BUDGET = 150  # ... so the broker does not hold gigabytes

_ROOT = Path(__file__).resolve().parents[2]
_SHARED = _ROOT.parent / "shared" / "data" / "rees46_ecommerce_oct2019_head"
_BUNDLED = _ROOT / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
REES46 = _SHARED if _SHARED.exists() else _BUNDLED
DEADLETTER = jsonschema.Draft7Validator(load_definitions()["deadletter"].schema)

#: User ids of the odd valid events: any script, and nothing a URL path would mangle.
_URL_SAFE_USERS = st.text(st.characters(categories=("L", "N", "So")), min_size=1,
                          max_size=20).map(lambda s: f"fz-{s}")


def generate(strategy: Any, count: int, batch: int = 10) -> list[Case]:
    """``count`` cases drawn by hypothesis, the same ones on every run (derandomized).

    Drawn ``batch`` at a time: hypothesis' cost is mostly per example, not per draw.
    """
    cases: list[Case] = []

    @settings(max_examples=-(-count // batch), database=None, derandomize=True, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.lists(strategy, min_size=batch, max_size=batch))
    def collect(drawn: list[Case]) -> None:
        cases.extend(drawn)

    collect()
    assert len(cases) >= count, f"only {len(cases)} of {count} cases generated"
    return cases[:count]


def hostile_corpus(strategy: Any, count: int) -> list[Case]:
    """``count`` hostile cases, at most ``LARGE_BUDGET`` of them larger than ``LARGE`` bytes."""
    kept: list[Case] = []
    large = 0
    for case in generate(strategy, int(count * 1.1) + 50):
        size = len(case.raw or b"")
        if size > LARGE:
            if large >= LARGE_BUDGET:
                continue
            large += 1
        kept.append(case)
    assert len(kept) >= count, f"only {len(kept)} hostile cases generated"
    return kept[:count]


@dataclass(frozen=True)
class Send:
    """One record to produce, and what the worker must make of it."""

    role: str  # clickstream or catalog
    key: bytes | None
    value: bytes | None
    case: Case | None = None  # hostile or odd; None: a REES46 record (valid)


@dataclass
class Truth:
    """What the worker must have done with what was sent so far."""

    counts: dict[str, collections.Counter[str]] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)
    applied: int = 0
    duplicates: int = 0
    bad: dict[tuple[str, int, int], Send] = field(default_factory=dict)  # topic, partition, offset
    end: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> end

    def add(self, topic: str, send: Send, partition: int, offset: int) -> None:
        self.end[(topic, partition)] = max(self.end.get((topic, partition), 0), offset + 1)
        if send.case is not None and not send.case.valid:
            self.bad[(topic, partition, offset)] = send
            return
        if send.role != "clickstream":
            return
        event = decode_event(send.value, LIMITS)  # valid by construction: ids, user, type
        if (event.user_id, event.event_id) in self.seen:
            self.duplicates += 1
            return
        self.seen.add((event.user_id, event.event_id))
        self.applied += 1
        self.counts.setdefault(event.user_id, collections.Counter())[event.type] += 1


def build_corpus(seed: int = 46) -> list[Send]:
    """Every record of the test, interleaved by a seeded shuffle (per-user order kept)."""
    rng = random.Random(seed)
    real = list(read_records(REES46, limit=REAL_EVENTS))
    catalog = [Send("catalog", r.key.encode(), orjson.dumps(r.value)) for r in real
               if r.topic == "catalog"]
    events = [Send("clickstream", r.key.encode(), orjson.dumps(r.value)) for r in real
              if r.topic == "clickstream"]
    repeats = rng.sample(events, min(REPEATS, len(events)))
    users = [s.key for s in events]
    hostile = [  # keys of every sort; a record without a value needs a key
        Send("clickstream", rng.choice([None if case.raw else b"", b"fz-bad", rng.randbytes(8),
                                        rng.choice(users)]), case.raw, case)
        for case in hostile_corpus(hostile_events(), HOSTILE)
    ]
    odd = [
        Send("clickstream", orjson.loads(case.raw or b"{}")["user_id"].encode(), case.raw, case)
        for case in generate(valid_events(_URL_SAFE_USERS, tuple(t for t in EVENT_TYPES
                                                              if t != "forget_user")), ODD_VALID)
    ]
    bad_items = [Send("catalog", rng.choice([None, b"fz-bad-item"]), case.raw, case)
                 for case in hostile_corpus(hostile_items(), HOSTILE_ITEMS)]
    # REES46 records keep their order (catalog before the events that need it); the rest is
    # scattered among them; repeats come after the first half, so after their originals.
    ordered = [*catalog[: len(catalog) // 2], *events]
    mixed = _scatter(rng, ordered, [*hostile, *odd, *bad_items, *catalog[len(catalog) // 2:]])
    half = len(mixed) // 2
    return [*mixed[:half], *_scatter(rng, mixed[half:], repeats)]


def _scatter(rng: random.Random, base: list[Send], extra: list[Send]) -> list[Send]:
    """``base`` in order, with ``extra`` inserted at random places."""
    slots = sorted(rng.randrange(len(base) + 1) for _ in extra)
    out: list[Send] = []
    previous = 0
    for slot, send in zip(slots, extra, strict=True):
        out.extend(base[previous:slot])
        out.append(send)
        previous = slot
    out.extend(base[previous:])
    return out


async def _produce(settings: Settings, sends: list[Send]) -> list[tuple[str, int, int]]:
    producer = AIOKafkaProducer(**client_options(settings), acks="all",
                                linger_ms=5, max_request_size=2**21)
    await producer.start()
    try:
        futures = [await producer.send(settings.topic(s.role), s.value, key=s.key) for s in sends]
        delivered = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.topic, m.partition, m.offset) for m in delivered]


def produce(settings: Settings, sends: list[Send], truth: Truth) -> None:
    for send, (topic, partition, offset) in zip(sends, asyncio.run(_produce(settings, sends)),
                                                strict=True):
        truth.add(topic, send, partition, offset)


def committed(settings: Settings, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The group's committed offsets (the worker's consumer group is the app id).

    A consumer of the group that neither subscribes nor commits only asks the
    coordinator (OffsetFetch): it never joins the group, so the worker keeps
    its partitions. (Tansu's answer to the admin client's request does not parse.)
    """

    async def fetch() -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(**client_options(settings),
                                    group_id=settings.app_id, enable_auto_commit=False)
        await consumer.start()
        try:
            return {(topic, p): await consumer.committed(TopicPartition(topic, p)) or -1
                    for topic, p in partitions}
        finally:
            await consumer.stop()

    return asyncio.run(fetch())


def original(letter: dict[str, Any]) -> bytes | None:
    if letter.get("raw_null"):
        return None
    if letter.get("raw_encoding") == "base64":
        return base64.b64decode(letter["raw"], validate=True)
    return str(letter["raw"]).encode("utf-8")


class Fixture:
    def __init__(self, settings: Settings, worker: Worker) -> None:
        self.settings = settings
        self.worker = worker
        self.truth = Truth()
        self.advanced: list[dict[tuple[str, int], int]] = []

    def handled(self) -> int:
        stats = self.worker.stats()
        return int(stats["events_processed"] + stats["duplicates_skipped"] + stats["dead_lettered"])

    def send(self, sends: list[Send]) -> None:
        """Produce, wait until the worker has handled every record and committed past it."""
        produce(self.settings, sends, self.truth)
        expected = self.truth.applied + self.truth.duplicates + len(self.truth.bad)
        wait_for(lambda: self.handled() >= expected, 600, f"{expected} records handled")
        ends = dict(self.truth.end)
        wait_for(lambda: all(committed(self.settings, list(ends))[tp] >= end
                             for tp, end in ends.items()), 60, "commits at the end of the input")
        self.advanced.append(committed(self.settings, list(ends)))


@pytest.fixture(scope="module")
def fired(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    """One worker, the whole corpus produced in two halves and handled."""
    logs = tmp_path_factory.mktemp("fuzz")
    settings = isolated_settings(broker.url, "fuzz", logs / "data", min_event_ts=LIMITS.min_ts)
    asyncio.run(create_topics(settings))
    corpus = build_corpus()
    with running_worker(settings, logs) as worker:
        fixture = Fixture(settings, worker)
        half = len(corpus) // 2
        fixture.send(corpus[:half])
        fixture.send(corpus[half:])
        yield fixture


def test_the_corpus_is_what_the_issue_asks_for(fired: Fixture) -> None:
    truth = fired.truth
    hostile_events_sent = sum(1 for s in truth.bad.values() if s.role == "clickstream")
    assert hostile_events_sent == HOSTILE >= 1
    kinds = {s.case.kind.split(":")[0] for s in truth.bad.values() if s.case}
    assert {"random-bytes", "invalid-utf8", "deep-nesting", "huge-string", "wrong-type",
            "non-finite", "ts-window", "oversize", "control"} <= kinds, kinds
    assert truth.duplicates >= REPEATS and truth.applied >= REAL_EVENTS


def test_every_hostile_record_is_dead_lettered_once_with_its_reason_and_bytes(
    fired: Fixture,
) -> None:
    settings, bad = fired.settings, fired.truth.bad
    records = read_topic(settings, settings.topic("deadletter"),
                         lambda rs: len(rs) >= len(bad), timeout=120)
    letters = [json_value(r) for r in records]
    where = [(letter["topic"], letter["partition"], letter["offset"]) for letter in letters]
    assert len(where) == len(set(where)), "each hostile record is dead-lettered once"
    assert set(where) == set(bad), "exactly the hostile records, nothing valid"
    for record, letter, position in zip(records, letters, where, strict=True):
        send = bad[position]
        assert send.case is not None
        DEADLETTER.validate(letter)
        assert send.case.matches(letter["error"]), (send.case.kind, letter["error"])
        assert original(letter) == send.value, "the original bytes are kept"
        assert record.key == send.key, "keyed by the input key as received"


def test_every_valid_event_is_counted_exactly_in_its_users_profile(fired: Fixture) -> None:
    assert len(fired.truth.counts) > ODD_VALID // 2, "REES46 users and the odd ones"
    wrong = []
    for user, counts in fired.truth.counts.items():
        status, profile = fired.worker.get(f"/users/{urllib.parse.quote(user, safe='')}/profile")
        got = {k: v for k, v in profile["counts"].items() if v} if status == 200 else status
        if got != dict(counts):
            wrong.append((user, got, dict(counts)))
    assert not wrong, f"{len(wrong)} of {len(fired.truth.counts)} users wrong: {wrong[:5]}"


def test_the_stats_add_up(fired: Fixture) -> None:
    stats, truth = fired.worker.stats(), fired.truth
    assert stats["events_processed"] == truth.applied
    assert stats["duplicates_skipped"] == truth.duplicates
    assert stats["dead_lettered"] == len(truth.bad)
    assert (stats["internal_errors"], stats["events_rerouted"], stats["delivery_failures"]) \
        == (0, 0, 0)


def test_the_worker_is_alive_and_its_commits_advanced_to_the_end(fired: Fixture) -> None:
    assert fired.worker.proc.poll() is None
    assert fired.worker.get("/health")[0] == 200
    first, second = fired.advanced
    for tp, end in fired.truth.end.items():
        assert second[tp] == end, tp
    moved = [tp for tp in first if second[tp] > first[tp]]
    assert moved, "the second half moved the commits on"
