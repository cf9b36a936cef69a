"""Faust's aiokafka transport, with the two adjustments this engine depends on.

1. **Fetch wait.** Faust hard-codes ``fetch_max_wait_ms=1500`` for its worker
   consumer. A broker that does not answer a fetch early when data arrives
   (Tansu) then holds every event up to 1.5 s; the engine uses
   ``ENGINE_FETCH_MAX_WAIT_MS`` (default 25 ms) instead.
2. **Recovery high-water.** Faust recovers a table's changelog up to
   ``end_offsets() - 1``. Tansu's ``end_offsets()`` is short after
   multi-record batches, so Faust would stop early and silently lose the
   tail; the engine takes the true log end (:func:`log_end_offsets`), which
   on Kafka is the same number.

And a bounded stop: the consumer thread gives up after 15 s instead of 60
when the broker does not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from engine.settings import Settings
from engine.stream.connection import client_options
from engine.stream.handoff import HandOffAtOnce
from engine.stream.offsets import log_end_offsets

__all__ = ["EngineTransport"]

log = logging.getLogger(__name__)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    # Stopping the consumer commits and leaves the group; with no broker answering it
    # retries until this timeout (mode's default: 60 s), and SIGTERM took over a minute.
    # A healthy stop takes a second or two; what a cut-short stop did not commit is
    # processed again after the restart, and the engine's state skips it as a duplicate.
    shutdown_timeout = 15.0

    @property
    def _engine_settings(self) -> Settings:
        settings: Settings = getattr(self.app, "engine_settings")  # noqa: B009 (set by create_app)
        return settings

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self._engine_settings.fetch_max_wait_ms
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported: Mapping[TP, int] = await super()._highwaters(partitions)
        if self.consumer.in_transaction or not partitions:
            return reported
        true_ends = await log_end_offsets(client_options(self._engine_settings), partitions)
        return {tp: max(reported.get(tp, 0), true_ends.get(tp, 0)) for tp in partitions}


class _Consumer(HandOffAtOnce, faust_aiokafka.Consumer):
    # HandOffAtOnce: each fetched record goes to the agents' channels without four tasks
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        # Row increments and profiles the clickstream agent buffers, and item rows the
        # item-rows agent stages, must be in the producer before the offsets of their
        # records are committed (Faust flushes the producer next, then commits).
        runtime = getattr(self.app, "engine", None)
        if runtime is not None:
            await runtime.flush_user_side()
            await runtime.flush_item_side()
        committed: bool = await super().commit(*args, **kwargs)
        return committed

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # Faust treats skipped input offsets as acknowledged and commits past them.
        # On an input topic without compaction or transactions a gap means records
        # were never handed to an agent (a recovery race, faust-streaming #596/#606):
        # say so loudly, it is data the engine did not see.
        log.warning("input gap on %s[%s]: offsets %s..%s were never processed",
                    tp.topic, tp.partition, offset_from, offset_to)
        await super()._add_gap(tp, offset_from, offset_to)


class EngineTransport(faust_aiokafka.Transport):
    """The aiokafka transport with the engine's consumer."""

    Consumer = _Consumer
