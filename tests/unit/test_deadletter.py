"""Dead-letter records: the contract's shape, and the original bytes kept whole."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from engine.deadletter import dead_letter_record
from engine.errors import InvalidRecord
from engine.events import decode_event

TOPICS = Path(__file__).resolve().parents[2] / "topics"
SCHEMA = orjson.loads((TOPICS / "deadletter.json").read_bytes())["schema"]

RAWS = {
    "text": b'{"item_id": "i1", "type": "view", "ts": 1}',
    "not-utf8": b"\xff\xfe\x00garbage\x80",
    "truncated-multibyte": "café".encode()[:-1],
    "empty": b"",
    "null": None,
}


def original(record: dict[str, Any]) -> bytes | None:
    """What a consumer of the dead-letter topic recovers from a record."""
    if record.get("raw_null"):
        return None
    if record.get("raw_encoding") == "base64":
        return base64.b64decode(record["raw"], validate=True)
    return str(record["raw"]).encode("utf-8")


@pytest.mark.parametrize("raw", list(RAWS.values()), ids=list(RAWS))
def test_a_record_validates_against_the_deadletter_schema(raw: bytes | None) -> None:
    record = dead_letter_record("not JSON: oops", "clickstream", 3, 1234, raw)
    jsonschema.validate(record, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert orjson.loads(orjson.dumps(record)) == record


@pytest.mark.parametrize("raw", list(RAWS.values()), ids=list(RAWS))
def test_the_original_bytes_can_be_recovered_exactly(raw: bytes | None) -> None:
    record = dead_letter_record("reason", "clickstream", 0, 0, raw)
    assert original(orjson.loads(orjson.dumps(record))) == raw


def test_bytes_that_are_not_utf8_are_base64() -> None:
    record = dead_letter_record("bad bytes", "clickstream", 0, 7, b"\xff\x00")
    assert (record["raw"], record["raw_encoding"]) == ("/wA=", "base64")


def test_text_is_kept_as_text() -> None:
    record = dead_letter_record("r", "clickstream", 0, 7, "naïve ✓".encode())
    assert (record["raw"], record["raw_encoding"]) == ("naïve ✓", "utf-8")


def test_a_record_says_where_the_input_came_from_and_why() -> None:
    record = dead_letter_record("missing field user_id", "clicks", 2, 99, b"{}")
    assert {k: record[k] for k in ("error", "topic", "partition", "offset")} == {
        "error": "missing field user_id", "topic": "clicks", "partition": 2, "offset": 99,
    }


def test_the_reason_of_a_rejected_event_becomes_the_error() -> None:
    raw = b'{"item_id": "i1", "type": "view", "ts": 1}'
    with pytest.raises(InvalidRecord) as caught:
        decode_event(raw, 1000)
    record = dead_letter_record(str(caught.value), "clickstream", 0, 1, raw)
    assert record["error"] == "missing field user_id"
    jsonschema.validate(record, SCHEMA, cls=jsonschema.Draft202012Validator)
