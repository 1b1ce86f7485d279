"""The wallet store on a three-master Redis Cluster: no CROSSSLOT, no NOSCRIPT for the caller.

On a Cluster a transaction's claim and each campaign budget live in other slots than the
member; the store claims and reserves them around the member's script (docs/wallets.md).
"""

from __future__ import annotations

import pytest
from tessera.engine.model import MemberState, Redeem
from tessera.server.wallets import WalletStore
from tessera.server.wallets.errors import MemberMismatch, ReversedBeforeAuthorization

from tests.wallets_support import NOW, Harness, program, run_threads, txn, wallet_sums

MEMBERS = [f"member-{i}" for i in range(12)]


def test_members_spread_over_every_node(cluster_harness):
    client = cluster_harness.store.client
    nodes = {client.get_node_from_key(cluster_harness.store.keys.profile(m)).name for m in MEMBERS}
    assert len(nodes) == 3
    for member in MEMBERS:
        slots = {
            client.keyslot(key)
            for key in (
                cluster_harness.store.keys.profile(member),
                cluster_harness.store.keys.wallets(member),
                cluster_harness.store.keys.ledger(member),
                cluster_harness.store.keys.hold_index(member),
                cluster_harness.store.keys.auth(member, "t"),
                cluster_harness.store.keys.tiers(member),
            )
        }
        assert len(slots) == 1


def test_authorize_capture_refund_reverse_on_a_cluster(cluster_harness):
    store = cluster_harness.store
    for member in MEMBERS:
        store.load_member(MemberState(member, balances={"gift": 10_000}), NOW - 100)
    for i, member in enumerate(MEMBERS):
        first = txn(
            f"a-{i}", 20_000, member=member, merchant="M1", mcc=5998, redeem=Redeem("gift", 3_000)
        )
        held = cluster_harness.authorize(first)
        assert held["status"] == "held" and cluster_harness.authorize(first) == held
        store.capture(member, first.txn_id, 15_000, now=NOW + 1)
        store.refund(member, first.txn_id, 5_000, refund_id="r1", now=NOW + 2)
        store.reverse(member, first.txn_id, now=NOW + 3)
        assert all(v == 0 for v in wallet_sums(store, member, first.txn_id).values())
        assert store.reverse(member, first.txn_id, now=NOW + 4)["status"] == "reversed"
    # Every budget use was given back by the reversals.
    assert store.budgets_used(["budgeted"]) == {("budgeted", "count"): 0}


def test_early_reversals_and_mismatched_members_on_a_cluster(cluster_harness):
    store = cluster_harness.store
    assert store.reverse("member-1", "late", now=NOW)["early"]
    with pytest.raises(ReversedBeforeAuthorization):
        cluster_harness.authorize(txn("late", 1_000, member="member-1"))
    cluster_harness.authorize(txn("mine", 1_000, member="member-2"))
    with pytest.raises(MemberMismatch):
        store.reverse("member-3", "mine", now=NOW)
    with pytest.raises(MemberMismatch):
        cluster_harness.authorize(txn("mine", 1_000, member="member-4"))


def test_scripts_flushed_on_every_node_are_loaded_again(cluster_harness, cluster):
    cluster_harness.authorize(txn("t1", 1_000, member="member-5"), capture=True)
    for node in cluster.nodes:  # as a restarted or failed-over node would be
        with node.client() as direct:
            direct.script_flush()
    for i, member in enumerate(MEMBERS):
        cluster_harness.authorize(txn(f"t2-{i}", 1_000, member=member, mcc=5999), capture=True)
        assert cluster_harness.store.snapshot(member, NOW).state.txn_count >= 1


def test_budgets_hold_under_concurrency_on_a_cluster(cluster_harness, cluster):
    def shop(i: int) -> int:
        worker = Harness(WalletStore(cluster.client(), program()))
        applied = 0
        for member in MEMBERS[i::4]:
            for j in range(3):
                result = worker.authorize(
                    txn(f"{member}-{j}", 99, member=member, mcc=5998, time=NOW + j),
                    capture=True,
                    retries=20,
                )
                applied += any(a["rule"] == "budgeted" for a in result["applied"])
        worker.store.client.close()
        return applied

    results = run_threads(4, shop)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sum(results) == 10
    assert cluster_harness.store.budgets_used(["budgeted"]) == {("budgeted", "count"): 10}


def test_holds_are_released_on_a_cluster(cluster_harness):
    for member in MEMBERS[:4]:
        cluster_harness.authorize(txn(f"h-{member}", 5_000, member=member))
    assert cluster_harness.store.release_expired_holds(NOW + 601) == 4
    for member in MEMBERS[:4]:
        assert cluster_harness.store.authorization(member, f"h-{member}")["status"] == "released"
