"""The clickstream agent, driven through Faust's own test helpers, without a broker.

How it runs: the app is the real one (``create_app(settings)``: real topics,
tables, codecs and agents), and records go in through
``agent.test_context().put(...)``, so Faust's stream machinery hands them to
the engine's ``_consume`` loop and ``on_clickstream_message`` as a worker's
consumer would, with a current event (which Faust needs for table writes).

The one thing replaced is at the Faust level, below the engine: the producer
Faust builds for the app (``App._new_producer``, Faust's ``ProducerT``) is a
recorder. Every message the worker produces -- to the recommendations and
dead-letter topics, back to the clickstream topic, and every table write on
its way to the changelog topic -- arrives there already serialized, so the
tests read exactly the bytes a broker would have received, whichever way the
engine hands them to the producer. Nothing of the engine's logic is patched.

``put()`` returns once Faust has handed the record to the stream, which can
be before the engine has finished with it; :meth:`Worker.put` therefore waits
until the worker has observed one more processing time (the histogram behind
``/metrics``), which ``_consume`` records after each record whatever its fate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import patch

import jsonschema
import orjson
import pytest
from aiokafka.partitioner import murmur2
from faust.types import TP

from engine.settings import Variant, load_settings, replace
from engine.stream.app import EngineApp, create_app

TOPICS = Path(__file__).resolve().parents[2] / "topics"
LIST_SCHEMA = orjson.loads((TOPICS / "recommendations.json").read_bytes())["schema"]
DEADLETTER_SCHEMA = orjson.loads((TOPICS / "deadletter.json").read_bytes())["schema"]
CHANGELOG = "personalization-engine-profiles-changelog"
PARTITIONS = 4


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None


class RecordingProducer:
    """Faust's producer interface, recording instead of talking to a broker."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def maybe_start(self) -> None:
        return None

    def key_partition(self, topic: str, key: bytes) -> TP:
        return TP(topic, (murmur2(key) & 0x7FFFFFFF) % PARTITIONS)  # Kafka's default

    def send_soon(self, fut: Any) -> None:  # table writes (changelog)
        message = fut.message
        self.sent.append(Sent(message.channel.get_topic_name(), message.key, message.value,
                              message.partition))

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   partition: int | None, timestamp: float | None,
                   headers: Any) -> asyncio.Future[Any]:
        self.sent.append(Sent(topic, key, value, partition))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(SimpleNamespace(topic=topic, partition=partition or 0, offset=0,
                                        timestamp=timestamp, timestamp_type=0))
        return done

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self.send(*args, **kwargs))

    def to(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


class Worker:
    """One app with its clickstream agent under test."""

    def __init__(self, app: EngineApp, agent: Any, producer: RecordingProducer) -> None:
        self.app = app
        self.rt = app.engine
        self.agent = agent
        self.producer = producer

    def handled(self) -> int:
        count = self.rt.stats.registry.get_sample_value("engine_event_processing_seconds_count")
        return int(count or 0)

    async def put(self, value: bytes | None, key: bytes | None, partition: int = 0,
                  flush: bool = True) -> None:
        """Hand over one record and wait until it is handled; then, unless ``flush`` is
        False, flush the user side as the worker's timer does every few milliseconds."""
        before = self.handled()
        await self.agent.put(value, key=key, partition=partition)
        for _ in range(10_000):
            if self.handled() > before:
                if flush:
                    await self.rt.flush_user_side()
                return
            await asyncio.sleep(0)
        raise AssertionError("the worker did not finish with the record")

    def stats(self) -> dict[str, Any]:
        return dict(self.rt.stats.snapshot())

    def sent_to(self, role: str) -> list[Sent]:
        return self.producer.to(self.rt.settings.topic(role))


@asynccontextmanager
async def worker(**changes: Any) -> AsyncIterator[Worker]:
    settings = replace(load_settings({}), partitions=PARTITIONS, **changes)
    producer = RecordingProducer()
    with patch.object(EngineApp, "_new_producer", lambda app: producer):
        app = create_app(settings)
        app.finalize()
        conf: Any = app.conf
        conf.store = "memory://"
        app.flow_control.resume()
        assert app.producer is cast(Any, producer)
    app.engine.world_ready.set()
    app.engine.models_ready.set()
    try:
        async with app.agents["clickstream"].test_context() as agent:
            yield Worker(app, agent, producer)
    finally:
        # The stream made Faust build its consumer, whose (never started) thread
        # owns an event loop of its own: close it, or it leaks.
        consumer: Any = app._consumer
        if consumer is not None:
            consumer._thread.thread_loop.close()


def run(scenario: Callable[[Worker], Awaitable[None]], **changes: Any) -> None:
    async def main() -> None:
        async with worker(**changes) as w:
            await scenario(w)

    asyncio.run(main())


def event(**fields: Any) -> bytes:
    base = {"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000.0}
    return orjson.dumps({**base, **fields})


# -- a valid event ------------------------------------------------------------


def test_a_valid_event_updates_the_profiles_table_and_its_changelog() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(event(event_id="e1"), key=b"u1", partition=2)
        profile = w.rt.profiles["u1"]
        assert profile.counts["view"] == 1
        assert profile.recent_item_ids() == ["i1"]
        (write,) = w.producer.to(CHANGELOG)
        assert (write.key, write.partition) == (b"u1", 2)  # co-partitioned with the input
        assert orjson.loads(write.value or b"") == orjson.loads(orjson.dumps(profile.to_dict()))

    run(scenario)


def test_a_users_events_between_two_flushes_make_one_changelog_record_after_their_increments(
) -> None:
    async def scenario(w: Worker) -> None:
        for n in range(3):
            await w.put(event(event_id=f"e{n}", item_id=f"i{n}", ts=1700000000.0 + n),
                        key=b"u1", partition=1, flush=False)
        assert len(w.sent_to("recommendations")) == 3  # lists do not wait for the flush
        assert w.rt.profiles["u1"].counts["view"] == 3  # nor does the table
        assert w.producer.to(CHANGELOG) == []
        await w.rt.flush_user_side()
        (write,) = w.producer.to(CHANGELOG)
        assert orjson.loads(write.value or b"")["counts"]["view"] == 3
        topics = [sent.topic for sent in w.producer.sent]
        increments = w.rt.settings.internal_topic("item-pairs")
        assert increments in topics
        assert max(i for i, t in enumerate(topics) if t == increments) < topics.index(CHANGELOG)

    run(scenario)


def test_a_valid_event_sends_a_contract_list_keyed_by_the_user() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(event(event_id="e1"), key=b"u1")
        (listing,) = w.sent_to("recommendations")
        assert listing.key == b"u1"
        body = orjson.loads(listing.value or b"")
        jsonschema.validate(body, LIST_SCHEMA, cls=jsonschema.Draft202012Validator)
        assert (body["user_id"], body["trigger_event_id"]) == ("u1", "e1")
        assert w.stats()["events_processed"] == 1
        assert w.stats()["recommendations_published"] == 1

    run(scenario)


def test_events_of_a_user_accumulate_in_one_profile() -> None:
    async def scenario(w: Worker) -> None:
        for n, kind in enumerate(["view", "click", "purchase"]):
            await w.put(event(event_id=f"e{n}", type=kind, item_id=f"i{n}", ts=1700000010.0 + n),
                        key=b"u1")
        profile = w.rt.profiles["u1"]
        assert {k: profile.counts[k] for k in ("view", "click", "purchase")} \
            == {"view": 1, "click": 1, "purchase": 1}
        assert profile.purchased == ["i2"]
        last = orjson.loads(w.sent_to("recommendations")[-1].value or b"")
        assert "i2" not in {item["item_id"] for item in last["items"]}

    run(scenario)


# -- malformed records --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"item_id": "i1", "type": "view", "ts": 1}', "missing field user_id"),
        (b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": true}', "field ts:"),
        (b"\xff\xfe", "bad bytes"),
        (None, "empty event"),
    ],
    ids=["not-json", "missing-user", "wrong-type", "not-utf8", "null-value"],
)
def test_a_malformed_record_goes_to_the_deadletter_topic_with_its_reason(
    raw: bytes | None, reason: str
) -> None:
    async def scenario(w: Worker) -> None:
        await w.put(raw, key=b"some-key", partition=1)
        (dead,) = w.sent_to("deadletter")
        assert dead.key == b"some-key"  # the input key, as received
        record = orjson.loads(dead.value or b"")
        jsonschema.validate(record, DEADLETTER_SCHEMA, cls=jsonschema.Draft202012Validator)
        assert record["error"].startswith(reason)
        assert (record["topic"], record["partition"], record["offset"]) == ("clickstream", 1, 0)
        assert w.sent_to("recommendations") == []
        assert len(w.rt.profiles) == 0
        assert w.stats()["dead_lettered"] == 1

    run(scenario)


def test_an_oversize_record_is_dead_lettered_as_oversize() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(event(padding="x" * 500), key=b"u1")
        (dead,) = w.sent_to("deadletter")
        assert orjson.loads(dead.value or b"")["error"].startswith("oversize")

    run(scenario, max_event_bytes=200)


@pytest.mark.parametrize(
    ("overrides", "fields", "reason"),
    [
        ({"max_id_length": 4}, {"user_id": "u12345"}, "field user_id: must be shorter"),
        ({"max_string_length": 10}, {"note": "x" * 11}, "field note: string of 11 characters"),
        ({"max_nesting": 2}, {"context": {"a": {}}}, "too deeply nested: field context.a"),
        ({"min_event_ts": 1800000000.0}, {}, "field ts: 1700000000.0 is outside"),
    ],
    ids=["id-length", "string-length", "nesting", "event-time"],
)
def test_the_configured_input_limits_are_enforced_by_the_agent(
    overrides: dict[str, Any], fields: dict[str, Any], reason: str
) -> None:
    async def scenario(w: Worker) -> None:
        await w.put(event(**fields), key=str(fields.get("user_id", "u1")).encode())
        (dead,) = w.sent_to("deadletter")
        assert orjson.loads(dead.value or b"")["error"].startswith(reason)
        assert len(w.rt.profiles) == 0

    run(scenario, **overrides)


def test_the_worker_goes_on_after_a_malformed_record() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(b"garbage", key=b"u1")
        await w.put(event(event_id="e1"), key=b"u1")
        assert w.rt.profiles["u1"].counts["view"] == 1
        assert len(w.sent_to("recommendations")) == 1

    run(scenario)


def test_dead_letters_go_to_the_configured_topic_name() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(b"garbage", key=b"u1")
        assert [s.topic for s in w.producer.sent] == ["shop.rejects"]

    topics = {**load_settings({}).topics, "deadletter": "shop.rejects"}
    run(scenario, topics=topics)


# -- keys ---------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"not-u1", None], ids=["other-key", "no-key"])
def test_a_record_not_keyed_by_its_user_is_resent_keyed_by_the_user(key: bytes | None) -> None:
    async def scenario(w: Worker) -> None:
        raw = event(event_id="e1")
        await w.put(raw, key=key)
        (resent,) = w.sent_to("clickstream")
        assert (resent.key, resent.value) == (b"u1", raw)
        assert len(w.rt.profiles) == 0  # applied where the user's state lives, not here
        assert w.sent_to("recommendations") == []
        assert w.stats()["events_rerouted"] == 1

    run(scenario)


# -- duplicates and erasure ---------------------------------------------------


def test_a_repeated_event_id_is_skipped() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(event(event_id="e1"), key=b"u1")
        writes = len(w.producer.sent)
        await w.put(event(event_id="e1", ts=1700000099.0), key=b"u1")
        assert w.rt.profiles["u1"].counts["view"] == 1
        assert len(w.producer.sent) == writes  # no changelog write, no list
        assert w.stats()["duplicates_skipped"] == 1

    run(scenario)


def test_a_repeated_event_without_an_id_is_skipped_by_its_derived_id() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(event(), key=b"u1")
        await w.put(event(), key=b"u1")
        assert w.rt.profiles["u1"].counts["view"] == 1
        assert w.stats()["duplicates_skipped"] == 1

    run(scenario)


def test_forget_user_erases_the_profile_and_the_cached_list() -> None:
    async def scenario(w: Worker) -> None:
        await w.put(event(event_id="e1"), key=b"u1")
        await w.put(orjson.dumps({"user_id": "u1", "type": "forget_user", "ts": 1700000001}),
                    key=b"u1")
        assert "u1" not in w.rt.profiles
        assert w.producer.to(CHANGELOG)[-1].value is None  # a tombstone in the changelog
        cached = w.sent_to("recommendations")[-1]
        assert (cached.key, cached.value) == (b"u1", None)  # a tombstone for the cached list

    run(scenario)


# -- the learned variant's feedback loop ----------------------------------------


def test_the_profile_remembers_the_list_it_published_and_the_next_event_is_judged_by_it() -> None:
    async def scenario(w: Worker) -> None:
        for n in range(1, 6):  # what the item side would have published: i1 most popular
            w.rt.world.set_neighbours(f"i{n}", 10.0 - n, (10.0 - n, 0.0), [])
        await w.put(event(event_id="b0", item_id="i1", ts=1700000020.0), key=b"u1")
        first = orjson.loads(w.sent_to("recommendations")[-1].value or b"")
        assert first["model"] == {**first["model"], "strategy": "blend", "variant": "learned"}
        stored = orjson.loads(w.producer.to(CHANGELOG)[-1].value or b"")
        assert stored["served"][0]["rec_id"] == first["rec_id"]  # in the same changelog write
        shown = [item["item_id"] for item in first["items"]]
        assert shown == ["i2", "i3", "i4", "i5"]
        await w.put(event(event_id="b1", item_id="i3", ts=1700000021.0, type="click",
                          rec_id=first["rec_id"]), key=b"u1")
        await w.put(event(event_id="b2", item_id="nowhere", ts=1700000022.0), key=b"u1")
        online = w.rt.stats.online()
        assert online == {"learned": {"blend": {
            "lists": 3, "judged": 2, "hits": 1, "hit_rate": 0.5, "feedback": 1,
            "feedback_matched": 1, "examples": 1}}}  # i3 over i2, shown above it: one pair
        assert w.rt.ranker.examples == 1
        metrics = w.rt.stats.exposition()
        assert b'engine_model_hits_total{strategy="blend",variant="learned"} 1.0' in metrics
        assert b"engine_ranker_serving 0.0" in metrics  # cold: the blend serves

    run(scenario)


def test_without_a_learned_variant_the_worker_has_no_ranker_and_still_measures_its_lists() -> None:
    async def scenario(w: Worker) -> None:
        assert w.rt.ranker is None
        for n in range(1, 4):
            w.rt.world.set_neighbours(f"i{n}", 10.0 - n, (10.0 - n, 0.0), [])
        await w.put(event(event_id="c0", item_id="i1", ts=1700000020.0), key=b"u1")
        await w.put(event(event_id="c1", item_id="i2", ts=1700000021.0), key=b"u1")
        online = w.rt.stats.online()["heuristic"]["blend"]
        assert (online["lists"], online["judged"], online["hits"], online["examples"]) \
            == (2, 1, 1, 0)
        assert b"engine_ranker_serving" not in w.rt.stats.exposition()

    run(scenario, variants=(Variant("heuristic", 1.0),))
