"""The engine's benchmarks: matching, the whole decision, batch throughput, compile time and
table memory, for generated programmes of 100 to 100,000 rules, with the reference evaluator
measured in the same run as the baseline.

``make bench`` runs them; ``TESSERA_BENCH_SIZES=100,1000`` limits the programme sizes.
"""

from __future__ import annotations

import functools
import gc
import itertools
import os

import pytest
from tessera.engine.compiler import CompiledProgram, compile_source
from tessera.engine.counters import MemoryCounters
from tessera.engine.reference import Reference
from tessera.engine.walk import Walker

from bench.figures import CHECKS
from bench.workload import RULE_COUNTS, generate_members, generate_program, generate_transactions

_SIZES = os.environ.get("TESSERA_BENCH_SIZES", ",".join(map(str, RULE_COUNTS)))
SIZES = tuple(int(n) for n in _SIZES.split(","))
REFERENCE_SIZES = tuple(n for n in SIZES if n <= 10_000)
TRANSACTIONS = 2_000
BATCH = 20_000


@functools.cache
def source(n: int) -> str:
    return generate_program(n)


@functools.cache
def compiled(n: int) -> CompiledProgram:
    program = compile_source(source(n), f"generated-{n}.rules")
    # As a server does after loading a programme: what lives for the whole run is moved out
    # of the collector's sight, so that collections do not walk millions of rule objects.
    gc.collect()
    gc.freeze()
    return program


@functools.cache
def workload() -> list[tuple[object, object]]:
    members = {m.member: m for m in generate_members()}
    return [(t, members.get(t.member)) for t in generate_transactions(TRANSACTIONS)]


def per_call(benchmark) -> float:
    return benchmark.stats.stats.median * 1e6


@pytest.mark.parametrize("n", SIZES)
def test_match_compiled(benchmark, figures, n):
    program = compiled(n)
    pairs = itertools.cycle(workload())
    match = program.match

    def one():
        txn, member = next(pairs)
        return match(txn, member)

    benchmark(one)
    figures.record(f"match µs/txn compiled {n:>7}", per_call(benchmark))
    figures.record(f"tables MB {n:>7}", program.nbytes / 1e6)


@pytest.mark.parametrize("n", REFERENCE_SIZES)
def test_match_reference(benchmark, figures, n):
    reference = Reference(compiled(n).program)
    pairs = itertools.cycle(workload())

    def one():
        txn, member = next(pairs)
        return reference.match(txn, member)

    benchmark.pedantic(one, rounds=60 if n >= 10_000 else 400, iterations=1, warmup_rounds=2)
    figures.record(f"match µs/txn reference {n:>6}", per_call(benchmark))


@pytest.mark.parametrize("n", SIZES)
def test_decide(benchmark, figures, n):
    program = compiled(n)
    walker = Walker(program.program, program.version)
    counters = MemoryCounters()
    pairs = itertools.cycle(workload())
    match = program.match

    def one():
        txn, member = next(pairs)
        return walker.decide(txn, member, match(txn, member), counters)

    benchmark(one)
    figures.record(f"decision µs/txn {n:>7}", per_call(benchmark))


@pytest.mark.parametrize("n", SIZES)
def test_batch(benchmark, figures, n):
    program = compiled(n)
    pairs = (workload() * (BATCH // TRANSACTIONS + 1))[:BATCH]
    encoded = program.matcher.encode_batch([t for t, _ in pairs], [m for _, m in pairs])
    benchmark(program.matcher.match_batch, encoded)
    figures.record(f"batch txn/s {n:>7}", BATCH / benchmark.stats.stats.median)


@pytest.mark.parametrize("n", SIZES)
def test_compile(benchmark, figures, n):
    text = source(n)
    rounds = 1 if n >= 100_000 else 3
    path = f"generated-{n}.rules"
    benchmark.pedantic(compile_source, args=(text, path), rounds=rounds, iterations=1)
    figures.record(f"compile s {n:>7}", benchmark.stats.stats.median)


def engine_checks(figures) -> None:
    """Turn the figures of this run into the ratios and targets the engine is held to."""
    v = figures.values
    key = "match µs/txn compiled {:>7}".format
    if key(1_000) in v and f"match µs/txn reference {1_000:>6}" in v:
        figures.check(
            "reference / compiled at 1,000 rules (x)",
            v[f"match µs/txn reference {1_000:>6}"] / v[key(1_000)],
            ">=",
            100,
        )
    if key(1_000) in v and key(100_000) in v:
        ratio = v[key(100_000)] / v[key(1_000)]
        figures.check("100,000 rules / 1,000 rules cost (x)", ratio, "<=", 10)
    targets = [
        (key(1_000), "match at 1,000 rules (µs)", "<=", 2),
        (f"batch txn/s {1_000:>7}", "batch at 1,000 rules (txn/s per core)", ">=", 1_500_000),
        (key(10_000), "match at 10,000 rules (µs)", "<=", 5),
        (f"decision µs/txn {10_000:>7}", "decision at 10,000 rules (µs)", "<=", 20),
        (f"compile s {10_000:>7}", "compile 10,000 rules (s)", "<=", 1),
        (f"tables MB {100_000:>7}", "tables for 100,000 rules (MB)", "<=", 200),
    ]
    for name, label, relation, target in targets:
        if name in v:
            figures.check(label, v[name], relation, target)


CHECKS.append(engine_checks)
