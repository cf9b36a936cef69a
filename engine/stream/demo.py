"""``engine demo``: broker, topics, a worker and a replay of the bundled sample, in one command."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import click

from engine.datasets import read_records
from engine.errors import EngineError, SettingsError
from engine.settings import Settings, replace
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker, free_port
from engine.stream.child_worker import get_json, wait_settled, wait_until_healthy, worker_process
from engine.stream.replay import replay
from engine.stream.worker import check_web_port

__all__ = ["SAMPLE", "run_demo", "wait_until_stopped"]

SAMPLE = Path(str(resources.files("engine").joinpath("samples", "rees46_2019_10_head.csv.gz")))


def _wait_processed(
    base: str, expected: int, token: str | None, timeout: float = 300.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with click.progressbar(length=expected, label="processing   ") as bar:
        done = 0
        while time.monotonic() < deadline:
            stats = get_json(f"{base}/stats", token)[1]
            now = stats["events_processed"] + stats["duplicates_skipped"] + stats["dead_lettered"]
            bar.update(now - done)
            done = now
            if done >= expected:
                return dict(stats)
            time.sleep(0.3)
    raise EngineError(f"the worker processed {done} of {expected} events in {timeout:.0f} s")


def _show_user(base: str, user_id: str, token: str | None) -> None:
    profile = get_json(f"{base}/users/{user_id}/profile", token)[1]
    listing = get_json(f"{base}/recommendations/{user_id}?n=5", token)[1]
    counts = ", ".join(f"{k} {v}" for k, v in profile["counts"].items() if v)
    interests = ", ".join(list(profile["interests"]["category"])[:3]) or "none yet"
    click.secho(f"\nuser {user_id}", bold=True)
    click.echo(f"  did: {counts}; interested in: {interests}")
    click.echo(f"  recently: {', '.join(profile['recent_items'][:5])}")
    for rank, item in enumerate(listing["items"], 1):
        click.echo(f"  {rank}. item {item['item_id']:<10} score {item['score']:.3f}  "
                   f"because: {'; '.join(item['reasons'])}")


def run_demo(settings: Settings, *, users: int = 3, wait: bool = True) -> None:
    """Run the whole engine on the bundled REES46 sample and show what it recommends."""
    workdir = Path(tempfile.mkdtemp(prefix="engine-demo-"))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        click.echo(f"1. broker (Tansu, in memory) on {broker.url}")
        port = settings.web_port
        try:
            check_web_port(settings)
        except SettingsError:
            port = free_port()  # something already listens there
        demo = replace(settings, broker=broker.url, web_host="127.0.0.1", web_port=port,
                       data_dir=str(workdir / "data"))
        created = asyncio.run(create_topics(demo))
        click.echo(f"2. topics: {', '.join(name for name, _ in created)}")
        base = f"http://127.0.0.1:{port}"
        with worker_process(demo, workdir / "worker.log") as proc:
            click.echo(f"3. worker starting (log: {workdir / 'worker.log'})")
            wait_until_healthy(base, proc)
            click.echo(f"4. replaying the bundled REES46 sample ({SAMPLE.name})")
            stats = asyncio.run(replay(demo, SAMPLE, progress=True))
            _wait_processed(base, stats.events, demo.api_token)
            # the item side (rows, neighbour lists, the world) follows the events by a
            # batch or two: lists shown before it settles would differ from run to run
            wait_settled(demo, proc, 30.0)
            processed = get_json(f"{base}/stats", demo.api_token)[1]
            click.echo(f"   {processed['events_processed']} events applied, "
                       f"{processed['duplicates_skipped']} duplicates skipped, "
                       f"{processed['recommendations_published']} lists published")
            active = collections.Counter(
                r.key for r in read_records(SAMPLE) if r.topic == "clickstream" and r.key
            )
            for user_id, _ in active.most_common(users):
                _show_user(base, user_id, demo.api_token)
            click.echo(f"\nweb views on {base}:")
            some_user = active.most_common(1)[0][0]
            for path in (f"/recommendations/{some_user}", f"/users/{some_user}/profile",
                         "/items/1004856/similar", "/stats", "/health", "/metrics"):
                click.echo(f"  {base}{path}")
            click.echo(f"lists are also on the topic '{demo.topic('recommendations')}' "
                       f"(ENGINE_BROKER={broker.url})")
            if wait:
                click.echo("\nCtrl-C to stop.")
                wait_until_stopped()
    click.echo("stopped.")


def wait_until_stopped() -> None:
    """Block until Ctrl-C or SIGTERM; either unwinds normally, so ``with`` blocks clean up."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
