"""The worker's counters, kept in a Prometheus registry of its own.

``/metrics`` exposes the registry; ``/stats`` reads the same counters as JSON.
The per-model online metrics are counters labelled by the A/B variant and
the strategy of the list they are about (``blend`` or ``learned-ranker``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.feedback import Reaction

__all__ = ["WorkerStats"]

_COUNTERS = {
    "events_processed": "clickstream events applied to a profile",
    "dead_lettered": "input records rejected to the dead-letter topic",
    "duplicates_skipped": "events skipped as already applied (repeated id or redelivery)",
    "recommendations_published": "recommendation lists published",
    "lists_republished": "lists published again for a redelivered input record",
    "users_forgotten": "forget_user events applied",
    "users_evicted": "profiles dropped to keep within ENGINE_MAX_USERS",
    "items_evicted": "item rows dropped to keep within ENGINE_MAX_ITEMS",
    "events_rerouted": "events re-sent because their key was not their user id",
    "catalog_records_read": "valid catalog records (and tombstones) read into this worker's world",
    "summaries_read": "item row summaries read into this worker's world (item-neighbours)",
    "item_rows_updated": "co-occurrence rows updated",
    "item_redeliveries_skipped": "co-occurrence increments skipped as already applied",
    "internal_errors": "records whose processing raised (dead-lettered)",
    "delivery_failures": "records the producer could not deliver",
    "input_records_recovered": "input records the consumer skipped, read back and processed",
    "checkpoints_written": "model checkpoints written (one per model each time)",
    "checkpoints_loaded": "models continued from a checkpoint at start-up",
}

#: Online metrics per variant and strategy: name -> help.
_MODEL_COUNTERS = {
    "lists": "lists published",
    "judged": "events judged against the user's list in force (the last one published)",
    "hits": "judged events whose item was in the list in force (prequential hits)",
    "feedback": "events carrying a rec_id (explicit feedback)",
    "feedback_matched": "events whose rec_id named a list the user's profile remembers",
    "examples": "examples the learned ranker learnt from reactions to these lists",
}


class WorkerStats:
    """Counters of one worker (``/stats``, ``/metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # the worker process: resident memory, CPU seconds, open files (Linux /proc)
        ProcessCollector(registry=self.registry)
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
        self._models = {
            name: Counter(f"engine_model_{name}", doc, ["variant", "strategy"],
                          registry=self.registry)
            for name, doc in _MODEL_COUNTERS.items()
        }

    def watch_ranker(self, serving: Callable[[], bool], examples: Callable[[], int]) -> None:
        """Gauges of the worker's learned ranker, read whenever they are collected."""
        Gauge(
            "engine_ranker_serving",
            "1 while the learned variant serves the ranker's order, 0 while it serves the blend",
            registry=self.registry,
        ).set_function(lambda: float(serving()))
        Gauge(
            "engine_ranker_examples", "examples this worker's learned ranker has learnt",
            registry=self.registry,
        ).set_function(lambda: float(examples()))

    def watch_broker(self, reachable: Callable[[], bool]) -> None:
        """The gauge of the broker watch (:mod:`engine.stream.liveness`)."""
        Gauge(
            "engine_broker_reachable",
            "1 while the broker answers this worker's metadata probes, 0 after they fail",
            registry=self.registry,
        ).set_function(lambda: float(reachable()))

    def watch_lag(self, lag: Callable[[], Mapping[int, int]]) -> None:
        """``engine_clickstream_lag{partition}``, read from ``lag()`` whenever it is collected."""
        self.registry.register(_LagCollector(lag))

    def list_published(self, variant: str, strategy: str) -> None:
        self._models["lists"].labels(variant, strategy).inc()

    def reaction(self, reaction: Reaction, learned: int) -> None:
        """Count an event judged against its user's list in force."""
        labels = (reaction.variant, reaction.strategy)
        self._models["judged"].labels(*labels).inc()
        if reaction.hit:
            self._models["hits"].labels(*labels).inc()
        if reaction.named:
            self._models["feedback"].labels(*labels).inc()
        if reaction.matched:
            self._models["feedback_matched"].labels(*labels).inc()
        if learned:
            self._models["examples"].labels(*labels).inc(learned)

    def online(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The per-model online metrics: variant -> strategy -> counters and hit rate."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for name, counter in self._models.items():
            for metric in counter.collect():
                for sample in metric.samples:
                    if sample.name.endswith("_total"):
                        labels = sample.labels
                        row = found.setdefault(labels["variant"], {}).setdefault(
                            labels["strategy"], dict.fromkeys(_MODEL_COUNTERS, 0))
                        row[name] = int(sample.value)
        for strategies in found.values():
            for row in strategies.values():
                row["hit_rate"] = round(row["hits"] / row["judged"], 4) if row["judged"] else None
        return found

    def inc(self, name: str, amount: float = 1.0) -> None:
        self._counters[name].inc(amount)

    def snapshot(self) -> dict[str, Any]:
        # one pass over the counters (``registry.get_sample_value`` collects the whole
        # registry for every name it is asked for)
        totals = {sample.name: sample.value
                  for counter in self._counters.values()
                  for metric in counter.collect() for sample in metric.samples}
        values: dict[str, Any] = {
            name: int(totals.get(f"engine_{name}_total", 0)) for name in self._counters
        }
        latency_sum = next((sample.value for metric in self.latency.collect()
                            for sample in metric.samples
                            if sample.name == "engine_event_processing_seconds_sum"), 0.0)
        values["processing_seconds_sum"] = round(latency_sum, 6)
        return values

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LagCollector(Collector):
    """The clickstream's records not processed yet, per partition the worker reads."""

    def __init__(self, lag: Callable[[], Mapping[int, int]]) -> None:
        self._lag = lag

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "engine_clickstream_lag",
            "clickstream records not processed yet (the partition's high watermark from the "
            "latest fetch, less the offset expected next)", labels=["partition"])
        for partition, records in sorted(self._lag().items()):
            family.add_metric([str(partition)], records)
        yield family
