"""Integration tests: the session's embedded Tansu broker (``tests/conftest.py``), unique names.

Every test in this folder is marked ``integration``. Async code is driven with
``asyncio.run`` inside plain test functions (no pytest-asyncio).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.settings import TOPIC_ROLES, Settings, load_settings, replace
from engine.stream.broker import EmbeddedBroker, free_port

MakeSettings = Callable[..., Settings]

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def make_settings(
    broker: EmbeddedBroker, tmp_path: Path, request: pytest.FixtureRequest
) -> MakeSettings:
    """``make_settings(**overrides)``: settings on the session broker, private to this test.

    The app id and topic names are unique per test (the same for every call in
    one test, so two workers of one app agree); each call gets its own web port
    and data dir.
    """
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    prefix = f"{name}-{uuid.uuid4().hex[:6]}"
    calls = itertools.count()

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "broker": broker.url,
            "app_id": prefix,
            "web_port": free_port(),
            "web_host": "127.0.0.1",
            "data_dir": str(tmp_path / f"worker-{next(calls)}"),
            "topics": {role: f"{prefix}-{role}" for role in TOPIC_ROLES},
        }
        values.update(overrides)
        return replace(load_settings({}), **values)

    return make
