"""Matcher and decision suites: the engine's own tests of bench/test_bench_engine.py, run
for the sizes asked, with the per-transaction cost drawn against the number of rules.

matcher: compiled ``match`` and the reference evaluator (<= 10,000 rules) one transaction
at a time, batch matching of encoded arrays, table memory.  decision: match + walk with
in-memory counters.  The checks are the engine suite's own (``engine_checks``).
"""

from __future__ import annotations

import gc

from bench import test_bench_engine as engine
from bench.adapters import Benchmark, FiguresBridge
from bench.harness import Results, RunOptions

COST = "matcher:cost"
BATCH = "matcher:batch"


def cost_chart(results: Results) -> None:
    results.chart(COST, "Per-transaction matching cost against programme size",
                  "rules in the programme", "µs per transaction", log_x=True, log_y=True)
    results.chart(BATCH, "One transaction at a time against batch",
                  "rules in the programme", "µs per transaction", log_x=True, log_y=True)


def run_matcher(results: Results, options: RunOptions) -> None:
    cost_chart(results)
    bridge = FiguresBridge(results)
    bench = Benchmark(rounds=7 if options.quick else 15, scale=0.3 if options.quick else 1.0)
    for n in options.sizes:
        engine.test_match_compiled(bench, bridge, n)
        compiled_us = bridge.values[f"match µs/txn compiled {n:>7}"]
        results.point(COST, "Tessera compiled", n, compiled_us)
        results.point(BATCH, "Tessera, one at a time", n, compiled_us)
        if n <= 10_000:
            engine.test_match_reference(bench, bridge, n)
            results.point(COST, "Tessera reference", n,
                          bridge.values[f"match µs/txn reference {n:>6}"])
        engine.test_batch(bench, bridge, n)
        results.point(BATCH, "Tessera batch (encoded arrays)", n,
                      1e6 / bridge.values[f"batch txn/s {n:>7}"])
    engine.engine_checks(_only(bridge, ("match", "batch", "tables")))


def run_decision(results: Results, options: RunOptions) -> None:
    bridge = FiguresBridge(results)
    bench = Benchmark(rounds=7 if options.quick else 15)
    results.chart("decision:cost", "Whole decision (match + walk) against programme size",
                  "rules in the programme", "µs per transaction", log_x=True)
    for n in options.sizes:
        engine.test_decide(bench, bridge, n)
        results.point("decision:cost", "match + walk", n,
                      bridge.values[f"decision µs/txn {n:>7}"])
    engine.engine_checks(_only(bridge, ("decision",)))


def run_compile(results: Results, options: RunOptions) -> None:
    # The matcher suite's programmes (up to 100,000 rules, frozen for the whole run) are let
    # go first: with millions of their objects resident every allocation of a compile is
    # slower (about a fifth at 10,000 rules), which is this process's state, not the
    # compiler's; a serving process holds its few versions, not a benchmark's four sizes.
    engine.compiled.cache_clear()
    gc.collect()
    bridge = FiguresBridge(results)
    bench = Benchmark(scale=0.34 if options.quick else 1.0)
    results.chart("activation:compile", "Compile time against programme size",
                  "rules in the programme", "seconds", log_x=True, log_y=True)
    for n in options.sizes:
        engine.test_compile(bench, bridge, n)
        results.point("activation:compile", "source → tables", n,
                      bridge.values[f"compile s {n:>7}"])
    engine.engine_checks(_only(bridge, ("compile",)))


class _only(FiguresBridge):
    """The engine checks, limited to the figures of one suite (each suite checks its own)."""

    def __init__(self, bridge: FiguresBridge, prefixes: tuple[str, ...]) -> None:
        super().__init__(bridge.results)
        self.values = {k: v for k, v in bridge.values.items() if k.startswith(prefixes)}
