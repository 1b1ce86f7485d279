"""Load generation for the service benchmark: a real server, open- and closed-loop senders.

The open loop sends at scheduled times whatever the answers do (a pool of sender threads
picks up each call at its slot) and measures latency from the *scheduled* send time, so a
slow answer delays the calls behind it and shows in their latency too (no coordinated
omission).  Latencies go into an HDR histogram in microseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass

import grpc
import redis
from google.protobuf import timestamp_pb2
from hdrh.histogram import HdrHistogram
from tessera.engine.model import Transaction
from tessera.server.redis_runtime import RedisServer, free_port
from tessera.server.service import (
    SWITCH,
    Principal,
    Service,
    ServiceConfig,
    create_server,
    redis_client,
)
from tessera.server.service.versions import VersionStore, compile_with_files

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import authorization_pb2_grpc
from tessera.v1 import common_pb2 as C

TOKEN = "bench-switch-secret"
METADATA = (("authorization", f"Bearer {TOKEN}"),)
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


def histogram() -> HdrHistogram:
    return HdrHistogram(1, 60_000_000, 3)  # 1 µs .. 60 s, 3 significant digits


def percentiles(hist: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9/max in milliseconds."""
    out = {name: hist.get_value_at_percentile(p) / 1e3 for name, p in PERCENTILES}
    out["max"] = hist.get_max_value() / 1e3
    return out


def request_for(txn: Transaction, txn_id: str, member: str | None = None) -> A.AuthorizeRequest:
    """An AuthorizeRequest for a generated transaction (programme currency, no redemption)."""
    return A.AuthorizeRequest(
        transaction=C.Transaction(
            txn_id=txn_id,
            time=timestamp_pb2.Timestamp(seconds=txn.time),
            amount=C.Money(minor_units=txn.amount),
            merchant=txn.merchant,
            terminal=txn.terminal,
            mcc=txn.mcc,
            channel=txn.channel,
            country=txn.country,
            card=txn.card,
            card_bin=txn.card_bin,
            member=txn.member if member is None else member,
            basket=[
                C.BasketLine(
                    sku=line.sku,
                    category=line.category,
                    qty=line.qty,
                    unit_price=C.Money(minor_units=line.unit_price),
                )
                for line in txn.basket
            ],
        )
    )


class Requests:
    """Requests cycling over generated transactions, each with a txn id never used before."""

    def __init__(self, txns: Sequence[Transaction], prefix: str) -> None:
        self.txns, self.prefix = txns, prefix
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self) -> A.AuthorizeRequest:
        with self._lock:
            i = self._next
            self._next += 1
        return request_for(self.txns[i % len(self.txns)], f"{self.prefix}-{i:08d}")

    def batch(self, n: int) -> list[A.AuthorizeRequest]:
        return [self() for _ in range(n)]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        stat = handle.read()
    # The command name (field 2) may hold spaces: the fields after it start past its ")".
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """``tessera serve`` in a process of its own (one worker, on an existing Redis), so that
    its CPU time is the server's alone: no client, no load generator, no redis-server."""

    def __init__(self, tmp: str, url: str, workers: int = 1, metrics_port: int | None = None,
                 extra: Sequence[str] = ()) -> None:
        self.port = free_port()
        tokens = os.path.join(tmp, "bench-tokens.json")
        with open(tokens, "w", encoding="utf-8") as handle:
            json.dump({TOKEN: {"name": "bench-switch", "roles": [SWITCH]}}, handle)
        args = [
            sys.executable, "-m", "tessera.server.cli", "serve", "--redis", url,
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
            "--tokens", tokens, "--data", os.path.join(tmp, "var"), "--grace", "2",
            *(["--metrics-port", str(metrics_port)] if metrics_port is not None else []),
            *extra,
        ]
        self.log_path = os.path.join(tmp, f"serve-{self.port}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@dataclass
class Stack:
    redis: RedisServer
    client: redis.Redis
    service: Service | None  # None when the server runs in a process of its own
    port: int
    channel: grpc.Channel
    version: str
    process: ServerProcess | None = None

    @property
    def auth(self) -> authorization_pb2_grpc.AuthorizationStub:
        return authorization_pb2_grpc.AuthorizationStub(self.channel)

    def server_cpu_seconds(self) -> float:
        """CPU seconds of the server so far: its own process's, else this whole process's."""
        if self.process is not None:
            return self.process.cpu_seconds()
        return time.process_time()


def redis_port() -> int | None:
    """The benchmark's redis-server listens where ``tessera serve``'s embedded one does: on a
    Unix socket (None).  ``TESSERA_BENCH_REDIS=tcp`` puts it on a loopback TCP port instead."""
    return 0 if os.environ.get("TESSERA_BENCH_REDIS", "unix") == "tcp" else None


def publish(client: redis.Redis, source: str, filename: str) -> str:
    """Upload and activate a programme in Redis; its version."""
    compiled = compile_with_files(source, filename, {})
    versions = VersionStore(client)
    versions.upload(compiled, source, filename, {}, "bench")
    versions.activate(compiled.version)
    return compiled.version


@contextlib.contextmanager
def running(
    tmp: str, source: str, filename: str, *, process: bool = False, ready_timeout: float = 120.0
) -> Iterator[Stack]:
    """redis-server, the programme uploaded and activated, a server on a loopback port.

    ``process=False``: the server runs in this process (port 0).  ``process=True``: it runs as
    ``tessera serve`` in a child process (:class:`ServerProcess`), ready once it answers an
    Authorize (the programme compiled and loaded)."""
    server = RedisServer(os.path.join(tmp, "redis"), port=redis_port()).start()
    client = redis_client(server.url, 0.5)
    try:
        version = publish(client, source, filename)
        if process:
            child = ServerProcess(tmp, server.url)
            channel = grpc.insecure_channel(f"127.0.0.1:{child.port}")
            try:
                wait_serving(channel, child, ready_timeout)
                yield Stack(server, client, None, child.port, channel, version, child)
            finally:
                channel.close()
                child.stop()
            return
        config = ServiceConfig(tokens={TOKEN: Principal("bench-switch", frozenset({SWITCH}))})
        service, port = create_server("127.0.0.1:0", client=client, config=config)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=10)
        try:
            yield Stack(server, client, service, port, channel, version)
        finally:
            channel.close()
            service.shutdown(grace=1.0)
    finally:
        client.close()
        server.stop()


def wait_serving(channel: grpc.Channel, child: ServerProcess | None, timeout: float) -> None:
    """Until the server behind ``channel`` answers Authorize (not UNAVAILABLE)."""
    stub = authorization_pb2_grpc.AuthorizationStub(channel)
    probe = A.AuthorizeRequest(transaction=C.Transaction(
        txn_id="bench-ready-probe", time=timestamp_pb2.Timestamp(seconds=1_798_000_000),
        amount=C.Money(minor_units=100), member="bench-ready-probe"))
    deadline = time.monotonic() + timeout
    while True:
        if child is not None and child.process.poll() is not None:
            raise RuntimeError(f"tessera serve exited: {child.log()[-2000:]}")
        try:
            stub.Authorize(probe, metadata=METADATA, timeout=5)
            return
        except grpc.RpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start serving in time")
        time.sleep(0.05)


@dataclass
class OpenLoopResult:
    hist: HdrHistogram
    sent: int
    errors: int
    late_ms: float  # how far behind schedule the sender fell at worst (the sender, not calls)
    completed_per_second: float  # answers a second over the run: below the rate = saturated


def open_loop(
    call: Callable[[], object], rate: float, seconds: float, workers: int = 64
) -> OpenLoopResult:
    """``rate`` calls a second for ``seconds``; latency from each call's scheduled time."""
    n = int(rate * seconds)
    latencies: list[float] = []
    errors = [0]
    late = 0.0
    last = [0.0]

    def one(scheduled: float) -> None:
        try:
            call()
        except grpc.RpcError:
            errors[0] += 1
        done = time.perf_counter()
        latencies.append(done - scheduled)
        last[0] = max(last[0], done)

    with futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-send") as pool:
        start = time.perf_counter() + 0.05
        for i in range(n):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                late = max(late, -delay)
            pool.submit(one, scheduled)
    hist = histogram()
    for seconds_taken in latencies:
        hist.record_value(max(1, int(seconds_taken * 1e6)))
    return OpenLoopResult(hist, n, errors[0], late * 1e3, n / (last[0] - start))


@dataclass
class ClosedLoopResult:
    hist: HdrHistogram
    n: int
    wall: float
    cpu: float  # CPU seconds of ``cpu_clock`` (default: this process, client and server)

    @property
    def per_second(self) -> float:
        return self.n / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.n * 1e6


def closed_loop(
    call: Callable[[], object], n: int, cpu_clock: Callable[[], float] = time.process_time
) -> ClosedLoopResult:
    """``n`` calls one after another from this thread; CPU read from ``cpu_clock`` around
    them (e.g. :meth:`Stack.server_cpu_seconds` for the server process's CPU alone)."""
    hist = histogram()
    cpu0, wall0 = cpu_clock(), time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        hist.record_value(max(1, int((time.perf_counter() - t0) * 1e6)))
    wall, cpu = time.perf_counter() - wall0, cpu_clock() - cpu0
    return ClosedLoopResult(hist, n, wall, cpu)


# ---- two checkouts side by side ---------------------------------------------------------------


def compare_checkouts(
    trees: dict[str, str], tmp: str, rounds: int = 4, burst: int = 400, rules: int = 1_000
) -> dict[str, dict[str, float]]:
    """Server CPU µs per call of ``tessera serve`` from each checkout (name -> path, each
    with its own ``.venv``), all on one redis-server, in alternating bursts (Ping,
    Authorize, Quote, AuthorizeStream items), so that machine load falls on every side
    alike: a before/after figure from one run."""
    from bench.workload import generate_program, generate_transactions

    redis_server = RedisServer(os.path.join(tmp, "redis"), port=redis_port()).start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    channels: list[grpc.Channel] = []
    try:
        client = redis_client(redis_server.url, 1.0)
        publish(client, generate_program(rules), f"generated-{rules}.rules")
        tokens = os.path.join(tmp, "tokens.json")
        with open(tokens, "w", encoding="utf-8") as handle:
            json.dump({TOKEN: {"name": "bench-switch", "roles": [SWITCH]}}, handle)
        stubs = {}
        for name, tree in trees.items():
            port = free_port()
            with open(os.path.join(tmp, f"{name}.log"), "wb") as log:
                procs[name] = subprocess.Popen(
                    [os.path.join(tree, ".venv", "bin", "python"), "-m", "tessera.server.cli",
                     "serve", "--redis", redis_server.url, "--host", "127.0.0.1", "--port",
                     str(port), "--workers", "1", "--tokens", tokens, "--data",
                     os.path.join(tmp, f"var-{name}")],
                    cwd=tree, env={**os.environ, "PYTHONPATH": ""}, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=log,
                )
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            channels.append(channel)
            wait_serving(channel, None, 120)
            stubs[name] = authorization_pb2_grpc.AuthorizationStub(channel)
        txns = generate_transactions(2_000)
        requests = {name: Requests(txns, f"cmp-{name}-{time.time_ns()}") for name in trees}
        kinds = ("ping", "authorize", "quote", "stream")
        cpu = {(name, kind): 0.0 for name in trees for kind in kinds}
        count = dict.fromkeys(cpu, 0)
        ping = A.PingRequest()
        for r in range(rounds + 1):  # round 0 warms up
            for kind in kinds:
                order = list(trees) if r % 2 else list(trees)[::-1]
                for name in order:
                    stub, pid = stubs[name], procs[name].pid
                    batch = requests[name].batch(burst * 2) if kind == "stream" else None
                    c0 = process_cpu_seconds(pid)
                    if batch is not None:
                        n = len(list(stub.AuthorizeStream(iter(batch), metadata=METADATA)))
                    else:
                        for _ in range(burst):
                            if kind == "ping":
                                stub.Ping(ping, metadata=METADATA)
                            elif kind == "quote":
                                stub.Quote(requests[name](), metadata=METADATA)
                            else:
                                stub.Authorize(requests[name](), metadata=METADATA)
                        n = burst
                    if r:
                        cpu[(name, kind)] += process_cpu_seconds(pid) - c0
                        count[(name, kind)] += n
        return {
            name: {kind: cpu[(name, kind)] / count[(name, kind)] * 1e6 for kind in kinds}
            for name in trees
        }
    finally:
        for channel in channels:
            channel.close()
        for process in procs.values():
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        redis_server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.service_load NAME=PATH NAME=PATH [--rounds N] [--burst N]``."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=compare_checkouts.__doc__)
    parser.add_argument("trees", nargs="+", metavar="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--burst", type=int, default=400)
    args = parser.parse_args(argv)
    trees = dict(tree.split("=", 1) for tree in args.trees)
    with tempfile.TemporaryDirectory(prefix="tessera-svc-cmp-") as tmp:
        figures = compare_checkouts(trees, tmp, args.rounds, args.burst)
    print("server CPU µs per call (one run, alternating bursts)")
    for name, f in figures.items():
        print(f"{name:<10} ping {f['ping']:8.1f}  authorize {f['authorize']:8.1f}  "
              f"quote {f['quote']:8.1f}  stream item {f['stream']:8.1f}  "
              f"authorize/ping {f['authorize'] / f['ping']:5.2f}  "
              f"stream per core / unary {f['authorize'] / f['stream']:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
