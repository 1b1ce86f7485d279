# cython: annotation_typing=False, boundscheck=True, wraparound=True
"""Resolve names and check types: a parsed module becomes a :class:`~engine.program.Program`.

Every problem is collected as a diagnostic with its location, so that a marketer sees all of
them at once.  Literals are read here, with the type of what they are compared with: ``5``
next to ``amount`` is 500 cents, next to ``hour`` it is hour 5.
"""

from __future__ import annotations

import csv
import io
import os
import zoneinfo
from collections.abc import Callable

from . import ast
from . import program as P
from .currencies import is_currency, minor_digits
from .errors import Diagnostic, Diagnostics, Location
from .fastclass import fast_constructor
from .values import (
    DAY,
    WEEKDAYS,
    ValueFormatError,
    date_days,
    datetime_local_seconds,
    decimal_to_scaled,
    duration_seconds,
    percent_to_bp,
)

NUM_SCALE_DIGITS = 6  # custom numeric attributes are compared at micro precision
MAX_GROUP_FILE_BYTES = 64 * 1024 * 1024
ORDERED_TYPES = {"money", "int", "points", "date", "weekday", "tier", "number"}
ORDER_OPS = {"<", "<=", ">", ">="}
KNOWN_VALUES = ((P.INT_MIN + 1, P.INT_MAX),)
CLAUSE_KEYWORDS = {"condition": "when", "effects": "then", "window": "active", "group": "group"}
MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}

_NUM_LEAF = fast_constructor(P.NumLeaf, untracked=True)
_STR_LEAF = fast_constructor(P.StrLeaf, untracked=True)
_SET_LEAF = fast_constructor(P.SetLeaf, untracked=True)
_AND = fast_constructor(P.And, untracked=True)
_OR = fast_constructor(P.Or, untracked=True)
_NOT = fast_constructor(P.Not, untracked=True)
_EFFECT = fast_constructor(P.Effect, untracked=True)
_LIMIT = fast_constructor(P.LimitSpec, untracked=True)
_BUDGET = fast_constructor(P.BudgetSpec, untracked=True)
_RULE = fast_constructor(P.Rule, untracked=True)
TIME_ATTR = P.Attr("time", None, "int")

# Codes: E1xx syntax, E2xx names, E3xx types, E4xx values, E5xx structure; W0xx warnings.


class _Problem(Exception):
    """Raised inside the checker to abandon one construct after reporting it."""


class Checker:
    def __init__(self, module: ast.Module, base_dir: str | None = None) -> None:
        self.module = module
        self.path = module.path
        self.lines = module.source.splitlines()
        self.base_dir = base_dir if base_dir is not None else os.path.dirname(module.path)
        self.diagnostics = Diagnostics()
        self.currency = "EUR"
        self.digits = 2
        self.groups: dict[str, P.Group] = {}
        self.wallets: dict[str, P.Wallet] = {}
        self.draws: dict[str, ast.DrawDecl] = {}
        self.tier_decls: list[ast.TierDecl] = []
        self.tier_rank: dict[str, int] = {}
        self.custom_attrs: dict[str, tuple[str, Location]] = {}
        self.filters: dict[object, P.BasketFilter] = {}
        self.segments: set[str] = set()
        self.points_value: tuple[int, int] | None = None
        # Rules repeat the same tests, effects and clauses many times.  Once a construct
        # has checked cleanly, its meaning depends only on its text (the declarations are
        # all read before the first rule), so later copies reuse it.  Failures are never
        # memoized: every copy of a bad construct reports its own diagnostic.
        self._leaf_memo: dict[tuple[str, str], P.Cond] = {}
        self._effect_memo: dict[tuple[object, ...], P.Effect] = {}
        self._clause_memo: dict[tuple[object, ...], object] = {}
        self._attr_memo: dict[tuple[str, tuple[str, ...]], P.Attr] = {}

    # ---- reporting
    def error(self, code: str, message: str, loc: Location) -> None:
        self._report("error", code, message, loc)

    def warning(self, code: str, message: str, loc: Location) -> None:
        self._report("warning", code, message, loc)

    def _report(self, severity: str, code: str, message: str, loc: Location) -> None:
        line = self.lines[loc.line - 1] if 0 < loc.line <= len(self.lines) else ""
        self.diagnostics.add(Diagnostic(severity, code, message, loc, line))

    def fail(self, code: str, message: str, loc: Location) -> _Problem:
        self.error(code, message, loc)
        return _Problem()

    # ---- entry point
    def check(self) -> P.Program:
        decls = self.module.decls
        programs = [d for d in decls if isinstance(d, ast.ProgramDecl)]
        name, timezone, earn_on = "program", "UTC", "net"
        if not programs:
            self.error("E501", "the file declares no program", Location(self.path, 1, 1))
        for extra in programs[1:]:
            self.error("E502", "a file declares one program; this is a second", extra.loc)
        if programs:
            name, timezone, earn_on = self._check_program(programs[0])
        self._declare_names(decls)
        self._check_tiers()
        rule_decls = [d for d in decls if isinstance(d, ast.RuleDecl)]
        self._check_groups(rule_decls)
        rules = self._check_rules(rule_decls)
        ordered = sorted(rules, key=lambda r: (-r.priority, r.file_index))
        walk = tuple(_with_walk_index(rule, i) for i, rule in enumerate(ordered))
        tiers = tuple(self._build_tiers())
        return P.Program(
            name=name,
            path=self.path,
            currency=self.currency,
            digits=self.digits,
            timezone=timezone,
            points_value=self.points_value,
            earn_on=earn_on,
            groups=self.groups,
            wallets=self.wallets,
            draws=tuple(self.draws),
            tiers=tiers,
            rules=walk,
            filters=tuple(sorted(self.filters.values(), key=lambda f: f.index)),
            custom_attrs={k: v[0] for k, v in self.custom_attrs.items()},
            segments=frozenset(self.segments),
            source=self.module.source,
        )

    # ---- programme settings
    def _check_program(self, decl: ast.ProgramDecl) -> tuple[str, str, str]:
        timezone, earn_on = "UTC", "net"
        seen: dict[str, Location] = {}
        settings = sorted(decl.settings, key=lambda s: s.key != "currency")  # currency first
        for setting in settings:
            if setting.key in seen:
                self.error("E503", f"{setting.key} is set twice", setting.loc)
                continue
            seen[setting.key] = setting.loc
            value = setting.values[0]
            if setting.key == "currency":
                if not is_currency(value):
                    self.error(
                        "E401", f"unknown currency {value!r} (ISO 4217 codes only)", setting.loc
                    )
                else:
                    self.currency, self.digits = value, minor_digits(value)
            elif setting.key == "timezone":
                try:
                    zoneinfo.ZoneInfo(value)
                    timezone = value
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    self.error("E402", f"unknown time zone {value!r}", setting.loc)
            elif setting.key == "earn_on":
                if value not in ("net", "gross"):
                    self.error("E403", f"earn_on is net or gross, not {value!r}", setting.loc)
                else:
                    earn_on = value
            elif setting.key == "points_value":
                points_text, money_text = setting.values
                try:
                    points = self._whole(points_text, "points")
                    money = decimal_to_scaled(money_text, self.digits, "amount")
                except ValueFormatError as exc:
                    self.error("E404", str(exc), setting.loc)
                    continue
                if points <= 0 or money <= 0:
                    self.error("E404", "points_value needs positive points and amount", setting.loc)
                else:
                    self.points_value = (points, money)
        if "currency" not in seen:
            self.error("E504", "the program needs a currency (for example: currency EUR)", decl.loc)
        return decl.name, timezone, earn_on

    # ---- declarations
    def _declare_names(self, decls: tuple[ast.Decl, ...]) -> None:
        taken: dict[str, Location] = {}

        def claim(name: str, loc: Location, what: str) -> bool:
            if name in taken:
                prev = taken[name]
                self.error("E201", f"{what} {name!r} is already declared at {prev}", loc)
                return False
            taken[name] = loc
            return True

        owned = {
            id(d)
            for d in decls
            if not isinstance(d, ast.RuleDecl | ast.ProgramDecl) and claim(d.name, d.loc, "name")
        }
        for decl in decls:
            if isinstance(decl, ast.GroupDecl) and id(decl) in owned:
                group = self._load_group(decl)
                if group is not None:
                    self.groups[decl.name] = group
        for decl in decls:
            if id(decl) not in owned:
                continue
            if isinstance(decl, ast.WalletDecl):
                self._declare_wallet(decl)
            elif isinstance(decl, ast.DrawDecl):
                self.draws[decl.name] = decl
            elif isinstance(decl, ast.TierDecl):
                self.tier_rank[decl.name] = len(self.tier_decls)
                self.tier_decls.append(decl)
        rule_names: dict[str, Location] = {}
        for decl in decls:
            if isinstance(decl, ast.RuleDecl):
                if decl.name in rule_names:
                    self.error(
                        "E202",
                        f"rule {decl.name!r} is already declared at {rule_names[decl.name]}",
                        decl.loc,
                    )
                rule_names[decl.name] = decl.loc

    def _load_group(self, decl: ast.GroupDecl) -> P.Group | None:
        if decl.values is not None:
            return P.Group(decl.kind, decl.name, frozenset(v.value for v in decl.values), decl.loc)
        assert decl.file is not None
        path = os.path.join(self.base_dir, decl.file.value)
        try:
            if os.path.getsize(path) > MAX_GROUP_FILE_BYTES:
                raise self.fail(
                    "E405", f"group file {decl.file.value!r} is larger than 64 MiB", decl.file.loc
                )
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except _Problem:
            return None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.error(
                "E406", f"cannot read group file {decl.file.value!r}: {reason}", decl.file.loc
            )
            return None
        except UnicodeDecodeError:
            self.error("E406", f"group file {decl.file.value!r} is not UTF-8 text", decl.file.loc)
            return None
        values = _read_group_ids(text, path)
        if not values:
            self.warning("W004", f"group file {decl.file.value!r} holds no ids", decl.file.loc)
        return P.Group(decl.kind, decl.name, frozenset(values), decl.loc, file=path)

    def _declare_wallet(self, decl: ast.WalletDecl) -> None:
        expire = pending = None
        spend_at = spend_on = None
        seen: set[str] = set()
        for key, value, loc in decl.options:
            if key in seen:
                self.error("E422", f"wallet {decl.name!r} sets {key} twice", loc)
                continue
            seen.add(key)
            if key in ("expire", "pending") and duration_seconds(value) <= 0:
                self.error("E423", f"{key} needs a positive duration, not {value}", loc)
                continue
            if key == "expire":
                expire = duration_seconds(value)
            elif key == "pending":
                pending = duration_seconds(value)
            elif key == "spend_at":
                spend_at = self._group_ref(value, "merchant", loc)
            elif key == "spend_on":
                spend_on = self._group_ref(value, "category", loc)
        if expire is not None and pending is not None and pending >= expire:
            self.error("E407", "pending must be shorter than expire", decl.loc)
        self.wallets[decl.name] = P.Wallet(
            decl.name, decl.kind, expire, pending, spend_at, spend_on, decl.loc
        )

    def _group_ref(self, name: str, kind: str, loc: Location) -> str | None:
        group = self.groups.get(name)
        if group is None:
            self.error("E203", f"unknown {kind} group {name!r}", loc)
            return None
        if group.kind != kind:
            self.error(
                "E301", f"{name!r} is a {group.kind} group; a {kind} group is needed here", loc
            )
            return None
        return name

    def _check_tiers(self) -> None:
        defaults = [t for t in self.tier_decls if t.is_default]
        for extra in defaults[1:]:
            self.error("E505", "only one tier can be the default", extra.loc)

    def _build_tiers(self) -> list[P.Tier]:
        tiers = []
        has_default = any(t.is_default for t in self.tier_decls)
        if self.tier_decls and not has_default:
            first = self.tier_decls[0]
            ignored = " and its condition is not used" if first.condition is not None else ""
            self.warning(
                "W003",
                f"no tier is marked default; {first.name!r} is the default{ignored}",
                first.loc,
            )
        for rank, decl in enumerate(self.tier_decls):
            condition = None
            if decl.condition is not None:
                try:
                    condition = self._cond(decl.condition, scope="tier")
                except _Problem:
                    condition = None
            is_default = decl.is_default or (not has_default and rank == 0)
            tiers.append(P.Tier(decl.name, rank, is_default, condition, decl.loc))
        return tiers

    # ---- rules
    def _check_groups(self, decls: list[ast.RuleDecl]) -> None:
        """A group is exclusive in every rule or in none: half of each would be ambiguous."""
        first: dict[str, ast.RuleDecl] = {}
        for decl in decls:
            if decl.group is None:
                continue
            prev = first.setdefault(decl.group, decl)
            if prev.exclusive != decl.exclusive:
                said = "exclusive" if prev.exclusive else "not exclusive"
                self.error(
                    "E510",
                    f"group {decl.group!r} is {said} in rule {prev.name!r} ({prev.loc}); "
                    "say the same in every rule of the group",
                    decl.loc,
                )

    def _check_rules(self, decls: list[ast.RuleDecl]) -> list[P.Rule]:
        rules = []
        for index, decl in enumerate(decls):
            rule = self._check_rule(decl, index)
            if rule is not None:
                rules.append(rule)
        return rules

    def _check_rule(self, decl: ast.RuleDecl, index: int) -> P.Rule | None:
        ok = True
        clause_locs = decl.clause_locs
        if len({key for key, _ in clause_locs}) != len(clause_locs):
            counts: dict[str, int] = {}
            for key, loc in clause_locs:
                counts[key] = counts.get(key, 0) + 1
                if counts[key] == 2 and key not in ("limit", "funded_by"):
                    keyword = CLAUSE_KEYWORDS.get(key, key)
                    self.error("E506", f"rule {decl.name!r} has more than one '{keyword}'", loc)
                    ok = False
        if not decl.effects:
            self.error("E507", f"rule {decl.name!r} has no effect (add: then ...)", decl.loc)
            ok = False
        window = window_leaf = None
        if decl.window is not None:
            try:
                window = self._window(decl.window)
                window_leaf = _NUM_LEAF(TIME_ATTR, (window,), decl.window.loc, decl.window)
            except _Problem:
                ok = False
        condition = None
        if decl.condition is not None:
            try:
                condition = self._cond(decl.condition, "rule")
            except _Problem:
                ok = False
        effects = []
        for effect in decl.effects:
            try:
                effects.append(self._effect_memoized(effect))
            except _Problem:
                ok = False
        limits = []
        if decl.limits:
            earns = any(e.kind == "earn" for e in effects)
            for limit in decl.limits:
                try:
                    limits.append(self._limit_memoized(limit, effects, earns))
                except _Problem:
                    ok = False
        budget = None
        if decl.budget is not None:
            try:
                budget = self._budget_memoized(decl.budget, effects)
            except _Problem:
                ok = False
        try:
            funders = self._funders_memoized(decl.funders, decl.loc)
        except _Problem:
            ok, funders = False, ()
        if not ok:
            return None
        return _RULE(
            decl.name,
            index,
            decl.priority or 0,
            window,
            window_leaf,
            condition,
            tuple(effects),
            tuple(limits),
            budget,
            funders,
            decl.group,
            decl.exclusive,
            decl.stop,
            decl.loc,
            -1,
        )

    # ---- memoized clauses: the same text checks the same way (see ``__init__``)
    def _effect_memoized(self, effect: ast.Effect) -> P.Effect:
        kind = type(effect)
        if kind is ast.Discount or kind is ast.Cashback:
            if effect.base is not None:
                return self._effect(effect)
            cap = effect.cap
            key: tuple[object, ...] = (
                kind,
                effect.percent,
                effect.amount,
                None if cap is None else cap.text,
                getattr(effect, "wallet", None),
            )
        elif kind is ast.Earn:
            if effect.base is not None:
                return self._effect(effect)
            per = effect.per
            key = (kind, effect.points.text, None if per is None else per.text, effect.wallet)
        else:
            return self._effect(effect)
        done = self._effect_memo.get(key)
        if done is None:
            done = self._effect_memo[key] = self._effect(effect)
        return _EFFECT(
            done.kind,
            effect.loc,
            done.percent_bp,
            done.amount,
            done.base,
            done.cap,
            done.wallet,
            done.points,
            done.per,
            done.draw,
            done.segment,
        )

    def _limit_memoized(
        self, limit: ast.Limit, effects: list[P.Effect], earns: bool
    ) -> P.LimitSpec:
        key = ("limit", limit.amount.text, limit.by_value, limit.period, earns)
        done = self._clause_memo.get(key)
        if done is None:
            done = self._clause_memo[key] = self._limit(limit, effects)
        assert isinstance(done, P.LimitSpec)
        return _LIMIT(done.count, done.value, done.period, limit.loc)

    def _budget_memoized(self, budget: ast.Budget, effects: list[P.Effect]) -> P.BudgetSpec:
        earns = any(e.kind == "earn" for e in effects)
        key = ("budget", budget.amount.text, budget.uses, earns)
        done = self._clause_memo.get(key)
        if done is None:
            done = self._clause_memo[key] = self._budget(budget, effects)
        assert isinstance(done, P.BudgetSpec)
        return _BUDGET(done.value, done.uses, budget.loc)

    def _funders_memoized(
        self, funders: tuple[ast.Funder, ...], loc: Location
    ) -> tuple[P.FunderShare, ...]:
        key = ("funders", *[(f.kind, f.name, f.percent) for f in funders])
        done = self._clause_memo.get(key)
        if done is None:
            done = self._clause_memo[key] = self._funders(funders, loc)
        return done  # type: ignore[return-value]

    def _window(self, window: ast.Window) -> tuple[int, int]:
        key = ("window", type(window.start), window.start.text, type(window.end), window.end.text)
        done = self._clause_memo.get(key)
        if done is None:
            done = self._clause_memo[key] = self._window_of(window)
        return done  # type: ignore[return-value]

    def _window_of(self, window: ast.Window) -> tuple[int, int]:
        start = self._moment(window.start, end=False)
        end = self._moment(window.end, end=True)
        if end < start:
            raise self.fail("E408", "the window ends before it starts", window.loc)
        return (start, end)

    def _moment(self, lit: ast.DateLit | ast.DateTimeLit, end: bool) -> int:
        try:
            if isinstance(lit, ast.DateLit):
                days = date_days(lit.text)
                return (days + 1) * DAY - 1 if end else days * DAY
            seconds = datetime_local_seconds(lit.text)
            return seconds + 59 if end else seconds
        except ValueFormatError as exc:
            raise self.fail("E409", str(exc), lit.loc) from None

    def _effect(self, effect: ast.Effect) -> P.Effect:
        if isinstance(effect, ast.Discount):
            if effect.percent is not None:
                return P.Effect(
                    "discount",
                    effect.loc,
                    percent_bp=self._percent(effect.percent, effect.loc),
                    base=self._base(effect.base),
                    cap=self._cap(effect.cap),
                )
            return P.Effect(
                "discount", effect.loc, amount=self._money_text(effect.amount, effect.loc)
            )
        if isinstance(effect, ast.Cashback):
            self._wallet_ref(effect.wallet, "money", effect.loc, "cashback")
            if effect.percent is not None:
                return P.Effect(
                    "cashback",
                    effect.loc,
                    percent_bp=self._percent(effect.percent, effect.loc),
                    base=self._base(effect.base),
                    cap=self._cap(effect.cap),
                    wallet=effect.wallet,
                )
            return P.Effect(
                "cashback",
                effect.loc,
                amount=self._money_text(effect.amount, effect.loc),
                wallet=effect.wallet,
            )
        if isinstance(effect, ast.Earn):
            self._wallet_ref(effect.wallet, "points", effect.loc, "earn")
            points = self._whole_lit(effect.points, "points")
            per = None
            if effect.per is not None:
                per = self._money_lit(effect.per)
                if per <= 0:
                    raise self.fail("E410", "per needs a positive amount", effect.per.loc)
            elif effect.base is not None:
                raise self.fail("E302", "a base (of ...) needs per", effect.loc)
            return P.Effect(
                "earn",
                effect.loc,
                points=points,
                per=per,
                base=self._base(effect.base),
                wallet=effect.wallet,
            )
        if isinstance(effect, ast.Entries):
            if effect.draw not in self.draws:
                raise self.fail("E204", f"unknown draw {effect.draw!r}", effect.loc)
            return P.Effect(
                "entries",
                effect.loc,
                points=self._whole_lit(effect.count, "entries"),
                draw=effect.draw,
            )
        assert isinstance(effect, ast.Tag)
        if not effect.segment:
            raise self.fail("E411", "a tag needs a segment name", effect.loc)
        self.segments.add(effect.segment)
        return P.Effect("tag", effect.loc, segment=effect.segment)

    def _wallet_ref(self, name: str, kind: str, loc: Location, what: str) -> None:
        wallet = self.wallets.get(name)
        if wallet is None:
            raise self.fail("E205", f"unknown wallet {name!r}", loc)
        if wallet.kind != kind:
            raise self.fail(
                "E303", f"{what} goes into a {kind} wallet; {name!r} holds {wallet.kind}", loc
            )

    def _base(self, operand: ast.Operand | None) -> P.Base:
        if operand is None:
            return P.Base(None)
        if isinstance(operand, ast.Path) and operand.parts == ("amount",):
            return P.Base(None)
        if isinstance(operand, ast.Call) and operand.func.parts == ("basket", "amount"):
            return P.Base(self._filter(operand).index)
        raise self.fail("E304", "a base is amount or basket.amount(FILTER)", operand.loc)

    def _cap(self, cap: ast.Number | None) -> int | None:
        return None if cap is None else self._money_lit(cap)

    def _percent(self, text: str, loc: Location) -> int:
        try:
            bp = percent_to_bp(text)
        except ValueFormatError as exc:
            raise self.fail("E412", str(exc), loc) from None
        if bp > 10_000:
            raise self.fail("E413", f"{text} is more than 100%", loc)
        return bp

    def _limit(self, limit: ast.Limit, effects: list[P.Effect]) -> P.LimitSpec:
        if limit.period not in ("day", "week", "month", "ever"):
            raise self.fail(
                "E414",
                f"a limit period is day, week, month or ever, not {limit.period!r}",
                limit.loc,
            )
        if limit.by_value:
            self._needs_value(effects, limit.loc)
            value = self._money_lit(limit.amount)
            return P.LimitSpec(None, value, limit.period, limit.loc)
        return P.LimitSpec(self._whole_lit(limit.amount, "limit"), None, limit.period, limit.loc)

    def _budget(self, budget: ast.Budget, effects: list[P.Effect]) -> P.BudgetSpec:
        if budget.uses:
            return P.BudgetSpec(None, self._whole_lit(budget.amount, "budget"), budget.loc)
        self._needs_value(effects, budget.loc)
        return P.BudgetSpec(self._money_lit(budget.amount), None, budget.loc)

    def _needs_value(self, effects: list[P.Effect], loc: Location) -> None:
        if any(e.kind == "earn" for e in effects) and self.points_value is None:
            raise self.fail(
                "E415",
                "a value limit or budget on a rule that earns points needs the "
                "program's points_value",
                loc,
            )

    def _funders(self, funders: tuple[ast.Funder, ...], loc: Location) -> tuple[P.FunderShare, ...]:
        if not funders:
            return (P.FunderShare("program", 10_000),)
        shares = []
        seen: set[str] = set()
        for funder in funders:
            key = funder.kind if funder.kind != "partner" else f"partner:{funder.name}"
            if key in seen:
                raise self.fail("E508", f"{key} is named twice in funded_by", funder.loc)
            seen.add(key)
            shares.append(P.FunderShare(key, self._percent(funder.percent, funder.loc)))
        total = sum(s.bp for s in shares)
        if total != 10_000:
            raise self.fail(
                "E416", f"funders' shares sum to {total / 100:g}%, not 100%", funders[0].loc
            )
        return tuple(shares)

    # ---- conditions
    def _cond(self, expr: ast.Expr, scope: str) -> P.Cond:
        """Check one condition; collect problems from every branch before giving up."""
        kind = type(expr)
        if kind is ast.Compare or kind is ast.Truth:
            return self._leaf_memoized(expr, scope)
        if kind is ast.And or kind is ast.Or:
            items, failed = [], False
            for item in expr.items:
                try:
                    items.append(self._cond(item, scope))
                except _Problem:
                    failed = True
            if failed:
                raise _Problem()
            return (_AND if kind is ast.And else _OR)(tuple(items), expr.loc)
        if kind is ast.Not:
            return _NOT(self._cond(expr.item, scope), expr.loc)
        if isinstance(expr, ast.Truth):
            return self._truth(expr, scope)
        return self._compare(expr, scope)

    def _leaf_memoized(self, expr: ast.Compare | ast.Truth, scope: str) -> P.Cond:
        """A test written on one line means what its text says: the first copy is checked,
        later copies get the same leaf with their own location and source."""
        loc = expr.loc
        line = loc.line
        if line != loc.end_line or loc.end_column <= loc.column or not 0 < line <= len(self.lines):
            if type(expr) is ast.Truth:
                return self._truth(expr, scope)
            return self._compare(expr, scope)
        key = (scope, self.lines[line - 1][loc.column - 1 : loc.end_column - 1])
        done = self._leaf_memo.get(key)
        if done is None:
            if type(expr) is ast.Truth:
                done = self._truth(expr, scope)
            else:
                done = self._compare(expr, scope)
            self._leaf_memo[key] = done
            return done
        return _relocated(done, expr)

    def _truth(self, expr: ast.Truth, scope: str) -> P.Cond:
        operand = expr.operand
        if isinstance(operand, ast.Call) and operand.func.parts == ("basket", "has"):
            self._no_basket_in(scope, operand.loc)
            filt = self._filter(operand)
            return P.NumLeaf(P.Attr("basket_has", filt.index, "bool"), ((1, 1),), expr.loc, expr)
        raise self.fail(
            "E305",
            "a condition compares two things (amount >= 5.00) or tests basket.has(...)",
            expr.loc,
        )

    def _compare(self, expr: ast.Compare, scope: str) -> P.Cond:
        left, op, right = expr.left, expr.op, expr.right
        if _is_value(left) and not _is_value(right):
            if op in ("in", "not in"):
                return self._membership(left, op, right, expr, scope)
            left, right, op = right, left, MIRROR[op]
        attr = self._attr(left, scope)
        if _is_attr_like(right) and not (isinstance(right, ast.Path) and len(right.parts) == 1):
            raise self.fail(
                "E306", "compare an attribute with a value, not with another attribute", expr.loc
            )
        return self._leaf(attr, op, right, expr)

    def _membership(
        self, value: ast.Operand, op: str, target: ast.Operand, expr: ast.Compare, scope: str
    ) -> P.Cond:
        """``"vip" in member.segments``: a value tested against a many-valued attribute."""
        if isinstance(target, ast.Path) and target.parts == ("member", "segments"):
            if not isinstance(value, ast.String):
                raise self.fail("E307", 'a segment is a "string"', value.loc)
            self.segments.add(value.value)
            attr = P.Attr("segments", None, "set")
            return P.SetLeaf(attr, frozenset([value.value]), op == "not in", expr.loc, expr)
        raise self.fail(
            "E308", 'only member.segments can hold a value ("vip" in member.segments)', target.loc
        )

    def _no_basket_in(self, scope: str, loc: Location) -> None:
        if scope != "rule":
            where = "a tier condition" if scope == "tier" else "a basket filter"
            raise self.fail("E309", f"basket attributes cannot be used in {where}", loc)

    def _attr(self, operand: ast.Operand, scope: str) -> P.Attr:
        if type(operand) is ast.Path:  # a name means the same attribute wherever it is read
            key = (scope, operand.parts)
            attr = self._attr_memo.get(key)
            if attr is None:
                attr = self._attr_memo[key] = self._resolve(operand, scope)
            return attr
        return self._resolve(operand, scope)

    def _resolve(self, operand: ast.Operand, scope: str) -> P.Attr:
        if isinstance(operand, ast.Call):
            return self._call_attr(operand, scope)
        if not isinstance(operand, ast.Path):
            raise self.fail(
                "E310", "expected an attribute here (amount, mcc, member.tier, ...)", operand.loc
            )
        parts = operand.parts
        name = operand.dotted
        if scope == "line":
            if name in P.LINE_TEXT:
                return P.Attr(name, None, "text")
            if name == "unit_price":
                return P.Attr(name, None, "money")
            if name == "qty":
                return P.Attr(name, None, "int")
            raise self.fail(
                "E206",
                f"unknown basket line attribute {name!r} (sku, category, unit_price, qty)",
                operand.loc,
            )
        if scope == "tier" and len(parts) == 1 and parts[0] in P.MEMBER_COUNTERS:
            parts = ("member", parts[0])
        if parts[0] == "member" and len(parts) >= 2:
            return self._member_attr(parts, operand, scope)
        if scope == "tier" and len(parts) == 1 and parts[0] not in ("tier",):
            raise self.fail(
                "E311", f"a tier condition reads member counters, not {name!r}", operand.loc
            )
        if len(parts) == 1:
            simple = {
                "amount": "money",
                "mcc": "int",
                "hour": "int",
                "minute": "int",
                "date": "date",
                "weekday": "weekday",
                "channel": "channel",
            }
            if parts[0] in simple:
                return P.Attr(parts[0], None, simple[parts[0]])
            if parts[0] in P.TXN_TEXT:
                return P.Attr(parts[0], None, "text")
            if parts[0] == "tier":
                if scope == "tier":
                    raise self.fail(
                        "E312", "a tier condition cannot test the tier itself", operand.loc
                    )
                if not self.tier_decls:
                    raise self.fail("E207", "no tiers are declared", operand.loc)
                return P.Attr("tier", None, "tier")
            if parts[0] in ("category", "sku"):
                # The categories / skus of the basket: true when any line matches.
                return P.Attr(parts[0], None, "line-text")
        raise self.fail("E208", f"unknown attribute {name!r}", operand.loc)

    def _member_attr(self, parts: tuple[str, ...], operand: ast.Path, scope: str) -> P.Attr:
        name = operand.dotted
        if len(parts) == 2:
            key = parts[1]
            if key in P.MEMBER_COUNTERS:
                kind = "money" if key.startswith("spend_") else "int"
                return P.Attr(key, None, kind)
            if key == "tier":
                if scope == "tier":
                    raise self.fail(
                        "E312", "a tier condition cannot test the tier itself", operand.loc
                    )
                if not self.tier_decls:
                    raise self.fail("E207", "no tiers are declared", operand.loc)
                return P.Attr("tier", None, "tier")
            if key == "segments":
                raise self.fail("E313", 'test segments as "NAME" in member.segments', operand.loc)
        if len(parts) == 3 and parts[1] == "attr":
            return P.Attr("attr", parts[2], "custom")
        raise self.fail("E208", f"unknown attribute {name!r}", operand.loc)

    def _call_attr(self, call: ast.Call, scope: str) -> P.Attr:
        func = call.func.dotted
        if func == "balance":
            if scope == "line":
                raise self.fail("E309", "balance() cannot be used in a basket filter", call.loc)
            arg = call.arg
            if not (
                isinstance(arg, ast.Truth)
                and isinstance(arg.operand, ast.Path)
                and len(arg.operand.parts) == 1
            ):
                raise self.fail("E314", "balance takes a wallet name: balance(points)", call.loc)
            name = arg.operand.parts[0]
            wallet = self.wallets.get(name)
            if wallet is None:
                raise self.fail("E205", f"unknown wallet {name!r}", arg.loc)
            return P.Attr("balance", name, "points" if wallet.kind == "points" else "money")
        if func in ("basket.qty", "basket.amount", "basket.has"):
            self._no_basket_in(scope, call.loc)
            filt = self._filter(call)
            measure = func.split(".")[1]
            kind = {"qty": "int", "amount": "money", "has": "bool"}[measure]
            return P.Attr(f"basket_{measure}", filt.index, kind)
        raise self.fail(
            "E209",
            f"unknown function {func!r} (basket.qty, basket.amount, basket.has, balance)",
            call.loc,
        )

    def _filter(self, call: ast.Call) -> P.BasketFilter:
        arg = call.arg
        text = _source_text(self.lines, arg.loc) if arg is not None else ""
        condition = None if arg is None else self._cond(arg, scope="line")
        key = P.structural_key(condition)
        existing = self.filters.get(key)
        if existing is not None:
            return existing
        filt = P.BasketFilter(len(self.filters), condition, text)
        self.filters[key] = filt
        return filt

    def _leaf(self, attr: P.Attr, op: str, right: ast.Operand, expr: ast.Compare) -> P.Cond:
        kind = attr.type
        if kind == "custom":
            attr = self._custom_attr(attr, right, expr)
            kind = attr.type
        if kind == "bool":
            raise self.fail(
                "E315", "basket.has(...) is a condition on its own; it is not compared", expr.loc
            )
        if kind in ("text", "line-text"):
            return self._text_leaf(attr, op, right, expr)
        if op in ORDER_OPS and kind not in ORDERED_TYPES:
            raise self.fail("E316", f"{attr.describe()} has no order; use = != in", expr.loc)
        reader = self._reader(attr)
        if op in ("in", "not in"):
            intervals = self._intervals_of(right, reader, expr)
        else:
            if isinstance(right, ast.SetLit | ast.Range):
                raise self.fail(
                    "E317", f"use 'in' to test {attr.describe()} against a set or range", right.loc
                )
            intervals = _op_intervals("=" if op == "!=" else op, reader(right))
        # The smallest int64 stands for a missing custom number: only != and not in hold for it.
        if intervals and intervals[0][0] == P.INT_MIN:
            intervals = intersect(intervals, KNOWN_VALUES)
        if op in ("!=", "not in"):
            intervals = complement(intervals)
        return P.NumLeaf(attr, intervals, expr.loc, expr)

    def _custom_attr(self, attr: P.Attr, right: ast.Operand, expr: ast.Compare) -> P.Attr:
        name = str(attr.arg)
        sample = right
        if isinstance(right, ast.SetLit) and right.items:
            sample = right.items[0]
        if isinstance(sample, ast.Range):
            sample = sample.low
        kind = "text" if isinstance(sample, ast.String) else "number"
        if not isinstance(sample, ast.String | ast.Number):
            raise self.fail(
                "E318", f'member.attr.{name} is compared with a "string" or a number', right.loc
            )
        prev = self.custom_attrs.get(name)
        if prev is not None and prev[0] != kind:
            raise self.fail(
                "E319",
                f"member.attr.{name} is used as {prev[0]} at {prev[1]} and as {kind} here",
                expr.loc,
            )
        self.custom_attrs.setdefault(name, (kind, expr.loc))
        return P.Attr("attr", name, kind)

    def _text_leaf(self, attr: P.Attr, op: str, right: ast.Operand, expr: ast.Compare) -> P.Cond:
        if op in ORDER_OPS:
            raise self.fail("E316", f"{attr.describe()} is text; use = != in", expr.loc)
        group_name = None
        if isinstance(right, ast.Path) and len(right.parts) == 1 and op in ("in", "not in"):
            group_name = right.parts[0]
            wanted = (
                "merchant"
                if attr.kind == "merchant"
                else "category"
                if attr.kind == "category"
                else None
            )
            group = self.groups.get(group_name)
            if group is None:
                raise self.fail("E203", f"unknown group {group_name!r}", right.loc)
            if wanted is None:
                raise self.fail(
                    "E320", f"groups hold merchants or categories, not {attr.describe()}", right.loc
                )
            if group.kind != wanted:
                raise self.fail(
                    "E301",
                    f"{group_name!r} is a {group.kind} group; {attr.kind} needs a {wanted} group",
                    right.loc,
                )
            values = group.values
        elif op in ("in", "not in"):
            if not isinstance(right, ast.SetLit):
                raise self.fail("E321", '\'in\' takes a set {"a", "b"} or a group name', right.loc)
            values = frozenset(self._text(item) for item in right.items)
        else:
            if isinstance(right, ast.SetLit):
                raise self.fail(
                    "E317", f"use 'in' to test {attr.describe()} against a set", right.loc
                )
            values = frozenset([self._text(right)])
        negated = op in ("!=", "not in")
        if attr.type == "line-text":
            # A top-level category/sku test is about the basket: does any line match?
            line_attr = P.Attr(attr.kind, None, "text")
            inner = P.StrLeaf(line_attr, values, False, expr.loc, group_name, expr)
            key = P.structural_key(inner)
            filt = self.filters.get(key)
            if filt is None:
                filt = P.BasketFilter(len(self.filters), inner, _source_text(self.lines, expr.loc))
                self.filters[key] = filt
            has = P.NumLeaf(P.Attr("basket_has", filt.index, "bool"), ((1, 1),), expr.loc, expr)
            return P.Not(has, expr.loc) if negated else has
        return _STR_LEAF(attr, values, negated, expr.loc, group_name, expr)

    def _text(self, lit: ast.Operand) -> str:
        if isinstance(lit, ast.String):
            return lit.value
        if isinstance(lit, ast.Range):
            raise self.fail("E322", "text has no ranges", lit.loc)
        raise self.fail("E323", 'text values are written in quotes: "M1001"', lit.loc)

    def _reader(self, attr: P.Attr) -> Callable[[ast.Operand], int]:
        """How a literal compared with ``attr`` becomes an integer."""
        kind = attr.type

        def read(lit: ast.Operand) -> int:
            try:
                return self._read(kind, attr, lit)
            except ValueFormatError as exc:
                raise self.fail("E417", str(exc), lit.loc) from None

        return read

    def _read(self, kind: str, attr: P.Attr, lit: ast.Operand) -> int:
        what = attr.describe()
        if kind == "money":
            if not isinstance(lit, ast.Number):
                raise self.fail(
                    "E324", f"{what} is money; compare it with an amount like 5.00", lit.loc
                )
            return decimal_to_scaled(lit.text, self.digits, "amount")
        if kind in ("int", "points"):
            if not isinstance(lit, ast.Number):
                raise self.fail("E325", f"{what} is a whole number", lit.loc)
            value = self._whole(lit.text, what)
            limits = {"hour": 23, "minute": 59}
            if attr.kind in limits and not 0 <= value <= limits[attr.kind]:
                raise self.fail(
                    "E418", f"{attr.kind} is 0..{limits[attr.kind]}, not {value}", lit.loc
                )
            return value
        if kind == "number":
            if not isinstance(lit, ast.Number):
                raise self.fail("E325", f"{what} is a number", lit.loc)
            return decimal_to_scaled(lit.text, NUM_SCALE_DIGITS, "number")
        if kind == "date":
            if not isinstance(lit, ast.DateLit):
                raise self.fail("E326", "date is compared with a date like 2026-12-01", lit.loc)
            return date_days(lit.text)
        if kind == "weekday":
            name = _bare_name(lit)
            if name not in WEEKDAYS:
                raise self.fail("E327", "a weekday is one of mon tue wed thu fri sat sun", lit.loc)
            return WEEKDAYS.index(name)
        if kind == "channel":
            name = lit.value if isinstance(lit, ast.String) else _bare_name(lit)
            if name not in P.CHANNELS:
                raise self.fail("E328", "a channel is pos, ecom or app", lit.loc)
            return P.CHANNELS.index(name)
        if kind == "tier":
            name = _bare_name(lit)
            if name not in self.tier_rank:
                raise self.fail("E210", f"unknown tier {name!r}", lit.loc)
            return self.tier_rank[name]
        raise self.fail("E329", f"{what} cannot be compared with this value", lit.loc)

    def _intervals_of(
        self, right: ast.Operand, read: Callable[[ast.Operand], int], expr: ast.Compare
    ) -> P.Intervals:
        items: tuple[ast.Operand, ...]
        if isinstance(right, ast.SetLit):
            items = right.items
        elif isinstance(right, ast.Range):
            items = (right,)
        else:
            raise self.fail("E321", "'in' takes a set {a, b} or a range lo..hi", right.loc)
        spans = []
        failed = False
        for item in items:
            try:
                if isinstance(item, ast.Range):
                    low, high = read(item.low), read(item.high)
                    if high < low:
                        raise self.fail("E419", "a range runs from low to high", item.loc)
                    spans.append((low, high))
                else:
                    value = read(item)
                    spans.append((value, value))
            except _Problem:
                failed = True
        if failed:
            raise _Problem()
        return normalize(spans)

    # ---- literal helpers
    def _whole(self, text: str, what: str) -> int:
        if not text.isdigit():
            raise ValueFormatError(f"{what} is a whole number, not {text}")
        return int(text)

    def _whole_lit(self, lit: ast.Number, what: str) -> int:
        try:
            return self._whole(lit.text, what)
        except ValueFormatError as exc:
            raise self.fail("E420", str(exc), lit.loc) from None

    def _money_lit(self, lit: ast.Number) -> int:
        try:
            return decimal_to_scaled(lit.text, self.digits, "amount")
        except ValueFormatError as exc:
            raise self.fail("E421", str(exc), lit.loc) from None

    def _money_text(self, text: str | None, loc: Location) -> int:
        try:
            return decimal_to_scaled(text or "", self.digits, "amount")
        except ValueFormatError as exc:
            raise self.fail("E421", str(exc), loc) from None


# ---- interval algebra shared by the checker and the compiler ------------------------------


def normalize(spans: list[tuple[int, int]] | P.Intervals) -> P.Intervals:
    """Sort and merge closed integer intervals; adjacent ones join."""
    merged: list[list[int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return tuple((a, b) for a, b in merged)


def complement(intervals: P.Intervals) -> P.Intervals:
    out = []
    cursor = P.INT_MIN
    for low, high in intervals:
        if low > cursor:
            out.append((cursor, low - 1))
        cursor = high + 1 if high < P.INT_MAX else None
        if cursor is None:
            break
    if cursor is not None:
        out.append((cursor, P.INT_MAX))
    return tuple(out)


def intersect(a: P.Intervals, b: P.Intervals) -> P.Intervals:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        low = max(a[i][0], b[j][0])
        high = min(a[i][1], b[j][1])
        if low <= high:
            out.append((low, high))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def contains(outer: P.Intervals, inner: P.Intervals) -> bool:
    """Every value of ``inner`` (normalised) lies in ``outer`` (normalised)."""
    i = 0
    for low, high in inner:
        while i < len(outer) and outer[i][1] < low:
            i += 1
        if i == len(outer) or outer[i][0] > low or outer[i][1] < high:
            return False
    return True


def _op_intervals(op: str, value: int) -> P.Intervals:
    if op == "=":
        return ((value, value),)
    if op == "!=":
        return complement(((value, value),))
    if op == "<":
        return ((P.INT_MIN, value - 1),)
    if op == "<=":
        return ((P.INT_MIN, value),)
    if op == ">":
        return ((value + 1, P.INT_MAX),)
    return ((value, P.INT_MAX),)  # >=


_VALUE_TYPES = frozenset(
    (ast.Number, ast.String, ast.DateLit, ast.DateTimeLit, ast.SetLit, ast.Range, ast.Name)
)


def _is_value(operand: ast.Operand) -> bool:
    return type(operand) in _VALUE_TYPES  # the node classes have no subclasses


def _is_attr_like(operand: ast.Operand) -> bool:
    return type(operand) is ast.Path or type(operand) is ast.Call


def _bare_name(lit: ast.Operand) -> str | None:
    if isinstance(lit, ast.Name):
        return lit.name
    if isinstance(lit, ast.Path) and len(lit.parts) == 1:
        return lit.parts[0]
    return None


def _source_text(lines: list[str], loc: Location) -> str:
    if loc.line <= 0 or loc.line > len(lines):
        return ""
    if loc.end_line == loc.line and loc.end_column:
        return lines[loc.line - 1][loc.column - 1 : loc.end_column - 1]
    return lines[loc.line - 1][loc.column - 1 :].strip()


def _read_group_ids(text: str, path: str) -> list[str]:
    """One id a line; a CSV file takes its first column and skips a header named 'id'."""
    if path.lower().endswith(".csv"):
        rows = csv.reader(io.StringIO(text))
        ids = [row[0].strip() for row in rows if row and row[0].strip()]
        if ids and ids[0].lower() in ("id", "merchant", "merchant_id", "category"):
            ids = ids[1:]
        return ids
    ids = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(line)
    return ids


def _relocated(done: P.Cond, expr: ast.Compare | ast.Truth) -> P.Cond:
    """The leaf ``done`` (checked from a copy of ``expr``) at ``expr``'s place."""
    kind = type(done)
    loc = expr.loc
    if kind is P.NumLeaf:
        return _NUM_LEAF(done.attr, done.intervals, loc, expr)  # type: ignore[union-attr]
    if kind is P.StrLeaf:
        return _STR_LEAF(
            done.attr,
            done.values,
            done.negated,
            loc,
            done.group,
            expr,  # type: ignore[union-attr]
        )
    if kind is P.SetLeaf:
        return _SET_LEAF(done.attr, done.values, done.negated, loc, expr)  # type: ignore[union-attr]
    assert kind is P.Not
    return _NOT(_relocated(done.item, expr), loc)  # type: ignore[union-attr]


def _with_walk_index(rule: P.Rule, index: int) -> P.Rule:
    # The rule was built a moment ago and nothing else holds it yet: setting the field in
    # place is safe and spares dataclasses.replace's introspection for every rule.
    object.__setattr__(rule, "walk_index", index)
    return rule


def check(module: ast.Module, base_dir: str | None = None) -> tuple[P.Program, Diagnostics]:
    """Check a parsed module; the diagnostics may hold warnings even when there are no errors."""
    checker = Checker(module, base_dir)
    program = checker.check()
    return program, checker.diagnostics
