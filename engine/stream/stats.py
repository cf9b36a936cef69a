"""The worker's counters, kept in a Prometheus registry of its own.

``/metrics`` exposes the registry; ``/stats`` reads the same counters as JSON.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["WorkerStats"]

_COUNTERS = {
    "events_processed": "clickstream events applied to a profile",
    "dead_lettered": "input records rejected to the dead-letter topic",
    "duplicates_skipped": "events skipped as already applied (repeated id or redelivery)",
    "recommendations_published": "recommendation lists published",
    "lists_republished": "lists published again for a redelivered input record",
    "users_forgotten": "forget_user events applied",
    "users_evicted": "profiles dropped to keep within ENGINE_MAX_USERS",
    "events_rerouted": "events re-sent because their key was not their user id",
    "catalog_items": "valid catalog records read",
    "item_rows_updated": "co-occurrence rows updated",
    "item_redeliveries_skipped": "co-occurrence increments skipped as already applied",
    "internal_errors": "records whose processing raised (dead-lettered)",
    "delivery_failures": "records the producer could not deliver",
    "input_records_recovered": "input records the consumer skipped, read back and processed",
}


class WorkerStats:
    """Counters of one worker (``/stats``, ``/metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters = {
            name: Counter(f"engine_{name}", doc, registry=self.registry)
            for name, doc in _COUNTERS.items()
        }
        self.latency = Histogram(
            "engine_event_processing_seconds",
            "time from reading an event to its list being handed to the producer",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0),
        )
        self.world_items = Gauge(
            "engine_world_items", "items with a published row summary", registry=self.registry
        )

    def inc(self, name: str, amount: float = 1.0) -> None:
        self._counters[name].inc(amount)

    def snapshot(self) -> dict[str, Any]:
        sample = self.registry.get_sample_value
        values: dict[str, Any] = {
            name: int(sample(f"engine_{name}_total") or 0) for name in self._counters
        }
        values["processing_seconds_sum"] = round(
            sample("engine_event_processing_seconds_sum") or 0.0, 6
        )
        return values

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
