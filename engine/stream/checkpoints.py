"""Checkpoints of the worker's learnt models on the internal model-checkpoints topic.

At start-up, before the agents consume, the worker reads the topic whole and
continues each model (the learned ranker, the matrix factorisation) from its
newest complete checkpoint. Then, whenever its models have learnt another
``ENGINE_CHECKPOINT_EVERY`` examples, it writes their state again (JSON, see
:mod:`engine.checkpoint`). Between two checkpoints a crash loses what was
learnt since the last one: the models are approximate by nature, and the
profiles and item rows, which must be exact, live in changelogged tables.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.checkpoint import CheckpointLoader, checkpoint_records
from engine.stream.app import EngineApp, Runtime
from engine.stream.connection import client_options
from engine.stream.offsets import log_end_offsets

__all__ = ["install", "learnt", "load_checkpoints", "write_checkpoints"]

log = logging.getLogger(__name__)

RANKER = "learned-ranker"
MF = "matrix_factorisation"
_POLL = 1.0  # seconds between two looks at how much the models learnt
_LOAD_TIMEOUT = 60.0  # seconds a start waits for the checkpoints before the models start afresh


def learnt(rt: Runtime) -> int:
    """Examples the worker's models have learnt in all (checkpoints restore them too)."""
    return (rt.ranker.examples if rt.ranker is not None else 0) + (
        rt.mf.learnt if rt.mf is not None else 0)


def _models(rt: Runtime) -> dict[str, Any]:
    return {name: model for name, model in ((RANKER, rt.ranker), (MF, rt.mf))
            if model is not None}


async def load_checkpoints(rt: Runtime, connection: dict[str, Any]) -> list[str]:
    """Read the checkpoint topic to its end; continue each model from its newest checkpoint."""
    topic = rt.topics["model-checkpoints"].get_topic_name()
    consumer = AIOKafkaConsumer(**connection, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50)
    await consumer.start()
    loader = CheckpointLoader()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        targets = await log_end_offsets(connection, partitions)
        while any([await consumer.position(tp) < end for tp, end in targets.items()]):
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for record in records:
                    key = record.key.decode("utf-8", "replace") if record.key else ""
                    loader.add(key, record.value)
    finally:
        await consumer.stop()
    loaded = []
    for name, state in loader.latest().items():
        model = _models(rt).get(name)
        if model is None:
            continue
        try:
            model.load_state(state)
            loaded.append(name)
        except (ValueError, KeyError, TypeError) as exc:  # another version or size: start afresh
            log.warning("not loading the %s checkpoint: %s", name, exc)
    return loaded


async def write_checkpoints(rt: Runtime) -> int:
    """Write every model's state now; returns the records sent."""
    generation = uuid.uuid4().hex
    sent = 0
    for name, model in _models(rt).items():
        for key, value in checkpoint_records(name, model.state(), generation):
            await rt.send("model-checkpoints", key.encode(), value)
            sent += 1
        rt.stats.inc("checkpoints_written")
    return sent


def install(app: EngineApp, rt: Runtime) -> None:
    """Load the checkpoints before the agents consume, then write new ones as models learn."""
    connection = client_options(rt.settings)

    @app.task  # type: ignore[untyped-decorator]
    async def checkpoint_models() -> None:
        try:
            if _models(rt):
                loaded = await asyncio.wait_for(load_checkpoints(rt, connection), _LOAD_TIMEOUT)
                for name in loaded:
                    log.info("%s continues from its checkpoint", name)
                    rt.stats.inc("checkpoints_loaded")
        except asyncio.CancelledError:
            raise
        except Exception:  # no checkpoint is no reason not to start: learn afresh
            log.exception("reading the model checkpoints failed; models start afresh")
        finally:
            rt.models_ready.set()
        every = rt.settings.checkpoint_every
        if every <= 0 or not _models(rt):
            return
        last = learnt(rt)
        while True:
            await asyncio.sleep(_POLL)
            if learnt(rt) - last >= every:
                last = learnt(rt)
                try:
                    await write_checkpoints(rt)
                except Exception:
                    log.exception("writing the model checkpoints failed; trying again later")
