"""The wallet tests' programme and helpers (the fixtures are in tests/conftest_redis.py)."""

from __future__ import annotations

import functools
import threading
from typing import Any

import redis
from tessera.engine.compiler import CompiledProgram, compile_source
from tessera.engine.model import BasketLine, MemberState, Redeem, Transaction
from tessera.engine.walk import Walker
from tessera.server.wallets import WalletStore, authorize_transaction

DAY = 86_400
NOW = 1_796_459_400  # 2026-12-05T09:30:00+01:00, a Saturday

RULES = """program shop
  currency EUR
  timezone Europe/Belgrade
  points_value 100 points = 1.00

merchant_group partners = {"M1", "M2"}
wallet points points expire 365d pending 14d   # earned points wait 14 days
wallet instant points expire 30d
wallet cash money
wallet gift money
draw raffle

tier bronze default
tier silver when spend_12m >= 100.00
tier gold when spend_12m >= 1000.00

rule earn_points
  when amount >= 1.00
  then earn 1 points per 1.00 into points

rule partner_cashback
  when merchant in partners
  then cashback 2% into cash
  funded_by merchant 50%, program 50%

rule capped
  when mcc = 5999
  then earn 10 points into instant
  limit 3 per member per day

rule budgeted
  when mcc = 5998
  then cashback 1.00 into cash
  budget 10 uses

rule value_budget
  when mcc = 5997
  then cashback 10% into cash
  budget 50.00

rule value_limited
  when mcc = 5996
  then cashback 10% into cash
  limit 5.00 value per member per month

rule big
  when amount >= 100.00
  then entries 2 into draw raffle
   and tag "big_spender"
"""


@functools.cache
def program() -> CompiledProgram:
    return compile_source(RULES, "shop.rules")


def txn(
    txn_id: str,
    amount: int,
    *,
    member: str = "m1",
    merchant: str = "M9",
    mcc: int = 5411,
    time: int = NOW,
    redeem: Redeem | None = None,
    basket: tuple[BasketLine, ...] = (),
) -> Transaction:
    return Transaction(
        txn_id,
        time,
        amount,
        member,
        "EUR",
        merchant,
        "T1",
        mcc,
        "pos",
        "RS",
        "",
        "",
        basket,
        redeem,
    )


class Harness:
    """The store with the programme's walker: decide and authorise like the service will."""

    def __init__(self, store: WalletStore) -> None:
        self.store = store
        self.compiled = store.compiled
        self.walker = Walker(self.compiled.program, self.compiled.version)

    def authorize(
        self, transaction: Transaction, *, capture: bool = False, retries: int = 3
    ) -> dict[str, Any]:
        return authorize_transaction(
            self.compiled, self.walker, self.store, transaction, retries=retries, capture=capture
        )

    def decide(self, transaction: Transaction):  # -> (decision, snapshot)
        snap = self.store.snapshot(transaction.member, transaction.time)
        matched = self.compiled.match(transaction, snap.state)
        counters = self.store.counters(snap, matched)
        return self.walker.decide(transaction, snap.state, matched, counters), snap

    def load(self, member: str, now: int = NOW - DAY, **balances: int) -> None:
        self.store.load_member(MemberState(member, balances=balances), now)

    def balances(self, member: str, now: int = NOW) -> dict[str, int]:
        return self.store.snapshot(member, now).state.balances

    def totals(self, member: str, now: int = NOW) -> dict[str, int]:
        return dict(self.store.snapshot(member, now).totals)


def run_threads(count: int, target, *args: Any) -> list[Any]:
    """Run ``target(i, *args)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i, *args)
        except BaseException as exc:  # collected for the test to look at
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def db_state(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key with its serialised value: equal before and after means nothing was written."""
    return {key: client.dump(key) for key in sorted(client.keys("*"))}


def wallet_sums(store: WalletStore, member: str, txn_id: str) -> dict[str, int]:
    """The net change of each wallet by one transaction, from the ledger."""
    sums: dict[str, int] = {}
    for entry in store.ledger(member, limit=10_000):
        if entry.txn == txn_id:
            sums[entry.wallet] = sums.get(entry.wallet, 0) + entry.delta
    return sums
