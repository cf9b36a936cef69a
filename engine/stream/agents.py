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
from typing import Any

import orjson

from engine.deadletter import dead_letter_record
from engine.errors import InvalidRecord
from engine.events import decode_event, decode_item
from engine.pipeline import handle_event, publish_list
from engine.similarity import ItemRow, apply_increments
from engine.stream.app import EngineApp, Runtime
from engine.stream.increments import decode_increments, item_partition

__all__ = ["install"]

log = logging.getLogger(__name__)

#: Row increments are applied in batches: a popular row is written and
#: published once per batch, not once per interaction.
_ROW_BATCH = 1000
_ROW_BATCH_WAIT = 0.005  # seconds (longer batches write fewer rows but hold up the lists)
_INCREMENT_FLUSH_EVERY = 0.005  # seconds between sends of the user side's row increments


async def dead_letter(rt: Runtime, error: str, message: Any) -> None:
    record = dead_letter_record(error, message.topic, message.partition, message.offset,
                                message.value)
    await rt.send("deadletter", message.key, orjson.dumps(record))
    rt.stats.inc("dead_lettered")


async def on_clickstream_message(rt: Runtime, message: Any) -> None:
    """One clickstream record: validate, dedup, update the profile, feed the item side, publish."""
    try:
        event = decode_event(message.value, rt.settings.max_event_bytes)
    except InvalidRecord as exc:
        await dead_letter(rt, str(exc), message)
        return
    user_key = event.user_id.encode()
    if message.key != user_key:  # state is partitioned by user id: send it where it belongs
        await rt.send("clickstream", user_key, message.value)
        rt.stats.inc("events_rerouted")
        return
    outcome = handle_event(rt.profiles.get(event.user_id), event, rt.world, rt.config,
                           (message.partition, message.offset), ranker=rt.ranker)
    if outcome.status == "duplicate":
        rt.stats.inc("duplicates_skipped")
        return
    if outcome.status == "forgotten":
        await rt.store(rt.profiles, event.user_id, None, message.partition)
        await rt.send("recommendations", user_key, None)
        rt.stats.inc("users_forgotten")
        return
    if outcome.reaction is not None:
        rt.stats.reaction(outcome.reaction, outcome.learned)
    profile, listing = outcome.profile, None
    if outcome.publish and profile is not None:  # the profile remembers the list it publishes
        profile, listing = publish_list(profile, event.user_id, rt.world, rt.config,
                                        trigger_event_id=event.event_id, now=time.time(),
                                        ranker=rt.ranker)
    await rt.store(rt.profiles, event.user_id, profile, message.partition)
    rt.stats.inc("events_processed")
    if outcome.pairs is not None:
        rt.increments.add(outcome.pairs)
        if rt.increments.full():
            await rt.increments.flush()
    if listing is not None:
        await rt.send("recommendations", user_key, orjson.dumps(listing))
        rt.stats.inc("recommendations_published")
        rt.stats.list_published(listing["model"]["variant"], listing["model"]["strategy"])


async def on_item_pairs_batch(rt: Runtime, messages: list[Any]) -> None:
    """Apply a batch of row increments; write and publish each touched row once."""
    changed: dict[str, ItemRow] = {}
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
                rt.stats.inc("item_redeliveries_skipped")
    for item_id, row in changed.items():
        await rt.store(rt.item_rows, item_id, row, item_partition(item_id, rt.settings.partitions))
        summary = row.summary(rt.world.weight, rt.config.neighbours)
        await rt.send("item-neighbours", item_id.encode(), orjson.dumps(summary))
    rt.stats.inc("item_rows_updated", len(changed))


async def on_catalog_message(rt: Runtime, message: Any) -> None:
    """Validate a catalog record (every worker's broadcast reader applies the valid ones)."""
    if message.value is None:
        return  # a tombstone: the item is removed
    try:
        decode_item(message.value, rt.settings.max_event_bytes)
    except InvalidRecord as exc:
        await dead_letter(rt, str(exc), message)


async def _consume(rt: Runtime, stream: Any, handler: Any) -> None:
    await rt.world_ready.wait()
    started_at: set[tuple[str, int]] = set()
    async for event in stream.events():
        started = time.perf_counter()
        where = (event.message.topic, event.message.partition)
        if where not in started_at:
            started_at.add(where)
            log.info("reading %s[%s] from offset %s", *where, event.message.offset)
        try:
            await handler(rt, event.message)
        except Exception as exc:  # the worker never dies on a record
            log.exception("processing %s[%s]@%s failed", event.message.topic,
                          event.message.partition, event.message.offset)
            rt.stats.inc("internal_errors")
            await dead_letter(rt, f"internal error: {type(exc).__name__}: {exc}"[:300],
                              event.message)
        rt.stats.latency.observe(time.perf_counter() - started)


def install(app: EngineApp, rt: Runtime) -> None:
    """Register the three agents on ``app``."""

    @app.agent(rt.topics["clickstream"], name="clickstream")
    async def clickstream(stream: Any) -> None:
        await _consume(rt, stream, on_clickstream_message)

    @app.agent(rt.topics["item-pairs"], name="item-rows")
    async def item_rows(stream: Any) -> None:
        await rt.world_ready.wait()
        async for events in stream.take_events(_ROW_BATCH, within=_ROW_BATCH_WAIT):
            try:
                await on_item_pairs_batch(rt, [event.message for event in events])
            except Exception:  # the worker never dies on a record
                log.exception("applying %s row increment messages failed", len(events))
                rt.stats.inc("internal_errors")

    @app.task  # type: ignore[untyped-decorator]
    async def flush_row_increments() -> None:
        while True:
            await asyncio.sleep(_INCREMENT_FLUSH_EVERY)
            if len(rt.increments):
                try:
                    await rt.increments.flush()
                except Exception:
                    log.exception("sending row increments failed; retrying")

    @app.agent(rt.topics["catalog"], name="catalog")
    async def catalog(stream: Any) -> None:
        await _consume(rt, stream, on_catalog_message)
