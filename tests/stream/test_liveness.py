"""The broker watch's rule: unreachable after two failed probes in a row, back after one answer."""

from __future__ import annotations

from engine.stream.liveness import BrokerWatch


def test_one_failed_probe_is_not_enough_and_one_answer_is() -> None:
    watch = BrokerWatch(failures_to_fail=2)
    watch.failed("no answer")
    assert watch.reachable
    watch.failed("no answer")
    assert not watch.reachable
    watch.answered()
    assert watch.reachable
