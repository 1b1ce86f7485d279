"""Retries, races and caps under real concurrency: threads, each with its own connection."""

from __future__ import annotations

import threading

import orjson
from tessera.engine.model import MemberState, Redeem
from tessera.server.wallets import WalletStore
from tessera.server.wallets.errors import StateChanged

from tests.wallets_support import NOW, Harness, program, run_threads, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures


class PerThread:
    """A harness per thread: its own client, hence its own connection."""

    def __init__(self, server) -> None:
        self.server = server
        self.local = threading.local()
        self.clients = []
        self.lock = threading.Lock()

    def get(self) -> Harness:
        harness = getattr(self.local, "harness", None)
        if harness is None:
            client = self.server.client()
            with self.lock:
                self.clients.append(client)
            harness = self.local.harness = Harness(WalletStore(client, program()))
        return harness

    def close(self) -> None:
        for client in self.clients:
            client.close()


def test_the_same_authorisation_sent_fifty_times_has_one_effect(harness, redis_server):
    harness.store.load_member(MemberState("m1", balances={"gift": 10_000}), NOW - 100)
    request = txn("t1", 20_000, merchant="M1", mcc=5999, redeem=Redeem("gift", 2_500))
    threads = PerThread(redis_server)
    answers = [harness.authorize(request) for _ in range(20)]
    answers += run_threads(10, lambda i: threads.get().authorize(request))
    answers += [harness.authorize(request) for _ in range(20)]
    threads.close()
    assert len(answers) == 50
    assert all(not isinstance(a, BaseException) for a in answers), answers
    assert all(orjson.dumps(a) == orjson.dumps(answers[0]) for a in answers)
    records = {e.record for e in harness.store.ledger("m1", limit=100) if e.txn == "t1"}
    assert len(records) == 1
    state = harness.store.snapshot("m1", NOW).state
    assert state.balances["gift"] == 7_500 and state.txn_count == 1


def test_two_hundred_concurrent_redemptions_against_ten_never_overspend(harness, redis_server):
    harness.store.load_member(MemberState("m1", balances={"gift": 1_000}), NOW - 100)
    threads = PerThread(redis_server)

    def redeem(i: int) -> list[int]:
        worker = threads.get()
        redeemed = []
        for j in range(25):
            request = txn(f"t{i}-{j}", 500, time=NOW + j, redeem=Redeem("gift", 100))
            redeemed.append(worker.authorize(request, capture=True, retries=500)["redeemed"])
        return redeemed

    results = run_threads(8, redeem)
    threads.close()
    assert all(not isinstance(r, BaseException) for r in results), results
    redeemed = [amount for per_thread in results for amount in per_thread]
    assert len(redeemed) == 200
    assert sorted(set(redeemed)) == [0, 100] and redeemed.count(100) == 10
    lines = [e for e in harness.store.ledger("m1", limit=1_000) if e.wallet == "gift"]
    assert all(e.balance >= 0 for e in lines)
    assert harness.store.snapshot("m1", NOW + 30).state.balances["gift"] == 0


def test_caps_and_budgets_under_concurrency_are_never_exceeded(harness, redis_server):
    threads = PerThread(redis_server)
    members = [f"m{i}" for i in range(24)]

    def shop(i: int) -> int:
        worker = threads.get()
        conflicts = 0
        for member in members[i::6]:
            for j in range(5):
                for mcc in (5999, 5998, 5997):
                    request = txn(
                        f"{member}-{mcc}-{j}", 4_000, member=member, mcc=mcc, time=NOW + j
                    )
                    try:
                        worker.authorize(request, capture=True, retries=50)
                    except StateChanged:
                        conflicts += 1
        return conflicts

    results = run_threads(6, shop)
    # Many threads at once on one member's daily cap.
    same = run_threads(
        8,
        lambda i: threads.get().authorize(
            txn(f"same-{i}", 99, member="crowd", mcc=5999, time=NOW), capture=True, retries=50
        ),
    )
    threads.close()
    assert results == [0] * 6, results
    assert all(not isinstance(r, BaseException) for r in same), same
    store = harness.store
    for member in members:
        assert store.snapshot(member, NOW + 10).totals["instant"] == 30  # 3 a day, 10 points each
    assert store.snapshot("crowd", NOW).totals["instant"] == 30
    assert store.budgets_used(["budgeted", "value_budget"]) == {
        ("budgeted", "count"): 10,
        ("value_budget", "value"): 5_000,
    }
    cash = {"budgeted": 0, "value_budget": 0}
    for member in members:
        for entry in store.ledger(member, limit=1_000):
            if entry.rule in cash:
                cash[entry.rule] += entry.delta
    assert cash == {"budgeted": 10 * 100, "value_budget": 5_000}
