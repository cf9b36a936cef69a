"""With ENGINE_API_TOKEN set, every web view but /health needs the bearer token."""

from __future__ import annotations

import asyncio
from pathlib import Path

from contract_client import isolated_settings, running_worker

from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker
from engine.stream.child_worker import get_json

PROTECTED = ("/recommendations/u1", "/users/u1/profile", "/items/i1/similar", "/stats",
             "/metrics")


def test_views_answer_401_without_the_token_and_health_stays_open(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker.url, "access", tmp_path / "data", api_token="s3cret")
    asyncio.run(create_topics(settings))
    with running_worker(settings, tmp_path) as worker:
        for path in PROTECTED:
            assert get_json(worker.base + path)[0] == 401, path
            assert get_json(worker.base + path, token="wrong")[0] == 401, path
        assert get_json(worker.base + "/recommendations/u1", token="s3cret")[0] == 200
        assert get_json(worker.base + "/stats", token="s3cret")[0] == 200
        assert get_json(worker.base + "/health")[0] == 200
