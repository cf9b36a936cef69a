"""``engine evaluate``: a dataset file through :func:`engine.evaluation.evaluate`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from engine.baselines import (
    ItemKNN,
    MatrixFactorisation,
    Popularity,
    RecentPopularity,
    SequentialRules,
)
from engine.datasets import read_records
from engine.errors import EngineError, InvalidRecord
from engine.evaluation import EngineMethods, Method, evaluate
from engine.events import Event, decode_event, decode_item
from engine.pipeline import SOURCE_NAMES, EngineConfig
from engine.settings import Settings

__all__ = ["EvaluationReport", "baselines", "method_names", "run_evaluation"]

_COLUMNS = ("hr@10", "hr@20", "ndcg@10", "mrr@20", "coverage", "novelty", "events")


@dataclass(frozen=True)
class EvaluationReport:
    dataset: str
    results: dict[str, dict[str, Any]]
    notes: dict[str, Any] = field(default_factory=dict)  # how the lists were made

    def markdown(self) -> str:
        lines = [f"dataset: {self.dataset}"]
        lines += [f"{name.replace('_', ' ')}: {value}" for name, value in self.notes.items()]
        lines += ["",
                 "| method | " + " | ".join(_COLUMNS) + " |",
                 "|---" * (len(_COLUMNS) + 1) + "|"]
        for name, row in sorted(self.results.items(), key=lambda kv: -kv[1]["hr@10"]):
            lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in _COLUMNS) + " |")
        return "\n".join(lines)

    def json(self) -> bytes:
        return orjson.dumps({"dataset": self.dataset, **self.notes, "results": self.results},
                            option=orjson.OPT_INDENT_2)


def method_names() -> list[str]:
    """Every list ``engine evaluate`` can report, in its order."""
    return ["engine", "engine:learned", "engine:ranker",
            *(f"engine:{source}" for source in SOURCE_NAMES),
            "popularity", "recent_popularity", "item_knn", "sequential_rules", "mf"]


def baselines(config: EngineConfig, only: Sequence[str] | None = None) -> list[Method]:
    """The baselines, fresh, or those of them named in ``only``."""
    every: list[Method] = [Popularity(), RecentPopularity(), ItemKNN(),
                           SequentialRules(session_gap=config.profile_limits.session_gap),
                           MatrixFactorisation(config.mf)]
    return [baseline for baseline in every if only is None or baseline.names[0] in only]


def run_evaluation(settings: Settings, path: Path, *, limit: int | None = None,
                   only: Sequence[str] | None = None, sources: bool = True) -> EvaluationReport:
    """Evaluate the engine's variants, its sources alone and the baselines on one dataset.

    ``only`` restricts the report to some of :func:`method_names`, and
    ``sources=False`` leaves out the sources alone (both faster).
    """
    unknown = sorted(set(only or ()) - set(method_names()))
    if unknown:
        known = ", ".join(method_names())
        raise EngineError(f"unknown method {', '.join(unknown)} (known: {known})")
    config = EngineConfig.from_settings(settings)
    limits = config.input_limits
    engine = EngineMethods(config, sources=sources, only=only)
    methods: list[Method] = [engine] if engine.names else []
    methods += baselines(config, only)

    def events() -> Iterator[Event]:
        for record in read_records(path, limit=limit):
            raw = record.payload()
            try:
                if record.topic == "catalog":
                    if raw is None:
                        engine.sim.remove_item(str(record.key))
                    else:
                        engine.sim.add_item(decode_item(raw, limits))
                    continue
                yield decode_event(raw, limits)
            except InvalidRecord:
                continue  # the worker would dead-letter it: not part of the evaluation

    total = limit or sum(1 for r in read_records(path) if r.topic == "clickstream")
    with tqdm(total=total, unit="ev", disable=None, desc="evaluating") as bar:
        results = evaluate(events(), methods, progress=bar)
    return EvaluationReport(path.name, results)
