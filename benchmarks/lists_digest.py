"""A digest of everything a replay publishes: to show that a change keeps behaviour.

Replays a dataset through the pure core in a worker's order (the replay of
``benchmarks/core_cpu.py``) and hashes every published list, and the profile
that remembers it, in order. Two checkouts that print the same digests
published the same lists, byte for byte. Run it from each checkout:

    PYTHONPATH=<checkout> .venv/bin/python benchmarks/lists_digest.py \
        ../shared/data/rees46_ecommerce_oct2019_head
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

import orjson
from core_cpu import replay

from engine.datasets import read_records
from engine.pipeline import EngineConfig
from engine.settings import load_settings
from engine.simulation import Simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a dataset engine evaluate reads")
    parser.add_argument("--limit", type=int, default=None, help="first N events only")
    args = parser.parse_args()
    config = EngineConfig.from_settings(load_settings())
    lists, profiles = hashlib.blake2b(), hashlib.blake2b()
    published = 0

    def digest(listing: dict[str, Any]) -> None:
        nonlocal published
        published += 1
        lists.update(orjson.dumps(listing))
        profiles.update(orjson.dumps(sim.profiles[listing["user_id"]].to_dict()))

    sim = Simulation(config, worker_order=True, on_list=digest)
    replay(read_records(args.path, limit=args.limit), config, sim)
    print(f"{published:,} lists  lists {lists.hexdigest()[:16]}  "
          f"profiles {profiles.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
