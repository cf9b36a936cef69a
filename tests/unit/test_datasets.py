"""Dataset files into input records: tiny inline fixtures, then the real files."""

from __future__ import annotations

import gzip
import itertools
from collections import Counter
from pathlib import Path

import pytest

from engine.datasets import DatasetError, Record, detect_format, read_records
from engine.errors import EngineError

DATA = Path(__file__).parents[2].parent / "shared" / "data"
REES46 = DATA / "rees46_ecommerce_oct2019_head"
YOOCHOOSE = DATA / "yoochoose_rsc15_100k_sample"

REES46_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
)
REES46_ROWS = (
    "2019-10-01 00:00:00 UTC,view,100,7,electronics.smartphone,apple,10.00,1,s1\n"
    "2019-10-01 00:00:01 UTC,cart,100,7,electronics.smartphone,apple,10.00,1,s1\n"
    "2019-10-01 00:00:01 UTC,remove_from_cart,100,7,electronics.smartphone,apple,10.00,1,s1\n"
    "2019-10-01 00:00:02 UTC,view,200,8,,,5.50,2,\n"
    "2019-10-01 00:00:03 UTC,purchase,100,7,electronics.smartphone,apple,9.00,1,s1\n"
    "2019-10-01 00:00:03 UTC,purchase,100,7,electronics.smartphone,apple,9.00,1,s1\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def events(records: list[Record]) -> list[dict[str, object]]:
    return [r.value for r in records if r.topic == "clickstream" and r.value is not None]


# -- REES46 -------------------------------------------------------------------


def test_rees46_maps_types_and_skips_remove_from_cart(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", REES46_HEADER + REES46_ROWS)
    assert detect_format(path) == "rees46"
    evs = events(list(read_records(path)))
    assert [e["type"] for e in evs] == ["view", "add_to_cart", "view", "purchase", "purchase"]
    first = evs[0]
    assert first["user_id"] == "1" and first["item_id"] == "100"
    assert first["ts"] == 1569888000.0 and first["session_id"] == "s1"
    assert first["value"] is None and evs[3]["value"] == 9.0
    assert evs[2]["session_id"] is None


def test_rees46_event_ids_are_stable_and_equal_for_duplicate_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", REES46_HEADER + REES46_ROWS)
    ids = [e["event_id"] for e in events(list(read_records(path)))]
    assert ids == [e["event_id"] for e in events(list(read_records(path)))]
    assert ids[3] == ids[4]  # the exact duplicate row
    assert len(set(ids)) == 4
    assert all(isinstance(i, str) and i.startswith("rees46-") for i in ids)


def test_rees46_catalog_before_first_use_and_again_on_change(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", REES46_HEADER + REES46_ROWS)
    records = list(read_records(path))
    assert [(r.topic, r.key) for r in records] == [
        ("catalog", "100"),
        ("clickstream", "1"),
        ("clickstream", "1"),
        ("catalog", "200"),
        ("clickstream", "2"),
        ("catalog", "100"),  # its price changed from 10.00 to 9.00
        ("clickstream", "1"),
        ("clickstream", "1"),
    ]
    assert records[0].value == {
        "item_id": "100",
        "title": None,
        "category": "electronics/smartphone",
        "tags": ["apple"],
        "price": 10.0,
        "available": True,
        "attributes": {"brand": "apple"},
    }
    no_brand = records[3].value
    assert no_brand is not None
    assert no_brand["category"] == "category/8"
    assert no_brand["tags"] == [] and no_brand["attributes"] == {}
    assert records[5].value is not None and records[5].value["price"] == 9.0


def test_limit_counts_events_and_emits_no_catalog_past_it(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", REES46_HEADER + REES46_ROWS)
    records = list(read_records(path, limit=2))
    assert [r.topic for r in records] == ["catalog", "clickstream", "clickstream"]
    assert list(read_records(path, limit=0)) == []


def test_gzip_is_read_transparently(tmp_path: Path) -> None:
    plain = write(tmp_path, "events.csv", REES46_HEADER + REES46_ROWS)
    packed = write(tmp_path, "events.csv.gz", REES46_HEADER + REES46_ROWS)
    assert detect_format(packed) == "rees46"
    assert list(read_records(packed)) == list(read_records(plain))


def test_bad_rees46_row_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", REES46_HEADER + "2019-10-01 00:00:00 UTC,view,1\n")
    with pytest.raises(DatasetError, match=r"events\.csv:2"):
        list(read_records(path))


# -- YOOCHOOSE ----------------------------------------------------------------

YOOCHOOSE_TEXT = "SessionId\tItemId\tTime\n1\t10\t30.0\n1\t11\t40.5\n2\t10\t20.0\n2\t12\t30.0\n"


def test_yoochoose_is_sorted_stably_by_time(tmp_path: Path) -> None:
    path = write(tmp_path, "clicks.txt", YOOCHOOSE_TEXT)
    assert detect_format(path) == "yoochoose"
    records = list(read_records(path))
    evs = events(records)
    assert [(e["user_id"], e["item_id"], e["ts"]) for e in evs] == [
        ("2", "10", 20.0),
        ("1", "10", 30.0),  # ties keep file order
        ("2", "12", 30.0),
        ("1", "11", 40.5),
    ]
    assert all(e["type"] == "click" and e["session_id"] == e["user_id"] for e in evs)
    catalog = [r for r in records if r.topic == "catalog"]
    assert [r.key for r in catalog] == ["10", "12", "11"]
    assert catalog[0].value == {"item_id": "10", "available": True}


def test_a_directory_reads_all_its_data_files_together(tmp_path: Path) -> None:
    write(tmp_path, "b_test.txt", "SessionId\tItemId\tTime\n9\t10\t5.0\n")
    write(tmp_path, "a_train.txt", YOOCHOOSE_TEXT)
    write(tmp_path, "README.md", "# not data\n")
    evs = events(list(read_records(tmp_path)))
    assert [e["ts"] for e in evs] == [5.0, 20.0, 30.0, 30.0, 40.5]


def test_unknown_format_is_a_dataset_error(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        detect_format(path)
    with pytest.raises(DatasetError, match="empty"):
        detect_format(write(tmp_path, "empty.txt", ""))
    with pytest.raises(DatasetError, match="no such file"):
        detect_format(tmp_path / "missing.csv")
    assert issubclass(DatasetError, EngineError) and issubclass(DatasetError, ValueError)


# -- JSON Lines ---------------------------------------------------------------


def test_jsonl_is_replayed_as_is(tmp_path: Path) -> None:
    lines = [
        '{"catalog": {"item_id": "i7", "category": "shoes"}}',
        '{"item_id": "i8", "price": 3}',
        "",
        '{"user_id": "u1", "item_id": "i7", "type": "view", "ts": 5, "extra": 1}',
        '{"catalog": null, "item_id": "i8"}',
        '{"user_id": "u1", "type": "forget_user", "ts": 2}',
    ]
    path = write(tmp_path, "events.jsonl", "\n".join(lines) + "\n")
    assert detect_format(path) == "jsonl"
    assert list(read_records(path)) == [
        Record("catalog", "i7", {"item_id": "i7", "category": "shoes"}),
        Record("catalog", "i8", {"item_id": "i8", "price": 3}),
        Record(
            "clickstream",
            "u1",
            {"user_id": "u1", "item_id": "i7", "type": "view", "ts": 5, "extra": 1},
        ),
        Record("catalog", "i8", None),
        Record("clickstream", "u1", {"user_id": "u1", "type": "forget_user", "ts": 2}),
    ]
    assert [r.topic for r in read_records(path, limit=1)] == ["catalog", "catalog", "clickstream"]
    assert list(read_records(path, limit=0)) == []


@pytest.mark.parametrize(
    "bad",
    ["{not json", "[1, 2]", '{"type": "view", "item_id": "i1"}', '{"ts": 1}', '{"catalog": 3}'],
)
def test_a_jsonl_line_that_is_no_contract_record_is_passed_on_as_it_was(
    tmp_path: Path, bad: str
) -> None:
    path = write(tmp_path, "events.jsonl", '{"item_id": "i1"}\n' + bad + "\n")
    _, record = read_records(path)
    assert (record.topic, record.key, record.value) == ("clickstream", None, None)
    assert record.payload() == bad.encode()  # the worker dead-letters it with its reason
    assert record.problem is not None and record.problem.startswith(f"{path}:2: ")


def test_unreadable_lines_do_not_count_as_events_for_the_limit(tmp_path: Path) -> None:
    event = '{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1}'
    path = write(tmp_path, "events.jsonl", f"{{\"item_id\": \"i1\"}}\nnot json\n{event}\n{event}\n")
    assert [r.problem is None for r in read_records(path, limit=1)] == [True, False, True]


# -- the real files (skipped when /work/shared/data is absent) ----------------


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"dataset not available: {path}")
    return path


def assert_time_ordered(evs: list[dict[str, object]]) -> None:
    ts = [float(e["ts"]) for e in evs]  # type: ignore[arg-type]
    assert all(a <= b for a, b in itertools.pairwise(ts))


def test_real_rees46_counts() -> None:
    path = require(REES46)
    assert detect_format(path) == "rees46"
    records = list(read_records(path))
    evs = events(records)
    assert Counter(e["type"] for e in evs) == {"view": 9784, "add_to_cart": 97, "purchase": 118}
    assert len({r.key for r in records if r.topic == "catalog"}) == 4148
    assert len({e["user_id"] for e in evs}) == 2867
    assert_time_ordered(evs)
    assert len({e["event_id"] for e in evs}) == 9995  # four rows are exact duplicates


def test_real_yoochoose_counts() -> None:
    path = require(YOOCHOOSE)
    assert detect_format(path) == "yoochoose"
    records = list(read_records(path))
    evs = events(records)
    assert len(evs) == 83846
    assert len({r.key for r in records if r.topic == "catalog"}) == 2933
    assert len({e["session_id"] for e in evs}) == 21210
    assert_time_ordered(evs)
    test_only = events(list(read_records(path / "yoochoose-clicks-100k_test.txt")))
    assert len(test_only) == 13568
