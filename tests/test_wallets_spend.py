"""Spend over 30 days and 12 months: one definition (whole UTC days, engine/simulate.py's
``spend_window``) for the Redis store and the simulation, checked on the same history."""

from __future__ import annotations

import random

from tessera.engine.model import MemberState
from tessera.engine.simulate import Simulation, spend_window
from tessera.server.wallets import WalletStore

from tests.wallets_support import DAY, NOW, Harness, program, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures

MIDNIGHT = NOW - NOW % DAY  # 00:00 UTC of NOW's day


def test_the_window_counts_whole_utc_days() -> None:
    late = MIDNIGHT - 1  # 23:59:59 of the day before
    purchases = [(late, 100), (MIDNIGHT, 10)]
    # 29 days and one second after `late` is already its 31st day: out of the 30-day window.
    assert spend_window(purchases, late + 29 * DAY + 1, 30) == 10
    assert spend_window(purchases, late + 29 * DAY, 30) == 110  # its 30th day, 23:59:59
    assert spend_window(purchases, MIDNIGHT + 30 * DAY - 1, 30) == 10
    assert spend_window(purchases, MIDNIGHT + 30 * DAY, 30) == 0
    assert spend_window(purchases, MIDNIGHT + 364 * DAY, 365) == 10
    assert spend_window(purchases, MIDNIGHT + 365 * DAY, 365) == 0
    assert spend_window(purchases, late, 30) == 100  # the later purchase is not yet made


def member_view(state: MemberState) -> tuple:
    return (
        state.spend_30d,
        state.spend_12m,
        state.txn_count,
        state.last_purchase,
        state.tier,
        state.segments,
        state.balances,
        {draw: n for draw, n in state.entries.items() if n},  # the store lists every draw
    )


def test_store_and_simulation_agree_on_the_same_history(store: WalletStore) -> None:
    compiled = program()
    sim = Simulation(compiled)
    harness = Harness(store)
    rng = random.Random(7)
    opening = MemberState("m1", spend_30d=4_000, spend_12m=30_000, balances={"gift": 50_000})
    store.load_member(opening, MIDNIGHT - 400 * DAY)
    sim.wallets.load(opening.copy(), MIDNIGHT - 400 * DAY)
    # Purchases over 14 months, several at the edges of UTC days (23:59:59 and 00:00:00).
    times: list[int] = []
    day = MIDNIGHT - 400 * DAY
    while day < MIDNIGHT + 30 * DAY:
        day += rng.choice((1, 2, 3, 7, 13, 29, 30, 31)) * DAY
        times.append(day + rng.choice((0, 1, DAY - 1, 3_600 * rng.randrange(24))))
    times.sort()
    probes: list[int] = []
    for i, at in enumerate(times):
        amount = rng.choice((150, 1_250, 9_900, 20_000, 45_000))
        merchant = rng.choice(("M1", "M9"))
        transaction = txn(f"t{i}", amount, merchant=merchant, time=at)
        result = harness.authorize(transaction, capture=True)
        expected = sim.process(transaction)
        assert result["balances"] == expected.balances, transaction.txn_id
        # Probe the state at the edges of the windows of this purchase.
        first_day = at - at % DAY
        probes += [at, first_day + 30 * DAY - 1, first_day + 30 * DAY, first_day + 365 * DAY]
    checked = 0
    last = times[-1]
    for probe in sorted(p for p in probes if p >= last):
        got = member_view(store.member_state("m1", probe)[0])
        want = member_view(sim.wallets.state("m1", probe))
        assert got == want, probe
        checked += 1
    assert checked > 3


def test_state_agrees_before_every_purchase(store: WalletStore) -> None:
    compiled = program()
    sim = Simulation(compiled)
    harness = Harness(store)
    rng = random.Random(11)
    store.load_member(MemberState("m2"), MIDNIGHT - 200 * DAY)
    sim.wallets.load(MemberState("m2"), MIDNIGHT - 200 * DAY)
    at = MIDNIGHT - 200 * DAY
    for i in range(60):
        at += rng.choice((1, 60, DAY - 1, DAY, 29 * DAY + 1, 30 * DAY - 1, 30 * DAY))
        transaction = txn(f"u{i}", rng.choice((500, 12_000, 80_000)), member="m2", time=at)
        # The state each side decides on, right before the purchase.
        assert member_view(store.member_state("m2", at)[0]) == member_view(
            sim.wallets.state("m2", at)
        ), i
        harness.authorize(transaction, capture=True)
        sim.process(transaction)
    for later in (at, at + 29 * DAY, at + 30 * DAY, at + 364 * DAY, at + 365 * DAY):
        assert member_view(store.member_state("m2", later)[0]) == member_view(
            sim.wallets.state("m2", later)
        ), later


# ---- the spend hash and the windows' sums kept in the profile ------------------------------


def windows(days: dict[int, int], now: int) -> tuple[int, int, int]:
    """(30 days, 12 months, today) of standing spend per UTC day, by brute force."""
    today = now // DAY
    spent = {ago: v for d, v in days.items() if (ago := today - d) >= 0}
    return (
        sum(v for ago, v in spent.items() if ago < 30),
        sum(v for ago, v in spent.items() if ago < 365),
        spent.get(0, 0),
    )


def seen(store: WalletStore, now: int) -> tuple[int, int, int]:
    snapshot = store.snapshot("m1", now)
    return snapshot.state.spend_30d, snapshot.state.spend_12m, snapshot.spend_today


def test_windows_follow_late_purchases_reversals_refunds_and_expiry(store, redis_client):
    # The read subtracts from the profile's sums the days that left each window since the
    # last purchase; every writer keeps those sums: a purchase dated before the last one,
    # a reversal, refunds in steps, expiry dropping old days.  Against a model of the
    # standing spend per day, read at many times, before the last purchase too.
    harness = Harness(store)
    rng = random.Random(5)
    model: dict[int, int] = {}
    standing: list[tuple[str, int, int]] = []  # txn id, day, amount not yet refunded
    latest = MIDNIGHT - 500 * DAY
    for i in range(90):
        if standing and rng.random() < 0.25:
            at = latest - rng.choice((1, DAY, 10 * DAY, 35 * DAY, 370 * DAY))  # a late one
        else:
            at = latest + rng.choice((60, DAY - 1, DAY, 3 * DAY, 29 * DAY, 40 * DAY))
        latest = max(latest, at)
        amount = rng.choice((100, 2_500, 9_900))
        harness.authorize(txn(f"t{i}", amount, time=at), capture=True)
        model[at // DAY] = model.get(at // DAY, 0) + amount
        standing.append((f"t{i}", at // DAY, amount))
        if rng.random() < 0.15:
            txn_id, day, left = standing.pop(rng.randrange(len(standing)))
            store.reverse("m1", txn_id, now=latest + 1)
            if day in model:  # (expiry may have dropped the day)
                model[day] -= left
        elif rng.random() < 0.2:
            k = rng.randrange(len(standing))
            txn_id, day, left = standing[k]
            part = left // 2
            if part:
                store.refund("m1", txn_id, part, refund_id=f"{txn_id}-r{left}", now=latest + 1)
                if day in model:
                    model[day] -= part
                standing[k] = (txn_id, day, left - part)
        if rng.random() < 0.1:
            store.expire("m1", latest + 2)
            # Days past 366 go, as documented: a read dated before them no longer sees them.
            model = {d: v for d, v in model.items() if d > latest // DAY - 366}
        for probe in (at, latest, latest + DAY, latest - 20 * DAY, latest + 31 * DAY):
            assert seen(store, probe) == windows(model, probe), (i, probe)
    assert store.verify("m1").ok
    # Expiry a year and more on drops the days that no longer count, and the sums follow.
    store.expire("m1", latest + 200 * DAY)
    oldest = (latest + 200 * DAY) // DAY - 366
    days = {int(k[2:]): int(v) for k, v in redis_client.hgetall(store.keys.spend("m1")).items()}
    assert days and min(days) > oldest
    model = {d: v for d, v in model.items() if d > oldest}
    assert days == {d: v for d, v in model.items() if v}
    for probe in (latest, latest + 100 * DAY, latest + 200 * DAY, latest + 364 * DAY):
        assert seen(store, probe) == windows(model, probe), probe


def test_spend_days_of_the_layout_before_move_to_the_spend_hash_at_expiry(store, redis_client):
    # A profile written before the spend hash keeps a field per day ("d:<day>") and no sums:
    # it reads, takes purchases and gives back as it is, until expiry moves its days.
    harness = Harness(store)
    model: dict[int, int] = {}
    for i in range(6):
        at = MIDNIGHT - (50 - 7 * i) * DAY
        harness.authorize(txn(f"t{i}", 1_000 * (i + 1), time=at), capture=True)
        model[at // DAY] = 1_000 * (i + 1)
    profile, spend = store.keys.profile("m1"), store.keys.spend("m1")
    old = redis_client.hgetall(spend)
    redis_client.delete(spend)
    redis_client.hdel(profile, "spend")
    redis_client.hset(profile, mapping={k: v for k, v in old.items()})
    assert seen(store, MIDNIGHT) == windows(model, MIDNIGHT)
    harness.authorize(txn("t6", 700, time=MIDNIGHT + 5), capture=True)
    model[MIDNIGHT // DAY] = 700
    store.reverse("m1", "t5", now=MIDNIGHT + 6)
    model[(MIDNIGHT - 15 * DAY) // DAY] = 0
    assert redis_client.hget(profile, f"d:{MIDNIGHT // DAY}") == b"700"
    assert not redis_client.exists(spend)
    assert seen(store, MIDNIGHT + 7) == windows(model, MIDNIGHT + 7)
    store.expire("m1", MIDNIGHT + 8)
    assert not [k for k in redis_client.hkeys(profile) if k.startswith(b"d:")]
    assert redis_client.hget(profile, "spend") is not None
    assert {int(k[2:]): int(v) for k, v in redis_client.hgetall(spend).items()} == {
        d: v for d, v in model.items() if v
    }
    for probe in (MIDNIGHT + 9, MIDNIGHT + 20 * DAY, MIDNIGHT - 30 * DAY):
        assert seen(store, probe) == windows(model, probe), probe
    harness.authorize(txn("t7", 300, time=MIDNIGHT + 10), capture=True)
    model[MIDNIGHT // DAY] += 300
    assert seen(store, MIDNIGHT + 11) == windows(model, MIDNIGHT + 11)
    assert store.verify("m1").ok


def test_long_gaps_and_late_reads_give_the_windows_whichever_way_the_days_are_read(
    store: WalletStore, redis_client
) -> None:
    # The read finds the days that left a window since the last purchase, or the year of a
    # read dated before it, by asking for each day's name or, where the span is longer
    # than the spend hash, by reading the hash whole: a member who bought on 120 days in a
    # row (more days than most spans) and one who bought on 3.
    harness = Harness(store)
    for member, days in (("daily", range(120)), ("rare", (0, 50, 119))):
        model: dict[int, int] = {}
        first = MIDNIGHT - 200 * DAY
        for i in days:
            at = first + i * DAY + 3_600
            harness.authorize(txn(f"{member}{i}", 100 + i, member=member, time=at), capture=True)
            model[at // DAY] = 100 + i
        held = redis_client.hlen(store.keys.spend(member))
        assert held == len(days)
        last = first + max(days) * DAY
        for gap in (0, 1, 17, 29, 30, 45, 200, 364, 365, 400, -1, -17, -60, -119, -150):
            probe = last + gap * DAY + 7_200
            snapshot = store.snapshot(member, probe)
            got = snapshot.state.spend_30d, snapshot.state.spend_12m, snapshot.spend_today
            assert got == windows(model, probe), (member, gap)
