"""Multi-core suite: ``tessera serve --workers N`` in a subprocess for N = 1..cores, driven
to saturation by this process, reporting throughput, server CPU per call and the scaling.

The load keeps a fixed number of ``Authorize`` calls in flight per worker, over several
channels (each its own connection, so ``SO_REUSEPORT`` spreads them over the workers).
Server CPU comes from /proc for the worker processes only (not redis-server, not this
client): calls per server CPU-second is the throughput one fully busy core gives, the
figure that does not depend on how many cores the client left the server.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson

from bench.harness import ROOT, Results, RunOptions, percentile
from bench.service_load import METADATA, TOKEN, Requests
from bench.workload import generate_program, generate_transactions
from tessera.v1 import authorization_pb2, authorization_pb2_grpc

RULES = 1_000
IN_FLIGHT = 12  # calls in flight per worker process
TICK = os.sysconf("SC_CLK_TCK")
PING = authorization_pb2.PingRequest()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return ""


@contextlib.contextmanager
def serving(folder: str, workers: int) -> Iterator[tuple[str, subprocess.Popen, list[int]]]:
    """``tessera serve`` with ``workers`` processes on a free loopback port; yields the
    address, the parent process and the worker pids."""
    rules = os.path.join(folder, f"generated-{RULES}.rules")
    Path(rules).write_text(generate_program(RULES))
    tokens = os.path.join(folder, "tokens.json")
    Path(tokens).write_bytes(orjson.dumps({TOKEN: {"name": "bench", "roles": ["switch"]}}))
    command = [
        sys.executable, "-m", "tessera.server.cli", "serve", "--rules", rules,
        "--host", "127.0.0.1", "--port", "0", "--workers", str(workers),
        "--data", os.path.join(folder, f"var-{workers}"), "--tokens", tokens, "--grace", "1",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        address = None
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"serving on (\S+?):(\d+)", line)
            if found:
                address = f"127.0.0.1:{found.group(2)}"
                break
        if address is None:
            raise RuntimeError("tessera serve did not start: " + "".join(lines[-10:]))
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe empty
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=30)
        channel.close()
        pids = [proc.pid] if workers == 1 else []
        while workers > 1 and len(pids) < workers and time.monotonic() < deadline:
            pids = [p for p in _children(proc.pid) if "redis" not in _comm(p)]
            time.sleep(0.05)
        yield address, proc, pids
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def saturate(
    address: str, workers: int, seconds: float, txns: list, empty: bool = False
) -> dict[str, float]:
    """Keep ``IN_FLIGHT * workers`` calls in flight for ``seconds`` (``Authorize``, or the
    empty ``Ping`` with ``empty``); calls, seconds, errors, p50 and p99."""
    channels = [
        grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(2 * workers)
    ]
    stubs = [authorization_pb2_grpc.AuthorizationStub(c) for c in channels]
    requests = Requests(txns, f"mc{workers}-{time.time_ns()}")
    window = threading.Semaphore(IN_FLIGHT * workers)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def send(i: int) -> None:
        window.acquire()
        started = time.perf_counter()
        stub = stubs[i % len(stubs)]
        if empty:
            future = stub.Ping.future(PING, metadata=METADATA)
        else:
            future = stub.Authorize.future(requests(), metadata=METADATA)

        def done(f: grpc.Future) -> None:
            took = time.perf_counter() - started
            with lock:
                if f.exception() is not None:
                    errors[0] += 1
                latencies.append(took)
            window.release()

        future.add_done_callback(done)

    try:
        for i in range(50 * workers):  # warm every connection
            send(i)
        for _ in range(IN_FLIGHT * workers):
            window.acquire()
        for _ in range(IN_FLIGHT * workers):
            window.release()
        latencies.clear()
        started = time.perf_counter()
        i = 0
        while time.perf_counter() - started < seconds:
            send(i)
            i += 1
        for _ in range(IN_FLIGHT * workers):
            window.acquire()
        elapsed = time.perf_counter() - started
        return {"calls": len(latencies), "seconds": elapsed, "errors": errors[0],
                "p50_ms": percentile(latencies, 0.5) * 1e3,
                "p99_ms": percentile(latencies, 0.99) * 1e3}
    finally:
        for channel in channels:
            channel.close()


def run(results: Results, options: RunOptions) -> None:
    cores = os.cpu_count() or 1
    counts = options.workers or tuple(range(1, cores + 1))
    seconds = 3.0 if options.quick else 6.0
    txns = generate_transactions(2_000)
    chart = results.chart("multicore:scaling", "Throughput against server processes",
                          "server processes (--workers)", "calls/s")
    first = None
    with tempfile.TemporaryDirectory(prefix="tessera-bench-mc-") as folder:
        for n in counts:
            with serving(folder, n) as (address, _proc, pids):
                cpu0 = sum(_cpu_seconds(p) for p in pids)
                load = saturate(address, n, seconds, txns)
                cpu = sum(_cpu_seconds(p) for p in pids) - cpu0
                if n == counts[0]:
                    cpu1 = sum(_cpu_seconds(p) for p in pids)
                    ping = saturate(address, n, seconds / 2, txns, empty=True)
                    ping_cpu = sum(_cpu_seconds(p) for p in pids) - cpu1
                    empty_us = results.record(
                        "multicore server CPU µs/call, empty call", ping_cpu / ping["calls"] * 1e6,
                        "µs", note="server processes only: the client's CPU is not in it")
                    auth_us = results.record(
                        "multicore server CPU µs/call, Authorize", cpu / load["calls"] * 1e6, "µs")
                    results.check("server CPU/call Authorize / empty (server only)",
                                  auth_us / empty_us, "<=", 1.5)
            if load["errors"]:
                raise AssertionError(f"{load['errors']} calls failed with --workers {n}")
            rate = load["calls"] / load["seconds"]
            first = first or rate
            results.record(f"multicore {n} workers calls/s", rate, "calls/s")
            results.record(f"multicore {n} workers p50", load["p50_ms"], "ms")
            results.record(f"multicore {n} workers p99", load["p99_ms"], "ms")
            results.record(f"multicore {n} workers server CPU µs/call", cpu / load["calls"] * 1e6,
                           "µs")
            results.record(f"multicore {n} workers calls per server CPU-second",
                           load["calls"] / cpu if cpu else float("nan"), "calls/s/core")
            results.record(f"multicore {n} workers scaling", rate / first, "x",
                           note="throughput over that of one worker; the load client shares "
                                f"the {cores} cores")
            results.point("multicore:scaling", "Authorize calls/s", n, rate)
    del chart
