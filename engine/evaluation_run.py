"""``engine evaluate``: a dataset file through :func:`engine.evaluation.evaluate`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from engine.datasets import read_records
from engine.errors import InvalidRecord
from engine.evaluation import EngineMethods, ItemKNN, Method, Popularity, RecentPopularity, evaluate
from engine.events import Event, decode_event, decode_item
from engine.pipeline import EngineConfig
from engine.settings import Settings

__all__ = ["EvaluationReport", "run_evaluation"]

_COLUMNS = ("hr@10", "hr@20", "ndcg@10", "mrr@20", "coverage", "novelty", "events")


@dataclass(frozen=True)
class EvaluationReport:
    dataset: str
    results: dict[str, dict[str, Any]]

    def markdown(self) -> str:
        lines = [f"dataset: {self.dataset}", "",
                 "| method | " + " | ".join(_COLUMNS) + " |",
                 "|---" * (len(_COLUMNS) + 1) + "|"]
        for name, row in sorted(self.results.items(), key=lambda kv: -kv[1]["hr@10"]):
            lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in _COLUMNS) + " |")
        return "\n".join(lines)

    def json(self) -> bytes:
        return orjson.dumps({"dataset": self.dataset, "results": self.results},
                            option=orjson.OPT_INDENT_2)


def run_evaluation(
    settings: Settings, path: Path, *, limit: int | None = None, sources: bool = True
) -> EvaluationReport:
    """Evaluate the engine's variants, its sources alone (optional) and the baselines."""
    engine = EngineMethods(EngineConfig.from_settings(settings), sources=sources)
    methods: list[Method] = [engine, Popularity(), RecentPopularity(), ItemKNN()]

    def events() -> Iterator[Event]:
        for record in read_records(path, limit=limit):
            raw = orjson.dumps(record.value) if record.value is not None else None
            try:
                if record.topic == "catalog":
                    if raw is None:
                        engine.sim.remove_item(record.key)
                    else:
                        engine.sim.add_item(decode_item(raw, settings.max_event_bytes))
                    continue
                yield decode_event(raw, settings.max_event_bytes)
            except InvalidRecord:
                continue  # the worker would dead-letter it: not part of the evaluation

    total = limit or sum(1 for r in read_records(path) if r.topic == "clickstream")
    with tqdm(total=total, unit="ev", disable=None, desc="evaluating") as bar:
        results = evaluate(events(), methods, progress=bar)
    return EvaluationReport(path.name, results)
