"""Shared by every test folder: one embedded Tansu broker per session, started on first use.

``tests/integration`` and ``tests/reliability`` both run workers against it; a
session that selects neither never starts it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.stream.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A started broker on a free port, stopped after the last test."""
    with EmbeddedBroker() as started:
        yield started
