"""Shared by the service tests: a real redis-server and a real gRPC server on loopback."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import redis
from tessera.engine.compiler import compile_file
from tessera.server.redis_runtime import RedisServer
from tessera.server.service import (
    MARKETER,
    SWITCH,
    Principal,
    Service,
    ServiceConfig,
    create_server,
    redis_client,
)
from tessera.server.service.versions import VersionStore

from tessera.v1 import authorization_pb2_grpc, members_pb2_grpc, rules_pb2_grpc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COFFEE = os.path.join(ROOT, "rules", "coffee.rules")
SWITCH_TOKEN, MARKETER_TOKEN = "switch-secret", "marketer-secret"
TOKENS = {
    SWITCH_TOKEN: Principal("acme-switch", frozenset({SWITCH})),
    MARKETER_TOKEN: Principal("alice", frozenset({MARKETER})),
}


def rules_files(path: str = COFFEE) -> tuple[str, dict[str, str]]:
    """A rules file's source and the data files it loads (those beside it it names)."""
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    folder = os.path.dirname(path)
    files = {}
    for name in os.listdir(folder):
        if f'"{name}"' in source:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                files[name] = handle.read()
    return source, files


def seed_version(client: redis.Redis, path: str = COFFEE) -> str:
    """Upload and activate a rules file directly in Redis (as ``tessera serve --rules`` does)."""
    from tessera.server.service.versions import compile_with_files

    source, files = rules_files(path)
    compiled = compile_with_files(source, os.path.basename(path), files)
    versions = VersionStore(client)
    versions.upload(compiled, source, os.path.basename(path), files, "test")
    versions.activate(compiled.version)
    assert compile_file(path).version == compiled.version
    return compiled.version


@dataclass
class Running:
    redis: RedisServer
    client: redis.Redis
    service: Service
    port: int
    channel: grpc.Channel

    @property
    def auth(self) -> authorization_pb2_grpc.AuthorizationStub:
        return authorization_pb2_grpc.AuthorizationStub(self.channel)

    @property
    def members(self) -> members_pb2_grpc.MembersStub:
        return members_pb2_grpc.MembersStub(self.channel)

    @property
    def rules(self) -> rules_pb2_grpc.RulesStub:
        return rules_pb2_grpc.RulesStub(self.channel)


def metadata(token: str = SWITCH_TOKEN) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


SW = metadata(SWITCH_TOKEN)
MK = metadata(MARKETER_TOKEN)


@contextlib.contextmanager
def running(
    tmp: str, root_cert: bytes | None = None, redis_timeout: float = 0.5, **overrides: object
) -> Iterator[Running]:
    """redis-server, the example programme active, a server on loopback; with ``root_cert``
    the server has TLS (``tls_cert``/``tls_key`` in ``overrides``) and the channel trusts
    that root."""
    server = RedisServer(os.path.join(tmp, "redis")).start()
    client = redis_client(server.url, redis_timeout)
    try:
        seed_version(client)
        config = ServiceConfig(tokens=dict(TOKENS), poll_seconds=0.2, redis_timeout=redis_timeout,
                               **overrides)  # type: ignore[arg-type]
        service, port = create_server("127.0.0.1:0", client=client, config=config)
        if root_cert is None:
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        else:
            channel = grpc.secure_channel(
                f"localhost:{port}", grpc.ssl_channel_credentials(root_certificates=root_cert))
        grpc.channel_ready_future(channel).result(timeout=10)
        try:
            yield Running(server, client, service, port, channel)
        finally:
            channel.close()
            service.shutdown(grace=1.0)
    finally:
        client.close()
        server.stop()


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true (bounded; no sleeps that race)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.01)
