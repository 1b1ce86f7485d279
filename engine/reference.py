"""The reference evaluator: the programme's meaning, read straight off the checked tree.

It is slow on purpose and shares nothing with the compiled path below the checked
programme: no slots, no dictionaries, no normal form, no time-zone table (it asks
``zoneinfo``).  Tests hold the compiled matcher to its answers.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo

from . import program as P
from .model import NEVER_PURCHASED_DAYS, BasketLine, MemberState, Transaction, days_between
from .values import micro_units

_EPOCH = _dt.date(1970, 1, 1)


class Reference:
    def __init__(self, program: P.Program) -> None:
        self.program = program
        self.zone = zoneinfo.ZoneInfo(program.timezone)
        self.default_tier = next((t.rank for t in program.tiers if t.is_default), 0)

    # ---- values
    def local_time(self, txn: Transaction) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(txn.time, self.zone)

    def value(self, attr: P.Attr, txn: Transaction, member: MemberState | None) -> object:
        kind = attr.kind
        if kind == "amount":
            return txn.amount
        if kind == "mcc":
            return txn.mcc
        if kind == "channel":
            return P.CHANNELS.index(txn.channel) if txn.channel in P.CHANNELS else -1
        if kind in ("time", "date", "weekday", "hour", "minute"):
            local = self.local_time(txn)
            days = (local.date() - _EPOCH).days
            return {
                "time": days * 86_400 + local.hour * 3_600 + local.minute * 60 + local.second,
                "date": days,
                "weekday": local.weekday(),
                "hour": local.hour,
                "minute": local.minute,
            }[kind]
        if kind in P.TXN_TEXT:
            return getattr(txn, kind)
        if kind in P.BASKET_MEASURES:
            return self.basket_measure(kind, int(attr.arg or 0), txn.basket)
        return self.member_value(attr, member, txn.time)

    def member_value(self, attr: P.Attr, member: MemberState | None, now: int) -> object:
        kind = attr.kind
        if member is None:
            member = MemberState("")
        if kind == "tier":
            ranks = self.program.tier_rank
            return ranks.get(member.tier, self.default_tier) if member.tier else self.default_tier
        if kind == "segments":
            return member.segments
        if kind in ("txn_count", "spend_30d", "spend_12m"):
            return getattr(member, kind)
        if kind == "days_since_last":
            return days_between(member.last_purchase, now, NEVER_PURCHASED_DAYS)
        if kind == "days_enrolled":
            return days_between(member.enrolled, now, 0)
        if kind == "balance":
            return member.balances.get(str(attr.arg), 0)
        if kind == "attr":
            raw = member.attrs.get(str(attr.arg))
            if attr.type == "text":
                return raw if isinstance(raw, str) else None
            number = None if raw is None else micro_units(raw)
            return P.INT_MIN if number is None else number
        raise KeyError(kind)  # pragma: no cover - the checker admits no other kind

    def basket_measure(self, kind: str, index: int, basket: tuple[BasketLine, ...]) -> int:
        condition = self.program.filters[index].condition
        lines = [line for line in basket if condition is None or self.line_holds(condition, line)]
        if kind == "basket_qty":
            return sum(line.qty for line in lines)
        if kind == "basket_amount":
            return sum(line.qty * line.unit_price for line in lines)
        return 1 if lines else 0

    # ---- conditions
    def holds(self, cond: P.Cond, txn: Transaction, member: MemberState | None) -> bool:
        if isinstance(cond, P.And):
            return all(self.holds(item, txn, member) for item in cond.items)
        if isinstance(cond, P.Or):
            return any(self.holds(item, txn, member) for item in cond.items)
        if isinstance(cond, P.Not):
            return not self.holds(cond.item, txn, member)
        return leaf_holds(cond, self.value(cond.attr, txn, member))

    def line_holds(self, cond: P.Cond, line: BasketLine) -> bool:
        if isinstance(cond, P.And):
            return all(self.line_holds(item, line) for item in cond.items)
        if isinstance(cond, P.Or):
            return any(self.line_holds(item, line) for item in cond.items)
        if isinstance(cond, P.Not):
            return not self.line_holds(cond.item, line)
        return leaf_holds(cond, getattr(line, cond.attr.kind))

    def in_window(self, rule: P.Rule, txn: Transaction) -> bool:
        if rule.window is None:
            return True
        local = self.value(P.Attr("time", None, "int"), txn, None)
        return rule.window[0] <= local <= rule.window[1]  # type: ignore[operator]

    def rule_matches(self, rule: P.Rule, txn: Transaction, member: MemberState | None) -> bool:
        if not self.in_window(rule, txn):
            return False
        return rule.condition is None or self.holds(rule.condition, txn, member)

    def match(self, txn: Transaction, member: MemberState | None) -> list[int]:
        """Walk indices of the matching rules, in walk order."""
        return [r.walk_index for r in self.program.rules if self.rule_matches(r, txn, member)]

    def tier_for(self, member: MemberState, now: int) -> str | None:
        """The highest tier whose condition holds for ``member``."""
        best = None
        probe = Transaction("", now, 0, member.member)
        for tier in self.program.tiers:
            if tier.is_default or (
                tier.condition is not None and self.holds(tier.condition, probe, member)
            ):
                best = tier.name
        return best


def leaf_holds(leaf: P.Leaf, value: object) -> bool:
    if isinstance(leaf, P.NumLeaf):
        return any(low <= value <= high for low, high in leaf.intervals)  # type: ignore[operator]
    if isinstance(leaf, P.StrLeaf):
        return (value in leaf.values) != leaf.negated
    return bool(set(value) & leaf.values) != leaf.negated  # type: ignore[call-overload]
