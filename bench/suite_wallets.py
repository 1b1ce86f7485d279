"""Wallet store suite: bench/test_bench_wallets.py's own tests (bare EVALSHA floor against a
full authorise, sequential and with concurrency and pipelining) on a private redis-server."""

from __future__ import annotations

import tempfile

from tessera.engine.compiler import compile_source
from tessera.server.redis_runtime import RedisServer

from bench import test_bench_wallets as wallets
from bench.adapters import Benchmark, FiguresBridge
from bench.harness import Results, RunOptions


def run(results: Results, options: RunOptions) -> None:
    bridge = FiguresBridge(results)
    bench = Benchmark(scale=0.5 if options.quick else 1.0)
    compiled = compile_source(wallets.PROGRAMME, "bench.rules")
    with tempfile.TemporaryDirectory(prefix="tessera-bench-redis-") as folder, \
            RedisServer(folder) as server:
        wallets.test_sequential_authorize_against_bare_evalsha(
            bench, bridge, server.client, compiled)
        if not options.quick:
            wallets.test_throughput_with_concurrency_and_pipelining(
                bench, bridge, server.client, compiled)
    wallets.wallet_checks(bridge)
    chart = results.chart("wallets:latency", "Bare EVALSHA against a full authorise",
                          "percentile", "µs", kind="bar")
    for name in ("bare EVALSHA", "authorize"):
        for pct in ("p50", "p99"):
            value = bridge.values.get(f"wallets {name} {pct} µs")
            if value is not None:
                chart.lines.setdefault(name, []).append((pct, value))
