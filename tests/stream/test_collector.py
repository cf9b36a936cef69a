"""The worker keeps the garbage collector's full walks short: survivors frozen, pauses counted."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from engine.stream.collector import CollectorPolicy


@pytest.fixture
def policy() -> Iterator[CollectorPolicy]:
    made = CollectorPolicy(CollectorRegistry(), freeze_every=10.0, full_every=3600.0, now=0.0)
    made.install()
    yield made
    made.uninstall()


def test_every_collection_is_counted_with_its_pause(policy: CollectorPolicy) -> None:
    gc.collect(0)
    gc.collect()
    seen = policy.snapshot()
    assert seen["collections"]["0"] >= 1 and seen["collections"]["2"] >= 1
    assert seen["pause_seconds"]["2"] > 0 and seen["longest_pause_ms"] > 0


def test_survivors_are_frozen_once_the_interval_has_passed(policy: CollectorPolicy) -> None:
    gc.unfreeze()
    policy.tick(5.0)
    assert gc.get_freeze_count() == 0
    policy.tick(10.0)
    assert gc.get_freeze_count() > 0
    assert policy.snapshot()["frozen_objects"] == gc.get_freeze_count()


def test_the_full_collection_finds_cycles_among_frozen_objects(policy: CollectorPolicy) -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    policy.tick(10.0)  # the cycle is frozen with everything else
    del cycle
    gc.collect()  # an ordinary full collection does not look at frozen objects
    assert policy.snapshot()["unreachable_found"] == 0
    policy.tick(3600.0)
    assert policy.snapshot()["unreachable_found"] >= 1
    assert gc.get_freeze_count() > 0  # frozen again afterwards


def test_with_no_interval_cpythons_own_policy_is_left_alone() -> None:
    gc.unfreeze()
    untouched = CollectorPolicy(CollectorRegistry(), freeze_every=0.0, full_every=3600.0)
    untouched.tick(1e9)
    assert gc.get_freeze_count() == 0 and untouched.snapshot()["policy"] is None
