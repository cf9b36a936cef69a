"""User-based CF across the stream layer: engager keys travel from the clickstream agent
through item-pairs to the item rows, and through item-neighbours into every worker's World.

The worker is the real app of ``test_clickstream_agent`` (Faust's test
helpers, a recording producer). The item side is driven with what the
clickstream side sent to item-pairs, and the world is fed with what the item
side sent to item-neighbours, through the broadcast reader's own ``_apply``:
the path those records take between workers, without a broker.
"""

from __future__ import annotations

from types import SimpleNamespace

import orjson
from test_clickstream_agent import Worker, event, run

from engine.candidates import similar_users
from engine.privacy import Pseudonymiser, engager_key
from engine.profiles import Erasure
from engine.stream import broadcast
from engine.stream.agents import on_item_pairs_batch
from engine.stream.increments import IncrementBuffer, decode_increments

KEY = "stream-test-key"


async def deliver(w: Worker) -> None:
    """Carry what the clickstream side produced to the item side, and the summaries to the world."""
    await w.rt.increments.flush()
    pairs = w.producer.to(w.rt.topics["item-pairs"].get_topic_name())
    start = getattr(w, "_delivered_pairs", 0)
    messages = [SimpleNamespace(topic=s.topic, partition=s.partition, offset=start + n,
                                key=s.key, value=s.value) for n, s in enumerate(pairs[start:])]
    w._delivered_pairs = len(pairs)  # type: ignore[attr-defined]
    summaries_before = len(w.producer.to(w.rt.topics["item-neighbours"].get_topic_name()))
    await on_item_pairs_batch(w.rt, messages)
    for sent in w.producer.to(w.rt.topics["item-neighbours"].get_topic_name())[summaries_before:]:
        broadcast._apply(w.rt, "item-neighbours", SimpleNamespace(key=sent.key, value=sent.value))


def test_engagers_reach_every_world_through_item_neighbours_and_forget_user_takes_them_out(
) -> None:
    stored = Pseudonymiser(KEY)
    u1, u2 = engager_key(stored("u1")), engager_key(stored("u2"))

    async def scenario(w: Worker) -> None:
        for n, (user, item) in enumerate([("u1", "a"), ("u1", "b"), ("u1", "c"),
                                          ("u2", "a"), ("u2", "b")]):
            await w.put(event(event_id=f"e{n}", user_id=user, item_id=item,
                              ts=1700000000.0 + n), key=user.encode())
        await deliver(w)
        summaries = {s.key: orjson.loads(s.value or b"null") for s in w.producer.to(
            w.rt.topics["item-neighbours"].get_topic_name())}
        assert summaries[b"a"]["engagers"] == [u2, u1]
        assert summaries[b"c"]["engagers"] == [u1]
        assert set(w.rt.world.engaged_items(u1)) == {"a", "b", "c"}
        profile = w.rt.profiles[stored("u2")]
        assert [(c.item_id, c.reason) for c in similar_users(profile, w.rt.world, 10)] == [
            ("c", "users with similar taste liked it")]

        await w.put(orjson.dumps({"user_id": "u1", "type": "forget_user", "ts": 1700000009}),
                    key=b"u1")
        await deliver(w)
        assert list(w.rt.world.engaged_items(u1)) == []
        assert w.rt.world.engagers("a") == (u2,) and w.rt.world.engagers("c") == ()
        assert all(u1 not in row.engagers for row in w.rt.item_rows.data.values())
        assert similar_users(profile, w.rt.world, 10) == []

    run(scenario, pseudonym_key=KEY)


def test_engager_keys_and_erasures_travel_on_item_pairs_and_only_where_there_are_some() -> None:
    import asyncio

    from engine.profiles import PairUpdate

    sent: list[bytes] = []

    async def send(partition: int, value: bytes) -> None:
        sent.append(value)

    buffer = IncrementBuffer(send, 1)
    buffer.add(PairUpdate("a", 1.0, (("b", 1.0),), 5.0, user="k1", dropped=("z",)), (0, 7))
    buffer.add(Erasure("k2", ("a",), 6.0), None)
    asyncio.run(buffer.flush())
    (value,) = sent
    rows = decode_increments(value)
    assert [(i.engager, i.forget, i.source) for i in rows["a"]] == [
        ("k1", (), (0, 7)), ("", ("k2",), None)]
    assert [(i.engager, i.forget) for i in rows["z"]] == [("", ("k1",))]
    raw = orjson.loads(value)["rows"]
    assert "user" not in raw["b"][0] and "forget" not in raw["b"][0], "nothing empty on the wire"
    assert "src" not in raw["a"][1], "an eviction's erasure comes from no input record"
