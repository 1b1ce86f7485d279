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
