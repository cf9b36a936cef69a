"""The agents: clickstream (user-keyed), item rows (item-keyed, batched), catalog (validation).

Each agent decodes with raw serializers inside a try/except, dead-letters what
it cannot use and goes on: no record stops a worker. The state logic is the
pure core's; these functions only load state, call it, store the result and
send what it asks for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
from faust.types import TP

from engine.deadletter import dead_letter_record
from engine.errors import InvalidRecord
from engine.events import decode_event, decode_item
from engine.pipeline import handle_event, publish_list, recommend
from engine.profiles import erasure
from engine.similarity import ItemRow, apply_increments
from engine.stream.app import EngineApp, Runtime
from engine.stream.connection import client_options
from engine.stream.continuity import InputContinuity, group_committed, read_range
from engine.stream.increments import decode_increments, item_partition

__all__ = ["install"]

log = logging.getLogger(__name__)

#: Row increments are applied in batches (of up to ENGINE_ITEM_BATCH_MS): a popular
#: row is written and published once per batch, not once per interaction.
_ROW_BATCH = 1000


async def dead_letter(rt: Runtime, error: str, message: Any) -> None:
    record = dead_letter_record(error, message.topic, message.partition, message.offset,
                                message.value)
    await rt.send("deadletter", message.key, orjson.dumps(record))
    rt.stats.inc("dead_lettered")


async def on_clickstream_message(rt: Runtime, message: Any) -> None:
    """One clickstream record: validate, dedup, update the profile, feed the item side, publish."""
    try:
        event = decode_event(message.value, rt.config.input_limits)
    except InvalidRecord as exc:
        await dead_letter(rt, str(exc), message)
        return
    user_key = event.user_id.encode()
    if message.key != user_key:  # state is partitioned by user id: send it where it belongs
        await rt.send("clickstream", user_key, message.value)
        rt.stats.inc("events_rerouted")
        return
    stored_id = rt.pseudonym(event.user_id)  # the raw id is never stored
    outcome = handle_event(rt.profiles.get(stored_id), replace(event, user_id=stored_id),
                           rt.world, rt.config, (message.partition, message.offset),
                           ranker=rt.ranker, mf=rt.mf)
    if outcome.status == "duplicate":
        rt.stats.inc("duplicates_skipped")
        if outcome.redelivered and outcome.pairs is not None:  # item rows skip what they have
            rt.increments.add(outcome.pairs, (message.partition, message.offset))
        if outcome.redelivered and outcome.profile is not None:
            # the list published when it was applied may have died with a worker
            again = recommend(outcome.profile, event.user_id, rt.world, rt.config,
                              trigger_event_id=event.event_id, now=time.time(),
                              ranker=rt.ranker, mf=rt.mf)
            await rt.send("recommendations", user_key, orjson.dumps(again))
            rt.stats.inc("lists_republished")
        return
    if outcome.status == "forgotten":
        if outcome.erased is not None:  # the item rows forget the user's engager key
            rt.increments.add(outcome.erased, (message.partition, message.offset))
        rt.stage_profile(stored_id, None, message.partition)
        await rt.flush_user_side()  # erased as the event is consumed
        rt.users.remove(stored_id)
        await rt.send("recommendations", user_key, None)
        rt.stats.inc("users_forgotten")
        return
    if outcome.reaction is not None:
        rt.stats.reaction(outcome.reaction, outcome.learned)
    profile = outcome.profile
    listing: dict[str, Any] | None = None
    if outcome.publish and profile is not None:  # the profile remembers the list it publishes
        profile, listing = publish_list(profile, event.user_id, rt.world, rt.config,
                                        trigger_event_id=event.event_id, now=time.time(),
                                        ranker=rt.ranker, mf=rt.mf)
    rt.stage_profile(stored_id, profile, message.partition)
    rt.stats.inc("events_processed")
    rt.users.touch(stored_id, message.partition)
    _evict_users(rt)
    if outcome.pairs is not None:
        rt.increments.add(outcome.pairs, (message.partition, message.offset))
    if rt.user_side_full():
        await rt.flush_user_side()
    if listing is not None:
        await rt.send("recommendations", user_key, orjson.dumps(listing))
        rt.stats.inc("recommendations_published")
        rt.stats.list_published(listing["model"]["variant"], listing["model"]["strategy"])


def _evict_users(rt: Runtime) -> None:
    """Keep within ENGINE_MAX_USERS: delete the least recently active profiles (tombstones).

    The item rows forget them too (an evicted user is a new user next time).
    """
    for evicted, partition in rt.users.evictions():
        profile = rt.profiles.get(evicted)
        if profile is not None and (erased := erasure(profile, profile.last_ts)) is not None:
            rt.increments.add(erased, None)
        rt.stage_profile(evicted, None, partition)
        rt.stats.inc("users_evicted")


async def on_item_pairs_batch(rt: Runtime, messages: list[Any]) -> None:
    """Apply a batch of row increments; write and publish each touched row once.

    A row whose increments were all applied before (sent again after a crash)
    is not written, but its summary is published again: the publication of
    the first application may have died with the worker.
    """
    changed: dict[str, ItemRow] = {}
    skipped: set[str] = set()
    for message in messages:
        try:
            increments = decode_increments(message.value)
        except Exception as exc:
            await dead_letter(rt, f"unreadable row increments: {exc}"[:300], message)
            continue
        for item_id, item_increments in increments.items():
            row = changed.get(item_id) or rt.item_rows.get(item_id)
            row, applied = apply_increments(row, item_id, item_increments, message.offset,
                                            rt.config.row_limits)
            if applied:
                changed[item_id] = row
            else:
                skipped.add(item_id)
                rt.stats.inc("item_redeliveries_skipped")
    for item_id in skipped - changed.keys():
        if (row := rt.item_rows.get(item_id)) is not None:
            await _publish_summary(rt, row)
    for item_id, row in changed.items():  # all staged before any await: a commit covers them
        partition = item_partition(item_id, rt.settings.partitions)
        rt.stage_row(item_id, row, partition)
        rt.items.touch(item_id, partition)
    for row in changed.values():
        await _publish_summary(rt, row)
    rt.stats.inc("item_rows_updated", len(changed))
    await _evict_items(rt)
    if rt.item_side_full():
        await rt.flush_item_side()


async def _evict_items(rt: Runtime) -> None:
    """Keep within ENGINE_MAX_ITEMS: drop the least recently updated rows, everywhere."""
    for evicted, partition in rt.items.evictions():
        rt.stage_row(evicted, None, partition)
        await rt.send("item-neighbours", evicted.encode(), None)  # every World forgets it
        rt.stats.inc("items_evicted")


async def _publish_summary(rt: Runtime, row: ItemRow) -> None:
    summary = row.summary(rt.world.weights, rt.config.neighbours, rt.config.row_limits,
                          rt.world.weight_times)
    await rt.send("item-neighbours", row.item_id.encode(), orjson.dumps(summary))


async def on_catalog_message(rt: Runtime, message: Any) -> None:
    """Validate a catalog record (every worker's broadcast reader applies the valid ones)."""
    if message.value is None:
        return  # a tombstone: the item is removed
    try:
        decode_item(message.value, rt.config.input_limits)
    except InvalidRecord as exc:
        await dead_letter(rt, str(exc), message)


async def _handle(rt: Runtime, handler: Any, message: Any) -> None:
    try:
        await handler(rt, message)
    except Exception as exc:  # the worker never dies on a record
        log.exception("processing %s[%s]@%s failed", message.topic, message.partition,
                      message.offset)
        rt.stats.inc("internal_errors")
        await dead_letter(rt, f"internal error: {type(exc).__name__}: {exc}"[:300], message)


async def _consume(rt: Runtime, stream: Any, handler: Any,
                   continuity: InputContinuity | None = None) -> None:
    await rt.world_ready.wait()
    await rt.models_ready.wait()  # the learnt models continue from their checkpoints
    started_at: set[tuple[str, int]] = set()
    async for event in stream.events():
        started = time.perf_counter()
        message = event.message
        where = (message.topic, message.partition)
        if where not in started_at:
            started_at.add(where)
            log.info("reading %s[%s] from offset %s", *where, message.offset)
        if continuity is not None:
            for missed in await continuity.missing(message.topic, message.partition,
                                                   message.offset):
                await _handle(rt, handler, missed)
                rt.stats.inc("input_records_recovered")
        await _handle(rt, handler, message)
        rt.stats.latency.observe(time.perf_counter() - started)


async def _with_missing(continuity: InputContinuity, messages: list[Any]) -> list[Any]:
    """``messages`` with the records the consumer skipped before each, read back, in order.

    Row increments are applied once whatever is read twice (rows keep the
    offsets they applied), but a skipped item-pairs record would be lost.
    """
    complete: list[Any] = []
    for message in messages:
        complete.extend(await continuity.missing(message.topic, message.partition,
                                                 message.offset))
        complete.append(message)
    return complete


def _partition_of(profile: Any) -> int:
    """The input partition a profile's events come from (the last it recorded)."""
    return int(next(reversed(profile.offsets))) if profile.offsets else -1


def _continuity(app: EngineApp, rt: Runtime) -> InputContinuity:
    """Skipped-record detection for the clickstream and item-rows agents (:mod:`.continuity`)."""
    connection = client_options(rt.settings)

    def known(topic: str, partition: int) -> int | None:
        consumer: Any = app.consumer  # Faust's own record of the group's committed offsets
        offset: int | None = consumer._committed_offset.get(TP(topic, partition))
        return offset

    async def committed(topic: str, partition: int) -> int | None:
        return await group_committed(connection, app.conf.id, topic, partition)

    async def reader(topic: str, partition: int, start: int, end: int) -> list[Any]:
        return await read_range(connection, topic, partition, start, end)

    return InputContinuity(known, committed, reader)


def _lag(app: EngineApp, topic: str, continuity: InputContinuity) -> Callable[[], dict[int, int]]:
    """Records of ``topic`` not processed yet, per partition this worker reads: the
    partition's high watermark (from the latest fetch) less the offset expected next."""

    def lag() -> dict[int, int]:
        consumer: Any = app.consumer
        found = {}
        for partition, expected in continuity.next_offsets(topic).items():
            try:
                highwater = consumer.highwater(TP(topic, partition))
            except Exception:  # no consumer yet, or the partition was just revoked
                continue
            if highwater is not None:
                found[partition] = max(0, highwater - expected)
        return found

    return lag


def _follow_assignment(app: EngineApp, rt: Runtime, continuity: InputContinuity) -> None:
    """Keep per-partition bookkeeping in step with the partitions this worker owns."""
    clickstream = rt.topics["clickstream"].get_topic_name()
    item_pairs = rt.topics["item-pairs"].get_topic_name()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await rt.flush_user_side()  # the next owner recovers the profiles from the changelog
        await rt.flush_item_side()  # ... and the item rows
        continuity.forget((tp.topic, tp.partition) for tp in revoked)
        rt.users.drop_partitions(tp.partition for tp in revoked if tp.topic == clickstream)
        rt.items.drop_partitions(tp.partition for tp in revoked if tp.topic == item_pairs)

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def adopt_recovered(sender: Any, **kwargs: Any) -> None:
        active = {tp.partition for tp in app.assignor.assigned_actives()
                  if tp.topic == clickstream}
        rt.users.adopt(
            (user, partition, profile.last_ts)
            for user, profile in list(rt.profiles.data.items())
            for partition in [_partition_of(profile)]
            if partition in active
        )
        _evict_users(rt)  # a crash may have lost evictions that a recovery brings back
        owned = {tp.partition for tp in app.assignor.assigned_actives()
                 if tp.topic == item_pairs}
        rt.items.adopt(
            (item_id, partition, row.popularity_ts)
            for item_id, row in list(rt.item_rows.data.items())
            for partition in [item_partition(item_id, rt.settings.partitions)]
            if partition in owned
        )
        await _evict_items(rt)


def install(app: EngineApp, rt: Runtime) -> None:
    """Register the three agents on ``app``."""
    continuity = _continuity(app, rt)
    _follow_assignment(app, rt, continuity)
    rt.clickstream_lag = _lag(app, rt.topics["clickstream"].get_topic_name(), continuity)
    rt.stats.watch_lag(rt.clickstream_lag)

    @app.agent(rt.topics["clickstream"], name="clickstream")
    async def clickstream(stream: Any) -> None:
        await _consume(rt, stream, on_clickstream_message, continuity)

    @app.agent(rt.topics["item-pairs"], name="item-rows")
    async def item_rows(stream: Any) -> None:
        await rt.world_ready.wait()
        within = rt.settings.item_batch_ms / 1000
        async for events in stream.take_events(_ROW_BATCH, within=within):
            try:
                messages = await _with_missing(continuity, [event.message for event in events])
                await on_item_pairs_batch(rt, messages)
            except Exception:  # the worker never dies on a record
                log.exception("applying %s row increment messages failed", len(events))
                rt.stats.inc("internal_errors")

    @app.task  # type: ignore[untyped-decorator]
    async def flush_user_side() -> None:
        # ENGINE_USER_FLUSH_MS: lists do not wait for it; the item side sees the increments
        # up to this much later, and a user's events in between make one changelog record
        every = rt.settings.user_flush_ms / 1000
        while True:
            await asyncio.sleep(every)
            if len(rt.increments) or rt.staged_profiles:
                try:
                    await rt.flush_user_side()
                except Exception:
                    log.exception("sending row increments or profiles failed; retrying")

    @app.agent(rt.topics["catalog"], name="catalog")
    async def catalog(stream: Any) -> None:
        await _consume(rt, stream, on_catalog_message)
