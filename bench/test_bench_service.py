"""End-to-end benchmark of the gRPC service (issue 4): Authorize against its floor.

One server process (``tessera serve`` with one worker, a child of this one), one client
channel, one real redis-server, the generated 1,000-rule programme uploaded and activated.
The server's CPU time is read from its own process (``/proc/<pid>/stat``), so client and
load generator are not in it.  Measured in the same run:

* the floor: an empty unary call (``Ping``, through the same interceptors) and a bare
  EVALSHA of ``return 1`` against the same redis-server;
* ``Authorize`` and ``Ping`` at fixed arrival rates, open loop (latency from the scheduled
  send time: no coordinated omission), p50/p90/p99/p99.9/max from an HDR histogram;
* server CPU per call of ``Authorize`` and ``Ping`` in a closed-loop burst;
* ``AuthorizeStream`` against unary ``Authorize`` throughput, by wall time and per second of
  server CPU (per server core), answers compared on a sample.

Every test wraps its measurement in ``benchmark.pedantic(rounds=1)`` so that
``--benchmark-only`` (``make bench``) runs it; the figures go to the shared summary, and a
missed target is a MISS there, never a failed test.
"""

from __future__ import annotations

import gc
import time

import pytest

from bench.figures import CHECKS, Figures
from bench.service_load import (
    METADATA,
    Requests,
    Stack,
    closed_loop,
    open_loop,
    percentiles,
    request_for,
    running,
)
from bench.test_bench_wallets import bare_evalsha
from bench.workload import generate_program, generate_transactions
from tessera.v1 import authorization_pb2 as A

RULES = 1_000
RATES = (100, 300)  # calls per second; 100 is the "modest" rate of the p99 target
SECONDS = 3.0
BURST = 1_500  # closed-loop calls for the floor and for CPU per call
STREAM = 2_000  # requests each for the stream and the unary throughput
SAMPLE = 25  # requests whose stream and unary answers are compared


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    with running(
        str(tmp_path_factory.mktemp("svc-bench")),
        generate_program(RULES),
        f"generated-{RULES}.rules",
        process=True,
    ) as s:
        # As a server does once its programme is loaded: keep the collector off it.
        gc.collect()
        gc.freeze()
        yield s


@pytest.fixture(scope="module")
def txns() -> list:
    return generate_transactions(2_000)


def _ping(stack: Stack):
    stub, empty = stack.auth, A.PingRequest()
    return lambda: stub.Ping(empty, metadata=METADATA)


def _authorize(stack: Stack, requests: Requests):
    stub = stack.auth
    return lambda: stub.Authorize(requests(), metadata=METADATA)


def _warm(call, n: int = 200) -> None:
    for _ in range(n):
        call()


def test_floor(benchmark, figures: Figures, stack: Stack, txns: list) -> None:
    """Unloaded, one call after another: Ping, EVALSHA ``return 1``, Authorize."""
    ping = _ping(stack)
    evalsha = bare_evalsha(stack.client)  # as the wallet suite's floor

    authorize = _authorize(stack, Requests(txns, "floor"))
    results = {}

    def measure() -> None:
        for call in (ping, evalsha, authorize):
            _warm(call)
        results["empty"] = closed_loop(ping, BURST)
        results["evalsha"] = closed_loop(evalsha, BURST)
        results["authorize"] = closed_loop(authorize, BURST)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for name, result in results.items():
        for pct, ms in percentiles(result.hist).items():
            figures.record(f"svc floor {name:<9} {pct:<5} ms", ms)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", ["empty", "authorize"])
def test_open_loop(
    benchmark, figures: Figures, stack: Stack, txns: list, kind: str, rate: int
) -> None:
    call = _ping(stack) if kind == "empty" else _authorize(stack, Requests(txns, f"ol-{rate}"))
    _warm(call, 100)
    results = {}

    def measure() -> None:
        results["r"] = open_loop(call, rate, SECONDS)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    result = results["r"]
    for pct, ms in percentiles(result.hist).items():
        figures.record(f"svc open {kind:<9} {rate:>4}/s {pct:<5} ms", ms)
    figures.record(f"svc open {kind:<9} {rate:>4}/s errors", result.errors)
    figures.record(f"svc open {kind:<9} {rate:>4}/s sender late ms", result.late_ms)
    figures.record(f"svc open {kind:<9} {rate:>4}/s answered /s", result.completed_per_second)


def test_cpu_per_call(benchmark, figures: Figures, stack: Stack, txns: list) -> None:
    """Server CPU per call in a closed-loop burst, read from the server's own process (its
    every thread), so neither the client nor redis-server is in it.  Bursts alternate
    (empty, authorize, quote, empty, ...) so that a change in machine load hits each.

    ``Quote`` (the member read and the decision, no write) is a figure without a target: it
    tells how much of Authorize's cost over the empty call is the write."""
    stub = stack.auth
    quotes = Requests(txns, "cpu-quote")
    calls = {
        "empty": _ping(stack),
        "authorize": _authorize(stack, Requests(txns, "cpu")),
        "quote": lambda: stub.Quote(quotes(), metadata=METADATA),
    }
    clock = stack.server_cpu_seconds
    results: dict[str, list] = {kind: [] for kind in calls}

    def measure() -> None:
        for call in calls.values():
            _warm(call)
        for _ in range(2):
            for kind, call in calls.items():
                results[kind].append(closed_loop(call, BURST, clock))

    benchmark.pedantic(measure, rounds=1, iterations=1)

    def per_call(runs: list) -> float:
        return sum(r.cpu for r in runs) / sum(r.n for r in runs) * 1e6

    cpu = {kind: per_call(runs) for kind, runs in results.items()}
    for kind, value in cpu.items():
        figures.record(f"svc server cpu µs/call {kind}", value)
    figures.record("svc server cpu authorize / empty", cpu["authorize"] / cpu["empty"])
    figures.record("svc server cpu quote / empty", cpu["quote"] / cpu["empty"])


def _same(a, b) -> bool:
    """Two decisions on the same transaction for members in the same state."""
    return (a.status, a.charged, a.discount, list(a.applied), list(a.skipped)) == (
        b.status,
        b.charged,
        b.discount,
        list(b.applied),
        list(b.skipped),
    )


def test_stream_vs_unary(benchmark, figures: Figures, stack: Stack, txns: list) -> None:
    stub = stack.auth
    unary_requests = Requests(txns, "tp-unary").batch(STREAM)
    stream_requests = Requests(txns, "tp-stream").batch(STREAM)
    # The same transactions for fresh members on each side: the answers must agree.
    sample = txns[:SAMPLE]
    sample_unary = [request_for(t, f"cmp-u-{i}", f"cmp-u-m{i}") for i, t in enumerate(sample)]
    sample_stream = [request_for(t, f"cmp-s-{i}", f"cmp-s-m{i}") for i, t in enumerate(sample)]
    _warm(_authorize(stack, Requests(txns, "tp-warm")))
    list(stub.AuthorizeStream(iter(Requests(txns, "tp-warm-s").batch(200)), metadata=METADATA))
    results = {}

    pending = iter(unary_requests)

    def unary() -> object:
        return stub.Authorize(next(pending), metadata=METADATA)

    clock = stack.server_cpu_seconds

    def measure() -> None:
        results["unary"] = closed_loop(unary, STREAM, clock)
        cpu0, t0 = clock(), time.perf_counter()
        replies = list(stub.AuthorizeStream(iter(stream_requests), metadata=METADATA))
        results["stream_wall"] = time.perf_counter() - t0
        results["stream_cpu"] = clock() - cpu0
        results["stream_n"] = len(replies)
        results["stream_errors"] = sum(1 for r in replies if r.error_code)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    unary_rate = results["unary"].per_second
    stream_rate = results["stream_n"] / results["stream_wall"]
    figures.record("svc throughput unary /s", unary_rate)
    figures.record("svc throughput stream /s", stream_rate)
    figures.record("svc throughput stream / unary", stream_rate / unary_rate)
    unary_core = results["unary"].n / results["unary"].cpu
    stream_core = results["stream_n"] / results["stream_cpu"]
    figures.record("svc throughput unary /s per server core", unary_core)
    figures.record("svc throughput stream /s per server core", stream_core)
    figures.record("svc throughput per core stream / unary", stream_core / unary_core)
    figures.record("svc stream errors", results["stream_errors"])

    unary_answers = [stub.Authorize(r, metadata=METADATA).decision for r in sample_unary]
    stream_answers = [
        r.decision for r in stub.AuthorizeStream(iter(sample_stream), metadata=METADATA)
    ]
    agree = sum(_same(u, s) for u, s in zip(unary_answers, stream_answers, strict=True))
    figures.record("svc stream=unary answers (of sample)", agree)
    assert results["stream_n"] == STREAM
    assert agree == SAMPLE, f"{SAMPLE - agree} of {SAMPLE} stream answers differ from unary"
    assert any(u.applied for u in unary_answers), "the sample applied no rule at all"


def _checks(figures: Figures) -> None:
    v = figures.values

    def get(name: str) -> float | None:
        return v.get(name)

    auth50 = get("svc floor authorize p50   ms")
    empty50, eval50 = get("svc floor empty     p50   ms"), get("svc floor evalsha   p50   ms")
    if None not in (auth50, empty50, eval50):
        figures.check(
            "svc p50 Authorize / (empty + EVALSHA)", auth50 / (empty50 + eval50), "<=", 1.5
        )
    rate = RATES[0]
    auth99 = get(f"svc open authorize {rate:>4}/s p99   ms")
    empty99 = get(f"svc open empty     {rate:>4}/s p99   ms")
    if auth99 is not None and empty99:
        figures.check(f"svc p99 Authorize / empty at {rate}/s", auth99 / empty99, "<=", 2.0)
    cpu = get("svc server cpu authorize / empty")
    if cpu is not None:
        figures.check("svc server CPU/call Authorize / empty", cpu, "<=", 1.5)
    stream = get("svc throughput per core stream / unary")
    if stream is not None:
        figures.check("svc stream / unary per server core", stream, ">=", 3.0)
    wall = get("svc throughput stream / unary")
    if wall is not None:
        figures.check("svc stream / unary throughput (wall)", wall, ">=", 3.0)


CHECKS.append(_checks)
