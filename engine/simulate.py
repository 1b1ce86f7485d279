"""Simulation: decide a stream of transactions with member state kept in memory.

The in-memory wallets mirror what the Redis wallet store does for real: value is held in
buckets that become spendable after ``pending`` and lapse after ``expire``; spending takes
the earliest-expiring bucket first; counters, segments, draw entries and tiers move with
every applied decision.  Nothing here touches the network or the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .compiler import CompiledProgram
from .counters import MemoryCounters
from .decision import Decision
from .model import MemberState, Transaction
from .reference import Reference
from .walk import Walker

DAY = 86_400
FOREVER = 2**62
SPEND_30D_DAYS = 30
SPEND_12M_DAYS = 365


def spend_window(purchases: list[tuple[int, int]], now: int, days: int) -> int:
    """What was spent in the ``days`` whole UTC days that end with the day of ``now``.

    The one definition of ``spend_30d`` (30 days) and ``spend_12m`` (365 days), shared with
    the Redis wallet store, which keeps spend per UTC day (docs/wallets.md): a purchase
    counts from its UTC day on, and for the last time on the day ``days - 1`` after it.
    """
    today = now // DAY
    return sum(amount for at, amount in purchases if today - days < at // DAY <= today)


@dataclass(slots=True)
class Bucket:
    amount: int
    available_at: int
    expires_at: int


@dataclass(slots=True)
class MemberRecord:
    base: MemberState
    buckets: dict[str, list[Bucket]] = field(default_factory=dict)
    purchases: list[tuple[int, int]] = field(default_factory=list)
    tier_history: list[tuple[int, str]] = field(default_factory=list)

    def balance(self, wallet: str, now: int) -> int:
        return sum(
            b.amount for b in self.buckets.get(wallet, ()) if b.available_at <= now < b.expires_at
        )


class MemoryWallets:
    def __init__(self, compiled: CompiledProgram, reference: Reference) -> None:
        self.program = compiled.program
        self.members: dict[str, MemberRecord] = {}
        self._reference = reference  # tier conditions are evaluated on member state

    def load(self, state: MemberState, now: int | None = None) -> None:
        """Enrol a member with an opening state.  With ``now`` (the store's ``load_member``)
        the opening spend ages as the store's does: ``spend_30d`` is spent on the day of
        ``now`` and the rest of ``spend_12m`` 31 days earlier.  Without it the opening
        spend counts unchanged at every time (a member file has no time of its own)."""
        record = MemberRecord(state.copy())
        for wallet, amount in state.balances.items():
            record.buckets[wallet] = [Bucket(amount, -FOREVER, FOREVER)]
        record.base.balances = {}
        if now is not None:
            if state.spend_30d:
                record.purchases.append((now, state.spend_30d))
            if state.spend_12m > state.spend_30d:
                record.purchases.append((now - 31 * DAY, state.spend_12m - state.spend_30d))
            record.base.spend_30d = record.base.spend_12m = 0
        if state.tier is not None:
            record.tier_history.append((0, state.tier))
        self.members[state.member] = record

    def record(self, member: str) -> MemberRecord:
        record = self.members.get(member)
        if record is None:
            record = MemberRecord(MemberState(member))
            self.members[member] = record
        return record

    def state(self, member: str, now: int) -> MemberState:
        record = self.record(member)
        if record.base.tier is None and self.program.tiers:
            # A member loaded or enrolled without a tier gets the one their counters earn.
            self._requalify(record, now)
        return self._state(record, now)

    def _state(self, record: MemberRecord, now: int) -> MemberState:
        state = record.base.copy()
        state.spend_30d += spend_window(record.purchases, now, SPEND_30D_DAYS)
        state.spend_12m += spend_window(record.purchases, now, SPEND_12M_DAYS)
        state.balances = {name: record.balance(name, now) for name in self.program.wallets}
        return state

    def apply(self, decision: Decision, txn: Transaction) -> None:
        record = self.record(decision.member)
        base = record.base
        now = txn.time
        if decision.redemption is not None and decision.redemption.amount:
            r = decision.redemption
            wallet = self.program.wallets[r.wallet]
            self._spend(record, r.wallet, r.points if wallet.kind == "points" else r.amount, now)
        segments = set(base.segments)
        for _rule, effect in decision.effects():
            if effect.type in ("cashback", "earn"):
                value = effect.amount if effect.type == "cashback" else effect.points
                if value:
                    record.buckets.setdefault(effect.wallet or "", []).append(
                        Bucket(value, effect.available_at or now, effect.expires_at or FOREVER)
                    )
            elif effect.type == "entries":
                base.entries[effect.draw or ""] = (
                    base.entries.get(effect.draw or "", 0) + effect.points
                )
            elif effect.type == "tag":
                segments.add(effect.segment or "")
        base.segments = frozenset(segments)
        base.txn_count += 1
        base.last_purchase = now
        if base.enrolled is None:
            base.enrolled = now
        record.purchases.append((now, txn.amount))
        self._requalify(record, now)
        decision.balances = {name: record.balance(name, now) for name in self.program.wallets}

    def _spend(self, record: MemberRecord, wallet: str, amount: int, now: int) -> None:
        spendable = [
            b for b in record.buckets.get(wallet, ()) if b.available_at <= now < b.expires_at
        ]
        for bucket in sorted(spendable, key=lambda b: b.expires_at):
            take = min(bucket.amount, amount)
            bucket.amount -= take
            amount -= take
            if not amount:
                break
        record.buckets[wallet] = [b for b in record.buckets.get(wallet, ()) if b.amount]

    def _requalify(self, record: MemberRecord, now: int) -> None:
        """Upgrades take effect at once; downgrades wait for the periodic requalification."""
        if not self.program.tiers:
            return
        ranks = self.program.tier_rank
        best = self._reference.tier_for(self._state(record, now), now)
        current = record.base.tier
        if best is not None and (current is None or ranks[best] > ranks.get(current, -1)):
            record.base.tier = best
            record.tier_history.append((now, best))


class Simulation:
    """Decide transactions one after another, carrying state between them."""

    def __init__(self, compiled: CompiledProgram) -> None:
        self.compiled = compiled
        self.walker = Walker(compiled.program, compiled.version)
        self.reference = Reference(compiled.program)  # tiers here, explanations for callers
        self.counters = MemoryCounters()
        self.wallets = MemoryWallets(compiled, self.reference)

    def decide(self, txn: Transaction) -> tuple[Decision, MemberState]:
        """The decision and the member state it was made on; nothing is recorded."""
        member = self.wallets.state(txn.member, txn.time)
        matched = self.compiled.match(txn, member)
        return self.walker.decide(txn, member, matched, self.counters), member

    def process(self, txn: Transaction) -> Decision:
        decision, _member = self.decide(txn)
        self.counters.consume(decision)
        self.wallets.apply(decision, txn)
        return decision
