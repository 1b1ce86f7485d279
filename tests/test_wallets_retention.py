"""Retention of authorisation records, tombstones and claims: what is past the retention
goes, what a live hold or a possible retry, capture, refund or reversal needs stays, and
what budgets used stays used."""

from __future__ import annotations

import time

import pytest
from tessera.engine.model import MemberState
from tessera.server.wallets import WalletStore
from tessera.server.wallets.errors import InvalidRequest, InvalidStatus, UnknownTransaction
from tessera.server.wallets.maintenance import Maintenance

from tests.wallets_support import DAY, NOW, Harness, program, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures

KEEP = 30 * DAY


@pytest.fixture
def short(redis_client):
    store = WalletStore(redis_client, program(), hold_seconds=7 * DAY, record_retention=KEEP)
    yield Harness(store)
    report = store.verify()
    assert report.ok, report.problems


def exists(harness: Harness, member: str, txn_id: str) -> tuple[bool, bool]:
    client = harness.store.client
    return (
        bool(client.exists(harness.store.keys.auth(member, txn_id))),
        bool(client.exists(harness.store.keys.claim(txn_id))),
    )


def test_records_past_retention_go_and_the_rest_stays(short: Harness) -> None:
    store = short.store
    short.load("m1")
    short.authorize(txn("sale", 2_000), capture=True)  # final at NOW
    short.authorize(txn("refunded", 2_000, time=NOW + 1), capture=True)
    store.refund("m1", "refunded", 500, refund_id="r", now=NOW + 20 * DAY)  # last op later
    store.reverse("m1", "early", now=NOW + 2)  # a tombstone
    short.authorize(txn("hold", 2_000, time=NOW + 3))  # a live hold ...
    ledger_before = [e.id for e in store.ledger("m1", limit=1_000)]
    state_before = store.member_state("m1", NOW + KEEP + 10)

    report = store.prune_records(NOW + KEEP + 10)
    assert (report.checked, report.removed, report.kept) == (4, 2, 2)
    assert exists(short, "m1", "sale") == (False, False)
    assert exists(short, "m1", "early") == (False, False)
    assert exists(short, "m1", "refunded") == (True, True)  # refunded 20 days later
    assert exists(short, "m1", "hold") == (True, True)  # ... is never removed while held
    # Nothing a member holds changes: the ledger, the balances, the counters.
    assert [e.id for e in store.ledger("m1", limit=1_000)] == ledger_before
    assert store.member_state("m1", NOW + KEEP + 10) == state_before
    with pytest.raises(UnknownTransaction):
        store.refund("m1", "sale", 100, refund_id="late", now=NOW + KEEP + 20)

    # The hold is released by the release job; 30 days after that it may go too.
    assert store.release_expired_holds(NOW + 8 * DAY) == 1
    assert store.prune_records(NOW + 8 * DAY + KEEP - 1).removed == 0
    assert store.prune_records(NOW + 20 * DAY + KEEP).removed == 2
    assert store.client.keys(f"{store.keys.tag('m1')}:a:*") == []


def test_used_budgets_stay_used_when_their_records_go(short: Harness) -> None:
    store = short.store
    for i in range(3):
        store.load_member(MemberState(f"b{i}"), NOW - DAY)
        short.authorize(txn(f"use{i}", 500, member=f"b{i}", mcc=5998), capture=True)
    short.authorize(txn("val", 20_000, member="b0", mcc=5997, time=NOW + 1), capture=True)
    store.refund("b0", "val", 10_000, refund_id="half", now=NOW + 2)  # 1.00 of 2.00 back
    used = store.budgets_used(["budgeted", "value_budget"])
    assert used == {("budgeted", "count"): 3, ("value_budget", "value"): 1_000}
    assert store.prune_records(NOW + KEEP + 10).removed == 4
    assert store.budgets_used(["budgeted", "value_budget"]) == used
    fields = store.client.hgetall(store.keys.budget("budgeted"))
    assert fields == {b"count": b"3", b"settled": b"3"}  # no reservation left, all settled
    # Reconciliation has nothing to release: the settled uses are nobody's orphans.
    assert store.reconcile_budgets(int(time.time()) + 3_600, grace=0).released == 0
    assert store.budgets_used(["budgeted"]) == {("budgeted", "count"): 3}


def test_a_record_being_removed_accepts_no_new_operation(short: Harness) -> None:
    store = short.store
    store.load_member(MemberState("m1"), NOW - DAY)
    short.authorize(txn("t1", 500, mcc=5998), capture=True)
    keys = [store.keys.auth("m1", "t1"), store.keys.claim("t1")]
    cutoff = NOW + 1
    # The job marks the record and dies before it folds the reservation and drops it.
    assert store._run("retire", keys, [cutoff, "m1", "1", "mark"])[0] == b"fold"
    with pytest.raises(InvalidStatus):
        store.reverse("m1", "t1", now=NOW + 2)
    assert store.budgets_used(["budgeted"]) == {("budgeted", "count"): 1}
    # The next run finishes the job.
    assert store.prune_records(NOW + KEEP + 10).removed == 1
    assert store.budgets_used(["budgeted"]) == {("budgeted", "count"): 1}
    assert exists(short, "m1", "t1") == (False, False)


def test_the_retention_outlasts_the_holds(redis_client) -> None:
    with pytest.raises(InvalidRequest):
        WalletStore(redis_client, program(), hold_seconds=10 * DAY, record_retention=DAY)


def test_the_periodic_job_releases_reconciles_and_prunes(short: Harness) -> None:
    store = short.store
    short.load("m1")
    short.authorize(txn("old", 2_000), capture=True)
    short.authorize(txn("held", 2_000, time=NOW + 1))
    clock = iter([NOW + 8 * DAY, NOW + 8 * DAY + KEEP + 1]).__next__
    job = Maintenance(store, interval=0.01, clock=lambda: clock())
    first = job.run_once()
    assert first["released"] == 1 and first["pruned"].removed == 0
    second = job.run_once()
    assert second["pruned"].removed == 2 and job.runs == 2
    # On its own thread: started, runs, stops.
    threaded = Maintenance(store, interval=0.01, clock=lambda: NOW + 9 * DAY + KEEP).start()
    deadline = time.time() + 10
    while threaded.runs < 2 and time.time() < deadline:
        time.sleep(0.01)
    threaded.stop()
    assert threaded.runs >= 2 and threaded.last is not None
