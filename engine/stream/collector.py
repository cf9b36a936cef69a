"""The garbage collector, kept from stalling the worker: survivors frozen, pauses measured.

CPython's full collections walk every object the collector tracks. A worker
holds many of them (profiles, the world's neighbour lists, table rows), and a
full collection stopped everything for 100-250 ms: every event waiting then
got its list that much later. Yet the engine's state makes almost no
reference cycles: replaying REES46 in process, full collections found none,
and the young generations 149 objects in 20,000 events. So every
``ENGINE_GC_FREEZE_SECONDS`` the worker collects the young generations and
freezes what survived (:func:`gc.freeze`); automatic collections then walk
only what is newer. Cycles among frozen objects would never be found, so
every ``ENGINE_GC_FULL_SECONDS`` the worker unfreezes, collects everything
once, freezes again and reports what that full collection found.

Pauses of every generation are measured (``/metrics`` and ``/stats``), with
or without the policy.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["CollectorPolicy", "install"]

log = logging.getLogger(__name__)


class CollectorPolicy:
    """Measures the collector's pauses; freezes survivors when :meth:`tick` says it is time."""

    def __init__(self, registry: CollectorRegistry, freeze_every: float,
                 full_every: float, now: float | None = None) -> None:
        self.freeze_every = freeze_every  # seconds; 0: CPython's own policy, untouched
        self.full_every = full_every  # seconds between full collections of frozen objects
        self._pauses = Histogram(
            "engine_gc_pause_seconds", "garbage collector pauses, by generation",
            ["generation"], registry=registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0))
        self._found = Counter(
            "engine_gc_unreachable_found", "objects the policy's full collections found "
            "unreachable (reference cycles among frozen objects)", registry=registry)
        self._started = 0.0
        self._longest = 0.0
        self._found_total = 0
        self._frozen_at = self._full_at = time.monotonic() if now is None else now

    def install(self) -> None:
        gc.callbacks.append(self._observe)

    def uninstall(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)
        gc.unfreeze()

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self._longest = max(self._longest, pause)
        self._pauses.labels(str(info["generation"])).observe(pause)

    def tick(self, now: float | None = None) -> None:
        """Freeze the survivors, or collect everything, when the time for it has come."""
        if self.freeze_every <= 0:
            return
        now = time.monotonic() if now is None else now
        if self.full_every > 0 and now - self._full_at >= self.full_every:
            self._full_at = self._frozen_at = now
            gc.unfreeze()
            found = gc.collect()
            gc.freeze()
            self._found.inc(found)
            self._found_total += found
            log.info("full garbage collection: %s unreachable objects, %s frozen",
                     found, gc.get_freeze_count())
        elif now - self._frozen_at >= self.freeze_every:
            self._frozen_at = now
            gc.collect(1)  # young garbage is not frozen with the survivors
            gc.freeze()

    def snapshot(self) -> dict[str, Any]:
        """Pauses per generation (count, seconds), the longest in ms, frozen objects."""
        pauses = {str(generation): [0, 0.0] for generation in range(3)}
        for metric in self._pauses.collect():
            for sample in metric.samples:
                generation = sample.labels.get("generation")
                if generation in pauses and sample.name.endswith("_count"):
                    pauses[generation][0] = int(sample.value)
                elif generation in pauses and sample.name.endswith("_sum"):
                    pauses[generation][1] = round(sample.value, 4)
        return {"collections": {g: n for g, (n, _s) in pauses.items()},
                "pause_seconds": {g: s for g, (_n, s) in pauses.items()},
                "longest_pause_ms": round(self._longest * 1000, 1),
                "frozen_objects": gc.get_freeze_count(),
                "unreachable_found": self._found_total,
                "policy": ({"freeze_every_s": self.freeze_every, "full_every_s": self.full_every}
                           if self.freeze_every > 0 else None)}


def install(app: Any, policy: CollectorPolicy) -> None:
    """Measure the collector's pauses while ``app`` runs, and apply the policy once a second."""

    @app.task  # type: ignore[untyped-decorator]
    async def keep_the_collector_out_of_the_way() -> None:
        policy.install()
        try:
            while True:
                await asyncio.sleep(1.0)
                policy.tick()
        finally:
            policy.uninstall()
