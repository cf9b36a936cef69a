"""CPU per event of the pure core, in process, and where a list's time goes.

Replays a dataset through the engine's own functions in a worker's order
(``Simulation(worker_order=True)``: decode, handle the event, rank and
remember the list, the item side), with no broker and no Faust, and prints
the CPU time per event (best of ``--repeat`` runs). Then, on the state the
replay left, it times each step of ranking one list over a sample of users.
Compare two versions of the code by running this script from each checkout
on the same machine, interleaved (``PYTHONPATH=<checkout>``).

    .venv/bin/python benchmarks/core_cpu.py ../shared/data/rees46_ecommerce_oct2019_head
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Iterable

import orjson

from engine.candidates import SOURCES
from engine.datasets import Record, read_records
from engine.events import decode_event, decode_item
from engine.features import candidate_features, feature_table
from engine.pipeline import EngineConfig, rank_list
from engine.profiles import Profile
from engine.ranking import blend_pool
from engine.settings import load_settings
from engine.simulation import Simulation


def replay(records: Iterable[Record], config: EngineConfig,
           sim: Simulation | None = None) -> tuple[Simulation, float]:
    """The records through ``sim`` (a fresh engine by default); returns it and the CPU µs per event.

    ``sim`` must keep a worker's order (``worker_order=True``).
    """
    sim = sim or Simulation(config, worker_order=True)
    limits = config.input_limits
    events = 0
    started = time.process_time()
    for record in records:
        raw = orjson.dumps(record.value) if record.value is not None else None
        if record.topic == "catalog":
            if raw is None:
                sim.remove_item(record.key)
            else:
                sim.add_item(decode_item(raw, limits))
        else:
            sim.apply(decode_event(raw, limits))
            events += 1
    return sim, (time.process_time() - started) / max(events, 1) * 1e6


def per_profile(profiles: list[Profile], step: Callable[[Profile], object],
                repeat: int = 3) -> float:
    """CPU µs of ``step`` per profile, best of ``repeat`` passes."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for profile in profiles:
            step(profile)
        best = min(best, (time.process_time() - started) / len(profiles) * 1e6)
    return best


def profile_memory(records: list[Record], config: EngineConfig) -> tuple[int, float]:
    """Profiles after a replay, and the Python memory each holds on average (bytes):
    what ``tracemalloc`` sees freed when they are dropped."""
    tracemalloc.start()
    try:
        sim, _cost = replay(records, config)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        count = len(sim.profiles)
        sim.profiles.clear()
        gc.collect()
        return count, (held - tracemalloc.get_traced_memory()[0]) / max(count, 1)
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a dataset engine evaluate reads")
    parser.add_argument("--limit", type=int, default=None, help="first N events only")
    parser.add_argument("--repeat", type=int, default=3, help="replays; the best counts")
    parser.add_argument("--users", type=int, default=400, help="users timed per step")
    args = parser.parse_args()
    config = EngineConfig.from_settings(load_settings())
    records = list(read_records(args.path, limit=args.limit))
    runs = [replay(records, config) for _ in range(args.repeat)]
    sim = runs[-1][0]
    print(f"core, whole event: {min(cost for _, cost in runs):,.0f} CPU µs/event "
          f"(runs: {', '.join(f'{cost:,.0f}' for _, cost in runs)})")

    world, ranker = sim.world, sim.ranker
    chosen = random.Random(1).sample(sorted(sim.profiles), min(args.users, len(sim.profiles)))
    profiles = [sim.profiles[user] for user in chosen]
    active = {name: source for name, source in SOURCES.items() if config.weights.get(name, 0) > 0}
    size = max(config.top_n, config.ranker.pool)

    def candidates(profile: Profile) -> dict[str, list]:  # type: ignore[type-arg]
        return {name: source(profile, world, config.pool) for name, source in active.items()}

    made = {profile.user_id: candidates(profile) for profile in profiles}
    pools = {profile.user_id: blend_pool(made[profile.user_id], set(profile.purchased),
                                         world.is_recommendable, config.weights, size)
             for profile in profiles}
    tables = {user: feature_table(pool, sim.profiles[user], world)
              for user, pool in pools.items()}
    steps: list[tuple[str, Callable[[Profile], object]]] = [
        ("rank a list (rank_list)", lambda p: rank_list(
            p, p.user_id, world, config, trigger_event_id="e", now=0.0, ranker=ranker)),
        *((f"  source {name}", lambda p, s=source: s(p, world, config.pool))
          for name, source in active.items()),
        ("  blend pool", lambda p: blend_pool(made[p.user_id], set(p.purchased),
                                              world.is_recommendable, config.weights, size)),
        ("  candidate features", lambda p: candidate_features(pools[p.user_id], p, world)),
        ("  ranker scores", lambda p: ranker.scores(tables[p.user_id])),
        ("profile JSON", lambda p: orjson.dumps(p.to_dict())),
    ]
    for name, step in steps:
        print(f"{name:32s} {per_profile(profiles, step):8,.1f} CPU µs")
    size_bytes = sum(len(orjson.dumps(p.to_dict())) for p in profiles) / len(profiles)
    print(f"profile JSON size: {size_bytes:,.0f} bytes on average")
    count, memory = profile_memory(records, config)
    print(f"profile Python memory: {memory:,.0f} bytes on average ({count:,} profiles)")


if __name__ == "__main__":
    main()
