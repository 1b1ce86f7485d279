"""Fixtures for the wallet tests: a real redis-server, an empty database, a verified store.

The server is started once per session on a free loopback port (AOF on, ``everysec``);
every test gets an empty database.  The ``store`` fixture verifies, after every test that
used it, that every member's balances equal their ledgers and every budget its
reservations.  A test module loads these fixtures with::

    pytest_plugins = ["tests.conftest_redis"]
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from tessera.engine.compiler import CompiledProgram
from tessera.server.redis_runtime import RedisServer
from tessera.server.wallets import WalletStore

from tests.wallets_support import Harness, program


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(str(tmp_path_factory.mktemp("redis")), port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def compiled() -> CompiledProgram:
    return program()


@pytest.fixture
def store(redis_client: redis.Redis, compiled: CompiledProgram) -> Iterator[WalletStore]:
    wallets = WalletStore(redis_client, compiled)
    yield wallets
    report = wallets.verify()
    assert report.ok, "\n".join(report.problems)


@pytest.fixture
def harness(store: WalletStore) -> Harness:
    return Harness(store)
