"""Crashes: kill -9 of redis-server (appendfsync always) and of a client, mid-load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from tessera.engine.model import MemberState, Redeem
from tessera.server.redis_runtime import RedisServer
from tessera.server.wallets import WalletStore
from tessera.server.wallets.errors import StoreUnavailable

from tests.wallets_support import NOW, Harness, program, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMBERS = [f"m{i}" for i in range(16)]


def authorize_records(store: WalletStore, member: str) -> dict[str, int]:
    """How many journal records of operation 'authorize' each transaction has."""
    seen: dict[str, set[str]] = {}
    for entry in store.ledger(member, limit=100_000):
        if entry.op == "authorize":
            seen.setdefault(entry.txn, set()).add(entry.record)
    return {txn_id: len(ids) for txn_id, ids in seen.items()}


def request(member: str, n: int):
    # Every authorisation redeems, earns and counts: several balances in one operation.
    return txn(
        f"{member}-{n}",
        2_000,
        member=member,
        merchant="M1",
        time=NOW + n,
        redeem=Redeem("gift", 100),
    )


def test_kill_9_of_redis_loses_no_acknowledged_authorisation(tmp_path):
    server = RedisServer(str(tmp_path / "data"), port=0, appendfsync="always").start()
    port = server.port
    try:
        setup = Harness(WalletStore(server.client(), program()))
        for member in MEMBERS:
            setup.store.load_member(MemberState(member, balances={"gift": 1_000_000}), NOW - 100)
        acknowledged: list[tuple[str, str]] = []
        in_doubt: list[tuple[str, str]] = []
        lock = threading.Lock()

        def load(i: int) -> None:
            client = redis.Redis(
                host="127.0.0.1", port=port, socket_timeout=2, retry=Retry(NoBackoff(), 0)
            )
            worker = Harness(WalletStore(client, program()))
            mine = MEMBERS[i::4]
            for n in range(100_000):
                member = mine[n % len(mine)]
                try:
                    worker.authorize(request(member, n), capture=True)
                except StoreUnavailable:
                    with lock:
                        in_doubt.append((member, f"{member}-{n}"))
                    return
                with lock:
                    acknowledged.append((member, f"{member}-{n}"))

        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        for thread in threads:
            thread.join(30)
        assert len(acknowledged) >= 200

        server = RedisServer(str(tmp_path / "data"), port=port, appendfsync="always").start()
        store = WalletStore(server.client(), program())
        records = {member: authorize_records(store, member) for member in MEMBERS}
        for member, txn_id in acknowledged:
            assert records[member].get(txn_id) == 1, (member, txn_id)
        for member in MEMBERS:
            assert all(count == 1 for count in records[member].values())
        for member, txn_id in in_doubt:
            # Applied whole or not at all, and its record says the same as its ledger.
            assert (store.authorization(member, txn_id) is not None) == (txn_id in records[member])
        report = store.verify()
        assert report.ok, report.problems
        assert report.members == len(MEMBERS)
        # A retry of what was in doubt applies it once, or answers what was stored.
        harness = Harness(store)
        for member, txn_id in in_doubt:
            n = int(txn_id.rsplit("-", 1)[1])
            harness.authorize(request(member, n), capture=True)
            assert authorize_records(store, member)[txn_id] == 1
        assert store.verify().ok
    finally:
        server.stop()


CLIENT = textwrap.dedent(
    """
    import sys, threading
    import redis
    from tessera.engine.model import Redeem
    from tessera.server.wallets import WalletStore
    from tests.wallets_support import NOW, Harness, program, txn

    port = int(sys.argv[1])
    out = threading.Lock()

    def work(i):
        harness = Harness(WalletStore(redis.Redis(host="127.0.0.1", port=port), program()))
        member = f"c{i}"
        for n in range(1_000_000):
            t = txn(f"{member}-{n}", 2_000, member=member, merchant="M1", mcc=5998, time=NOW + n,
                    redeem=Redeem("gift", 100))
            harness.authorize(t, retries=20)
            if n % 3 == 0:
                harness.store.reverse(member, t.txn_id, now=NOW + n)
            elif n % 3 == 1:
                harness.store.capture(member, t.txn_id, 1_500, now=NOW + n)
                harness.store.refund(member, t.txn_id, 700, refund_id="r", now=NOW + n)
            with out:
                print(t.txn_id, flush=True)

    for i in range(3):
        threading.Thread(target=work, args=(i,)).start()
    """
)


def test_kill_9_of_a_client_leaves_no_partial_operation(redis_server, redis_client):
    setup = WalletStore(redis_client, program())
    for i in range(3):
        setup.load_member(MemberState(f"c{i}", balances={"gift": 1_000_000}), NOW - 100)
    env = dict(os.environ, PYTHONPATH=ROOT)
    child = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(redis_server.port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    done = 0
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while done < 60 and time.monotonic() < deadline:
            if child.stdout.readline():
                done += 1
            elif child.poll() is not None:
                raise AssertionError(child.stderr.read() if child.stderr else "client died")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert done >= 60
    store = WalletStore(redis_client, program())
    report = store.verify()
    assert report.ok, report.problems
    for i in range(3):
        member = f"c{i}"
        operations: dict[str, set[str]] = {}
        for entry in store.ledger(member, limit=100_000):
            operations.setdefault(entry.txn, set()).add(entry.op)
        for txn_id, ops in operations.items():
            if not txn_id:
                continue  # the opening balance
            record = store.authorization(member, txn_id)
            assert record is not None, txn_id
            status = record["status"]
            expected = {
                "held": {"authorize"},
                "reversed": {"authorize", "reverse"},
                "captured": {"authorize", "capture", "refund"}
                if record["progress"]["refunded"]
                else {"authorize", "capture"},
            }[status]
            assert ops == expected, (txn_id, status, ops)
