"""``engine bench``: the engine's throughput, latency and memory, next to two baselines.

One run, one embedded Tansu broker (its own, on a free port: ``settings.broker``
is ignored), one set of events: the bundled REES46 sample, repeated with
remapped user and event ids (``-r1``, ``-r2``, ...) and event times shifted by
the sample's span when more events are asked for than it holds (9,999).
Catalog items are produced once. Everything else comes from ``settings``
(partitions, fetch wait, session timeout, ...), under a fresh app id and
fresh topic names.

Throughput, over the same pre-filled clickstream topic:

(a) **raw ceiling**: in this process, a group-less aiokafka consumer
    (``fetch_max_wait_ms`` 10) → ``orjson.loads`` → ``orjson.dumps`` → an
    aiokafka producer; events / (first batch received → last record handed
    to the producer and flushed).
(b) **Faust consume only**: a minimal Faust app in a child process, one agent
    that only counts (raw serializers, the engine's transport, so the same
    fetch wait); events / (first message in the agent → N-th message), as
    the child reports it in a small JSON file.
(b') **Faust pass-through**: the same app, whose agent also hands each event's
    key and value to the producer for an output topic (the call the worker
    sends its lists with; the worker's producer batch size and linger) and
    flushes after the N-th: the ceiling of any Faust design that publishes
    one record per event. (b')/(b) is the share of (b) such a design keeps.
(c) **engine**: ``engine worker`` in a child process, catalog and events
    produced before it starts; events / (first ``/stats`` poll that shows
    progress → all processed), counting ``events_processed +
    duplicates_skipped + dead_lettered`` and subtracting what was already
    done at the first poll. Polls every 0.1 s.

CPU µs/event is the process's CPU time (user + system, all threads) over the
same interval, per event: it shows how far a path is from one core.

Latency (d), on the same worker once caught up: for each rate, new events
(the sample's, with fresh user and event ids and later event times) are
produced at that fixed rate for ``latency_seconds``; a group-less consumer of
the recommendations topic (``fetch_max_wait_ms`` 10) matches lists to events
by ``trigger_event_id``. Producer and consumer are tasks of one event loop in
this process, so both timestamps come from the same ``time.time()``. Reported:
p50/p95/p99/max of (list received - event sent) in ms, the share of events
whose list was seen (an event that changes nothing publishes none), and the
shares of a core the worker and the broker used.

The latency floor (d0): just before each latency step, the same events go
through a raw aiokafka pass-through in a child process (its own topics; the
worker's fetch wait, linger and batch size; uvloop), measured the same way:
what the broker, the clients and the fetch waits alone cost at that rate. The
report prints the engine's p99 over the floor's.

Memory (e): the worker's VmRSS after (c) and after each latency step.

Nothing here asserts a timing: it measures and reports.

Modules, one idea each: :mod:`.data` (the events), :mod:`.kafka` (broker
plumbing), :mod:`.process` (CPU time and RSS from ``/proc``), :mod:`.children`
(child processes on a JSON config), :mod:`.ceilings`
((a), (b) and (b')), :mod:`.worker` ((c)), :mod:`.pass_through` ((d0)),
:mod:`.latency` ((d0), (d) and (e)),
:mod:`.report` (ratios and tables) and :mod:`.run` (one whole run).
"""

from engine.stream.bench.ceilings import faust_sink_main
from engine.stream.bench.data import BenchData, bench_data, repeated_events
from engine.stream.bench.process import cpu_seconds, rss_mb
from engine.stream.bench.run import run_bench

__all__ = [
    "BenchData", "bench_data", "cpu_seconds", "faust_sink_main", "repeated_events", "rss_mb",
    "run_bench",
]
