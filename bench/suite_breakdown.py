"""Breakdown suite: where one authorisation spends its time, stage by stage (bench/stages.py),
beside the whole ``Authorize`` call and the empty call measured on the same server; what
the stages do not account for is gRPC, the interceptors and the client.

Each stage is timed twice over, on requests of its own: by the wall clock and by the
thread's CPU clock.  The two Redis stages' wall time less their CPU is the time spent
waiting for Redis's answers; the rest of their CPU is the client's work on the round trip
(the system calls, packing, parsing and the Python around them)."""

from __future__ import annotations

import time

from bench import test_bench_service as svc
from bench.harness import Results, RunOptions
from bench.service_load import Requests, closed_loop, percentiles
from bench.stages import STAGES, medians_us, time_stages, wire_requests
from bench.suite_e2e import stack
from bench.workload import generate_transactions
from tessera.v1 import authorization_pb2 as A

CHART = "breakdown:stages"


def run(results: Results, options: RunOptions) -> None:
    n = 300 if options.quick else 1_500
    txns = generate_transactions(2_000)
    with stack() as s:
        rt = s.service.registry.active
        assert rt is not None, "no active programme"
        time_stages(rt, wire_requests(txns, "bd-warm", 100))
        stages = medians_us(time_stages(rt, wire_requests(txns, "bd", n)))
        cpu = medians_us(time_stages(rt, wire_requests(txns, "bd-cpu", n), time.thread_time))
        stub = s.auth
        requests = Requests(txns, "bd-call")
        ping = closed_loop(lambda: stub.Ping(A.PingRequest(), metadata=svc.METADATA), n // 2)
        whole = closed_loop(lambda: stub.Authorize(requests(), metadata=svc.METADATA), n // 2)
    chart = results.chart(CHART, "One authorisation, stage by stage (median, 1,000 rules)",
                          "stage", "µs", kind="bar")
    for name in STAGES:
        results.record(f"stage {name}", stages[name], "µs")
        results.record(f"stage {name} CPU", cpu[name], "µs")
        chart.lines.setdefault("median wall µs", []).append((name, stages[name]))
        chart.lines.setdefault("median CPU µs", []).append((name, cpu[name]))
    total = sum(stages.values())
    results.record("stages total CPU", sum(cpu.values()), "µs")
    redis_stages = ("member read (snapshot)", "Redis write (authorize)")
    results.record("waiting for Redis (read and write: wall − CPU)",
                   sum(max(0.0, stages[name] - cpu[name]) for name in redis_stages), "µs")
    whole_us = percentiles(whole.hist)["p50"] * 1e3
    ping_us = percentiles(ping.hist)["p50"] * 1e3
    results.record("stages total", total, "µs")
    results.record("Authorize p50 over gRPC", whole_us, "µs")
    results.record("empty call p50 over gRPC", ping_us, "µs")
    results.record("gRPC, interceptors and client (Authorize p50 − stages)", whole_us - total,
                   "µs")
    chart.lines["median wall µs"].append(("gRPC + rest", max(0.0, whole_us - total)))
    biggest = max(STAGES, key=stages.__getitem__)
    results.record(f"largest stage: {biggest}", stages[biggest] / total * 100, "% of stages")
