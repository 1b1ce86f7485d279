# cython: annotation_typing=False, boundscheck=True, wraparound=True
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

The walk runs once per transaction on the request path, so everything a rule allows to be
worked out in advance is, in :class:`_Plan`: its effects as flat tuples, its skip messages,
its funders' names, and its *shape*.  Most rules give one cashback or one earn to one funder,
or only entries and tags; those take a short path that builds only the objects the decision
returns.  Every other rule (discounts, several effects, shared funding), and a cashback or
earn that a value limit or budget may cut, takes the general path.

This module is also compiled by Cython (``walk.pxd`` types it); the plain Python module is
the same source and serves where the extension is not built.
"""

from __future__ import annotations

from bisect import bisect_right

from . import program as P
from .counters import Counters, period_key
from .decision import Applied, Decision, EffectResult, FunderLine, Redemption, Skipped, Usage
from .model import BasketLine, MemberState, Transaction
from .reference import Reference
from .timezone import transitions

BP = 10_000

# The decision's objects.  Where ``engine/_records`` is built they are made by storing each
# field straight into its slot; otherwise the classes themselves, called with the same
# arguments, make equal instances.
try:
    from ._records import applied as _applied
    from ._records import applied_one as _applied_one
    from ._records import applied_unfunded as _applied_unfunded
    from ._records import decision as _decision
    from ._records import effect as _effect
    from ._records import funder_line as _funder_line
    from ._records import skipped as _skipped
    from ._records import usage as _usage_record
except ImportError:
    _effect = EffectResult
    _funder_line = FunderLine
    _applied = Applied
    _skipped = Skipped
    _usage_record = Usage
    _decision = Decision

    def _applied_one(
        rule: str, effect: EffectResult, value: int, funder: str, amount: int, points: int
    ) -> Applied:
        return Applied(rule, [effect], value, [FunderLine(funder, amount, points)])

    def _applied_unfunded(rule: str, effect: EffectResult) -> Applied:
        return Applied(rule, [effect], 0, [])


# A plan's shape: which path its rewards take.
_GENERAL = 0
_CASHBACK = 1  # one cashback effect and nothing else, one funder
_EARN = 2  # one earn effect and nothing else, one funder
_MARKS = 3  # only entries and tags: nothing of value, so no funders and nothing to cut


class _Plan:
    """What the walk needs of one rule, worked out once when the walker is built."""

    __slots__ = (
        "budget",
        "cashbacks",
        "counted",
        "discounts",
        "earns",
        "exclusive",
        "funder",
        "funders",
        "group",
        "group_detail",
        "limits",
        "name",
        "others",
        "shape",
        "stop",
        "stop_detail",
        "target",
    )

    def __init__(self, rule: P.Rule, program: P.Program, fast: bool) -> None:
        self.name = rule.name
        self.stop = rule.stop
        self.exclusive = rule.exclusive and rule.group is not None
        self.group = rule.group
        self.stop_detail = f"{rule.name!r} stopped the walk"
        self.group_detail = f"group {rule.group!r} already applied"
        self.counted = bool(rule.limits) or rule.budget is not None
        # (period, count or None, value cap, why a spent limit skips the rule)
        self.limits = tuple(
            (
                limit.period,
                limit.count,
                limit.value or 0,
                f"{limit.count} per member per {limit.period} used"
                if limit.count is not None
                else f"value limit per {limit.period} reached",
            )
            for limit in rule.limits
        )
        budget = rule.budget
        self.budget = None if budget is None else (budget.uses, budget.value or 0)
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
        funders = tuple((None if f.funder == "merchant" else f.funder, f.bp) for f in rule.funders)
        self.funders = funders
        self.target = next((i for i, (name, _) in enumerate(funders) if name != "program"), 0)
        self.funder = funders[0][0] if len(funders) == 1 else None
        self.shape = _GENERAL
        if fast and len(funders) == 1 and not self.discounts and not self.others:
            if len(self.cashbacks) == 1 and not self.earns:
                self.shape = _CASHBACK
            elif len(self.earns) == 1 and not self.cashbacks:
                self.shape = _EARN
        if fast and self.others and not (self.discounts or self.cashbacks or self.earns):
            self.shape = _MARKS


def _timing(wallet: P.Wallet) -> tuple[str, int, int]:
    return (wallet.name, wallet.pending or 0, wallet.expire or 0)


class _Txn:
    """What the second pass reads of one transaction, gathered once."""

    __slots__ = ("amount", "baskets", "ceiling", "merchant", "net", "now", "txn")

    def __init__(
        self, txn: Transaction, net: int, earn_on_net: bool, baskets: dict[int, int]
    ) -> None:
        self.txn = txn
        self.amount = txn.amount
        self.now = txn.time
        self.net = net
        self.ceiling = net if earn_on_net else txn.amount
        self.merchant = None  # the merchant's funder name, made when first needed
        self.baskets = baskets  # basket amounts by filter, shared with the first pass


class Walker:
    def __init__(self, program: P.Program, version: str = "", *, fast: bool = True) -> None:
        """``fast=False`` sends every rule down the general path (tests compare the two)."""
        self.program = program
        self.rules = program.rules
        self.version = version
        self._reference = Reference(program)
        self._plans = tuple(_Plan(rule, program, fast) for rule in program.rules)
        self._points_value = program.points_value
        self._earn_on_net = program.earn_on == "net"
        # The time-zone table, for the local day that limits count in.
        starts, offsets = transitions(program.timezone)
        self._tz_starts = starts.tolist()
        self._tz_offsets = offsets.tolist()
        self._filters = tuple(_line_test(f.condition) for f in program.filters)

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
        taken = None
        skipped = []
        usage = []
        chosen = []  # plan, discount, value room: three items per applied rule
        stopped_by = None
        local_days = None
        member_id = member.member if member is not None else txn.member
        plans = self._plans
        basket_cache: dict[int, int] = {}
        for index in matched:
            plan: _Plan = plans[index]
            if stopped_by is not None:
                skipped.append(_skipped(plan.name, "stop", stopped_by))
                continue
            if plan.exclusive:
                if taken is None:
                    taken = set()
                elif plan.group in taken:
                    skipped.append(_skipped(plan.name, "group", plan.group_detail))
                    continue
            room = None
            if plan.counted and counters is not None:
                if local_days is None:  # as timezone.local_day, with the table at hand
                    now = txn.time
                    offset = self._tz_offsets[bisect_right(self._tz_starts, now) - 1]
                    local_days = (now + offset) // 86_400
                verdict = _room(plan, member_id, counters, local_days)
                if verdict.__class__ is Skipped:
                    skipped.append(verdict)
                    continue
                room = verdict
            rule_discount = 0
            if plan.discounts:
                rule_discount = self._discount(plan, txn, amount - discount, basket_cache)
                if room is not None and rule_discount > room:
                    rule_discount = room
                discount += rule_discount
            chosen.append(plan)
            chosen.append(rule_discount)
            chosen.append(room)
            if plan.exclusive:
                taken.add(plan.group)
            if plan.stop:
                stopped_by = plan.stop_detail
        ctx = _Txn(txn, amount - discount, self._earn_on_net, basket_cache)
        applied = []
        points_value = self._points_value
        for i in range(0, len(chosen), 3):
            plan = chosen[i]
            room = chosen[i + 2]
            shape = plan.shape
            if shape == _MARKS:
                result = _marks_only(plan)
            elif room is None and shape != _GENERAL:
                if shape == _CASHBACK:
                    result = self._cashback_only(plan, ctx)
                else:
                    result = self._earn_only(plan, ctx, points_value)
            else:
                result = self._rewards(plan, ctx, chosen[i + 1], room, points_value)
            applied.append(result)
            if plan.counted and counters is not None:
                _usage(plan, result.value, local_days, usage)
        redemption = self._redeem(txn, member, amount - discount) if txn.redeem else None
        return _decision(
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

    # ---- effects
    def _basket_amount(self, txn: Transaction, index: int, baskets: dict[int, int]) -> int:
        value = baskets.get(index)
        if value is None:
            test = self._filters[index]
            if test is None:  # a filter the walk does not read itself
                value = self._reference.basket_measure("basket_amount", index, txn.basket)
            else:
                value = _filter_amount(test, txn.basket)
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

    def _earn_base(self, ctx: _Txn, base: int | None) -> int:
        ceiling = ctx.ceiling
        if base is None:
            return ceiling
        value = self._basket_amount(ctx.txn, base, ctx.baskets)
        return value if value < ceiling else ceiling

    def _funder_name(self, name: str | None, ctx: _Txn) -> str:
        if name is not None:
            return name
        merchant = ctx.merchant
        if merchant is None:
            merchant = ctx.merchant = f"merchant:{ctx.txn.merchant}"
        return merchant

    def _cashback_only(self, plan: _Plan, ctx: _Txn) -> Applied:
        """One cashback, one funder, no value limit to cut it: the common case."""
        bp, fixed, base, cap, wallet, pending, expire = plan.cashbacks[0]
        if bp is None:
            value = fixed
        else:
            value = self._earn_base(ctx, base) * bp // BP
            if cap is not None and value > cap:
                value = cap
        now = ctx.now
        effect = _effect(
            "cashback",
            value,
            0,
            wallet,
            None,
            None,
            now + pending if pending else None,
            now + expire if expire else None,
        )
        if not value:
            return _applied_unfunded(plan.name, effect)
        funder = self._funder_name(plan.funder, ctx)
        return _applied_one(plan.name, effect, value, funder, value, 0)

    def _earn_only(self, plan: _Plan, ctx: _Txn, points_value: tuple[int, int] | None) -> Applied:
        """One earn, one funder, no value limit to cut it: the other common case."""
        points, per, base, wallet, pending, expire = plan.earns[0]
        if per:
            points *= self._earn_base(ctx, base) // per
        now = ctx.now
        effect = _effect(
            "earn",
            0,
            points,
            wallet,
            None,
            None,
            now + pending if pending else None,
            now + expire if expire else None,
        )
        if not points:
            return _applied_unfunded(plan.name, effect)
        worth = 0 if points_value is None else points * points_value[1] // points_value[0]
        funder = self._funder_name(plan.funder, ctx)
        return _applied_one(plan.name, effect, worth, funder, 0, points)

    def _rewards(
        self,
        plan: _Plan,
        ctx: _Txn,
        discount: int,
        room: int | None,
        points_value: tuple[int, int] | None,
    ) -> Applied:
        now = ctx.now
        effects = []
        if discount:
            effects.append(_effect("discount", discount, 0, None, None, None, None, None))
        money = points_total = 0
        for bp, fixed, base, cap, wallet, pending, expire in plan.cashbacks:
            if bp is None:
                value = fixed
            else:
                value = self._earn_base(ctx, base) * bp // BP
                if cap is not None and value > cap:
                    value = cap
            money += value
            effects.append(
                _effect(
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
                points *= self._earn_base(ctx, base) // per
            points_total += points
            effects.append(
                _effect(
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
        points_money = _points_money(points_value, points_total)
        if room is not None and money + points_money > room - discount:
            money, points_total = _cut(effects, money + points_money, max(room - discount, 0))
            points_money = _points_money(points_value, points_total)
        for kind, count, draw, segment in plan.others:
            effects.append(_effect(kind, 0, count, None, draw, segment, None, None))
        paid = discount + money
        funders = self._split(plan, ctx, paid, points_total) if paid or points_total else []
        return _applied(plan.name, effects, paid + points_money, funders)

    def _split(self, plan: _Plan, ctx: _Txn, money: int, points: int) -> list[FunderLine]:
        shares = plan.funders
        if len(shares) == 1:
            return [_funder_line(self._funder_name(shares[0][0], ctx), money, points)]
        lines = []
        money_left, points_left = money, points
        for name, bp in shares:
            line = _funder_line(self._funder_name(name, ctx), money * bp // BP, points * bp // BP)
            money_left -= line.amount
            points_left -= line.points
            lines.append(line)
        line = lines[plan.target]
        line.amount += money_left
        line.points += points_left
        return lines

    # ---- redemption
    def _redeem(self, txn: Transaction, member: MemberState | None, left: int) -> Redemption:
        request = txn.redeem
        assert request is not None
        wallet = self.program.wallets[request.wallet]
        balance = member.balances.get(wallet.name, 0) if member is not None else 0
        requested = request.amount
        if request.points is not None:
            requested = _points_money(self._points_value, request.points)
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
        worth = _points_money(self._points_value, balance)
        available = balance if wallet.kind == "money" else worth
        target = eligible if requested is None else min(requested, eligible)
        amount = max(0, min(target, available))
        points = 0
        if wallet.kind == "points" and amount:
            value = self.program.points_value
            assert value is not None
            points = -(-amount * value[0] // value[1])  # round up: the member pays the odd point
            if points > balance:
                points = balance
                amount = _points_money(self._points_value, points)
        reason = None
        if requested is None:
            reason = (refusal or "balance") if amount == 0 and left > 0 else None
        elif amount < requested:
            # Name what bound the redemption: where it may be spent, the charge, or the balance.
            reason = (refusal or "amount") if eligible <= available else "balance"
        return Redemption(wallet.name, requested, amount, points, reason)


def _marks_only(plan: _Plan) -> Applied:
    """Entries and tags alone: no value, so no funders, and no limit can cut them."""
    effects = [
        _effect(kind, 0, count, None, draw, segment, None, None)
        for kind, count, draw, segment in plan.others
    ]
    return _applied(plan.name, effects, 0, [])


# ---- basket filters
# A filter's condition as nested tuples the walk reads quickly; its first item says what
# the node is.  ``_EVERY`` is the filter without a condition.
_EVERY, _TEXT, _NUMBER, _ALL_OF, _ANY_OF, _NONE_OF = range(6)


def _line_test(cond: P.Cond | None) -> tuple | None:
    """``cond`` as a line test, or None where it holds a leaf that lines cannot have."""
    if cond is None:
        return (_EVERY,)
    if isinstance(cond, P.StrLeaf) and cond.attr.kind in P.LINE_TEXT:
        return (_TEXT, cond.attr.kind, cond.values, cond.negated)
    if isinstance(cond, P.NumLeaf) and cond.attr.kind in P.LINE_NUMERIC:
        return (_NUMBER, cond.attr.kind, cond.intervals)
    if isinstance(cond, P.Not):
        item = _line_test(cond.item)
        return None if item is None else (_NONE_OF, (item,))
    if isinstance(cond, P.And | P.Or):
        items = tuple(_line_test(item) for item in cond.items)
        if any(item is None for item in items):
            return None
        return (_ALL_OF if isinstance(cond, P.And) else _ANY_OF, items)
    return None


def _line_holds(test: tuple, line: BasketLine) -> bool:
    """What :meth:`Reference.line_holds` says of ``line``, read off a line test."""
    tag = test[0]
    if tag == _TEXT:
        return (getattr(line, test[1]) in test[2]) != test[3]
    if tag == _NUMBER:
        value = getattr(line, test[1])
        return any(low <= value <= high for low, high in test[2])
    if tag == _ALL_OF:
        return all(_line_holds(item, line) for item in test[1])
    if tag == _ANY_OF:
        return any(_line_holds(item, line) for item in test[1])
    if tag == _NONE_OF:
        return not _line_holds(test[1][0], line)
    return True  # _EVERY


def _filter_amount(test: tuple, basket: tuple[BasketLine, ...]) -> int:
    """The amount of the basket lines that pass ``test`` (``basket.amount(...)``)."""
    total = 0
    if test[0] == _TEXT:  # the usual filter: one category or sku test
        kind, values, negated = test[1], test[2], test[3]
        for line in basket:
            if (getattr(line, kind) in values) != negated:
                total += line.qty * line.unit_price
        return total
    for line in basket:
        if _line_holds(test, line):
            total += line.qty * line.unit_price
    return total


# ---- limits and budgets
def _room(plan: _Plan, member: str, counters: Counters, local_days: int) -> int | Skipped | None:
    """Value still allowed (None: no value cap), or why the rule is spent."""
    room = None
    name = plan.name
    for period, count, cap, detail in plan.limits:
        key = period_key(period, local_days)
        if count is not None:
            if counters.limit_used(member, name, "count", period, key) >= count:
                return _skipped(name, "limit", detail)
        else:
            left = cap - counters.limit_used(member, name, "value", period, key)
            if left <= 0:
                return _skipped(name, "limit", detail)
            room = left if room is None or left < room else room
    budget = plan.budget
    if budget is not None:
        uses, cap = budget
        if uses is not None:
            if counters.budget_used(name, "count") >= uses:
                return _skipped(name, "budget", f"{uses} uses spent")
        else:
            left = cap - counters.budget_used(name, "value")
            if left <= 0:
                return _skipped(name, "budget", "budget spent")
            room = left if room is None or left < room else room
    return room


def _usage(plan: _Plan, value: int, local_days: int, out: list[Usage]) -> None:
    """Append the counters one applied rule consumes."""
    name = plan.name
    for period, count, cap, _detail in plan.limits:
        key = period_key(period, local_days)
        if count is not None:
            out.append(_usage_record("limit", name, "count", period, key, 1, count))
        else:
            out.append(_usage_record("limit", name, "value", period, key, value, cap))
    budget = plan.budget
    if budget is not None:
        uses, cap = budget
        if uses is not None:
            out.append(_usage_record("budget", name, "count", "ever", "ever", 1, uses))
        else:
            out.append(_usage_record("budget", name, "value", "ever", "ever", value, cap))


# ---- arithmetic
def _points_money(points_value: tuple[int, int] | None, points: int) -> int:
    """What ``points`` are worth in minor units, rounded down."""
    if points_value is None or not points:
        return 0
    return points * points_value[1] // points_value[0]


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
