#!/usr/bin/env bash
cd "$(dirname "$0")/.." && exec ./dev engine bench --events 20000 --out benchmarks/results/reference.json "$@"
