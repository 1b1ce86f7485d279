"""Peers suite: zen-engine and rule-engine on the same generated programmes and
transactions as Tessera, in the same run (translation in bench/peers.py).

For each size: first every engine's matches are compared with Tessera's on a sample (a
difference fails the suite: a figure of an engine that answers something else means
nothing), then one transaction at a time is timed for Tessera and zen in alternating
batches, then batches (Tessera's ``encode_batch`` + ``match_batch`` from Python objects
against ``ZenEngine.evaluate_batch``), then rule-engine on a few transactions (it takes
tens of milliseconds each).  Every peer figure is also given as a ratio to Tessera's.
"""

from __future__ import annotations

import itertools
import statistics
import time

from bench import test_bench_engine as engine
from bench.harness import Results, RunOptions, each_call, interleaved
from bench.peers import Facts, RuleEnginePeer, ZenPeer, mismatches
from bench.suite_engine import BATCH, COST, cost_chart

TARGETS = {1_000: 30.0, 10_000: 200.0}  # zen / Tessera, one transaction at a time
BATCH_TARGET = 100.0  # zen's batch / Tessera's batch
RULE_ENGINE_MAX = 1_000  # rules; beyond, one transaction takes seconds


class PeerMismatch(AssertionError):
    """A peer's matches differ from Tessera's on the sample."""


def run(results: Results, options: RunOptions) -> None:
    cost_chart(results)
    for n in options.sizes:
        if n > 10_000 and options.quick:
            continue
        _size(results, options, n)


def _size(results: Results, options: RunOptions, n: int) -> None:
    compiled = engine.compiled(n)
    workload = engine.workload()
    sample = 100 if options.quick else 300
    # Spread over the whole workload: transactions are in time order, and the offers live
    # in windows, so the first few hundred alone would see fewer active rules.
    pairs = workload[:: max(1, len(workload) // sample)][:sample]
    facts_of = Facts(compiled.program)
    facts = [facts_of(t, m) for t, m in pairs]
    expected = [list(compiled.match(t, m)) for t, m in pairs]

    t0 = time.perf_counter()
    zen = ZenPeer(compiled.program)
    results.record(f"peers zen-engine table build s {n}", time.perf_counter() - t0, "s")
    _same("zen-engine", n, expected, [zen.match(f) for f in facts])
    _same("zen-engine batch", n, expected, zen.match_batch(facts))

    # One at a time, alternating so that both see the same machine.
    tessera_pairs = itertools.cycle(pairs)
    zen_facts = itertools.cycle(facts)
    zen_decision_facts = itertools.cycle(facts)
    match = compiled.match

    def tessera_one():
        t, m = next(tessera_pairs)
        return match(t, m)

    timed = interleaved(
        {
            "tessera": tessera_one,
            "zen": lambda: zen.evaluate(next(zen_facts)),
            "zen decision": lambda: zen.evaluate_decision(next(zen_decision_facts)),
        },
        rounds=5 if options.quick else 11,
    )
    tessera_us = results.record(f"peers Tessera µs/txn {n}", timed["tessera"] * 1e6, "µs")
    zen_us = results.record(f"peers zen-engine µs/txn {n}", timed["zen"] * 1e6, "µs",
                            note="ZenEngine.evaluate by key, compiled content")
    results.record(f"peers zen-engine decision.evaluate µs/txn {n}",
                   timed["zen decision"] * 1e6, "µs")
    ratio = results.record(f"peers zen-engine / Tessera one at a time {n}", zen_us / tessera_us,
                           "x")
    if n in TARGETS:
        results.check(f"zen-engine / Tessera, one at a time, {n:,} rules (x)", ratio, ">=",
                      TARGETS[n])
    results.point(COST, "zen-engine", n, zen_us)
    results.point(COST, "Tessera compiled, peers' sample", n, tessera_us)
    results.point(BATCH, "zen-engine, one at a time", n, zen_us)

    # Batches of the same transactions.
    size = min(len(facts), 100 if n >= 10_000 else 300)
    batch_pairs = (pairs * 10)[: size * 10]  # the sample, ten times
    txns, members = [t for t, _ in batch_pairs], [m for _, m in batch_pairs]
    matcher = compiled.matcher
    rounds = 3 if options.quick else 7
    tessera_batch = statistics.median(
        _seconds(lambda: matcher.match_batch(matcher.encode_batch(txns, members)))
        for _ in range(rounds)
    ) / len(txns)
    encoded = matcher.encode_batch(txns, members)
    tessera_encoded = statistics.median(
        _seconds(lambda: matcher.match_batch(encoded)) for _ in range(rounds)
    ) / len(txns)
    zen_batch = statistics.median(
        _seconds(lambda: zen.evaluate_batch(facts[:size])) for _ in range(rounds)
    ) / size
    tb = results.record(f"peers Tessera batch µs/txn {n}", tessera_batch * 1e6, "µs",
                        note="encode_batch + match_batch from Python objects")
    results.record(f"peers Tessera batch encoded µs/txn {n}", tessera_encoded * 1e6, "µs")
    zb = results.record(f"peers zen-engine batch µs/txn {n}", zen_batch * 1e6, "µs")
    batch_ratio = results.record(f"peers zen-engine batch / Tessera batch {n}", zb / tb, "x")
    if n in TARGETS:
        results.check(f"zen-engine batch / Tessera batch, {n:,} rules (x)", batch_ratio, ">=",
                      BATCH_TARGET)
    results.point(BATCH, "zen-engine batch", n, zb)
    results.point(BATCH, "Tessera batch from objects", n, tb)

    if n <= RULE_ENGINE_MAX:
        t0 = time.perf_counter()
        peer = RuleEnginePeer(compiled.program)
        results.record(f"peers rule-engine build s {n}", time.perf_counter() - t0, "s")
        few = 10 if n >= 1_000 else 40
        _same("rule-engine", n, expected[:few], [peer.match(f) for f in facts[:few]])
        cycle = itertools.cycle(facts[:few])
        re_us = statistics.median(each_call(lambda: peer.match(next(cycle)), few)) * 1e6
        results.record(f"peers rule-engine µs/txn {n}", re_us, "µs")
        results.record(f"peers rule-engine / Tessera one at a time {n}", re_us / tessera_us, "x")
        results.point(COST, "rule-engine", n, re_us)


def _seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _same(peer: str, n: int, expected, got) -> None:
    wrong = mismatches(expected, got)
    if wrong:
        position, ours, theirs = wrong[0]
        raise PeerMismatch(
            f"{peer} at {n} rules differs from Tessera on {len(wrong)} of {len(expected)} "
            f"sampled transactions; first at #{position}: Tessera {ours}, {peer} {theirs}"
        )
