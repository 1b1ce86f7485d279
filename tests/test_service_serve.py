"""``tessera serve`` and graceful shutdown: NOT_SERVING, calls in flight drain, then stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_helpers import COFFEE, MK, SW, metadata, running, wait_until
from test_service_api import txn

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import authorization_pb2_grpc
from tessera.v1 import rules_pb2 as R


def test_shutdown_drains_calls_in_flight(tmp_path: object) -> None:
    with running(str(tmp_path)) as r:
        health = health_pb2_grpc.HealthStub(r.channel)
        gate = threading.Event()
        answered: list[object] = []

        def requests():  # a stream held open across the shutdown: a call in flight
            yield R.SimulateRequest(transaction=txn("drain-1", member="d"))
            gate.wait(10)
            yield R.SimulateRequest(transaction=txn("drain-2", member="d"))

        def consume() -> None:
            answered.extend(r.rules.Simulate(requests(), metadata=MK, timeout=20))

        caller = threading.Thread(target=consume)
        caller.start()
        wait_until(lambda: answered, what="the first answer")
        stopper = threading.Thread(target=r.service.shutdown, args=(15.0, 2.0))
        stopper.start()
        wait_until(
            lambda: health.Check(health_pb2.HealthCheckRequest(service="")).status
            == health_pb2.HealthCheckResponse.NOT_SERVING,
            what="NOT_SERVING before the drain",
        )

        def refused() -> bool:  # the drain has begun: new calls are turned away
            try:
                r.auth.Ping(A.PingRequest(), metadata=SW, timeout=2)
                return False
            except grpc.RpcError:
                return True

        wait_until(refused, what="new calls refused")
        assert stopper.is_alive()  # still draining the stream in flight
        gate.set()
        caller.join(15)
        stopper.join(15)
        assert len(answered) == 2  # the call in flight finished
        assert not stopper.is_alive()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tessera_serve_starts_with_rules_and_stops_on_sigterm(tmp_path: object) -> None:
    data = os.path.join(str(tmp_path), "var")
    tokens = os.path.join(str(tmp_path), "tokens.json")
    with open(tokens, "w") as handle:
        json.dump({"switch-secret": {"name": "sw", "roles": ["switch"]}}, handle)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tessera.server.cli", "serve", "--rules", COFFEE, "--port",
         str(port), "--host", "127.0.0.1", "--data", data, "--workers", "1", "--tokens", tokens,
         "--grace", "5"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = authorization_pb2_grpc.AuthorizationStub(channel)

        def ready() -> bool:
            try:
                stub.Authorize(A.AuthorizeRequest(transaction=txn("serve-1", member="s")),
                               metadata=SW, timeout=5)
                return True
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                return False

        wait_until(ready, timeout=30, what="the served programme")
        with __import__("pytest").raises(grpc.RpcError):
            stub.Ping(A.PingRequest(), metadata=metadata("wrong"))
        channel.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = process.stderr.read() if process.stderr else ""
    assert "serving on 127.0.0.1" in log and '"method":"Authorization.Authorize"' in log
    assert os.path.exists(os.path.join(data, "redis", "appendonlydir"))
