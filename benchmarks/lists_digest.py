"""A digest of everything a replay publishes: to show that a change keeps behaviour.

Replays a dataset through the pure core in a worker's order (as
``benchmarks/core_cpu.py`` does) and hashes every published list and every
profile as stored, in order. Two checkouts that print the same digest
published the same lists, byte for byte. Run it from each checkout:

    PYTHONPATH=<checkout> .venv/bin/python benchmarks/lists_digest.py \
        ../shared/data/rees46_ecommerce_oct2019_head
"""

from __future__ import annotations

import argparse
import hashlib

import orjson

from engine.datasets import read_records
from engine.events import decode_event, decode_item
from engine.pipeline import EngineConfig, handle_event, publish_list
from engine.settings import load_settings
from engine.simulation import Simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a dataset engine evaluate reads")
    parser.add_argument("--limit", type=int, default=None, help="first N events only")
    args = parser.parse_args()
    config = EngineConfig.from_settings(load_settings())
    sim = Simulation(config, worker_order=True)
    lists, profiles = hashlib.blake2b(), hashlib.blake2b()
    published = 0
    for offset, record in enumerate(read_records(args.path, limit=args.limit)):
        raw = orjson.dumps(record.value) if record.value is not None else None
        if record.topic == "catalog":
            if raw is None:
                sim.remove_item(record.key)
            else:
                sim.add_item(decode_item(raw, config.input_limits))
            continue
        event = decode_event(raw, config.input_limits)
        outcome = handle_event(sim.profiles.get(event.user_id), event, sim.world, config,
                               (0, offset), ranker=sim.ranker, mf=sim.mf)
        if outcome.status == "duplicate":
            continue
        if outcome.profile is None:  # forgotten
            sim.profiles.pop(event.user_id, None)
            sim._apply_item_side(outcome.erased)  # noqa: SLF001
            continue
        profile = outcome.profile
        if outcome.publish:
            profile, listing = publish_list(profile, event.user_id, sim.world, config,
                                            trigger_event_id=event.event_id, now=event.ts,
                                            ranker=sim.ranker, mf=sim.mf)
            lists.update(orjson.dumps(listing))
            published += 1
        sim.profiles[event.user_id] = profile
        profiles.update(orjson.dumps(profile.to_dict()))
        sim._apply_item_side(outcome.pairs)  # noqa: SLF001 - the worker's order
    print(f"{published:,} lists  lists {lists.hexdigest()[:16]}  "
          f"profiles {profiles.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
