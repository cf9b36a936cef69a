"""/health answers 503, not an error, while the worker's consumer has not started yet."""

from __future__ import annotations

import asyncio

from engine.settings import load_settings
from engine.stream.app import create_app
from engine.stream.views import has_partitions


def test_a_consumer_whose_thread_has_not_started_holds_no_partitions() -> None:
    async def scenario() -> None:
        app = create_app(load_settings({}))
        assert has_partitions(app) is False  # no consumer made yet
        assert app.consumer is not None  # made, its thread not started (the web server's
        assert has_partitions(app) is False  # first seconds): no partitions, no exception

    asyncio.run(scenario())
