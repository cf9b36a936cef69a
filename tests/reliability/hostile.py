"""Input records, valid and hostile, as hypothesis strategies that know their verdict.

Every strategy draws a :class:`Case`: the bytes a producer sends (``None``:
a record without a value), and what the engine must make of them. A valid case
carries the fields its decoded event must hold; a hostile case carries a
pattern its dead-letter reason must match. Hostile cases are made by breaking
one thing in an otherwise valid record, so the reason they must get is known
in advance, not computed by the code under test.

The limits are the engine's defaults (:class:`~engine.limits.InputLimits`),
the ones a worker enforces unless configured otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from engine.events import EVENT_TYPES
from engine.limits import InputLimits

__all__ = [
    "LIMITS",
    "Case",
    "event_cases",
    "hostile_events",
    "hostile_items",
    "item_cases",
    "valid_events",
    "valid_items",
]

#: The suite's limits: the defaults, with event times from 1990 as a deployment would set
#: them (the default window starts at 1970), so that "far in the past" has room.
LIMITS = InputLimits(min_ts=631_152_000.0)
ID_FIELDS = ("event_id", "user_id", "item_id", "rec_id", "session_id")
KNOWN_FIELDS = (*ID_FIELDS, "type", "ts", "value", "context")
PERSONAL_FIELDS = ("email", "phone", "name", "ip", "address")


@dataclass(frozen=True)
class Case:
    """One input record and its verdict: ``fields`` when valid, ``reason`` when not."""

    kind: str
    raw: bytes | None
    reason: str | None = None  # a regular expression the dead-letter reason must match
    fields: dict[str, Any] | None = None  # what the decoded record holds

    @property
    def valid(self) -> bool:
        return self.reason is None

    def matches(self, reason: str) -> bool:
        return self.reason is not None and re.search(self.reason, reason) is not None


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


# -- building blocks ----------------------------------------------------------

#: Any character an id may hold: everything but control characters and lone surrogates.
_ID_CHARS = st.characters(exclude_categories=("Cc", "Cs"))
_INT64 = st.integers(-(2**63), 2**64 - 1)  # what orjson writes as an integer
_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_SCALARS = st.none() | st.booleans() | _INT64 | _FINITE | st.text(max_size=20)


def long_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Text of a length in ``[min_size, max_size]``: a short drawn piece, repeated (cheap)."""
    return st.builds(
        lambda piece, length: (piece * (length // len(piece) + 1))[:length],
        st.text(_ID_CHARS, min_size=1, max_size=8),
        st.integers(min_size, max_size),
    )


def ids(min_size: int = 1) -> st.SearchStrategy[str]:
    """Ids of any length the limits allow, in any script, at the length limit too."""
    return st.one_of(
        st.text(_ID_CHARS, min_size=min_size, max_size=24),
        long_text(200, LIMITS.max_id_length),
        st.just("é" * LIMITS.max_id_length),  # 256 characters, 512 bytes
    )


_IDS = ids()
_OPTIONAL_IDS = {"event_id": st.none() | ids(1), "rec_id": st.none() | ids(0),
                 "session_id": st.none() | ids(0)}


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


#: Small JSON values, nested a few levels at most (the record's depth limit is far away).
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=6,
).filter(lambda v: _depth(v) <= 8)

_CONTEXT = st.none() | st.dictionaries(st.text(max_size=10), JSON, max_size=3)
_EXTRA = st.dictionaries(st.text(max_size=20).filter(lambda k: k not in KNOWN_FIELDS), JSON,
                         max_size=2)
_PERSONAL = st.dictionaries(st.sampled_from(PERSONAL_FIELDS), st.text(max_size=30))
_VALUES = st.none() | _INT64 | _FINITE
_OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def valid_ts(draw: st.DrawFn) -> tuple[Any, float]:
    """An event time inside the accepted window, as sent and as epoch seconds."""
    form = draw(st.sampled_from(["int", "float", "iso", "iso-z", "rees46", "date"]))
    if form == "int":
        ts = draw(st.integers(int(LIMITS.min_ts), int(LIMITS.max_ts)))
        return ts, float(ts)
    if form == "float":
        ts = draw(st.floats(LIMITS.min_ts, LIMITS.max_ts))
        return ts, ts
    # a day inside the window, so that any offset keeps the instant inside it too
    moment = draw(st.datetimes(datetime(1990, 1, 2), datetime(2099, 12, 30)))
    if form == "date":
        text = moment.date().isoformat()
        return text, datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp()
    if form == "rees46":
        text = moment.replace(microsecond=0).isoformat(sep=" ") + " UTC"
        return text, moment.replace(microsecond=0, tzinfo=UTC).timestamp()
    zone = UTC if form == "iso-z" else draw(st.none() | _OFFSETS)
    aware = moment.replace(tzinfo=zone or UTC)
    text = moment.replace(tzinfo=zone).isoformat()
    if form == "iso-z":
        text = text.replace("+00:00", "Z")
    return text, aware.timestamp()


@st.composite
def event_fields(draw: st.DrawFn, user_ids: st.SearchStrategy[str] | None = None,
                 types: tuple[str, ...] = EVENT_TYPES) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid event as sent (with unknown and personal fields) and what it must decode to."""
    kind = draw(st.sampled_from(types))
    ts, epoch = draw(valid_ts())
    user_id = draw(_IDS if user_ids is None else user_ids)
    record: dict[str, Any] = {"user_id": user_id, "type": kind, "ts": ts}
    if kind != "forget_user" or draw(st.booleans()):
        record["item_id"] = draw(_IDS if kind != "forget_user" else st.none() | _IDS)
    if kind == "rating":
        record["value"] = draw(_INT64 | _FINITE)
    elif draw(st.booleans()):
        record["value"] = draw(_VALUES)
    for name, values in _OPTIONAL_IDS.items():
        if draw(st.booleans()):
            record[name] = draw(values)
    if draw(st.booleans()):
        record["context"] = draw(_CONTEXT)
    record.update({**draw(_EXTRA), **draw(_PERSONAL)})
    expected = {
        "event_id": record.get("event_id"),
        "user_id": record["user_id"],
        "item_id": record.get("item_id"),
        "type": kind,
        "ts": epoch,
        "value": None if record.get("value") is None else float(record["value"]),
        "rec_id": record.get("rec_id"),
        "session_id": record.get("session_id"),
    }
    keys = list(record)
    order = draw(st.permutations(keys))
    return {k: record[k] for k in order}, expected



@st.composite
def valid_events(draw: st.DrawFn, user_ids: st.SearchStrategy[str] | None = None,
                 types: tuple[str, ...] = EVENT_TYPES) -> Case:
    """Valid events, some of them odd: any script, unknown fields, indented, keys repeated."""
    record, expected = draw(event_fields(user_ids, types))
    form = draw(st.sampled_from(["compact", "indented", "repeated-key"]))
    if form == "indented":
        raw = orjson.dumps(record, option=orjson.OPT_INDENT_2)
    elif form == "repeated-key":  # JSON lets a key repeat; the last one counts
        garbage = draw(_SCALARS | st.lists(_SCALARS, max_size=2))
        raw = b'{"user_id": ' + _dumps(garbage) + b", " + _dumps(record)[1:]
    else:
        raw = _dumps(record)
    return Case(f"valid:{form}", raw, fields=expected)


# -- hostile events: one thing broken in a valid one --------------------------

_BAD_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\x80", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
             b"\xe2\x82", b"\xf8\x88\x80\x80\x80"]


#: Ids for the events hostile cases break (drawing one is cheap; valid events draw any id).
_SOME_IDS = ["u1", "528769528", "i-7", "ユーザー", "مستخدم", "😀👍", "a b", "x" * 256, "é" * 256]
_BASE = st.fixed_dictionaries({
    "user_id": st.sampled_from(_SOME_IDS),
    "item_id": st.sampled_from(_SOME_IDS),
    "type": st.sampled_from(("view", "click", "add_to_cart", "purchase")),
    "ts": st.integers(int(LIMITS.min_ts), int(LIMITS.max_ts))
          | st.sampled_from(["2019-10-01T00:00:00Z", "2019-10-01 00:00:00 UTC"]),
})


def _base() -> st.SearchStrategy[dict[str, Any]]:
    """A small valid event to break: every required field present."""
    return _BASE


@st.composite
def random_bytes(draw: st.DrawFn) -> Case:
    raw = draw(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
    return Case("random-bytes", raw, reason=r".")


@st.composite
def invalid_utf8(draw: st.DrawFn) -> Case:
    raw = _dumps(draw(_base()))
    at = draw(st.integers(0, len(raw)))
    bad = draw(st.sampled_from(_BAD_UTF8))
    return Case("invalid-utf8", raw[:at] + bad + raw[at:], reason=r"^bad bytes: not UTF-8")


@st.composite
def truncated(draw: st.DrawFn) -> Case:
    raw = _dumps(draw(_base()))
    cut = draw(st.integers(0, len(raw) - 1))
    return Case("truncated", raw[:cut], reason=r"^(not JSON|bad bytes: not UTF-8)")


@st.composite
def non_finite(draw: st.DrawFn) -> Case:
    """NaN, Infinity and overflowing numbers are not JSON (orjson refuses them)."""
    record = draw(_base())
    field = draw(st.sampled_from(["ts", "value", "context"]))
    literal = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf",
                                    b"1e400", b"-1e999", b"1" + b"0" * 400]))
    record[field] = "__LITERAL__"
    raw = _dumps(record).replace(b'"__LITERAL__"', literal)
    return Case(f"non-finite:{field}", raw, reason=r"^not JSON")


@st.composite
def not_an_object(draw: st.DrawFn) -> Case:
    value = draw(st.lists(JSON, max_size=3) | _SCALARS)
    return Case("not-an-object", _dumps(value), reason=r"^not a JSON object: got ")


@st.composite
def deep_nesting(draw: st.DrawFn) -> Case:
    """Nested beyond the limit; beyond 1,024 levels orjson refuses it itself."""
    record = draw(_base())
    depth = draw(st.integers(LIMITS.max_nesting, 1500) | st.just(LIMITS.max_nesting))
    field = draw(st.sampled_from(["context", "extra", "user_id"]))
    record[field] = "__NEST__"
    if draw(st.booleans()):
        nested = b"[" * depth + b"]" * depth
    else:
        nested = b'{"a":' * depth + b"1" + b"}" * depth
    raw = _dumps(record).replace(b'"__NEST__"', nested)
    return Case("deep-nesting", raw,
                reason=r"^(too deeply nested: field |not JSON: depth limit exceeded)")


@st.composite
def huge_string(draw: st.DrawFn) -> Case:
    """A string (or key) over the string limit, the record itself under the size limit."""
    record = draw(_base())
    char = draw(st.sampled_from(["x", "é", "😀"]))
    length = draw(st.integers(LIMITS.max_string_length + 1, 60_000 // len(char.encode())))
    where = draw(st.sampled_from(["extra", "context", "key", *ID_FIELDS]))
    text = char * length
    if where == "context":
        record["context"] = {"note": text}
    elif where == "key":
        record["context"] = {text: 1}
    else:
        record[where] = text
    field = {"context": "context.note", "key": "context", "extra": "extra"}.get(where, where)
    return Case(f"huge-string:{where}", _dumps(record),
                reason=rf"^field {re.escape(field)}: (string|key) of {length} characters > limit")


@st.composite
def long_id(draw: st.DrawFn) -> Case:
    """An id over the id limit, under the string limit: refused by the schema."""
    record = draw(_base())
    field = draw(st.sampled_from(ID_FIELDS))
    record[field] = draw(long_text(LIMITS.max_id_length + 1, LIMITS.max_string_length))
    return Case(f"long-id:{field}", _dumps(record),
                reason=rf"^field {field}: must be shorter than or equal to "
                       rf"{LIMITS.max_id_length} characters")


@st.composite
def oversize(draw: st.DrawFn) -> Case:
    record = draw(_base())
    record["padding"] = ["x" * 1000] * draw(st.integers(LIMITS.max_bytes // 1000 + 1, 80))
    raw = _dumps(record)
    return Case("oversize", raw, reason=rf"^oversize event: {len(raw)} bytes > limit "
                                        rf"{LIMITS.max_bytes}$")


#: Values of the wrong type (or shape) for each field; every one is refused.
_WRONG: dict[str, list[Any]] = {
    "user_id": [None, 42, 1.5, True, [], {}, ["u1"], ""],
    "item_id": [42, 1.5, True, [], {"id": "i1"}, "", None],
    "type": [None, 5, "", "like", "VIEW", "view ", ["view"], "forget-user"],
    "ts": [None, True, False, [], {}, [1700000000], "yesterday at noon", "2019-13-45T99:00:00Z",
           "1700000000.5", "short", "x" * 41, -1, -0.001, -1e300, "2019-10-01T00:00:00+24:00"],
    "value": ["5", True, [], {}, "NaN"],
    "event_id": ["", 5, True, [], {}],
    "rec_id": [5, 1.5, False, [], {}],
    "session_id": [5, True, [], {"s": 1}],
    "context": [5, "context", [], [1, 2], True],
}


@st.composite
def wrong_type(draw: st.DrawFn) -> Case:
    record = draw(_base())
    field = draw(st.sampled_from(sorted(_WRONG)))
    record[field] = draw(st.sampled_from(_WRONG[field]))
    return Case(f"wrong-type:{field}", _dumps(record), reason=rf"^field {field}:")


@st.composite
def missing_field(draw: st.DrawFn) -> Case:
    record = draw(_base())
    field = draw(st.sampled_from(["user_id", "type", "ts", "item_id", "rating-value"]))
    if field == "rating-value":
        record["type"] = "rating"
        record.pop("value", None)
        field = "value"
    else:
        del record[field]
    return Case(f"missing:{field}", _dumps(record), reason=rf"^missing field {field}$")


@st.composite
def ts_out_of_window(draw: st.DrawFn) -> Case:
    """Far in the past (but after 1970) or far in the future: fixed bounds, not the clock."""
    record = draw(_base())
    early = st.floats(0, LIMITS.min_ts, exclude_max=True) | st.integers(0, int(LIMITS.min_ts) - 1)
    late = (st.floats(LIMITS.max_ts, exclude_min=True, allow_infinity=False)
            | st.integers(int(LIMITS.max_ts) + 1, 2**64 - 1))
    iso = st.datetimes(datetime(1970, 1, 2), datetime(1989, 12, 30)) | st.datetimes(
        datetime(2100, 1, 2), datetime(9999, 12, 30))
    form = draw(st.sampled_from(["early", "late", "iso", "huge-int"]))
    if form == "iso":
        record["ts"] = draw(iso).isoformat() + "Z"
    elif form == "huge-int":  # beyond 64 bits: orjson reads it as a float
        record["ts"] = "__HUGE__"
        raw = _dumps(record).replace(b'"__HUGE__"', str(draw(st.integers(2**64, 10**300))).encode())
        return Case("ts-window:huge-int", raw, reason=r"^field ts: .* outside the accepted")
    else:
        record["ts"] = draw(early if form == "early" else late)
    return Case(f"ts-window:{form}", _dumps(record), reason=r"^field ts: .* outside the accepted")


@st.composite
def control_in_id(draw: st.DrawFn) -> Case:
    record = draw(_base())
    field = draw(st.sampled_from(ID_FIELDS))
    control = draw(st.characters(categories=("Cc",)))
    value = draw(st.text(_ID_CHARS, max_size=10))
    at = draw(st.integers(0, len(value)))
    record[field] = value[:at] + control + value[at:]
    return Case(f"control:{field}", _dumps(record),
                reason=rf"^field {field}: control character U\+{ord(control):04X} in an id$")


@st.composite
def lone_surrogate(draw: st.DrawFn) -> Case:
    """A ``\\ud800``-style escape with no partner: not valid JSON text for orjson."""
    record = draw(_base())
    field = draw(st.sampled_from(["user_id", "item_id", "context"]))
    surrogate = draw(st.integers(0xD800, 0xDFFF))
    record[field] = "__SURROGATE__"
    raw = _dumps(record).replace(b"__SURROGATE__", f"a\\u{surrogate:04x}b".encode())
    return Case("lone-surrogate", raw, reason=r"^not JSON")


@st.composite
def odd_framing(draw: st.DrawFn) -> Case:
    """A byte-order mark, trailing garbage or a second document around a valid record."""
    raw = _dumps(draw(_base()))
    form = draw(st.sampled_from(["bom", "trailing", "two-documents", "nul"]))
    framed = {
        "bom": b"\xef\xbb\xbf" + raw,
        "trailing": raw + b" x",
        "two-documents": raw + raw,
        "nul": raw + b"\x00",
    }[form]
    return Case(f"framing:{form}", framed, reason=r"^not JSON")


def hostile_events() -> st.SearchStrategy[Case]:
    """Every kind of broken event, each with the reason it must get."""
    return st.one_of(
        random_bytes(), invalid_utf8(), truncated(), non_finite(), not_an_object(),
        deep_nesting(), huge_string(), long_id(), oversize(), wrong_type(), missing_field(),
        ts_out_of_window(), control_in_id(), lone_surrogate(), odd_framing(),
        st.just(Case("null-value", None, reason=r"^empty event: the record has no value$")),
    )


@st.composite
def event_cases(draw: st.DrawFn) -> Case:
    """Valid and hostile events, about one in five valid."""
    return draw(_VALID_EVENTS if draw(st.integers(0, 4)) == 0 else _HOSTILE_EVENTS)


_VALID_EVENTS = valid_events()
_HOSTILE_EVENTS = hostile_events()


# -- catalog items ------------------------------------------------------------


_ITEM_FIELDS = {
    "title": st.none() | st.text(max_size=60),
    "category": st.none() | st.text(max_size=40),
    "tags": st.none() | st.lists(st.text(_ID_CHARS, min_size=1, max_size=20), max_size=6)
            | st.just([f"tag-{n}" for n in range(LIMITS.max_tags)]),  # at the limit
    "price": st.none() | st.floats(0, 1e9) | st.integers(0, 2**63),
    "available": st.none() | st.booleans(),
    "attributes": st.none() | st.dictionaries(st.sampled_from(["brand", "colour"]), _SCALARS,
                                              max_size=2),
}


@st.composite
def item_fields(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    record: dict[str, Any] = {"item_id": draw(_IDS)}
    for name, values in _ITEM_FIELDS.items():
        if draw(st.booleans()):
            record[name] = draw(values)
    attributes = record.get("attributes") or {}
    brand = attributes.get("brand")
    expected = {
        "item_id": record["item_id"],
        "title": record.get("title"),
        "category": record.get("category") or None,
        "tags": tuple(dict.fromkeys(record.get("tags") or ())),
        "price": None if record.get("price") is None else float(record["price"]),
        "available": record.get("available") is not False,
        "brand": brand if isinstance(brand, str) and brand else None,
    }
    return record, expected


@st.composite
def valid_items(draw: st.DrawFn) -> Case:
    record, expected = draw(item_fields())
    return Case("valid-item", _dumps(record), fields=expected)


@st.composite
def hostile_items(draw: st.DrawFn) -> Case:
    record = draw(item_fields())[0]
    form = draw(st.sampled_from(["too-many-tags", "long-tag", "long-title", "deep-attributes",
                                 "control-id", "negative-price", "wrong-tags", "missing-id",
                                 "not-json", "invalid-utf8"]))
    if form == "too-many-tags":
        record["tags"] = [f"t{n}" for n in range(draw(st.integers(LIMITS.max_tags + 1, 500)))]
        reason = r"^field tags: must contain less than or equal to 64 items"
    elif form == "long-tag":
        record["tags"] = ["ok", "t" * draw(st.integers(129, LIMITS.max_string_length))]
        reason = r"^field tags\.1: must be shorter than or equal to 128 characters"
    elif form == "long-title":
        record["title"] = "T" * draw(st.integers(LIMITS.max_string_length + 1, 20_000))
        reason = r"^field title: string of \d+ characters > limit"
    elif form == "deep-attributes":
        deep: Any = "x"
        for _ in range(draw(st.integers(LIMITS.max_nesting, 200))):
            deep = {"brand": deep}
        record["attributes"] = deep
        reason = r"^too deeply nested: field attributes"
    elif form == "control-id":
        record["item_id"] = "i\u0085tem"  # NEL, a C1 control character
        reason = r"^field item_id: control character U\+0085 in an id$"
    elif form == "negative-price":
        record["price"] = -draw(st.floats(0.01, 1e9))
        reason = r"^field price:"
    elif form == "wrong-tags":
        record["tags"] = draw(st.sampled_from(["trail", 5, {"a": 1}, [1], [""], [None]]))
        reason = r"^field tags"
    elif form == "missing-id":
        del record["item_id"]
        reason = r"^missing field item_id$"
    elif form == "not-json":
        return Case("item:not-json", _dumps(record)[:-1], reason=r"^not JSON")
    else:
        return Case("item:invalid-utf8", b"\xff" + _dumps(record), reason=r"^bad bytes")
    return Case(f"item:{form}", _dumps(record), reason=reason)


@st.composite
def item_cases(draw: st.DrawFn) -> Case:
    """Valid and hostile catalog items, about half valid."""
    return draw(_VALID_ITEMS if draw(st.booleans()) else _HOSTILE_ITEMS)


_VALID_ITEMS = valid_items()
_HOSTILE_ITEMS = hostile_items()
