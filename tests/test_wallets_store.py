"""The wallet store against a real redis-server: reads, authorise, buckets, ledger, errors.

Every test that uses the ``store`` fixture ends with ``verify()`` over every member and
budget (see tests/conftest_redis.py).
"""

from __future__ import annotations

import dataclasses
import os

import orjson
import pytest
from tessera.engine.compiler import compile_file
from tessera.engine.counters import period_key
from tessera.engine.decision import Usage
from tessera.engine.errors import TesseraError
from tessera.engine.jsonio import decode_member, decode_transaction
from tessera.engine.model import MemberState, Redeem
from tessera.engine.simulate import Simulation
from tessera.engine.timezone import local_seconds
from tessera.engine.walk import Walker
from tessera.server.wallets import WalletStore, authorize_transaction
from tessera.server.wallets.errors import (
    InvalidAmount,
    LimitExceeded,
    MemberMismatch,
    NegativeAmount,
    PayloadMismatch,
    StateChanged,
    UnknownRule,
    UnknownWallet,
    WalletError,
)

from tests.wallets_support import DAY, NOW, db_state, program, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def authorize_lines(store, member, txn_id):
    return [e for e in store.ledger(member, limit=1000) if e.txn == txn_id and e.op == "authorize"]


# ---- reads ----------------------------------------------------------------------------------


def test_member_state_returns_what_the_engine_decides_on(store):
    store.load_member(
        MemberState(
            "m1",
            "silver",
            frozenset({"vip"}),
            txn_count=4,
            spend_12m=60_000,
            attrs={"city": "Novi Sad", "age": 40},
            balances={"points": 1200, "cash": 310},
            entries={"raffle": 3},
        ),
        NOW - DAY,
    )
    state, version = store.member_state("m1", NOW)
    assert version == 1
    assert (state.tier, state.segments, state.txn_count) == ("silver", frozenset({"vip"}), 4)
    assert state.spend_12m == 60_000 and state.spend_30d == 0
    assert state.attrs == {"city": "Novi Sad", "age": 40}
    assert state.balances == {"points": 1200, "instant": 0, "cash": 310, "gift": 0}
    assert state.entries == {"raffle": 3}
    unknown, version = store.member_state("nobody", NOW)
    assert version == 0 and unknown.txn_count == 0 and unknown.tier == "bronze"  # the default tier


def test_store_decides_and_records_exactly_like_the_simulation(redis_client):
    """The coffee example through the store and through the in-memory simulation."""
    compiled = compile_file(os.path.join(ROOT, "rules", "coffee.rules"))
    program = compiled.program
    store = WalletStore(redis_client, compiled)
    walker = Walker(program, compiled.version)
    sim = Simulation(compiled)
    with open(os.path.join(ROOT, "rules", "coffee.members.jsonl")) as members:
        for line in members:
            member = decode_member(orjson.loads(line), program)
            store.load_member(member, NOW - 30 * DAY)
            sim.wallets.load(member)
    with open(os.path.join(ROOT, "rules", "coffee.transactions.jsonl")) as transactions:
        for line in transactions:
            transaction = decode_transaction(orjson.loads(line), program)
            result = authorize_transaction(compiled, walker, store, transaction, capture=True)
            expected = sim.process(transaction)
            assert (result["discount"], result["redeemed"], result["charged"]) == (
                expected.discount,
                expected.redeemed,
                expected.charged,
            ), transaction.txn_id
            assert result["balances"] == expected.balances, transaction.txn_id
            assert [a["rule"] for a in result["applied"]] == [a.rule for a in expected.applied]
    assert store.verify().ok


# ---- authorise --------------------------------------------------------------------------


def test_authorize_credits_counts_and_answers(harness):
    harness.load("m1", gift=5_000)
    result = harness.authorize(txn("t1", 12_345, merchant="M1", redeem=Redeem("gift", 2_000)))
    assert result["status"] == "held" and result["hold_until"] == NOW + 7 * DAY
    assert (result["amount"], result["discount"], result["redeemed"], result["charged"]) == (
        12_345,
        0,
        2_000,
        10_345,
    )
    # 2% of the net 123.45 = 2.46 cash; 123 points pending for 14 days; raffle entries; tag
    assert result["balances"] == {"gift": 3_000, "cash": 246, "points": 0, "instant": 0}
    snap = harness.store.snapshot("m1", NOW)
    assert snap.totals["points"] == 123 and snap.state.entries == {"raffle": 2}
    assert snap.state.segments == frozenset({"big_spender"})
    assert (snap.state.txn_count, snap.state.spend_30d, snap.state.last_purchase) == (
        1,
        12_345,
        NOW,
    )
    assert snap.state.tier == "silver" and snap.version == 2
    lines = authorize_lines(harness.store, "m1", "t1")
    assert sorted((e.wallet, e.kind, e.delta) for e in lines) == [
        ("cash", "cashback", 246),
        ("draw:raffle", "entries", 2),
        ("gift", "redeem", -2_000),
        ("points", "earn", 123),
    ]
    cash = next(e for e in lines if e.wallet == "cash")
    assert cash.funders == (("merchant:M1", 123), ("program", 123)) and cash.balance == 246


def test_points_wait_while_pending_and_expire_with_a_ledger_entry(harness):
    store = harness.store
    harness.authorize(txn("t1", 5_000), capture=True)
    assert harness.balances("m1")["points"] == 0  # pending for 14 days
    assert harness.balances("m1", NOW + 14 * DAY)["points"] == 50
    assert store.expire("m1", NOW + 100 * DAY) == {}
    assert store.expire("m1", NOW + 365 * DAY) == {"points": 50}
    assert harness.totals("m1", NOW + 365 * DAY)["points"] == 0
    last = store.ledger("m1", limit=1)[0]
    assert (last.op, last.kind, last.wallet, last.delta, last.balance) == (
        "expire",
        "expire",
        "points",
        -50,
        0,
    )
    assert store.expire("m1", NOW + 400 * DAY) == {}


def test_spending_takes_the_earliest_expiring_points_first(harness):
    # The capped rule earns 10 'instant' points (spendable at once, lapsing after 30 days).
    harness.authorize(txn("a", 100, mcc=5999), capture=True)
    harness.authorize(txn("b", 100, mcc=5999, time=NOW + 5 * DAY), capture=True)
    result = harness.authorize(
        txn("c", 1_000, time=NOW + 6 * DAY, redeem=Redeem("instant", points=15)), capture=True
    )
    assert result["redeemed"] == 15
    # The first bucket (10, lapsing at +30d) went first; 5 are left of the second (+35d).
    assert harness.balances("m1", NOW + 31 * DAY)["instant"] == 5
    assert harness.store.expire("m1", NOW + 31 * DAY) == {}
    assert harness.store.expire("m1", NOW + 36 * DAY) == {"instant": 5}


def test_tier_upgrades_at_once_and_keeps_its_history(harness):
    harness.authorize(txn("t1", 5_000), capture=True)
    assert harness.store.snapshot("m1", NOW).state.tier == "bronze"
    harness.authorize(txn("t2", 6_000, time=NOW + 60), capture=True)
    assert harness.store.snapshot("m1", NOW + 60).state.tier == "silver"
    assert harness.store.tier_history("m1") == [
        (NOW, "bronze", "t1", "authorize"),
        (NOW + 60, "silver", "t2", "authorize"),
    ]


def test_a_decision_on_an_older_state_is_refused_and_nothing_is_written(harness, redis_client):
    harness.load("m1", gift=5_000)
    first = txn("t1", 10_000, redeem=Redeem("gift", 4_000))
    decision, snapshot = harness.decide(first)
    harness.authorize(txn("t2", 10_000, redeem=Redeem("gift", 3_000)))
    before = db_state(redis_client)
    with pytest.raises(StateChanged) as caught:
        harness.store.authorize(first, decision, snapshot)
    assert caught.value.code == "state_changed" and caught.value.retryable
    assert db_state(redis_client) == before
    # Deciding again sees 20.00 left and redeems that much.
    assert harness.authorize(first)["redeemed"] == 2_000


def test_the_same_request_gets_the_stored_answer_and_another_payload_is_refused(
    harness, redis_client
):
    first = harness.authorize(txn("t1", 1_000))
    assert harness.authorize(txn("t1", 1_000)) == first
    before = db_state(redis_client)
    with pytest.raises(PayloadMismatch) as caught:
        harness.authorize(txn("t1", 1_001))
    assert caught.value.code == "payload_mismatch"
    assert db_state(redis_client) == before
    assert len(authorize_lines(harness.store, "m1", "t1")) == 1


@pytest.mark.parametrize(
    ("spoil", "error", "code"),
    [
        (
            lambda d: d.applied[0].effects.__setitem__(
                0, dataclasses.replace(d.applied[0].effects[0], wallet="nope")
            ),
            UnknownWallet,
            "unknown_wallet",
        ),
        (
            lambda d: d.applied.__setitem__(0, dataclasses.replace(d.applied[0], rule="nope")),
            UnknownRule,
            "unknown_rule",
        ),
        (
            lambda d: d.applied[0].effects.__setitem__(
                0, dataclasses.replace(d.applied[0].effects[0], points=-5)
            ),
            NegativeAmount,
            "negative_amount",
        ),
        (
            lambda d: d.applied[0].effects.__setitem__(
                0, dataclasses.replace(d.applied[0].effects[0], points=2.5)
            ),
            InvalidAmount,
            "invalid_amount",
        ),
        (
            lambda d: d.applied[0].effects.__setitem__(
                0, dataclasses.replace(d.applied[0].effects[0], points=2**60)
            ),
            InvalidAmount,
            "invalid_amount",
        ),
        (
            lambda d: d.usage.__setitem__(0, dataclasses.replace(d.usage[0], rule="nope")),
            UnknownRule,
            "unknown_rule",
        ),
        (lambda d: setattr(d, "member", "m2"), MemberMismatch, "member_mismatch"),
    ],
)
def test_a_bad_decision_is_refused_with_a_code_and_nothing_is_written(
    harness, redis_client, spoil, error, code
):
    harness.load("m1", gift=5_000)
    transaction = txn("t1", 1_000, mcc=5999)
    decision, snapshot = harness.decide(transaction)
    spoil(decision)
    before = db_state(redis_client)
    with pytest.raises(error) as caught:
        harness.store.authorize(transaction, decision, snapshot)
    assert caught.value.code == code
    assert isinstance(caught.value, TesseraError) and isinstance(caught.value, WalletError)
    assert db_state(redis_client) == before


def test_a_negative_transaction_amount_is_refused(harness, redis_client):
    transaction = txn("t1", 1_000)
    decision, snapshot = harness.decide(transaction)
    before = db_state(redis_client)
    with pytest.raises(NegativeAmount):
        harness.store.authorize(dataclasses.replace(transaction, amount=-1), decision, snapshot)
    assert db_state(redis_client) == before


# ---- limits and budgets ------------------------------------------------------------------


def test_limits_count_per_member_and_period(harness):
    for i in range(4):
        result = harness.authorize(txn(f"t{i}", 99, mcc=5999, time=NOW + i), capture=True)
        assert [a["rule"] for a in result["applied"]] == (["capped"] if i < 3 else [])
    assert result["skipped"][0]["reason"] == "limit"
    assert harness.balances("m1", NOW + 10)["instant"] == 30
    tomorrow = harness.authorize(txn("t9", 99, mcc=5999, time=NOW + DAY), capture=True)
    assert [a["rule"] for a in tomorrow["applied"]] == ["capped"]
    other = harness.authorize(txn("u1", 99, mcc=5999, member="m2"), capture=True)
    assert [a["rule"] for a in other["applied"]] == ["capped"]


def test_a_read_after_months_of_purchases_counts_only_the_current_periods(harness, redis_client):
    # Purchases on 70 days (capped: 3 a day; value_limited: 5.00 a month) leave one field
    # per limit counter in the profile, not one per period, and the spend days.  A read
    # counts each limit in the periods current at `now` as the answers add up, and sums
    # the spend windows as a brute force over the raw hash does.
    start = NOW - 70 * DAY
    store = harness.store
    zone = store.program.timezone
    used: dict[tuple[str, str], int] = {}  # (period key, "rule|kind") -> used
    for day in range(70):
        for i, mcc in enumerate((5999, 5999, 5996)):
            at = start + day * DAY + i
            result = harness.authorize(
                txn(f"d{day}-{i}", 3_000 + day, mcc=mcc, time=at), capture=True
            )
            local_day = local_seconds(zone, at) // DAY
            for applied in result["applied"]:
                if applied["rule"] == "capped":
                    key = (period_key("day", local_day), "capped|count")
                    used[key] = used.get(key, 0) + 1
                elif applied["rule"] == "value_limited":
                    key = (period_key("month", local_day), "value_limited|value")
                    value = sum(e["amount"] for e in applied["effects"])
                    used[key] = used.get(key, 0) + value
    last = start + 69 * DAY + 2
    raw = {
        k.decode(): v.decode() for k, v in redis_client.hgetall(store.keys.profile("m1")).items()
    }
    days = {k.decode(): int(v) for k, v in redis_client.hgetall(store.keys.spend("m1")).items()}
    assert len(days) == 70 and not any(name.startswith("d:") for name in raw)
    assert sorted(name for name in raw if name[:2] in ("c:", "l:")) == [
        "c:day|capped|count",
        "c:month|value_limited|value",
    ]
    for now in (last, last + DAY, last + 40 * DAY):
        expected = {key: n for key, n in used.items() if key[0] in store.period_keys(now)}
        snapshot = store.snapshot("m1", now)
        assert snapshot.limits == expected
        today = now // DAY
        spent = {today - int(k[2:]): v for k, v in days.items()}
        assert snapshot.state.spend_30d == sum(v for ago, v in spent.items() if 0 <= ago < 30)
        assert snapshot.state.spend_12m == sum(v for ago, v in spent.items() if 0 <= ago < 365)
        assert snapshot.spend_today == spent.get(0, 0)
    assert len(store.snapshot("m1", last).limits) == 2


def test_limit_counters_of_the_layout_before_named_ones_still_count(harness, redis_client):
    # A profile written before limit counters were named kept one field per period
    # ("l:<period key>|<rule>|<kind>"): it counts until the named counter is written, and
    # the reversal of an authorisation recorded then gives back in both layouts.
    store = harness.store
    first = harness.authorize(txn("old", 99, mcc=5999, time=NOW), capture=True)
    assert [a["rule"] for a in first["applied"]] == ["capped"]
    profile = store.keys.profile("m1")
    day = period_key("day", local_seconds(store.program.timezone, NOW) // DAY)
    assert redis_client.hget(profile, "c:day|capped|count") == f"{day}|1".encode()
    # The member as the older layout kept it, its record included.
    redis_client.hdel(profile, "c:day|capped|count")
    redis_client.hset(profile, f"l:{day}|capped|count", 1)
    auth = store.keys.auth("m1", "old")
    rec = orjson.loads(redis_client.hget(auth, "r"))
    rec["lim"] = [{"f": f"l:{day}|capped|count", "d": 1, "c": 3}]
    redis_client.hset(auth, "r", orjson.dumps(rec))
    assert store.snapshot("m1", NOW + 1).limits == {(day, "capped|count"): 1}
    harness.authorize(txn("new", 99, mcc=5999, time=NOW + 1), capture=True)
    assert redis_client.hget(profile, "c:day|capped|count") == f"{day}|2".encode()
    store.reverse("m1", "old", now=NOW + 2)
    assert redis_client.hget(profile, f"l:{day}|capped|count") is None
    assert store.snapshot("m1", NOW + 3).limits == {(day, "capped|count"): 1}
    rules = [
        [
            a["rule"]
            for a in harness.authorize(txn(f"t{i}", 99, mcc=5999, time=NOW + 4 + i), capture=True)[
                "applied"
            ]
        ]
        for i in range(3)
    ]
    assert rules == [["capped"], ["capped"], []]
    assert store.verify("m1").ok


def test_a_reversal_in_a_later_period_leaves_that_periods_counter_alone(harness, redis_client):
    store = harness.store
    harness.authorize(txn("t0", 99, mcc=5999, time=NOW), capture=True)
    harness.authorize(txn("t1", 99, mcc=5999, time=NOW + DAY), capture=True)
    profile = store.keys.profile("m1")
    before = redis_client.hget(profile, "c:day|capped|count")
    store.reverse("m1", "t0", now=NOW + DAY + 1)
    assert redis_client.hget(profile, "c:day|capped|count") == before
    store.reverse("m1", "t1", now=NOW + DAY + 2)
    assert redis_client.hget(profile, "c:day|capped|count") is None
    assert store.snapshot("m1", NOW + DAY + 3).limits == {}
    assert store.verify("m1").ok


def test_value_limits_cut_the_reward_to_what_is_left(harness):
    # 10% cashback, at most 5.00 a month: 4.00, then 1.00 of 4.00, then nothing.
    cash = [
        harness.authorize(txn(f"t{i}", 4_000, mcc=5996, time=NOW + i), capture=True)["balances"][
            "cash"
        ]
        for i in range(3)
    ]
    assert cash == [400, 500, 500]


def test_budgets_are_shared_by_all_members(harness):
    applied = 0
    for i in range(12):
        result = harness.authorize(txn(f"t{i}", 99, mcc=5998, member=f"m{i}"), capture=True)
        applied += bool(result["applied"] and result["applied"][0]["rule"] == "budgeted")
    assert applied == 10
    assert harness.store.budgets_used(["budgeted"]) == {("budgeted", "count"): 10}


def test_counters_for_the_walk_come_from_the_snapshot(harness):
    harness.authorize(txn("t1", 100, mcc=5999), capture=True)
    snapshot = harness.store.snapshot("m1", NOW + 5)
    matched = harness.compiled.match(txn("x", 100, mcc=5998), snapshot.state)
    counters = harness.store.counters(snapshot, matched)
    assert counters.limit_used("m1", "capped", "count", "day", "2026-12-05") == 1
    assert counters.limit_used("m1", "capped", "count", "day", "2026-12-06") == 0
    assert counters.budget_used("budgeted", "count") == 0


# ---- ledger, verify, scripts ----------------------------------------------------------------


def test_the_ledger_pages_backwards_by_time(harness):
    for i in range(5):  # two lines a record: points and cash
        harness.authorize(txn(f"t{i}", 1_000, merchant="M1", time=NOW + i), capture=True)
    everything = harness.store.ledger("m1", limit=100)
    assert len(everything) == 10 and len({e.id for e in everything}) == 10
    assert [e.txn for e in everything[::2]] == ["t4", "t3", "t2", "t1", "t0"]
    seen, before = [], None
    while True:
        page = harness.store.ledger("m1", before=before, limit=3)  # pages end inside records
        if not page:
            break
        assert len(page) <= 3
        seen.extend(page)
        before = page[-1].id
    assert seen == everything
    assert [e.time for e in seen] == sorted((e.time for e in seen), reverse=True)


def test_verify_notices_a_balance_that_differs_from_its_ledger(harness, redis_client):
    harness.authorize(txn("t1", 1_000, merchant="M1"), capture=True)
    key = harness.store.keys.wallets("m1")
    field = next(f for f in redis_client.hkeys(key) if f.startswith(b"cash|"))
    redis_client.hincrby(key, field, 1)
    report = harness.store.verify("m1")
    assert not report.ok and "cash: holds 21 but its ledger sums to 20" in report.problems[0]
    redis_client.hincrby(key, field, -1)
    assert harness.store.verify().ok


def test_scripts_are_loaded_again_after_the_server_forgot_them(harness, redis_client):
    harness.authorize(txn("t1", 1_000), capture=True)
    redis_client.script_flush()
    assert harness.authorize(txn("t2", 1_000, time=NOW + 1), capture=True)["status"] == "captured"
    assert harness.store.snapshot("m1", NOW + 2).state.txn_count == 2


def test_store_unavailable_is_translated():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from tessera.server.wallets.errors import StoreUnavailable

    client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    with pytest.raises(StoreUnavailable) as caught:
        WalletStore(client, program()).member_state("m1", NOW)
    assert caught.value.code == "store_unavailable" and caught.value.retryable


def test_authorize_many_pipelines_and_answers_each(harness, redis_client):
    store = harness.store
    for member in ("m1", "m2", "m3"):
        store.load_member(MemberState(member, balances={"gift": 1_000}), NOW - DAY)
    items = [
        (t, *harness.decide(t))
        for t in (
            txn(f"t-{m}", 5_000, member=m, redeem=Redeem("gift", 700)) for m in ("m1", "m2", "m3")
        )
    ]
    items[2][1].applied[0].effects[0].wallet = "nope"  # one bad decision among good ones
    redis_client.script_flush()  # and the server forgot the script
    first = store.authorize_many(items)
    assert [r["redeemed"] for r in first[:2]] == [700, 700]
    assert isinstance(first[2], UnknownWallet)
    assert store.authorize_many(items[:2]) == first[:2]  # retries: the stored answers
    assert store.snapshot("m3", NOW).state.balances["gift"] == 1_000


def test_a_decision_past_its_cap_is_refused_and_nothing_is_written(harness, redis_client):
    """The store checks every cap on the snapshot (which the script's version check holds
    to), whatever the decision says."""
    for i in range(3):
        harness.authorize(txn(f"t{i}", 99, mcc=5999, time=NOW + i), capture=True)
    fourth = txn("t3", 99, mcc=5999, time=NOW + 3)
    decision, snapshot = harness.decide(fourth)
    assert [a.rule for a in decision.applied] == []  # the walk saw the cap reached
    day = next(key for key, counter in snapshot.limits if counter == "capped|count")
    assert snapshot.limits[(day, "capped|count")] == 3
    # A decision that counts once more anyway (as a walk on stale counters would).
    over = dataclasses.replace(
        decision, usage=[Usage("limit", "capped", "count", "day", day, 1, 3)]
    )
    before = db_state(redis_client)
    with pytest.raises(LimitExceeded) as caught:
        harness.store.authorize(fourth, over, snapshot)
    assert caught.value.code == "limit_exceeded" and isinstance(caught.value, StateChanged)
    assert db_state(redis_client) == before
