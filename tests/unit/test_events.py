"""Decoding input records: every malformed record is a value with a reason, never a crash.

Each rejected record raises :class:`InvalidRecord` whose message is the
dead-letter reason; the tests check that the reason names what is wrong.
"""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from engine.errors import InvalidRecord
from engine.events import CatalogItem, Event, decode_event, decode_item, parse_ts
from engine.limits import InputLimits

MAX_BYTES = 65536
VIEW = {"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000.5}


def encode(**fields: object) -> bytes:
    return orjson.dumps(fields)


def reject(raw: bytes | None, max_bytes: int = MAX_BYTES) -> str:
    """The dead-letter reason of a record that must be rejected."""
    with pytest.raises(InvalidRecord) as caught:
        decode_event(raw, max_bytes)
    reason = str(caught.value)
    assert reason, "a rejection always says why"
    return reason


def without(record: dict[str, object], name: str) -> dict[str, object]:
    return {k: v for k, v in record.items() if k != name}


# -- malformed records --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"hello", "not JSON"),
        (b"", "not JSON"),
        (b'{"user_id": "u1", "item_id"', "not JSON"),
        (b'{"user_id": "u1", "type": "view", "ts": NaN, "item_id": "i1"}', "not JSON"),
        (b'{"user_id": "u1", "type": "purchase", "ts": 1, "item_id": "i1", "value": Infinity}',
         "not JSON"),
        (b'{"user_id": "u1", "type": "purchase", "ts": 1, "item_id": "i1", "value": -Infinity}',
         "not JSON"),
        (b'{"user_id": "u1", "type": "purchase", "ts": 1, "item_id": "i1", "value": 1e400}',
         "not JSON"),
    ],
    ids=["text", "empty", "truncated", "nan-literal", "infinity-literal", "minus-infinity",
         "overflowing-number"],
)
def test_a_record_that_is_not_json_is_rejected_as_not_json(raw: bytes, expected: str) -> None:
    assert reject(raw).startswith(expected)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"[1, 2]", "list"), (b'"u1"', "str"), (b"42", "int"), (b"null", "NoneType")],
)
def test_json_that_is_not_an_object_is_rejected_naming_what_it_is(raw: bytes, kind: str) -> None:
    assert reject(raw) == f"not a JSON object: got {kind}"


def test_a_null_record_value_is_rejected_as_empty() -> None:
    assert "no value" in reject(None)


def test_bytes_that_are_not_utf8_are_rejected_as_bad_bytes() -> None:
    raw = b'{"user_id": "\xff\xfe", "item_id": "i1", "type": "view", "ts": 1}'
    assert reject(raw).startswith("bad bytes: not UTF-8")


def test_a_record_over_the_size_limit_is_rejected_as_oversize() -> None:
    raw = encode(**VIEW, padding="x" * 200)
    assert reject(raw, max_bytes=100) == f"oversize event: {len(raw)} bytes > limit 100"


def test_a_record_of_exactly_the_size_limit_is_accepted() -> None:
    raw = encode(**VIEW)
    assert decode_event(raw, InputLimits(max_bytes=len(raw))).user_id == "u1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", 42),
        ("user_id", ""),
        ("item_id", 7),
        ("item_id", None),
        ("ts", True),
        ("ts", None),
        ("ts", [1]),
        ("value", "5"),
        ("value", True),
        ("event_id", 5),
        ("event_id", ""),
        ("context", []),
    ],
)
def test_a_field_of_the_wrong_type_is_rejected_naming_the_field(field: str, value: object) -> None:
    assert reject(encode(**{**VIEW, field: value})).startswith(f"field {field}:")


def test_a_rating_whose_value_is_a_string_is_rejected_naming_value() -> None:
    raw = encode(**{**VIEW, "type": "rating", "value": "five"})
    assert reject(raw).startswith("field value:")


@pytest.mark.parametrize("field", ["user_id", "ts"])
def test_a_missing_required_field_is_rejected_naming_it(field: str) -> None:
    assert reject(encode(**without(VIEW, field))) == f"missing field {field}"


def test_a_missing_type_is_rejected_naming_type() -> None:
    assert reject(encode(**without(VIEW, "type"))) == "missing field type"


@pytest.mark.parametrize("event_type", ["view", "click", "add_to_cart", "purchase", "rating"])
def test_item_id_is_required_for_every_type_but_forget_user(event_type: str) -> None:
    record = {**without(VIEW, "item_id"), "type": event_type, "value": 3}
    assert reject(encode(**record)) == "missing field item_id"


def test_forget_user_needs_no_item_id() -> None:
    event = decode_event(encode(user_id="u1", type="forget_user", ts=1700000005),
                         MAX_BYTES)
    assert (event.type, event.item_id) == ("forget_user", None)


def test_a_rating_without_a_value_is_rejected_naming_value() -> None:
    assert reject(encode(**{**VIEW, "type": "rating"})) == "missing field value"


def test_an_unknown_event_type_is_rejected_naming_type() -> None:
    assert reject(encode(**{**VIEW, "type": "like"})).startswith("field type:")


@pytest.mark.parametrize("ts", [-1, -0.001, "1960-01-01T00:00:00Z"])
def test_a_time_before_the_epoch_is_rejected(ts: object) -> None:
    assert reject(encode(**{**VIEW, "ts": ts})).startswith("field ts:")


@pytest.mark.parametrize("ts", ["yesterday at noon", "2019-13-45T99:00:00Z", "short"])
def test_a_time_string_that_is_not_iso_8601_is_rejected(ts: str) -> None:
    assert reject(encode(**{**VIEW, "ts": ts})).startswith("field ts:")


def test_a_reason_stays_short_whatever_the_input() -> None:
    raw = b'{"user_id": "u1", "type": "view", "ts": 1, "item_id": "' + b"x" * 5000
    assert len(reject(raw)) <= 300


# -- times --------------------------------------------------------------------

MIDNIGHT_2019_10_01 = 1569888000.0


@pytest.mark.parametrize(
    "ts",
    [
        "2019-10-01T00:00:00Z",
        "2019-10-01T02:00:00+02:00",
        "2019-09-30T19:00:00-05:00",
        "2019-10-01T00:00:00",  # naive: UTC
        "2019-10-01 00:00:00 UTC",  # the REES46 dataset's format
    ],
    ids=["zulu", "positive-offset", "negative-offset", "naive", "space-utc"],
)
def test_iso_times_are_read_as_the_same_instant_in_epoch_seconds(ts: str) -> None:
    event = decode_event(encode(**{**VIEW, "ts": ts}), MAX_BYTES)
    assert event.ts == MIDNIGHT_2019_10_01


def test_epoch_seconds_keep_their_fraction() -> None:
    assert parse_ts(1700000000.125) == 1700000000.125
    assert parse_ts(0) == 0.0


# -- valid events -------------------------------------------------------------


def test_a_valid_event_is_decoded_field_by_field() -> None:
    raw = encode(event_id="e-1", user_id="u1", item_id="i1", type="purchase", ts=1700000010,
                 value=2, rec_id="r-9", session_id="s-3", context={"page": "home"})
    assert decode_event(raw, MAX_BYTES) == Event(
        event_id="e-1", user_id="u1", item_id="i1", type="purchase", ts=1700000010.0,
        value=2.0, rec_id="r-9", session_id="s-3",
    )


def test_an_explicit_event_id_is_kept() -> None:
    assert decode_event(encode(**VIEW, event_id="e-123"), MAX_BYTES).event_id == "e-123"


def test_a_null_event_id_is_replaced_by_a_derived_one() -> None:
    assert decode_event(encode(**VIEW, event_id=None), MAX_BYTES).event_id.startswith("d-")


def test_the_derived_event_id_is_the_same_for_the_same_content() -> None:
    first = decode_event(encode(**VIEW), MAX_BYTES)
    reordered = decode_event(orjson.dumps(dict(reversed(VIEW.items()))), MAX_BYTES)
    assert first.event_id == reordered.event_id
    assert first.event_id.startswith("d-")


@pytest.mark.parametrize(
    ("field", "other"),
    [("user_id", "u2"), ("item_id", "i2"), ("type", "click"), ("ts", 1700000000.6),
     ("rec_id", "r-1")],
)
def test_the_derived_event_id_differs_when_the_content_differs(field: str, other: object) -> None:
    first = decode_event(encode(**VIEW), MAX_BYTES)
    second = decode_event(encode(**{**VIEW, field: other}), MAX_BYTES)
    assert first.event_id != second.event_id


def test_the_derived_event_id_differs_for_ratings_of_different_values() -> None:
    low = decode_event(encode(**{**VIEW, "type": "rating", "value": 1}), MAX_BYTES)
    high = decode_event(encode(**{**VIEW, "type": "rating", "value": 5}), MAX_BYTES)
    assert low.event_id != high.event_id


PERSONAL = {
    "email": "alice@example.com",
    "phone": "+33 6 12 34 56 78",
    "name": "Alice Liddell",
    "ip": "203.0.113.7",
    "address": "7 Rabbit Hole Lane",
}


def test_personal_data_and_unknown_fields_are_nowhere_in_the_decoded_event() -> None:
    raw = encode(**VIEW, **PERSONAL, favourite_colour="teal",
                 context={"email": PERSONAL["email"]})
    event = decode_event(raw, MAX_BYTES)
    field_names = {f.name for f in dataclasses.fields(Event)}
    assert field_names.isdisjoint({*PERSONAL, "favourite_colour", "context"})
    stored = repr(dataclasses.astuple(event))
    for secret in [*PERSONAL.values(), "teal"]:
        assert secret not in stored


def test_an_event_has_no_room_for_extra_fields() -> None:
    event = decode_event(encode(**VIEW), MAX_BYTES)
    with pytest.raises((AttributeError, TypeError)):
        event.email = "alice@example.com"  # type: ignore[attr-defined]


# -- catalog items ------------------------------------------------------------


def reject_item(raw: bytes) -> str:
    with pytest.raises(InvalidRecord) as caught:
        decode_item(raw, MAX_BYTES)
    return str(caught.value)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"title": "no id"}, "missing field item_id"),
        ({"item_id": 7}, "field item_id:"),
        ({"item_id": ""}, "field item_id:"),
        ({"item_id": "i1", "tags": "trail"}, "field tags:"),
        ({"item_id": "i1", "tags": [1, 2]}, "field tags.0:"),
        ({"item_id": "i1", "price": -1}, "field price:"),
        ({"item_id": "i1", "price": "cheap"}, "field price:"),
        ({"item_id": "i1", "available": "yes"}, "field available:"),
        ({"item_id": "i1", "attributes": ["brand"]}, "field attributes:"),
        ({"item_id": "i1", "category": 3}, "field category:"),
    ],
)
def test_a_malformed_catalog_item_is_rejected_naming_the_field(
    record: dict[str, object], reason: str
) -> None:
    assert reject_item(orjson.dumps(record)).startswith(reason)


def test_a_catalog_item_that_is_not_json_is_rejected() -> None:
    assert reject_item(b"{not json").startswith("not JSON")


def test_a_catalog_item_needs_only_its_id_and_is_available_by_default() -> None:
    assert decode_item(b'{"item_id": "i7"}', MAX_BYTES) == CatalogItem("i7")
    assert CatalogItem("i7").available is True


def test_a_catalog_item_with_null_availability_is_available() -> None:
    assert decode_item(b'{"item_id": "i7", "available": null}', MAX_BYTES).available is True


def test_a_full_catalog_item_is_decoded_with_tags_deduplicated_and_brand_kept() -> None:
    raw = orjson.dumps({
        "item_id": "i7", "title": "Trail shoe", "category": "shoes/running",
        "tags": ["trail", "waterproof", "trail"], "price": 89.9, "available": False,
        "attributes": {"brand": "Acme", "colour": "red"},
    })
    assert decode_item(raw, MAX_BYTES) == CatalogItem(
        item_id="i7", title="Trail shoe", category="shoes/running",
        tags=("trail", "waterproof"), price=89.9, available=False, brand="Acme",
    )


def test_an_empty_category_counts_as_none() -> None:
    assert decode_item(b'{"item_id": "i7", "category": ""}', MAX_BYTES).category is None
