"""The ``engine`` command. Settings are read once, here, from ``ENGINE_*`` variables."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.errors import EngineError
from engine.settings import Settings, load_settings, settings_lines, unknown_variables

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _settings() -> Settings:
    try:
        settings = load_settings()
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in unknown_variables():
        click.echo(f"warning: {warning}", err=True)
    return settings


def _friendly_errors(fun: F) -> F:
    """Turn the engine's own errors into a one-line message and exit code 1."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fun(*args, **kwargs)
        except EngineError as exc:
            raise click.ClickException(str(exc)) from exc

    wrapper.__name__ = fun.__name__
    wrapper.__doc__ = fun.__doc__
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="personalization-engine")
def main() -> None:
    """A streaming, real-time personalization engine on Kafka.

    Configuration comes from ENGINE_* environment variables (see the README).
    """


@main.command()
@click.option("--port", default=9092, show_default=True, help="port on 127.0.0.1 (0: any)")
@_friendly_errors
def broker(port: int) -> None:
    """Run an embedded Kafka-compatible broker (Tansu, in memory, on loopback) until Ctrl-C."""
    from engine.stream.broker import EmbeddedBroker
    from engine.stream.demo import wait_until_stopped

    with EmbeddedBroker(port=port) as running:
        click.echo(f"broker listening on {running.url}  (ENGINE_BROKER={running.url})")
        click.echo("memory storage only: everything is lost when it stops. Ctrl-C to stop.")
        wait_until_stopped()
        click.echo("stopping")


@main.group()
def topics() -> None:
    """Manage the engine's topics (defined in topics/)."""


@topics.command("create")
@_friendly_errors
def topics_create() -> None:
    """Create every topic from topics/ (idempotent; fails on a wrong partition count)."""
    from engine.stream.admin import create_topics

    for name, status in asyncio.run(create_topics(_settings())):
        click.echo(f"{status:8} {name}")


@main.command()
@_friendly_errors
def worker() -> None:
    """Run a stream worker (any number of them, on any hosts).

    It prints the settings that differ from the defaults (secrets as ***) on
    stderr as it starts; `engine settings` shows them all.
    """
    from engine.stream.worker import run_worker

    settings = _settings()
    changed = settings_lines(settings, changed_only=True)
    click.echo(f"engine worker: settings changed from the defaults: {' '.join(changed) or 'none'}",
               err=True)
    run_worker(settings)


@main.command("settings")
@click.option("--changed", is_flag=True, help="only those that differ from the defaults")
def show_settings(changed: bool) -> None:
    """Print every setting as the engine reads it from ENGINE_* (secrets as ***)."""
    for line in settings_lines(_settings(), changed_only=changed):
        click.echo(line)


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--rate", type=float, default=None, help="events per second (default: no limit)")
@click.option("--limit", type=int, default=None, help="stop after this many events")
@_friendly_errors
def replay(path: Path, rate: float | None, limit: int | None) -> None:
    """Produce a dataset (REES46 CSV, YOOCHOOSE TSV or JSON Lines) into the input topics."""
    from engine.stream.replay import replay as run_replay

    stats = asyncio.run(run_replay(_settings(), path, rate=rate, limit=limit))
    click.echo(f"replayed {stats.events} events and {stats.catalog_items} catalog items "
               f"in {stats.seconds:.1f} s")
    if stats.unreadable:
        what = ("1 line was not a contract record; it went to the clickstream topic as it "
                "was, for the worker to dead-letter with its reason" if stats.unreadable == 1
                else f"{stats.unreadable} lines were not contract records; they went to the "
                "clickstream topic as they were, for the worker to dead-letter with their "
                "reasons. The first")
        click.echo(f"{what}: {stats.first_problem}", err=True)


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--limit", type=int, default=None, help="evaluate the first N events only")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="also write the report as JSON here")
@click.option("--methods", default=None,
              help="only these lists, comma-separated (e.g. engine,engine:co_occurrence,item_knn)")
@click.option("--no-sources", is_flag=True,
              help="leave out each candidate source alone (faster: the variants and baselines)")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None,
              help="also draw HR@10 over the stream for every method to this PNG file")
@click.option("--via-broker", is_flag=True,
              help="end to end: an embedded broker and a worker, beside the engine in process")
@click.option("--rate", type=float, default=None,
              help="with --via-broker: replay at this many events/s instead of in lockstep")
@_friendly_errors
def evaluate(path: Path, limit: int | None, json_path: Path | None, methods: str | None,
             no_sources: bool, plot_path: Path | None, via_broker: bool,
             rate: float | None) -> None:
    """Replay a dataset test-then-train; report HR@10/20, NDCG@10, MRR, coverage, novelty."""
    from engine.evaluation_run import run_evaluation

    only = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    if rate is not None and not via_broker:
        raise click.UsageError("--rate needs --via-broker")
    if via_broker:
        from engine.stream.evaluate_broker import evaluate_via_broker

        report = evaluate_via_broker(_settings(), path, limit=limit, only=only, rate=rate)
    else:
        report = run_evaluation(_settings(), path, limit=limit, only=only,
                                sources=not no_sources)
    click.echo(report.markdown())
    if json_path is not None:
        json_path.write_bytes(report.json())
        click.echo(f"\nwritten to {json_path}")
    if plot_path is not None:
        from engine.evaluation_plot import plot_hit_rate

        plot_hit_rate(report.dataset, report.results, plot_path)
        click.echo(f"plot written to {plot_path}")


@main.command()
@click.option("--events", default=20000, show_default=True, help="events per throughput run")
@click.option("--rate", "rates", type=int, multiple=True, default=(500, 1000, 2000),
              show_default=True, help="events/s of a latency step (repeatable)")
@click.option("--seconds", default=10.0, show_default=True, help="length of a latency step")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="also write the figures as JSON here")
@click.option("--memory", "memory_at", default=None, metavar="N,N,...",
              help="instead: the engine's memory and state after these numbers of events of a "
                   "steady population (in process; e.g. 100000,300000,1000000)")
@click.option("--copies", default=10, show_default=True,
              help="with --memory: copies of the sample's users in the population")
@_friendly_errors
def bench(events: int, rates: tuple[int, ...], seconds: float, out: Path | None,
          memory_at: str | None, copies: int) -> None:
    """Throughput against raw aiokafka and Faust ceilings; latency at fixed rates against a raw
    pass-through's; memory."""
    if memory_at is not None:
        _memory_bench(memory_at, copies, out)
        return
    from engine.stream.bench import run_bench

    run_bench(_settings(), events=events, rates=rates, latency_seconds=seconds, out=out)


def _memory_bench(memory_at: str, copies: int, out: Path | None) -> None:
    import orjson
    from tqdm import tqdm

    from engine.memory_growth import memory_report
    from engine.pipeline import EngineConfig
    from engine.stream.demo import SAMPLE

    try:
        checkpoints = sorted({int(n) for n in memory_at.split(",") if n.strip()})
    except ValueError:
        raise click.BadParameter(f"not a list of numbers: {memory_at!r}",
                                 param_hint="--memory") from None
    if not checkpoints or checkpoints[0] <= 0:
        raise click.BadParameter("give positive numbers of events", param_hint="--memory")
    config = EngineConfig.from_settings(_settings())
    with tqdm(total=checkpoints[-1], unit="ev", disable=None, desc="memory") as bar:
        rows = memory_report(config, SAMPLE, checkpoints, copies=copies, progress=bar)
    columns = ("events", "rss_mb", "profiles", "bytes_per_profile", "item_rows",
               "bytes_per_row", "world_items", "ranker_examples")
    click.echo("| " + " | ".join(columns) + " |")
    click.echo("|---" * len(columns) + "|")
    for row in rows:
        click.echo("| " + " | ".join(str(row[c]) for c in columns) + " |")
    if len(rows) >= 2:
        growth = rows[-1]["rss_mb"] / rows[-2]["rss_mb"] if rows[-2]["rss_mb"] else None
        if growth is not None:
            click.echo(f"RSS {rows[-1]['events']:,} / {rows[-2]['events']:,} events: "
                       f"{growth:.3f}x")
    if out is not None:
        out.write_bytes(orjson.dumps({"sample": SAMPLE.name, "copies": copies, "rows": rows},
                                     option=orjson.OPT_INDENT_2))


@main.command()
@click.option("--users", default=3, show_default=True, help="how many users' lists to show")
@click.option("--exit-after", is_flag=True, help="stop after showing the lists (no Ctrl-C wait)")
@_friendly_errors
def demo(users: int, exit_after: bool) -> None:
    """Broker + topics + worker + replay of a bundled REES46 sample, then show recommendations."""
    from engine.stream.demo import run_demo

    run_demo(_settings(), users=users, wait=not exit_after)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
