"""Compile and activation suite: how long a programme takes to compile, and what a running
server's callers see while it swaps to a new 10,000-rule programme.

The server runs the generated 1,000-rule programme under an open-loop ``Authorize`` load
at a modest fixed rate.  A first window measures the steady latency; then, while the load
goes on, a 10,000-rule programme is uploaded (the server hears of it by pub/sub and
compiles it ahead in its follower thread) and, once the server has it, activated (it
swaps atomically), and the server is watched until its active version is the new one.
The load window that spans the upload, the compile and the swap gives the latency during
the change; every call must succeed and name one of the two versions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tessera.server.service.versions import VersionStore, compile_with_files

from bench import test_bench_service as svc
from bench.harness import Results, RunOptions
from bench.service_load import Requests, open_loop, percentiles
from bench.suite_e2e import stack
from bench.suite_engine import run_compile
from bench.workload import generate_program, generate_transactions

SWAP_RULES = 10_000
RATE = 100  # calls a second: the modest rate of the service's p99 target


def run(results: Results, options: RunOptions) -> None:
    run_compile(results, options)
    txns = generate_transactions(2_000)
    source = generate_program(SWAP_RULES, seed=8)
    t0 = time.perf_counter()
    new = compile_with_files(source, f"generated-{SWAP_RULES}.rules", {})
    results.record(f"compile {SWAP_RULES:,} rules (swap programme)", time.perf_counter() - t0,
                   "s")
    with stack() as s:
        stub = s.auth
        versions_seen: dict[str, int] = {}
        lock = threading.Lock()
        requests = Requests(txns, "swap")

        def call() -> None:
            reply = stub.Authorize(requests(), metadata=svc.METADATA)
            with lock:
                version = reply.decision.ruleset_version
                versions_seen[version] = versions_seen.get(version, 0) + 1

        for _ in range(50):
            call()
        steady = open_loop(call, RATE, options.seconds * 2)
        store = VersionStore(s.client)
        registry = s.service.registry
        swapped: dict[str, float] = {}

        def wait_for(done: Callable[[], bool], mark: str, started: float) -> None:
            while time.perf_counter() < started + 120:
                if done():
                    swapped[mark] = time.perf_counter()
                    return
                time.sleep(0.002)

        def change() -> None:
            """What a marketer does: upload (the server compiles it ahead), then activate."""
            time.sleep(0.5)
            swapped["uploaded"] = started = time.perf_counter()
            store.upload(new, source, f"generated-{SWAP_RULES}.rules", {}, "bench")
            wait_for(lambda: registry.prepared(new.version), "prepared", started)
            swapped["activated"] = started = time.perf_counter()
            store.activate(new.version)
            wait_for(lambda: getattr(registry.active, "version", None) == new.version, "done",
                     started)

        thread = threading.Thread(target=change, name="bench-activate")
        thread.start()
        # The window covers the change: 0.5 s before it, the compile under load (slower
        # than alone: it gives way to the calls), the swap, and a little after.
        compile_s = results.value(f"compile s {10_000:>7}".strip()) or 2.0
        during = open_loop(call, RATE, max(6.0, 3 * compile_s + 3.0))
        thread.join()
    if "prepared" not in swapped:
        raise AssertionError("the server did not compile the upload within 120 s")
    if "done" not in swapped:
        raise AssertionError("the server did not swap to the new version within 120 s")
    errors = steady.errors + during.errors
    if errors:
        raise AssertionError(f"{errors} calls failed across the swap")
    unknown = set(versions_seen) - {s.version, new.version}
    if unknown:
        raise AssertionError(f"answers named versions neither old nor new: {unknown}")
    results.record("activation: upload → compiled ahead in the server",
                   swapped["prepared"] - swapped["uploaded"], "s",
                   note="pub/sub, compile in the serving process under the load")
    serving = swapped["done"] - swapped["activated"]
    results.record("activation: activate → serving the new version", serving, "s",
                   note="pub/sub, atomic swap")
    results.check("activate → serving a 10,000-rule version (s)", serving, "<=", 1.0)
    results.record("activation: answers on the old version", versions_seen.get(s.version, 0),
                   "calls")
    results.record("activation: answers on the new version", versions_seen.get(new.version, 0),
                   "calls")
    results.record("activation: failed calls", errors, "calls")
    chart = results.chart("activation:latency",
                          f"Authorize latency at {RATE}/s: steady and across a "
                          f"{SWAP_RULES:,}-rule swap", "percentile", "ms", kind="bar",
                          log_y=True)
    for label, hist in (("steady", steady.hist), ("during the swap", during.hist)):
        for name, ms in percentiles(hist).items():
            results.record(f"activation {label} {name}", ms, "ms")
            chart.lines.setdefault(label, []).append((name, ms))
