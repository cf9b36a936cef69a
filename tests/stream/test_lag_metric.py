"""/metrics shows the clickstream's lag per partition, as the worker reports it when scraped."""

from __future__ import annotations

from engine.stream.stats import WorkerStats


def test_the_lag_is_read_at_each_scrape_and_labelled_by_partition() -> None:
    stats = WorkerStats()
    lag = {3: 17, 0: 0}
    stats.watch_lag(lambda: lag)
    lines = stats.exposition().decode().splitlines()
    assert 'engine_clickstream_lag{partition="0"} 0.0' in lines
    assert 'engine_clickstream_lag{partition="3"} 17.0' in lines
    lag.pop(3)  # revoked
    lines = stats.exposition().decode().splitlines()
    assert not any(line.startswith('engine_clickstream_lag{partition="3"}') for line in lines)
