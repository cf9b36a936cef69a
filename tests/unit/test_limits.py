"""Input limits: each one configurable, each refusal a reason naming what is over which limit.

The limits come from settings (``ENGINE_MAX_*``, ``ENGINE_MIN_EVENT_TS``,
``ENGINE_MAX_EVENT_TS``) and are enforced when a record is decoded; the
window of event times is fixed by configuration, never taken from the clock.
"""

from __future__ import annotations

import orjson
import pytest

from engine.errors import InvalidRecord
from engine.events import decode_event, decode_item
from engine.limits import InputLimits
from engine.settings import load_settings

VIEW = {"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000}
DEFAULT = InputLimits()
#: A deployment's window from 1990 (the default starts at 1970: no negative times).
FROM_1990 = InputLimits(min_ts=631_152_000.0)


def reject(record: object | bytes, limits: InputLimits = DEFAULT) -> str:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    with pytest.raises(InvalidRecord) as caught:
        decode_event(raw, limits)
    return str(caught.value)


def nested(depth: int) -> object:
    """A value ``depth`` levels deep: ``[[...[1]...]]``."""
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_the_limits_come_from_the_settings() -> None:
    settings = load_settings({
        "ENGINE_MAX_EVENT_BYTES": "2048", "ENGINE_MAX_ID_LENGTH": "64",
        "ENGINE_MAX_STRING_LENGTH": "500", "ENGINE_MAX_TAGS": "8", "ENGINE_MAX_NESTING": "6",
        "ENGINE_MIN_EVENT_TS": "2000-01-01T00:00:00Z", "ENGINE_MAX_EVENT_TS": "2030-01-01",
    })
    assert InputLimits.from_settings(settings) == InputLimits(
        max_bytes=2048, max_id_length=64, max_string_length=500, max_tags=8, max_nesting=6,
        min_ts=946684800.0, max_ts=1893456000.0,
    )


def test_the_default_limits_are_the_default_settings() -> None:
    assert InputLimits.from_settings(load_settings({})) == DEFAULT


# -- nesting ------------------------------------------------------------------


def test_a_record_at_the_nesting_limit_is_accepted() -> None:
    record = {**VIEW, "context": {"path": nested(DEFAULT.max_nesting - 2)}}
    assert decode_event(orjson.dumps(record), DEFAULT).user_id == "u1"


def test_a_record_nested_one_level_too_deep_is_refused_naming_where() -> None:
    record = {**VIEW, "context": {"path": nested(DEFAULT.max_nesting - 1)}}
    assert reject(record).startswith(
        f"too deeply nested: field context.path.{'.'.join(['0'] * (DEFAULT.max_nesting - 3))}"
    )


def test_nesting_beyond_what_the_json_parser_takes_is_refused_as_not_json() -> None:
    raw = orjson.dumps({**VIEW, "context": "X"}).replace(b'"X"', b"[" * 5000 + b"]" * 5000)
    assert reject(raw).startswith("not JSON: depth limit exceeded")


def test_the_nesting_limit_is_configurable() -> None:
    record = {**VIEW, "context": {"a": [1]}}
    assert reject(record, InputLimits(max_nesting=2)) \
        == "too deeply nested: field context.a is at depth 3 > limit 2"


# -- strings and ids ----------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "where"),
    [
        ({**VIEW, "note": "x" * 1025}, "note"),
        ({**VIEW, "context": {"page": ["home", "y" * 1025]}}, "context.page.1"),
        ({**VIEW, "user_id": "u" * 1025}, "user_id"),
    ],
    ids=["unknown-field", "inside-context", "id"],
)
def test_a_string_over_the_string_limit_is_refused_anywhere(record: object, where: str) -> None:
    assert reject(record) == f"field {where}: string of 1025 characters > limit 1024"


def test_an_object_key_over_the_string_limit_is_refused() -> None:
    assert reject({**VIEW, "context": {"k" * 2000: 1}}) \
        == "field context: key of 2000 characters > limit 1024"


def test_strings_are_measured_in_characters_not_bytes() -> None:
    record = {**VIEW, "note": "é" * 1024}  # 2,048 bytes
    assert decode_event(orjson.dumps(record), DEFAULT).user_id == "u1"


@pytest.mark.parametrize("field", ["user_id", "item_id", "event_id", "rec_id", "session_id"])
def test_the_id_length_limit_is_configurable_for_every_id(field: str) -> None:
    limits = InputLimits(max_id_length=8)
    assert decode_event(orjson.dumps({**VIEW, field: "x" * 8}), limits)
    assert reject({**VIEW, field: "x" * 9}, limits) \
        == f"field {field}: must be shorter than or equal to 8 characters"


def test_ids_longer_than_the_schema_default_are_accepted_when_configured() -> None:
    limits = InputLimits(max_id_length=600)
    assert decode_event(orjson.dumps({**VIEW, "user_id": "u" * 600}), limits).user_id == "u" * 600


@pytest.mark.parametrize("char", ["\x00", "\n", "\t", "\x1b", "\x7f", "\x85", "\x9f"])
def test_an_id_with_a_control_character_is_refused(char: str) -> None:
    assert reject({**VIEW, "user_id": f"u{char}1"}) \
        == f"field user_id: control character U+{ord(char):04X} in an id"


def test_ids_in_any_script_are_accepted() -> None:
    for user in ["ユーザー", "مستخدم", "😀", "a b", "Ω≈ç√"]:
        assert decode_event(orjson.dumps({**VIEW, "user_id": user}), DEFAULT).user_id == user


# -- event times --------------------------------------------------------------


@pytest.mark.parametrize(
    "ts",
    [0, 631151999, 4102444801, 1e300, 18446744073709551615, "1989-12-31T23:59:59Z",
     "2100-01-01T00:00:01Z", "9999-12-31T23:59:59Z"],
)
def test_a_time_outside_the_window_is_refused(ts: object) -> None:
    assert reject({**VIEW, "ts": ts}, FROM_1990).startswith("field ts: ")
    assert "outside the accepted event times 1990-01-01T00:00:00Z to 2100-01-01T00:00:00Z" \
        in reject({**VIEW, "ts": ts}, FROM_1990)


@pytest.mark.parametrize("ts", [-1, -1e12, "1969-12-31T23:59:59Z"])
def test_by_default_only_times_before_1970_are_too_early(ts: object) -> None:
    assert reject({**VIEW, "ts": ts}).startswith("field ts: ")
    assert decode_event(orjson.dumps({**VIEW, "ts": 0}), DEFAULT).ts == 0.0


def test_a_time_beyond_64_bit_integers_is_refused_as_outside_the_window() -> None:
    raw = orjson.dumps({**VIEW, "ts": "X"}).replace(b'"X"', b"1" + b"0" * 40)
    assert "outside the accepted event times" in reject(raw)


@pytest.mark.parametrize("ts", [631152000, 4102444800, "1990-01-01T00:00:00Z", 1569888000.5])
def test_the_window_bounds_are_included(ts: object) -> None:
    assert decode_event(orjson.dumps({**VIEW, "ts": ts}), FROM_1990).user_id == "u1"


def test_the_window_is_configurable() -> None:
    limits = InputLimits(min_ts=0.0, max_ts=100.0)
    assert decode_event(orjson.dumps({**VIEW, "ts": 5}), limits).ts == 5.0
    assert reject({**VIEW, "ts": 1700000000}, limits) == (
        "field ts: 1700000000.0 is outside the accepted event times "
        "1970-01-01T00:00:00Z to 1970-01-01T00:01:40Z"
    )


def test_a_time_in_epoch_milliseconds_is_refused_with_a_hint() -> None:
    assert reject({**VIEW, "ts": 1700000000123}) == (
        "field ts: 1700000000123.0 is outside the accepted event times "
        "1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z "
        "(epoch milliseconds? ts is in seconds: 1700000000.123)"
    )
    assert "milliseconds" not in reject({**VIEW, "ts": 1e300})


# -- what orjson refuses ------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"user_id": "a\\ud800", "item_id": "i1", "type": "view", "ts": 1700000000}',
        b'\xef\xbb\xbf{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000}',
        b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000} trailing',
        b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000, "value": -1e999}',
    ],
    ids=["lone-surrogate", "byte-order-mark", "trailing-content", "overflowing-number"],
)
def test_what_the_json_parser_refuses_is_refused_as_not_json(raw: bytes) -> None:
    assert reject(raw).startswith("not JSON: ")


def test_an_encoded_surrogate_is_refused_as_bad_bytes() -> None:
    raw = b'{"user_id": "\xed\xa0\x80", "item_id": "i1", "type": "view", "ts": 1700000000}'
    assert reject(raw).startswith("bad bytes: not UTF-8")


def test_a_repeated_key_counts_once_the_last_value() -> None:
    raw = b'{"user_id": 5, "user_id": "u2", "item_id": "i1", "type": "view", "ts": 1700000000}'
    assert decode_event(raw, DEFAULT).user_id == "u2"


# -- catalog items ------------------------------------------------------------


def test_the_tag_limit_is_configurable() -> None:
    item = orjson.dumps({"item_id": "i1", "tags": ["a", "b", "c"]})
    assert decode_item(item, InputLimits(max_tags=3)).tags == ("a", "b", "c")
    with pytest.raises(InvalidRecord) as caught:
        decode_item(item, InputLimits(max_tags=2))
    assert str(caught.value) == "field tags: must contain less than or equal to 2 items"


def test_an_item_id_follows_the_id_rules() -> None:
    for item_id, reason in [("i" * 9, "field item_id: must be shorter than or equal to 8"),
                            ("i\n1", "field item_id: control character U+000A in an id")]:
        with pytest.raises(InvalidRecord) as caught:
            decode_item(orjson.dumps({"item_id": item_id}), InputLimits(max_id_length=8))
        assert str(caught.value).startswith(reason)


def test_an_item_nested_too_deeply_is_refused() -> None:
    item = orjson.dumps({"item_id": "i1", "attributes": {"brand": nested(40)}})
    with pytest.raises(InvalidRecord) as caught:
        decode_item(item, DEFAULT)
    assert str(caught.value).startswith("too deeply nested: field attributes.brand")
