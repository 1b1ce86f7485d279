"""Why each rule did or did not apply to a transaction.

For a rule that did not match: the first condition, in source order, that failed, with its
location and the value the transaction had.  For a rule that matched but was not applied:
the walk's reason (exclusive group, stop, limit, budget).
"""

from __future__ import annotations

from typing import Any

from . import program as P
from .decision import Decision
from .model import MemberState, Transaction
from .reference import Reference
from .values import WEEKDAYS, days_to_iso, format_scaled


def explain(
    program: P.Program,
    reference: Reference,
    txn: Transaction,
    member: MemberState | None,
    decision: Decision,
) -> list[dict[str, Any]]:
    applied = {a.rule for a in decision.applied}
    skipped = {s.rule: s for s in decision.skipped}
    lines = program.source.splitlines()
    out = []
    for rule in program.rules:
        entry: dict[str, Any] = {"rule": rule.name}
        if rule.name in applied:
            entry.update(matched=True, applied=True)
        elif rule.name in skipped:
            skip = skipped[rule.name]
            entry.update(matched=True, applied=False, reason=skip.reason, detail=skip.detail)
        else:
            reason, loc, message = why_not(program, reference, rule, txn, member)
            entry.update(matched=False, applied=False, reason=reason, failed=message, at=str(loc))
            if reason == "condition":
                entry["source"] = _snippet(lines, loc)
        out.append(entry)
    return out


def why_not(
    program: P.Program,
    reference: Reference,
    rule: P.Rule,
    txn: Transaction,
    member: MemberState | None,
) -> tuple[str, P.Location, str]:
    """Why ``rule`` did not match: ``window`` or ``condition``, where, and what was seen."""
    if not reference.in_window(rule, txn):
        assert rule.window_leaf is not None
        low, high = rule.window or (0, 0)
        when = _format(
            P.Attr("time", None, "int"),
            reference.value(P.Attr("time", None, "int"), txn, member),
            program,
        )
        message = f"{when} is outside the active window {_local(low)} .. {_local(high)}"
        return "window", rule.window_leaf.loc, message
    assert rule.condition is not None, "a rule without a condition matches in its window"
    return ("condition", *_first_failure(program, reference, rule.condition, txn, member))


def _first_failure(
    program: P.Program,
    reference: Reference,
    cond: P.Cond,
    txn: Transaction,
    member: MemberState | None,
) -> tuple[P.Location, str]:
    if isinstance(cond, P.And):
        for item in cond.items:
            if not reference.holds(item, txn, member):
                return _first_failure(program, reference, item, txn, member)
    if isinstance(cond, P.Or):
        _loc, first = _first_failure(program, reference, cond.items[0], txn, member)
        return cond.loc, f"no alternative holds (the first: {first})"
    if isinstance(cond, P.Not):
        return cond.loc, "the condition after 'not' holds"
    assert isinstance(cond, P.NumLeaf | P.StrLeaf | P.SetLeaf)
    value = reference.value(cond.attr, txn, member)
    shown = _format(cond.attr, value, program)
    return cond.loc, f"{_describe(cond.attr, program)} is {shown}"


def _describe(attr: P.Attr, program: P.Program) -> str:
    if attr.kind in P.BASKET_MEASURES:
        text = program.filters[int(attr.arg or 0)].text
        return f"basket.{attr.kind[7:]}({text})"
    return attr.describe()


def _format(attr: P.Attr, value: object, program: P.Program) -> str:
    if value is None:
        return "missing"
    kind = attr.type
    if kind == "money" and isinstance(value, int):
        return format_scaled(value, program.digits)
    if attr.kind == "date" and isinstance(value, int):
        return days_to_iso(value)
    if attr.kind == "time" and isinstance(value, int):
        return _local(value)
    if kind == "weekday" and isinstance(value, int):
        return WEEKDAYS[value]
    if kind == "tier" and isinstance(value, int):
        return next((t.name for t in program.tiers if t.rank == value), str(value))
    if kind == "channel" and isinstance(value, int):
        return P.CHANNELS[value] if 0 <= value < len(P.CHANNELS) else "unknown"
    if kind == "bool":
        return "false" if not value else "true"
    if kind == "number" and isinstance(value, int):
        return "missing" if value == P.INT_MIN else format_scaled(value, 6).rstrip("0").rstrip(".")
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(sorted(map(repr, value))) + "}"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _local(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    return f"{days_to_iso(days)}T{rest // 3600:02d}:{rest % 3600 // 60:02d}"


def _snippet(lines: list[str], loc: P.Location) -> str:
    if not 0 < loc.line <= len(lines):
        return ""
    line = lines[loc.line - 1]
    if loc.end_line == loc.line and loc.end_column:
        return line[loc.column - 1 : loc.end_column - 1]
    return line[loc.column - 1 :].strip()
