"""Rebalance and routing under load: workers join and leave, answers never go back in time.

One worker runs, a second joins, the first leaves, a third joins, all while
events flow. A reader asks every worker alive for a sample of users'
profiles the whole time. A user's event count, as observed through any
worker, must never go down: an answer from a table that has not caught up
after its partition moved would (a stale read). At the end every user's
counts equal the truth, asked of any worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from pathlib import Path

import orjson
from contract_client import (
    Member,
    isolated_settings,
    mismatches,
    paced_producer,
    produce,
    truth_from,
    wait_for,
)

from engine.datasets import read_records
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker
from engine.stream.child_worker import get_json

REES46 = Path(__file__).resolve().parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
EVENTS = 6000
SAMPLE = 40


class MonotonicReader:
    """Reads the sampled users' profiles through the given workers and keeps what it saw."""

    def __init__(self, users: list[str]) -> None:
        self.users = users
        self.bases: list[str] = []
        self.highest: dict[str, int] = {}
        self.went_back: list[tuple[str, str, int, int]] = []
        self.answers = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for base in list(self.bases):
                for user in self.users:
                    with contextlib.suppress(OSError, ValueError):
                        status, body = get_json(f"{base}/users/{user}/profile", timeout=20)
                        if status != 200:
                            continue
                        self.answers += 1
                        total = sum(body["counts"].values())
                        if total < self.highest.get(user, 0):
                            self.went_back.append((base, user, self.highest[user], total))
                        self.highest[user] = max(self.highest.get(user, 0), total)
            time.sleep(0.05)


def test_workers_join_and_leave_under_load_and_reads_never_go_back(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker.url, "rebalance", tmp_path / "data",
                                 commit_interval=0.5, standby_replicas=1)
    asyncio.run(create_topics(settings))
    records = list(read_records(REES46, limit=EVENTS))
    produce(settings, settings.topic("catalog"),
            [(r.key.encode(), orjson.dumps(r.value)) for r in records if r.topic == "catalog"])
    events = [r.value for r in records if r.topic == "clickstream" and r.value is not None]
    truth, _ = truth_from(records)
    busiest = sorted(truth, key=lambda u: -sum(truth[u].values()))[:SAMPLE]
    reader = MonotonicReader(busiest)

    first, second, third = (Member(settings, tmp_path, name) for name in ("a", "b", "c"))
    def base(member: Member) -> str:
        return f"http://127.0.0.1:{member.settings.web_port}"

    try:
        first.start()
        reader.bases = [base(first)]
        threading.Thread(target=reader.run, daemon=True).start()
        produced = threading.Event()
        paced_producer(settings, events, produced, 300)
        time.sleep(5)
        second.start()  # joins: partitions move from the first to it
        reader.bases = [base(first), base(second)]
        time.sleep(5)
        reader.bases = [base(second)]
        first.kill(signal.SIGTERM)  # leaves: its partitions move to the second
        time.sleep(3)
        third.start()
        reader.bases = [base(second), base(third)]
        assert produced.wait(timeout=300)
        worker = third.worker()
        wait_for(lambda: not mismatches(worker, truth), 180, "profiles to match", quiet=True)
        reader.stop.set()
        assert mismatches(worker, truth) == []
        assert mismatches(second.worker(), dict(list(truth.items())[:100])) == []
    finally:
        reader.stop.set()
        for member in (first, second, third):
            member.close()
    assert reader.answers > 100, "the reader saw too little to judge"
    assert reader.went_back == [], f"stale reads: {reader.went_back[:5]}"
