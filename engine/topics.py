"""Topic definitions, read from the repository's ``topics/`` folder.

Each ``topics/<name>.json`` holds a topic's name, partitions (``null``: the
``ENGINE_PARTITIONS`` setting), broker config and the JSON Schema of its
values. These files are the single source the engine and ``engine topics
create`` read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from engine.errors import TopicError
from engine.settings import TOPIC_ROLES, Settings

__all__ = ["TopicDefinition", "definitions_dir", "load_definitions", "topic_plan"]


@dataclass(frozen=True)
class TopicDefinition:
    """One topic as declared in ``topics/``."""

    role: str  # file stem: clickstream, catalog, ..., item-pairs
    name: str  # declared name; ``{app_id}`` is filled in by :func:`topic_plan`
    partitions: int | None
    config: Mapping[str, str]
    schema: Mapping[str, Any]
    internal: bool


def definitions_dir() -> Path:
    """The ``topics/`` folder: beside the package in a checkout, inside it when installed."""
    checkout = Path(__file__).resolve().parent.parent / "topics"
    if checkout.is_dir():
        return checkout
    installed = Path(str(resources.files("engine").joinpath("_topics")))
    if installed.is_dir():
        return installed
    raise TopicError(f"no topic definitions found in {checkout} or {installed}")


@functools.cache
def load_definitions(folder: Path | None = None) -> Mapping[str, TopicDefinition]:
    """Every topic definition, by role (the file's stem)."""
    folder = folder or definitions_dir()
    found: dict[str, TopicDefinition] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            raw = orjson.loads(path.read_bytes())
            found[path.stem] = TopicDefinition(
                role=path.stem,
                name=str(raw["name"]),
                partitions=raw.get("partitions"),
                config={str(k): str(v) for k, v in raw.get("config", {}).items()},
                schema=raw["schema"],
                internal=bool(raw.get("internal", False)),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise TopicError(f"{path}: not a valid topic definition: {exc}") from exc
    missing = set(TOPIC_ROLES) - found.keys()
    if missing:
        raise TopicError(f"{folder}: missing topic definitions for {sorted(missing)}")
    return found


@dataclass(frozen=True)
class PlannedTopic:
    """A topic as it must exist on the broker for these settings."""

    role: str
    name: str
    partitions: int
    config: Mapping[str, str]


def topic_plan(settings: Settings) -> list[PlannedTopic]:
    """The concrete topics these settings need: names resolved, partitions filled in."""
    plan = []
    for role, definition in load_definitions().items():
        if role in TOPIC_ROLES:
            name = settings.topic(role)
        else:
            name = definition.name.format(app_id=settings.app_id)
        partitions = definition.partitions or settings.partitions
        plan.append(PlannedTopic(role, name, partitions, definition.config))
    return plan
