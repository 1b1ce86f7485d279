# cython: annotation_typing=False, boundscheck=True, wraparound=True
"""Conditions in disjunctive normal form, and what can be proved about them.

A rule's condition (with its ``active`` window) becomes a list of *rows*, each a
conjunction of leaves with ``not`` pushed into the leaves.  Leaves on the same numeric
attribute are intersected, so a row holds at most one interval set per attribute; a row
whose intervals are empty can never hold.  The same algebra proves the warnings: a rule
that never matches, and a rule that an earlier ``stop`` or exclusive rule always takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import program as P
from .checker import complement, contains, intersect
from .fastclass import fast_constructor

MAX_ROWS_PER_RULE = 256


class TooComplex(Exception):
    """A condition whose normal form has more rows than :data:`MAX_ROWS_PER_RULE`."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        super().__init__(rows)


@dataclass(frozen=True, slots=True)
class Row:
    """One conjunction: numeric attributes by interval set, plus text and set tests."""

    nums: tuple[tuple[P.Attr, P.Intervals], ...]
    texts: tuple[P.StrLeaf, ...]
    sets: tuple[P.SetLeaf, ...]

    def num(self, attr: P.Attr) -> P.Intervals | None:
        for key, intervals in self.nums:
            if key == attr:
                return intervals
        return None


_ROW = fast_constructor(Row)


def negate_leaf(leaf: P.Leaf) -> P.Leaf:
    if isinstance(leaf, P.NumLeaf):
        return P.NumLeaf(leaf.attr, complement(leaf.intervals), leaf.loc, leaf.source)
    if isinstance(leaf, P.StrLeaf):
        return P.StrLeaf(
            leaf.attr, leaf.values, not leaf.negated, leaf.loc, leaf.group, leaf.source
        )
    return P.SetLeaf(leaf.attr, leaf.values, not leaf.negated, leaf.loc, leaf.source)


def to_dnf(cond: P.Cond | None, negate: bool = False) -> list[list[P.Leaf]]:
    """Rows of leaves whose disjunction equals ``cond`` (or its negation)."""
    if cond is None:
        return [] if negate else [[]]
    if isinstance(cond, P.Not):
        return to_dnf(cond.item, not negate)
    if isinstance(cond, P.And | P.Or):
        conjunctive = isinstance(cond, P.And) != negate
        parts = [to_dnf(item, negate) for item in cond.items]
        if not conjunctive:
            rows = [row for part in parts for row in part]
            if len(rows) > MAX_ROWS_PER_RULE:
                raise TooComplex(len(rows))
            return rows
        rows = [[]]
        for part in parts:
            rows = [left + right for left in rows for right in part]
            if len(rows) > MAX_ROWS_PER_RULE:
                raise TooComplex(len(rows))
        return rows
    return [[negate_leaf(cond) if negate else cond]]


def simplify(leaves: list[P.Leaf]) -> Row | None:
    """Merge a row's leaves; ``None`` when the row can never hold."""
    nums: dict[P.Attr, P.Intervals] = {}
    texts: list[P.StrLeaf] = []
    sets: list[P.SetLeaf] = []
    for leaf in leaves:
        kind = type(leaf)
        if kind is P.NumLeaf:
            attr = leaf.attr
            prev = nums.get(attr)
            merged = leaf.intervals if prev is None else intersect(prev, leaf.intervals)
            if not merged:
                return None
            nums[attr] = merged
        elif kind is P.StrLeaf:
            texts.append(leaf)  # type: ignore[arg-type]
        else:
            sets.append(leaf)  # type: ignore[arg-type]
    # One test alone is possible unless it names no value at all (the usual case is cheap).
    if len(texts) == 1:
        if not (texts[0].negated or texts[0].values):
            return None
    elif texts and not _texts_possible(texts):
        return None
    if len(sets) == 1:
        if not (sets[0].negated or sets[0].values):
            return None
    elif sets and not _sets_possible(sets):
        return None
    return _ROW(tuple(nums.items()), tuple(texts), tuple(sets))


def _texts_possible(texts: list[P.StrLeaf]) -> bool:
    by_attr: dict[P.Attr, set[str] | None] = {}
    excluded: dict[P.Attr, set[str]] = {}
    for leaf in texts:
        if leaf.negated:
            excluded.setdefault(leaf.attr, set()).update(leaf.values)
        else:
            prev = by_attr.get(leaf.attr)
            by_attr[leaf.attr] = set(leaf.values) if prev is None else prev & leaf.values
    for attr, allowed in by_attr.items():
        if allowed is not None and not (allowed - excluded.get(attr, set())):
            return False
    return True


def _sets_possible(sets: list[P.SetLeaf]) -> bool:
    excluded: dict[P.Attr, set[str]] = {}
    for leaf in sets:
        if leaf.negated:
            excluded.setdefault(leaf.attr, set()).update(leaf.values)
    return all(leaf.negated or leaf.values - excluded.get(leaf.attr, set()) for leaf in sets)


_LEAVES = (P.NumLeaf, P.StrLeaf, P.SetLeaf)


def rule_rows(rule: P.Rule) -> list[Row]:
    """The satisfiable rows of a rule's condition joined with its window."""
    cond: P.Cond | None = rule.condition
    # Most conditions are one test or an ``and`` of tests: one row, in the order written,
    # which is what the general expansion below gives too.
    kind = type(cond)
    if cond is None:
        leaves: list[P.Leaf] | None = []
    elif kind in _LEAVES:
        leaves = [cond]  # type: ignore[list-item]
    elif kind is P.And and all(type(item) in _LEAVES for item in cond.items):  # type: ignore[union-attr]
        leaves = list(cond.items)  # type: ignore[union-attr,arg-type]
    else:
        leaves = None
    if leaves is not None:
        if rule.window_leaf is not None:
            leaves.insert(0, rule.window_leaf)
        row = simplify(leaves)
        return [] if row is None else [row]
    if rule.window_leaf is not None:
        cond = P.And((rule.window_leaf, cond), rule.loc)  # type: ignore[arg-type]
    rows = []
    for leaves in to_dnf(cond):
        row = simplify(leaves)
        if row is not None:
            rows.append(row)
    return rows


# ---- implication, for the shadowing warning ---------------------------------------------


def row_implies(stronger: Row, weaker: Row) -> bool:
    """True when whatever satisfies ``stronger`` satisfies ``weaker`` (sound, not complete)."""
    for attr, intervals in weaker.nums:
        mine = stronger.num(attr)
        if mine is None or not contains(intervals, mine):
            return False
    for leaf in weaker.texts:
        if not any(_text_implies(mine, leaf) for mine in stronger.texts if mine.attr == leaf.attr):
            return False
    for leaf in weaker.sets:
        if not any(_set_implies(mine, leaf) for mine in stronger.sets if mine.attr == leaf.attr):
            return False
    return True


def _text_implies(mine: P.StrLeaf, other: P.StrLeaf) -> bool:
    if not mine.negated and not other.negated:
        return mine.values <= other.values
    if not mine.negated and other.negated:
        return not (mine.values & other.values)
    if mine.negated and other.negated:
        return other.values <= mine.values
    return False


def _set_implies(mine: P.SetLeaf, other: P.SetLeaf) -> bool:
    if mine.negated != other.negated:
        return False
    if mine.negated:
        return other.values <= mine.values
    return len(mine.values) == 1 and mine.values <= other.values


def implies(stronger: list[Row], weaker: list[Row]) -> bool:
    return all(any(row_implies(s, w) for w in weaker) for s in stronger)
