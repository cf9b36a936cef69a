"""The agents: clickstream (user-keyed), item rows (item-keyed), catalog (validation).

Each agent decodes with raw serializers inside a try/except, dead-letters what
it cannot use and goes on: no record stops a worker. The state logic is the
pure core's; these functions only load state, call it, store the result and
send what it asks for.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from engine.deadletter import dead_letter_record
from engine.errors import InvalidRecord
from engine.events import decode_event, decode_item
from engine.pipeline import handle_event, recommend
from engine.similarity import RowIncrement, apply_increment, row_increments, top_neighbours
from engine.stream.app import EngineApp, Runtime

__all__ = ["install"]

log = logging.getLogger(__name__)


async def dead_letter(rt: Runtime, error: str, message: Any) -> None:
    record = dead_letter_record(error, message.topic, message.partition, message.offset,
                                message.value)
    await rt.topics["deadletter"].send(key=message.key, value=orjson.dumps(record))
    rt.stats.inc("dead_lettered")


async def _publish_list(rt: Runtime, user_id: str, profile: Any, trigger: str) -> None:
    listing = recommend(profile, user_id, rt.world, rt.config, trigger_event_id=trigger,
                        now=time.time())
    await rt.topics["recommendations"].send(key=user_id.encode(), value=orjson.dumps(listing))
    rt.stats.inc("recommendations_published")


async def on_clickstream_message(rt: Runtime, message: Any) -> None:
    """One clickstream record: validate, dedup, update the profile, feed the item side, publish."""
    try:
        event = decode_event(message.value, rt.settings.max_event_bytes)
    except InvalidRecord as exc:
        await dead_letter(rt, str(exc), message)
        return
    user_key = event.user_id.encode()
    if message.key != user_key:  # state is partitioned by user id: send it where it belongs
        await rt.topics["clickstream"].send(key=user_key, value=message.value)
        rt.stats.inc("events_rerouted")
        return
    outcome = handle_event(rt.profiles.get(event.user_id), event, rt.world, rt.config,
                           (message.partition, message.offset))
    if outcome.status == "duplicate":
        rt.stats.inc("duplicates_skipped")
        return
    if outcome.status == "forgotten":
        rt.profiles.pop(event.user_id, None)
        await rt.topics["recommendations"].send(key=user_key, value=None)
        rt.stats.inc("users_forgotten")
        return
    rt.profiles[event.user_id] = outcome.profile
    rt.stats.inc("events_processed")
    if outcome.pairs is not None:
        for item_id, increment in row_increments(outcome.pairs).items():
            value = {"gain": increment.gain, "pairs": increment.pairs, "ts": increment.ts}
            await rt.topics["item-pairs"].send(key=item_id.encode(), value=orjson.dumps(value))
    if outcome.publish:
        await _publish_list(rt, event.user_id, outcome.profile, event.event_id)


def _decode_increment(value: bytes) -> RowIncrement:
    data = orjson.loads(value)
    pairs = {str(k): float(v) for k, v in data["pairs"].items()}
    return RowIncrement(float(data["gain"]), pairs, float(data["ts"]))


async def on_item_pairs_message(rt: Runtime, message: Any) -> None:
    """One row increment: apply it once, then publish the item's new neighbours to all workers."""
    item_id = message.key.decode()
    increment = _decode_increment(message.value)
    row, applied = apply_increment(rt.item_rows.get(item_id), item_id, increment,
                                   message.offset, rt.config.row_limits)
    if not applied:
        rt.stats.inc("item_redeliveries_skipped")
        return
    rt.item_rows[item_id] = row
    rt.stats.inc("item_rows_updated")
    summary = {
        "item_id": item_id,
        "weight": row.weight,
        "popularity": [row.popularity, row.popularity_ts],
        "neighbours": top_neighbours(row, rt.world.weight, rt.config.neighbours),
    }
    await rt.topics["item-neighbours"].send(key=message.key, value=orjson.dumps(summary))


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
    async for event in stream.events():
        started = time.perf_counter()
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
        await _consume(rt, stream, on_item_pairs_message)

    @app.agent(rt.topics["catalog"], name="catalog")
    async def catalog(stream: Any) -> None:
        await _consume(rt, stream, on_catalog_message)
