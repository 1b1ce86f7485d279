"""End-to-end suite: Authorize over gRPC against the generated 1,000-rule programme.

It runs bench/test_bench_service.py's own tests (the empty-call and EVALSHA floor, open
loop at the fixed rates, CPU per call, stream against unary) on one in-process server, then
sweeps the offered load upwards until the server saturates: open loop (each call sent at its
scheduled time whatever the answers do, latency counted from that time, so a slow answer
delays and shows in the calls behind it: no coordinated omission), p50/p90/p99/p99.9/max
from an HDR histogram at every step.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import tempfile
from collections.abc import Iterator

from bench import test_bench_service as svc
from bench.adapters import Benchmark, FiguresBridge
from bench.harness import Results, RunOptions
from bench.service_load import Requests, Stack, open_loop, percentiles, running
from bench.workload import generate_program, generate_transactions

LOAD = "e2e:load"
SWEEP_QUICK = (100, 300, 600, 1_000)
SWEEP = (100, 200, 400, 600, 800, 1_000, 1_300, 1_600, 2_000, 2_500, 3_000)


@contextlib.contextmanager
def stack(rules: int = svc.RULES, own_process: bool = False) -> Iterator[Stack]:
    """The service suite's stack: redis-server, the generated programme active, a server.

    In this process by default (the breakdown and activation suites reach into its
    runtime); with ``own_process`` in a ``tessera serve`` child where ``running`` offers it,
    so that the server's CPU is its own."""
    options = {}
    if own_process and "process" in inspect.signature(running).parameters:
        options["process"] = True
    with tempfile.TemporaryDirectory(prefix="tessera-bench-svc-") as folder, running(
        folder, generate_program(rules), f"generated-{rules}.rules", **options
    ) as s:
        gc.collect()
        gc.freeze()  # as a server does once its programme is loaded
        yield s


def run(results: Results, options: RunOptions) -> None:
    bridge = FiguresBridge(results)
    bench = Benchmark()
    txns = generate_transactions(2_000)
    with stack(own_process=True) as s:
        svc.test_floor(bench, bridge, s, txns)
        for kind in ("empty", "authorize"):
            for rate in svc.RATES:
                svc.test_open_loop(bench, bridge, s, txns, kind, rate)
        svc.test_cpu_per_call(bench, bridge, s, txns)
        if not options.quick:
            svc.test_stream_vs_unary(bench, bridge, s, txns)
        sweep(results, s, txns, options)
    svc._checks(bridge)


def sweep(results: Results, s: Stack, txns: list, options: RunOptions) -> None:
    """Offered load up to saturation: stop once answers fall behind the rate by 10% or the
    p99 passes one second."""
    results.chart(LOAD, "Authorize latency against offered load (open loop, 1,000 rules)",
                  "offered load (calls/s)", "latency (ms)", log_y=True)
    stub = s.auth
    requests = Requests(txns, "sweep")
    call = lambda: stub.Authorize(requests(), metadata=svc.METADATA)  # noqa: E731
    for _ in range(100):
        call()
    saturated_at = None
    for rate in SWEEP_QUICK if options.quick else SWEEP:
        result = open_loop(call, rate, options.seconds)
        pct = percentiles(result.hist)
        for name, ms in pct.items():
            results.point(LOAD, name, rate, ms)
        results.record(f"e2e sweep {rate}/s answered", result.completed_per_second, "calls/s")
        results.record(f"e2e sweep {rate}/s p99", pct["p99"], "ms")
        results.record(f"e2e sweep {rate}/s errors", result.errors, "calls")
        if result.completed_per_second < 0.9 * rate or pct["p99"] > 1_000:
            saturated_at = rate
            break
    if saturated_at is not None:
        results.record("e2e saturation (offered)", saturated_at, "calls/s",
                       note="the first offered rate the server could not keep up with")
