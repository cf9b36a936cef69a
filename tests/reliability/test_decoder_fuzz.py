"""The decoders under fire: at least 10,000 generated records, valid and hostile.

Every record either decodes to exactly what was sent or is refused with
:class:`InvalidRecord` and the reason its kind calls for; no other exception
ever leaves the decoder, whatever the bytes. The hostile kinds are in
``hostile.py``: random bytes, invalid UTF-8, truncation, NaN and Infinity,
numbers that overflow, non-objects, deep nesting, huge strings and keys, long
ids, oversize records, wrong types, missing fields, times outside the accepted
window, control characters in ids, lone surrogates, byte-order marks and
trailing garbage. Valid ones include unknown and personal-data fields, ids in
any script and at the length limit, repeated keys and every time format.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from typing import Any

import orjson
from hostile import LIMITS, Case, event_cases, item_cases
from hypothesis import HealthCheck, given, settings

from engine.errors import InvalidRecord
from engine.events import CatalogItem, Event, decode_event, decode_item, derive_event_id

#: Generated events (the issue asks for 10,000 at least); RELIABILITY_FUZZ_EXAMPLES raises it.
EVENT_EXAMPLES = max(10_000, int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "10000")))
ITEM_EXAMPLES = 2_000

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example, HealthCheck.filter_too_much],
)


def verdict(decode: Callable[[bytes | None], Any], case: Case) -> Any:
    """The decoder's answer; fails the test on any exception but InvalidRecord."""
    try:
        decoded = decode(case.raw)
    except InvalidRecord as exc:
        reason = str(exc)
        assert reason, f"{case.kind}: a refusal always says why"
        assert len(reason) <= 300, f"{case.kind}: reasons stay short"
        assert not case.valid, f"{case.kind}: a valid record was refused: {reason}"
        assert case.matches(reason), f"{case.kind}: unexpected reason {reason!r}"
        return None
    assert case.valid, f"{case.kind}: accepted, but should be refused ({case.reason})"
    return decoded


def expected_event(case: Case) -> Event:
    fields = dict(case.fields or {})
    if not fields["event_id"]:
        assert case.raw is not None
        fields["event_id"] = derive_event_id(orjson.loads(case.raw))
    return Event(**fields)


def run_property(strategy: Any, examples: int, check: Callable[[Case], None]) -> dict[str, int]:
    """Run ``check`` on ``examples`` generated cases; returns how many of each kind ran."""
    kinds: collections.Counter[str] = collections.Counter()

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def prop(case: Case) -> None:
        kinds[case.kind.split(":")[0]] += 1
        check(case)

    prop()
    return dict(kinds)


def test_every_generated_event_is_decoded_exactly_or_refused_with_its_reason() -> None:
    def check(case: Case) -> None:
        event = verdict(lambda raw: decode_event(raw, LIMITS), case)
        if event is not None:
            assert event == expected_event(case), case.kind

    kinds = run_property(event_cases(), EVENT_EXAMPLES, check)
    assert sum(kinds.values()) >= EVENT_EXAMPLES, kinds
    hostile = {kind for kind in kinds if kind != "valid"}
    assert len(hostile) >= 15, f"every hostile kind is generated: {sorted(hostile)}"
    assert kinds["valid"] >= EVENT_EXAMPLES // 10, kinds


def test_every_generated_catalog_item_is_decoded_exactly_or_refused_with_its_reason() -> None:
    def check(case: Case) -> None:
        item = verdict(lambda raw: decode_item(raw or b"", LIMITS), case)
        if item is not None:
            assert item == CatalogItem(**(case.fields or {})), case.kind

    kinds = run_property(item_cases(), ITEM_EXAMPLES, check)
    assert sum(kinds.values()) >= ITEM_EXAMPLES, kinds
