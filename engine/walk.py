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
from .timezone import local_day

BP = 10_000


class _Plan:
    """What the walk needs of one rule, worked out once when the walker is built."""

    __slots__ = (
        "cashbacks",
        "counted",
        "discounts",
        "earns",
        "exclusive",
        "funders",
        "group",
        "name",
        "others",
        "rule",
        "stop",
    )

    def __init__(self, rule: P.Rule, program: P.Program) -> None:
        self.rule = rule
        self.name = rule.name
        self.stop = rule.stop
        self.exclusive = rule.exclusive and rule.group is not None
        self.group = rule.group
        self.counted = bool(rule.limits) or rule.budget is not None
        self.discounts = tuple(
            (e.percent_bp, e.amount or 0, e.base.filter, e.cap)
            for e in rule.effects
            if e.kind == "discount"
        )
        self.cashbacks = tuple(
            (
                e.percent_bp,
                e.amount or 0,
                e.base.filter,
                e.cap,
                *_timing(program.wallets[e.wallet or ""]),
            )
            for e in rule.effects
            if e.kind == "cashback"
        )
        self.earns = tuple(
            (e.points or 0, e.per, e.base.filter, *_timing(program.wallets[e.wallet or ""]))
            for e in rule.effects
            if e.kind == "earn"
        )
        self.others = tuple(
            (e.kind, e.points or 0, e.draw, e.segment)
            for e in rule.effects
            if e.kind in ("entries", "tag")
        )
        # ``None`` stands for the transaction's merchant; the first funder that is not the
        # programme takes the remainders of rounding.
        funders = [(None if f.funder == "merchant" else f.funder, f.bp) for f in rule.funders]
        target = next((i for i, (name, _) in enumerate(funders) if name != "program"), 0)
        self.funders = (tuple(funders), target)


def _timing(wallet: P.Wallet) -> tuple[str, int, int]:
    return (wallet.name, wallet.pending or 0, wallet.expire or 0)


class Walker:
    def __init__(self, program: P.Program, version: str = "") -> None:
        self.program = program
        self.rules = program.rules
        self.version = version
        self._reference = Reference(program)
        self._plans = tuple(_Plan(rule, program) for rule in program.rules)
        self._points_value = program.points_value
        self._earn_on_net = program.earn_on == "net"

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
        chosen: list[tuple[_Plan, int, int | None]] = []  # plan, discount, value room
        stopped_by: str | None = None
        local_days = None
        member_id = member.member if member is not None else txn.member
        plans = self._plans
        baskets: dict[int, int] = {}
        for index in matched:
            plan = plans[index]
            if stopped_by is not None:
                skipped.append(Skipped(plan.name, "stop", f"{stopped_by!r} stopped the walk"))
                continue
            if plan.exclusive and plan.group in taken:
                skipped.append(Skipped(plan.name, "group", f"group {plan.group!r} already applied"))
                continue
            room: int | None = None
            if plan.counted and counters is not None:
                if local_days is None:
                    local_days = local_day(self.program.timezone, txn.time)
                verdict = self._room(plan.rule, member_id, counters, local_days)
                if verdict.__class__ is Skipped:
                    skipped.append(verdict)  # type: ignore[arg-type]
                    continue
                room = verdict  # type: ignore[assignment]
            rule_discount = 0
            if plan.discounts:
                rule_discount = self._discount(plan, txn, amount - discount, baskets)
                if room is not None and rule_discount > room:
                    rule_discount = room
                discount += rule_discount
            chosen.append((plan, rule_discount, room))
            if plan.exclusive:
                taken.add(plan.group)  # type: ignore[arg-type]
            if plan.stop:
                stopped_by = plan.name
        net = amount - discount
        applied = []
        for plan, rule_discount, room in chosen:
            result = self._rewards(plan, txn, rule_discount, net, room, baskets)
            applied.append(result)
            if plan.counted and counters is not None:
                usage.extend(self._usage(plan.rule, result.value, local_days))
        redemption = self._redeem(txn, member, amount - discount) if txn.redeem else None
        return Decision(
            txn.txn_id,
            member_id,
            self.version,
            amount,
            discount,
            redemption.amount if redemption else 0,
            applied,
            skipped,
            usage,
            redemption,
            {},
            txn.time,
        )

    # ---- limits and budgets
    def _room(
        self, rule: P.Rule, member: str, counters: Counters, local_days: int | None
    ) -> int | Skipped | None:
        """Value still allowed (None: no value cap), or why the rule is spent."""
        room: int | None = None
        for limit in rule.limits:
            key = period_key(limit.period, local_days or 0)
            if limit.count is not None:
                used = counters.limit_used(member, rule.name, "count", limit.period, key)
                if used >= limit.count:
                    return Skipped(
                        rule.name, "limit", f"{limit.count} per member per {limit.period} used"
                    )
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
                out.append(
                    Usage("limit", rule.name, "value", limit.period, key, value, limit.value or 0)
                )
        budget = rule.budget
        if budget is not None:
            if budget.uses is not None:
                out.append(Usage("budget", rule.name, "count", "ever", "ever", 1, budget.uses))
            else:
                out.append(
                    Usage("budget", rule.name, "value", "ever", "ever", value, budget.value or 0)
                )
        return out

    # ---- effects
    def _basket_amount(self, txn: Transaction, index: int, baskets: dict[int, int]) -> int:
        value = baskets.get(index)
        if value is None:
            value = self._reference.basket_measure("basket_amount", index, txn.basket)
            baskets[index] = value
        return value

    def _discount(self, plan: _Plan, txn: Transaction, left: int, baskets: dict[int, int]) -> int:
        total = 0
        for bp, fixed, base, cap in plan.discounts:
            if bp is None:
                total += fixed
                continue
            value = (
                (txn.amount if base is None else self._basket_amount(txn, base, baskets)) * bp // BP
            )
            total += value if cap is None or value < cap else cap
        return total if total < left else max(left, 0)

    def _earn_base(
        self, txn: Transaction, base: int | None, net: int, baskets: dict[int, int]
    ) -> int:
        ceiling = net if self._earn_on_net else txn.amount
        if base is None:
            return ceiling
        value = self._basket_amount(txn, base, baskets)
        return value if value < ceiling else ceiling

    def _rewards(
        self,
        plan: _Plan,
        txn: Transaction,
        discount: int,
        net: int,
        room: int | None,
        baskets: dict[int, int],
    ) -> Applied:
        now = txn.time
        effects: list[EffectResult] = [EffectResult("discount", discount)] if discount else []
        money = points_total = 0
        for bp, fixed, base, cap, wallet, pending, expire in plan.cashbacks:
            if bp is None:
                value = fixed
            else:
                value = self._earn_base(txn, base, net, baskets) * bp // BP
                if cap is not None and value > cap:
                    value = cap
            money += value
            effects.append(
                EffectResult(
                    "cashback",
                    value,
                    0,
                    wallet,
                    None,
                    None,
                    now + pending if pending else None,
                    now + expire if expire else None,
                )
            )
        for points, per, base, wallet, pending, expire in plan.earns:
            if per:
                points *= self._earn_base(txn, base, net, baskets) // per
            points_total += points
            effects.append(
                EffectResult(
                    "earn",
                    0,
                    points,
                    wallet,
                    None,
                    None,
                    now + pending if pending else None,
                    now + expire if expire else None,
                )
            )
        points_money = self._points_money(points_total) if points_total else 0
        if room is not None and money + points_money > room - discount:
            money, points_total = self._cut(effects, money + points_money, max(room - discount, 0))
            points_money = self._points_money(points_total)
        for kind, count, draw, segment in plan.others:
            effects.append(EffectResult(kind, 0, count, None, draw, segment))
        paid = discount + money
        funders = self._split(plan, txn, paid, points_total) if paid or points_total else []
        return Applied(plan.name, effects, paid + points_money, funders)

    @staticmethod
    def _cut(effects: list[EffectResult], whole: int, left: int) -> tuple[int, int]:
        """Value limits and budgets cut cashback and points together, in proportion."""
        money = points = 0
        for effect in effects:
            if effect.type == "cashback":
                effect.amount = effect.amount * left // whole
                money += effect.amount
            elif effect.type == "earn":
                effect.points = effect.points * left // whole
                points += effect.points
        return money, points

    def _points_money(self, points: int) -> int:
        value = self._points_value
        if value is None or not points:
            return 0
        return points * value[1] // value[0]

    def _split(self, plan: _Plan, txn: Transaction, money: int, points: int) -> list[FunderLine]:
        shares, target = plan.funders
        if len(shares) == 1:
            return [FunderLine(shares[0][0] or f"merchant:{txn.merchant}", money, points)]
        lines = []
        money_left, points_left = money, points
        for name, bp in shares:
            line = FunderLine(
                name or f"merchant:{txn.merchant}", money * bp // BP, points * bp // BP
            )
            money_left -= line.amount
            points_left -= line.points
            lines.append(line)
        lines[target].amount += money_left
        lines[target].points += points_left
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
        if (
            wallet.spend_at is not None
            and txn.merchant not in self.program.groups[wallet.spend_at].values
        ):
            eligible, refusal = 0, "spend_at"
        elif wallet.spend_on is not None:
            group = self.program.groups[wallet.spend_on].values
            lines = sum(line.qty * line.unit_price for line in txn.basket if line.category in group)
            if lines < eligible:
                eligible, refusal = lines, "spend_on"
        available = balance if wallet.kind == "money" else self._points_money(balance)
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
