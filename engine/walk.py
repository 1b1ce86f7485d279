"""The decision walk: matched rules in, a decision out.

Matches arrive in walk order (priority, then file order).  The walk runs in two passes
because discounts change the base of everything else:

1. in walk order, skip what an exclusive group, ``stop``, a limit or a budget rules out,
   and take each applied rule's discount off what is left of the amount;
2. with the net amount known, compute cashback and points on the ``earn_on`` base,
   cut each rule's rewards to what its value limits and budget still allow, and split
   every reward between its funders.

Then a requested redemption lowers the charge.  All arithmetic is integer and rounds toward
zero, so any remainder stays with the programme.
"""

from __future__ import annotations

from . import program as P
from .counters import Counters, period_key
from .decision import Applied, Decision, EffectResult, FunderLine, Redemption, Skipped, Usage
from .model import MemberState, Transaction
from .reference import Reference
from .timezone import local_seconds

BP = 10_000


class Walker:
    def __init__(self, program: P.Program, version: str = "") -> None:
        self.program = program
        self.rules = program.rules
        self.version = version
        self._reference = Reference(program)

    # ---- public
    def decide(
        self,
        txn: Transaction,
        member: MemberState | None,
        matched: list[int],
        counters: Counters | None = None,
    ) -> Decision:
        amount = txn.amount
        discount = 0
        taken: set[str] = set()
        skipped: list[Skipped] = []
        usage: list[Usage] = []
        chosen: list[tuple[P.Rule, int, int | None]] = []  # rule, discount, value room
        stopped_by: str | None = None
        local_days = None
        member_id = member.member if member is not None else txn.member
        for index in matched:
            rule = self.rules[index]
            if stopped_by is not None:
                skipped.append(Skipped(rule.name, "stop", f"{stopped_by!r} stopped the walk"))
                continue
            if rule.exclusive and rule.group in taken:
                skipped.append(Skipped(rule.name, "group", f"group {rule.group!r} already applied"))
                continue
            room: int | None = None
            if counters is not None and (rule.limits or rule.budget is not None):
                if local_days is None and rule.limits:
                    local_days = local_seconds(self.program.timezone, txn.time) // 86_400
                verdict = self._room(rule, member_id, counters, local_days)
                if isinstance(verdict, Skipped):
                    skipped.append(verdict)
                    continue
                room = verdict
            rule_discount = self._discount(rule, txn, amount - discount)
            if room is not None and rule_discount > room:
                rule_discount = room
            discount += rule_discount
            chosen.append((rule, rule_discount, room))
            if rule.exclusive and rule.group is not None:
                taken.add(rule.group)
            if rule.stop:
                stopped_by = rule.name
        net = amount - discount
        applied = []
        for rule, rule_discount, room in chosen:
            result = self._rewards(rule, txn, rule_discount, net, room)
            applied.append(result)
            if counters is not None:
                usage.extend(self._usage(rule, result.value, local_days))
        redemption = self._redeem(txn, member, amount - discount) if txn.redeem else None
        return Decision(
            txn_id=txn.txn_id,
            member=member_id,
            version=self.version,
            amount=amount,
            discount=discount,
            redeemed=redemption.amount if redemption else 0,
            applied=applied,
            skipped=skipped,
            usage=usage,
            redemption=redemption,
            time=txn.time,
        )

    # ---- limits and budgets
    def _room(self, rule: P.Rule, member: str, counters: Counters, local_days: int | None) -> int | Skipped | None:
        """Value still allowed (None: no value cap), or why the rule is spent."""
        room: int | None = None
        for limit in rule.limits:
            key = period_key(limit.period, local_days or 0)
            if limit.count is not None:
                used = counters.limit_used(member, rule.name, "count", limit.period, key)
                if used >= limit.count:
                    return Skipped(rule.name, "limit", f"{limit.count} per member per {limit.period} used")
            else:
                assert limit.value is not None
                used = counters.limit_used(member, rule.name, "value", limit.period, key)
                left = limit.value - used
                if left <= 0:
                    return Skipped(rule.name, "limit", f"value limit per {limit.period} reached")
                room = left if room is None else min(room, left)
        budget = rule.budget
        if budget is not None:
            if budget.uses is not None:
                if counters.budget_used(rule.name, "count") >= budget.uses:
                    return Skipped(rule.name, "budget", f"{budget.uses} uses spent")
            else:
                assert budget.value is not None
                left = budget.value - counters.budget_used(rule.name, "value")
                if left <= 0:
                    return Skipped(rule.name, "budget", "budget spent")
                room = left if room is None else min(room, left)
        return room

    def _usage(self, rule: P.Rule, value: int, local_days: int | None) -> list[Usage]:
        out = []
        for limit in rule.limits:
            key = period_key(limit.period, local_days or 0)
            if limit.count is not None:
                out.append(Usage("limit", rule.name, "count", limit.period, key, 1, limit.count))
            else:
                out.append(Usage("limit", rule.name, "value", limit.period, key, value, limit.value or 0))
        budget = rule.budget
        if budget is not None:
            if budget.uses is not None:
                out.append(Usage("budget", rule.name, "count", "ever", "ever", 1, budget.uses))
            else:
                out.append(Usage("budget", rule.name, "value", "ever", "ever", value, budget.value or 0))
        return out

    # ---- effects
    def _basket_amount(self, txn: Transaction, index: int) -> int:
        return self._reference.basket_measure("basket_amount", index, txn.basket)

    def _discount(self, rule: P.Rule, txn: Transaction, left: int) -> int:
        total = 0
        for effect in rule.effects:
            if effect.kind != "discount":
                continue
            if effect.percent_bp is None:
                value = effect.amount or 0
            else:
                base = txn.amount if effect.base.filter is None else self._basket_amount(txn, effect.base.filter)
                value = base * effect.percent_bp // BP
                if effect.cap is not None:
                    value = min(value, effect.cap)
            total += value
        return max(0, min(total, left))

    def _earn_base(self, txn: Transaction, base: P.Base, net: int) -> int:
        ceiling = net if self.program.earn_on == "net" else txn.amount
        if base.filter is None:
            return ceiling
        return min(self._basket_amount(txn, base.filter), ceiling)

    def _rewards(self, rule: P.Rule, txn: Transaction, discount: int, net: int, room: int | None) -> Applied:
        cashbacks: list[tuple[P.Effect, int]] = []
        earns: list[tuple[P.Effect, int]] = []
        others: list[EffectResult] = []
        for effect in rule.effects:
            kind = effect.kind
            if kind == "cashback":
                if effect.percent_bp is None:
                    value = effect.amount or 0
                else:
                    value = self._earn_base(txn, effect.base, net) * effect.percent_bp // BP
                    if effect.cap is not None:
                        value = min(value, effect.cap)
                cashbacks.append((effect, value))
            elif kind == "earn":
                points = effect.points or 0
                if effect.per:
                    points *= self._earn_base(txn, effect.base, net) // effect.per
                earns.append((effect, points))
            elif kind == "entries":
                others.append(EffectResult("entries", points=effect.points or 0, draw=effect.draw))
            elif kind == "tag":
                others.append(EffectResult("tag", segment=effect.segment))
        money = sum(v for _, v in cashbacks)
        points_total = sum(p for _, p in earns)
        points_money = self._points_money(points_total)
        if room is not None:
            left = max(room - discount, 0)
            if money + points_money > left:
                whole = money + points_money
                cashbacks = [(e, v * left // whole) for e, v in cashbacks]
                earns = [(e, p * left // whole) for e, p in earns]
                money = sum(v for _, v in cashbacks)
                points_total = sum(p for _, p in earns)
                points_money = self._points_money(points_total)
        effects: list[EffectResult] = []
        if discount:
            effects.append(EffectResult("discount", amount=discount))
        for effect, value in cashbacks:
            effects.append(self._credit("cashback", effect.wallet, txn.time, amount=value))
        for effect, points in earns:
            effects.append(self._credit("earn", effect.wallet, txn.time, points=points))
        effects.extend(others)
        value = discount + money + points_money
        funders = self._split(rule, txn, discount + money, points_total)
        return Applied(rule.name, effects, value, funders)

    def _credit(self, kind: str, wallet_name: str | None, now: int, amount: int = 0, points: int = 0) -> EffectResult:
        wallet = self.program.wallets[wallet_name or ""]
        available = now + wallet.pending if wallet.pending else None
        expires = now + wallet.expire if wallet.expire else None
        return EffectResult(kind, amount=amount, points=points, wallet=wallet.name,
                            available_at=available, expires_at=expires)

    def _points_money(self, points: int) -> int:
        value = self.program.points_value
        if value is None or not points:
            return 0
        return points * value[1] // value[0]

    def _split(self, rule: P.Rule, txn: Transaction, money: int, points: int) -> list[FunderLine]:
        if not money and not points:
            return []
        lines = []
        for share in rule.funders:
            name = f"merchant:{txn.merchant}" if share.funder == "merchant" else share.funder
            lines.append(FunderLine(name, money * share.bp // BP, points * share.bp // BP))
        # Remainders of the rounding go to the first funder who is not the programme.
        target = next((line for line in lines if line.funder != "program"), lines[0])
        target.amount += money - sum(line.amount for line in lines)
        target.points += points - sum(line.points for line in lines)
        return lines

    # ---- redemption
    def _redeem(self, txn: Transaction, member: MemberState | None, left: int) -> Redemption:
        request = txn.redeem
        assert request is not None
        wallet = self.program.wallets[request.wallet]
        balance = member.balances.get(wallet.name, 0) if member is not None else 0
        requested = request.amount
        if request.points is not None:
            requested = self._points_money(request.points)
        eligible = left
        refusal = None
        if wallet.spend_at is not None and txn.merchant not in self.program.groups[wallet.spend_at].values:
            eligible, refusal = 0, "spend_at"
        elif wallet.spend_on is not None:
            group = self.program.groups[wallet.spend_on].values
            lines = sum(line.qty * line.unit_price for line in txn.basket if line.category in group)
            if lines < eligible:
                eligible, refusal = lines, "spend_on"
        if wallet.kind == "money":
            available = balance
        else:
            available = self._points_money(balance)
        target = eligible if requested is None else min(requested, eligible)
        amount = max(0, min(target, available))
        points = 0
        if wallet.kind == "points" and amount:
            value = self.program.points_value
            assert value is not None
            points = -(-amount * value[0] // value[1])  # round up: the member pays the odd point
            if points > balance:
                points = balance
                amount = self._points_money(points)
        reason = None
        if requested is None:
            reason = (refusal or "balance") if amount == 0 and left > 0 else None
        elif amount < requested:
            # Name what bound the redemption: where it may be spent, the charge, or the balance.
            reason = (refusal or "amount") if eligible <= available else "balance"
        return Redemption(wallet.name, requested, amount, points, reason)
