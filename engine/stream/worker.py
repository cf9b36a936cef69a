"""Run one worker: make sure the topics exist, then run the Faust app until stopped."""

from __future__ import annotations

import asyncio

import faust
import uvloop

from engine.settings import Settings
from engine.stream.admin import create_topics
from engine.stream.app import create_app

__all__ = ["run_worker"]


def run_worker(settings: Settings) -> None:
    """Blocks until SIGINT/SIGTERM; then stops cleanly (commits what was processed)."""
    asyncio.run(create_topics(settings))  # idempotent; fails on a partition mismatch
    # uvloop: 13-20% less CPU per message in Faust's paths (faust-on-tansu.md); the policy
    # also gives Faust's consumer thread, which makes its own loop, a uvloop loop.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.spinner = None  # Faust's spinner turns the root logger to DEBUG: 17% slower
    worker.execute_from_commandline()
