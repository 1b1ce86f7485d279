"""What two programme versions differ in, rule by rule, by what each rule means.

A rule's meaning is its checked form (:class:`tessera.engine.program.Rule`) with everything
that only says where it was written left out: source locations, the AST it came from, its
position in the file and in the walk.  Literals are already read by the checker (money in
minor units, percentages in basis points, dates as days), a group reference already holds
the group's values, and a basket filter is named by its text instead of its index in the
programme.  So reformatting, comments, moving a rule or writing ``5.00`` as ``5`` change
nothing, while a changed threshold, effect, limit or group member does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tessera.engine import program as P

# Fields that say where or in which order a rule was written, not what it does.
_PLACE = frozenset({"loc", "source", "file_index", "walk_index"})


def rule_meaning(program: P.Program, rule: P.Rule) -> tuple[Any, ...]:
    """A hashable value equal for two rules exactly when they decide the same."""
    return _norm(rule, program.filters)


def _filter_text(filters: tuple[P.BasketFilter, ...], index: object) -> object:
    if isinstance(index, int) and 0 <= index < len(filters):
        return ("filter", filters[index].text)
    return index


def _norm(value: Any, filters: tuple[P.BasketFilter, ...]) -> Any:
    if isinstance(value, P.Attr):
        arg = value.arg
        if value.kind in P.BASKET_MEASURES:
            arg = _filter_text(filters, arg)
        return ("Attr", value.kind, arg, value.type)
    if isinstance(value, P.Base):
        return ("Base", _filter_text(filters, value.filter))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, *(
            (f.name, _norm(getattr(value, f.name), filters))
            for f in dataclasses.fields(value) if f.name not in _PLACE
        ))
    if isinstance(value, frozenset | set):
        return ("set", *sorted((_norm(v, filters) for v in value), key=repr))
    if isinstance(value, tuple | list):
        return tuple(_norm(v, filters) for v in value)
    if isinstance(value, dict):
        return ("dict", *sorted(((k, _norm(v, filters)) for k, v in value.items()), key=repr))
    return value


def diff_rules(old: P.Program, new: P.Program) -> tuple[list[str], list[str], list[str]]:
    """Rules (added, removed, changed) from ``old`` to ``new``, each sorted by name."""
    before = {rule.name: rule_meaning(old, rule) for rule in old.rules}
    after = {rule.name: rule_meaning(new, rule) for rule in new.rules}
    return (
        sorted(after.keys() - before.keys()),
        sorted(before.keys() - after.keys()),
        sorted(n for n in before.keys() & after.keys() if before[n] != after[n]),
    )
