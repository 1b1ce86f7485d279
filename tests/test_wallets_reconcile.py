"""Budget reconciliation on the three-master Cluster: reservations left by a client that died
are released (orphans) or lowered (an undo whose release never happened), never raised; an
attempt whose reservation was released can no longer apply."""

from __future__ import annotations

import time

import pytest
import redis.cluster
from tessera.engine.model import MemberState
from tessera.server.redis_runtime import LocalCluster
from tessera.server.wallets import WalletStore
from tessera.server.wallets.errors import ReservationReleased

from tests.wallets_support import NOW, Harness, program, txn

BUDGETED = dict(mcc=5998)  # rule "budgeted": cashback 1.00, budget 10 uses
VALUE = dict(mcc=5997)  # rule "value_budget": cashback 10%, budget 50.00


class Crash(BaseException):
    """The client process dies here."""


def later(seconds: int = 3_600) -> int:
    return int(time.time()) + seconds


def used(store: WalletStore, rule: str = "budgeted", kind: str = "count") -> int:
    return store.budgets_used([rule])[(rule, kind)]


def reserve_and_die(cluster_harness: Harness, transaction) -> tuple[list[str], list[object]]:
    """What a client does on Cluster up to its crash: claim, reserve, and nothing more."""
    store = cluster_harness.store
    decision, snapshot = cluster_harness.decide(transaction)
    args, budgets, _ = store._prepare(transaction, decision, snapshot, False)
    store._run("claim", [store.keys.claim(transaction.txn_id)], [transaction.member, "claim"])
    for b in budgets:
        store._set_reservation(b, transaction.member, b["d"], int(time.time()))
    keys = store._member_keys(transaction.member, transaction.txn_id)
    return [*keys, store.keys.fences(transaction.member)], args


def test_an_orphan_reservation_is_released(cluster_harness: Harness) -> None:
    store = cluster_harness.store
    store.load_member(MemberState("m1"), NOW - 100)
    cluster_harness.authorize(txn("kept", 500, member="m1", **BUDGETED))
    reserve_and_die(cluster_harness, txn("lost", 500, member="m1", time=NOW + 1, **BUDGETED))
    assert used(store) == 2  # under-spent: one use is held by nobody
    young = store.reconcile_budgets()  # within the grace period: left alone
    assert (young.recent, young.released) == (2, 0) and used(store) == 2
    report = store.reconcile_budgets(later(), grace=60)
    assert (report.released, report.owned, report.released_amount) == (1, 1, 1)
    assert used(store) == 1
    again = store.reconcile_budgets(later(), grace=60)  # a second run finds nothing to do
    assert (again.released, again.lowered, again.owned) == (0, 0, 1)
    assert cluster_harness.authorize(txn("kept", 500, member="m1", **BUDGETED))["status"] == "held"


def test_a_fenced_attempt_can_no_longer_apply(cluster_harness: Harness) -> None:
    store = cluster_harness.store
    store.load_member(MemberState("m1"), NOW - 100)
    slow = txn("slow", 500, member="m1", **BUDGETED)
    keys, args = reserve_and_die(cluster_harness, slow)  # a client stalled past the grace period
    assert store.reconcile_budgets(later(), grace=60).released == 1
    assert used(store) == 0
    with pytest.raises(ReservationReleased):
        store._run("authorize", keys, args)  # it wakes up: refused, nothing written
    assert store.authorization("m1", "slow") is None
    # The transaction itself goes through with a new attempt (a new reservation).
    result = cluster_harness.authorize(slow)
    assert any(a["rule"] == "budgeted" for a in result["applied"])
    assert used(store) == 1 and store.reconcile_budgets(later(), grace=60).owned == 1


def test_an_undo_whose_release_never_happened_is_lowered(cluster_harness: Harness) -> None:
    store = cluster_harness.store
    store.load_member(MemberState("m1"), NOW - 100)
    # 20.00 of 50.00
    cluster_harness.authorize(txn("v1", 20_000, member="m1", **VALUE), capture=True)
    cluster_harness.authorize(txn("c1", 500, member="m1", time=NOW + 1, **BUDGETED), capture=True)
    assert used(store, "value_budget", "value") == 2_000

    def die(*args, **kwargs):
        raise Crash

    store._set_reservation = die  # the client dies right after the member's script
    with pytest.raises(Crash):
        store.refund("m1", "v1", 5_000, refund_id="r1", now=NOW + 2)  # gives back 5.00
    with pytest.raises(Crash):
        store.reverse("m1", "c1", now=NOW + 3)
    del store._set_reservation
    assert store.authorization("m1", "c1")["status"] == "reversed"
    assert used(store, "value_budget", "value") == 2_000 and used(store) == 1  # under-spent
    report = store.reconcile_budgets(later(), grace=60)
    assert (report.lowered, report.released, report.released_amount) == (2, 0, 501)
    assert used(store, "value_budget", "value") == 1_500 and used(store) == 0
    # What is left is exactly what the records still use: the budgets allow the rest.
    assert store.reconcile_budgets(later(), grace=60).lowered == 0


def test_reconciliation_never_lets_a_budget_be_overspent(cluster_harness: Harness) -> None:
    store = cluster_harness.store
    members = [f"m{i}" for i in range(14)]
    for member in members:
        store.load_member(MemberState(member), NOW - 100)
    for i, member in enumerate(members[:4]):
        reserve_and_die(cluster_harness, txn(f"x{i}", 500, member=member, **BUDGETED))
    store.reconcile_budgets(later(), grace=60)
    granted = 0
    for i, member in enumerate(members):
        result = cluster_harness.authorize(
            txn(f"y{i}", 500, member=member, time=NOW + i, **BUDGETED))
        granted += any(a["rule"] == "budgeted" for a in result["applied"])
        store.reconcile_budgets(later(), grace=60)
    assert granted == 10 and used(store) == 10  # the cap, to the unit


def test_retention_on_a_cluster_folds_budgets_and_drops_claims(cluster: LocalCluster) -> None:
    client = cluster.client()
    client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    keep = 30 * 86_400
    store = WalletStore(client, program(), hold_seconds=600, record_retention=keep)
    cluster_harness = Harness(store)
    members = [f"r{i}" for i in range(6)]
    for i, member in enumerate(members):
        store.load_member(MemberState(member), NOW - 100)
        cluster_harness.authorize(txn(f"u{i}", 500, member=member, **BUDGETED), capture=True)
    reserve_and_die(cluster_harness, txn("orphan", 500, member="r0", time=NOW + 1, **BUDGETED))
    assert store.reconcile_budgets(later(), grace=60).released == 1  # leaves a fence
    assert client.exists(store.keys.fences("r0"))
    assert used(store) == 6
    # The records were made at NOW (transaction time), the fence at the store's clock.
    report = store.prune_records(max(NOW, later()) + keep + 10)
    assert (report.removed, report.fences) == (6, 1)
    assert used(store) == 6  # settled: still used
    for i, member in enumerate(members):
        assert not client.exists(store.keys.auth(member, f"u{i}"))
        assert not client.exists(store.keys.claim(f"u{i}"))
    assert (
        not client.exists(store.keys.claim("orphan"))
        or client.get(store.keys.claim("orphan")) == b"r0"
    )  # an attempt that died claimed the id for its member; that is all
    assert store.reconcile_budgets(later(keep + 7_200), grace=60).released == 0
    assert store.verify().ok
    client.close()
