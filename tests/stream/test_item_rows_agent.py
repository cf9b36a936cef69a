"""The item-rows agent's writes: neighbour lists with every batch, each changed row's
changelog record once per commit.

The worker is the real app of ``test_clickstream_agent`` (Faust's test
helpers, a recording producer); the item side is driven with what the
clickstream side sent to item-pairs (``test_engagers_stream.deliver``).
"""

from __future__ import annotations

from unittest.mock import patch

import orjson
from test_clickstream_agent import Worker, event, run
from test_engagers_stream import deliver


def changelog(w: Worker) -> list[tuple[bytes | None, dict[str, object] | None]]:
    topic = w.rt.item_rows.changelog_topic.get_topic_name()
    return [(sent.key, orjson.loads(sent.value) if sent.value is not None else None)
            for sent in w.producer.to(topic)]


def neighbour_lists(w: Worker, item: bytes) -> int:
    topic = w.rt.topics["item-neighbours"].get_topic_name()
    return sum(1 for sent in w.producer.to(topic) if sent.key == item)


def test_a_row_changed_by_several_batches_makes_one_changelog_record_when_flushed() -> None:
    async def scenario(w: Worker) -> None:
        for batch in range(3):  # a new user views a then b: rows a and b change each time
            user = f"u{batch}"
            for n, item in enumerate("ab"):
                await w.put(event(event_id=f"e{batch}{n}", user_id=user, item_id=item,
                                  ts=1700000000.0 + 10 * batch + n), key=user.encode())
            await deliver(w)
        assert neighbour_lists(w, b"a") == neighbour_lists(w, b"b") == 3  # lists stay fresh
        assert changelog(w) == []  # staged: the table has them, the changelog not yet
        assert set(w.rt.staged_rows) == {"a", "b"}
        await w.rt.flush_item_side()
        records = dict(changelog(w))
        assert len(changelog(w)) == 2 and w.rt.staged_rows == {}
        for item in "ab":
            assert records[item.encode()] == orjson.loads(orjson.dumps(
                w.rt.item_rows.data[item].to_dict()))  # the row as it is now
        await w.rt.flush_item_side()
        assert len(changelog(w)) == 2  # nothing staged, nothing sent

    run(scenario)


def test_a_row_evicted_before_the_flush_leaves_a_tombstone_in_its_changelog() -> None:
    async def scenario(w: Worker) -> None:
        for n, item in enumerate("abc"):
            await w.put(event(event_id=f"e{n}", item_id=item, ts=1700000000.0 + n), key=b"u1")
        await deliver(w)
        await w.rt.flush_item_side()
        for n, item in enumerate("de"):  # rows beyond the budget of 3 evict the oldest
            await w.put(event(event_id=f"f{n}", item_id=item, ts=1700000100.0 + n), key=b"u1")
        await deliver(w)
        assert len(w.rt.item_rows.data) == 3
        await w.rt.flush_item_side()
        tombstones = {key for key, value in changelog(w) if value is None}
        assert tombstones and all(key.decode() not in w.rt.item_rows.data for key in tombstones)
        written = {key for key, value in changelog(w) if value is not None}
        assert {item.encode() for item in w.rt.item_rows.data} <= written

    run(scenario, max_items=3)


def test_a_batch_that_stages_more_rows_than_the_bound_sends_them_at_once() -> None:
    async def scenario(w: Worker) -> None:
        for n, item in enumerate("abcd"):
            await w.put(event(event_id=f"e{n}", item_id=item, ts=1700000000.0 + n), key=b"u1")
        with patch("engine.stream.app._STAGED_ROWS_MAX", 3):
            await deliver(w)  # four rows changed: more than three staged
        assert w.rt.staged_rows == {}
        assert {key for key, _value in changelog(w)} == {b"a", b"b", b"c", b"d"}

    run(scenario)
