"""Holds, capture, reversal, refund and release: exact, idempotent, never more than given."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tessera.engine.model import MemberState, Redeem
from tessera.server.wallets import WalletStore
from tessera.server.wallets.errors import (
    AmountExceedsRemaining,
    InvalidStatus,
    MemberMismatch,
    NegativeAmount,
    PayloadMismatch,
    ReversedBeforeAuthorization,
    UnknownTransaction,
)

from tests.wallets_support import DAY, NOW, Harness, db_state, program, txn, wallet_sums

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures


def view(harness: Harness, member: str = "m1", now: int = NOW + 1) -> dict:
    """Everything an authorisation can move, but the version."""
    snap = harness.store.snapshot(member, now)
    s = snap.state
    budgets = harness.store.budgets_used(["budgeted", "value_budget"])
    return {
        "balances": s.balances,
        "totals": dict(snap.totals),
        "tier": s.tier,
        "segments": s.segments,
        "txns": s.txn_count,
        "spend": (s.spend_30d, s.spend_12m),
        "last": s.last_purchase,
        "entries": s.entries,
        "limits": dict(snap.limits),
        "budgets": budgets,
    }


BIG = dict(merchant="M1", redeem=Redeem("gift", 3_000))  # earns, cashback, redeems, tags, raffle


def load(harness: Harness, member: str = "m1") -> None:
    harness.store.load_member(
        MemberState(
            member, txn_count=2, last_purchase=NOW - 5 * DAY, balances={"gift": 10_000, "cash": 100}
        ),
        NOW - 10 * DAY,
    )


# ---- capture --------------------------------------------------------------------------------


def test_capture_makes_a_hold_final(harness):
    load(harness)
    held = harness.authorize(txn("t1", 20_000, **BIG))
    assert held["status"] == "held"
    before = view(harness)
    captured = harness.store.capture("m1", "t1", now=NOW + 60)
    assert (captured["status"], captured["captured"], captured["released"]) == (
        "captured",
        20_000,
        0,
    )
    assert view(harness) == before
    assert harness.store.capture("m1", "t1", now=NOW + 90) == captured
    assert harness.store.capture("m1", "t1", 20_000, now=NOW + 90) == captured
    with pytest.raises(PayloadMismatch):
        harness.store.capture("m1", "t1", 10_000, now=NOW + 90)


def test_a_partial_capture_releases_the_rest_in_proportion(harness):
    load(harness)
    harness.authorize(txn("t1", 20_000, **BIG))  # 200.00: 200 points, 2% = 4.00, 2 entries
    result = harness.store.capture("m1", "t1", 15_000, now=NOW + 60)
    assert (result["captured"], result["released"]) == (15_000, 5_000)
    # A quarter goes back: 50 points, 1.00 of cashback, 7.50 of the 30.00 redeemed, and no
    # entry (half an entry rounds toward zero).
    assert wallet_sums(harness.store, "m1", "t1") == {
        "points": 150,
        "cash": 300,
        "gift": -2_250,
        "draw:raffle": 2,
    }
    s = harness.store.snapshot("m1", NOW + 61).state
    assert s.spend_30d == 15_000 and s.txn_count == 3


def test_capture_refuses_what_it_cannot_do(harness, redis_client):
    load(harness)
    harness.authorize(txn("t1", 1_000))
    before = db_state(redis_client)
    with pytest.raises(AmountExceedsRemaining) as caught:
        harness.store.capture("m1", "t1", 1_001, now=NOW)
    assert caught.value.code == "amount_exceeds_remaining"
    with pytest.raises(NegativeAmount):
        harness.store.capture("m1", "t1", -1, now=NOW)
    with pytest.raises(UnknownTransaction) as unknown:
        harness.store.capture("m1", "nope", now=NOW)
    assert unknown.value.code == "unknown_transaction"
    with pytest.raises(MemberMismatch):
        harness.store.capture("m2", "t1", now=NOW)
    assert db_state(redis_client) == before
    harness.store.reverse("m1", "t1", now=NOW)
    with pytest.raises(InvalidStatus):
        harness.store.capture("m1", "t1", now=NOW)


# ---- reversal -------------------------------------------------------------------------------


def test_a_reversal_undoes_every_effect_exactly_and_only_once(harness):
    load(harness)
    initial = view(harness)
    result = harness.authorize(txn("t1", 20_000, mcc=5997, **BIG))  # value budget too
    assert view(harness) != initial
    assert harness.store.snapshot("m1", NOW + 1).state.tier == "silver"
    reversed_ = harness.store.reverse("m1", "t1", now=NOW + 5)
    assert reversed_["status"] == "reversed" and reversed_["shortfall"] == {}
    assert view(harness) == initial
    assert wallet_sums(harness.store, "m1", "t1") == {
        "points": 0,
        "cash": 0,
        "gift": 0,
        "draw:raffle": 0,
    }
    lines = len(harness.store.ledger("m1", limit=100))
    assert harness.store.reverse("m1", "t1", now=NOW + 9) == reversed_
    assert len(harness.store.ledger("m1", limit=100)) == lines
    assert harness.store.tier_history("m1")[-1] == (NOW + 5, "", "t1", "reverse")
    assert result["status"] == "held"


def test_a_reversal_that_comes_first_declines_the_late_authorisation(harness, redis_client):
    early = harness.store.reverse("m1", "t1", now=NOW)
    assert early["early"] and early["status"] == "reversed"
    before = db_state(redis_client)
    with pytest.raises(ReversedBeforeAuthorization) as caught:
        harness.authorize(txn("t1", 1_000))
    assert caught.value.code == "reversed_before_authorization"
    assert db_state(redis_client) == before
    assert harness.store.reverse("m1", "t1", now=NOW + 1) == early


def test_a_reversal_naming_another_member_is_refused(harness, redis_client):
    harness.authorize(txn("t1", 1_000))
    before = db_state(redis_client)
    with pytest.raises(MemberMismatch) as caught:
        harness.store.reverse("m2", "t1", now=NOW)
    assert caught.value.code == "member_mismatch"
    assert db_state(redis_client) == before
    with pytest.raises(MemberMismatch):
        harness.authorize(txn("t1", 1_000, member="m2"))
    assert db_state(redis_client) == before


def _orders():
    """Authorisation, capture and 0-3 reversals in every distinct order."""
    seen = set()
    for reversals in range(4):
        for order in itertools.permutations(["auth", "capture"] + ["reverse"] * reversals):
            if order not in seen:
                seen.add(order)
                yield order


@pytest.mark.parametrize("order", list(_orders()), ids="-".join)
def test_reversals_in_any_number_and_order_net_to_zero(harness, order):
    load(harness)
    initial = view(harness)
    authorised = None
    for step, event in enumerate(order):
        now = NOW + step
        try:
            if event == "auth":
                authorised = harness.authorize(txn("t1", 20_000, mcc=5999, **BIG))
            elif event == "capture":
                harness.store.capture("m1", "t1", now=now)
            else:
                harness.store.reverse("m1", "t1", now=now)
        except (UnknownTransaction, InvalidStatus, ReversedBeforeAuthorization):
            pass  # capture before the authorisation or after the reversal; a late authorisation
    sums = wallet_sums(harness.store, "m1", "t1")
    if "reverse" in order:
        assert view(harness) == initial
        assert all(delta == 0 for delta in sums.values())
        if order.index("reverse") < order.index("auth"):
            assert authorised is None and sums == {}
    else:
        assert sums == {"points": 200, "instant": 10, "cash": 400, "gift": -3_000, "draw:raffle": 2}
    records = [e for e in harness.store.ledger("m1", limit=100) if e.txn == "t1"]
    assert len({e.id for e in records}) == len(records)
    assert len({e.record for e in records if e.op == "reverse"}) <= 1


# ---- refunds ---------------------------------------------------------------------------------


def test_refunds_claw_back_and_restore_in_proportion(harness):
    load(harness)
    harness.authorize(txn("t1", 20_000, **BIG), capture=True)
    first = harness.store.refund("m1", "t1", 5_000, refund_id="r1", now=NOW + 10)
    assert (first["amount"], first["refunded"], first["remaining"]) == (5_000, 5_000, 15_000)
    assert wallet_sums(harness.store, "m1", "t1") == {
        "points": 150,
        "cash": 300,
        "gift": -2_250,
        "draw:raffle": 2,
    }
    assert harness.store.refund("m1", "t1", 5_000, refund_id="r1", now=NOW + 11) == first
    with pytest.raises(PayloadMismatch):
        harness.store.refund("m1", "t1", 4_000, refund_id="r1", now=NOW + 11)
    with pytest.raises(AmountExceedsRemaining):
        harness.store.refund("m1", "t1", 15_001, refund_id="r2", now=NOW + 11)
    harness.store.refund("m1", "t1", 15_000, refund_id="r2", now=NOW + 12)
    assert wallet_sums(harness.store, "m1", "t1") == {
        "points": 0,
        "cash": 0,
        "gift": 0,
        "draw:raffle": 0,
    }
    assert harness.store.authorization("m1", "t1")["status"] == "refunded"


def test_a_refund_needs_a_captured_transaction(harness):
    harness.authorize(txn("t1", 1_000))
    with pytest.raises(InvalidStatus) as caught:
        harness.store.refund("m1", "t1", 100, refund_id="r1", now=NOW)
    assert caught.value.code == "invalid_status"
    with pytest.raises(UnknownTransaction):
        harness.store.refund("m1", "t9", 100, refund_id="r1", now=NOW)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amount=st.integers(min_value=1, max_value=50_000),
    cuts=st.lists(st.integers(min_value=1, max_value=999), min_size=1, max_size=5),
    partial_capture=st.booleans(),
)
def test_refunds_in_several_steps_never_return_more_than_was_given(
    redis_client, amount, cuts, partial_capture
):
    redis_client.flushall()
    harness = Harness(WalletStore(redis_client, program()))
    load(harness)
    harness.authorize(txn("t1", amount, merchant="M1", redeem=Redeem("gift", amount // 3)))
    given_ = wallet_sums(harness.store, "m1", "t1")
    captured = amount - amount // 7 if partial_capture else amount
    harness.store.capture("m1", "t1", captured, now=NOW + 1)
    left = captured
    steps = sorted({min(left, captured * c // 1000) for c in cuts} | {captured})
    done = 0
    for i, upto in enumerate(steps):
        if upto > done:
            harness.store.refund("m1", "t1", upto - done, refund_id=f"r{i}", now=NOW + 2 + i)
            done = upto
        now_sums = wallet_sums(harness.store, "m1", "t1")
        for wallet, value in given_.items():
            back = value - now_sums[wallet]
            # Never more back than was given, and no more than in proportion.
            assert abs(back) <= abs(value)
            assert abs(back) <= abs(value) * (amount - captured + done) // amount + 0
    assert all(v == 0 for v in wallet_sums(harness.store, "m1", "t1").values())
    with pytest.raises(AmountExceedsRemaining):
        harness.store.refund("m1", "t1", 1, refund_id="late", now=NOW + 100)
    assert harness.store.verify().ok


def test_a_clawback_may_go_below_zero_and_says_so(harness):
    harness.authorize(txn("t1", 99, mcc=5999), capture=True)  # 10 instant points
    harness.authorize(
        txn("t2", 1_000, time=NOW + 1, redeem=Redeem("instant", points=10)), capture=True
    )
    result = harness.store.reverse("m1", "t1", now=NOW + 2)
    assert result["shortfall"] == {"instant": 10}
    assert harness.balances("m1", NOW + 3)["instant"] == -10
    # What is earned next pays the debt first.
    harness.authorize(txn("t3", 99, mcc=5999, time=NOW + 4), capture=True)
    assert harness.balances("m1", NOW + 5)["instant"] == 0
    assert harness.totals("m1", NOW + 5)["instant"] == 0


# ---- holds that are never captured ------------------------------------------------------------


def test_holds_not_captured_in_time_are_released(redis_client):
    harness = Harness(WalletStore(redis_client, program(), hold_seconds=600))
    load(harness)
    load(harness, "m2")
    initial = view(harness)
    harness.authorize(txn("t1", 20_000, **BIG))
    harness.authorize(txn("t2", 5_000, member="m2", time=NOW + 300))
    harness.authorize(txn("t3", 5_000, time=NOW + 10), capture=True)
    assert harness.store.release_expired_holds(NOW + 599) == 0
    assert harness.store.release_expired_holds(NOW + 601) == 1
    assert harness.store.authorization("m1", "t1")["status"] == "released"
    assert harness.store.authorization("m2", "t2")["status"] == "held"
    assert wallet_sums(harness.store, "m1", "t1") == {
        "points": 0,
        "cash": 0,
        "gift": 0,
        "draw:raffle": 0,
    }
    with pytest.raises(InvalidStatus):
        harness.store.capture("m1", "t1", now=NOW + 700)
    assert harness.store.reverse("m1", "t1", now=NOW + 700)["status"] == "released"
    assert harness.store.release_expired_holds(NOW + 901) == 1
    assert harness.store.release_expired_holds(NOW + 10_000) == 0
    harness.store.reverse("m1", "t3", now=NOW + 20)
    assert view(harness) == initial
    assert harness.store.verify().ok
