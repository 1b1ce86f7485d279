"""The same programmes in the engines a user would otherwise pick: GoRules zen-engine and
the ``rule-engine`` package.

Translation starts from the checked programme (:mod:`tessera.engine.program`), where every
condition is a tree of ``and``/``or``/``not`` over three kinds of leaf: an integer in a union
of closed intervals, a text in (or not in) a set, a set sharing (or not) an element with a
set.  That is the whole of what the generator emits, so the translation is exact: a rule's
``active`` window becomes one more interval leaf on the local time.

Both peers read a flat *facts* record per transaction: one field per attribute the
programme reads, derived the way the reference evaluator derives it (local time fields in
the programme's zone, basket aggregates per filter, member counters).  Preparing the facts
is the application's work and is not timed, so the peers are measured from a record that is
already in their shape, while Tessera is measured from its Python objects, encoding
included: the comparison favours the peers.

* zen-engine: one decision table, ``collect`` hit policy, one row per rule (a rule whose
  condition is not a plain conjunction of leaves gets an expression column), one column per
  attribute with zen's unary tests (``>= 500``, ``[7..11]``, ``'a', 'b'``, ``not in [...]``).
  The table is compiled once (``ZenDecisionContent``) and evaluated per transaction through
  the engine's loader; batches go through ``ZenEngine.evaluate_batch``.
* rule-engine: one :class:`rule_engine.Rule` per rule, compiled once; a transaction is
  matched by testing each rule (``Rule.matches``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from tessera.engine import program as P
from tessera.engine.model import MemberState, Transaction
from tessera.engine.reference import Reference

TIME = P.Attr("time", None, "int")


# ---- facts ---------------------------------------------------------------------------------


def fact_name(attr: P.Attr) -> str:
    """A field name for an attribute: ``amount``, ``basket_qty_3``, ``attr_city``."""
    if attr.arg is None:
        return attr.kind
    arg = "".join(c if c.isalnum() else "_" for c in str(attr.arg))
    return f"{attr.kind}_{arg}"


def _leaves(cond: P.Cond | None) -> Iterable[P.Leaf]:
    if cond is None:
        return
    if isinstance(cond, P.And | P.Or):
        for item in cond.items:
            yield from _leaves(item)
    elif isinstance(cond, P.Not):
        yield from _leaves(cond.item)
    else:
        yield cond


def attributes(program: P.Program) -> list[P.Attr]:
    """Every attribute a rule of ``program`` reads, the local time first if any rule has a
    window; one entry each, in first-use order."""
    seen: dict[str, P.Attr] = {}
    if any(rule.window is not None for rule in program.rules):
        seen[fact_name(TIME)] = TIME
    for rule in program.rules:
        for leaf in _leaves(rule.condition):
            seen.setdefault(fact_name(leaf.attr), leaf.attr)
    return list(seen.values())


class Facts:
    """Builds the facts record of a transaction for one programme."""

    def __init__(self, program: P.Program) -> None:
        self.reference = Reference(program)
        self.attrs = [(fact_name(a), a) for a in attributes(program)]

    def __call__(self, txn: Transaction, member: MemberState | None) -> dict[str, Any]:
        value = self.reference.value
        out: dict[str, Any] = {}
        for name, attr in self.attrs:
            v = value(attr, txn, member)
            out[name] = sorted(v) if isinstance(v, frozenset | set) else v
        return out


# ---- shared pieces of the translation ------------------------------------------------------


def _text(value: str, quote: str) -> str:
    if quote in value or "\\" in value:
        raise ValueError(f"text {value!r} cannot be quoted for a peer")
    return f"{quote}{value}{quote}"


def _rule_condition(rule: P.Rule) -> P.Cond | None:
    """The rule's condition with its window as one more conjunct."""
    items: list[P.Cond] = []
    if rule.window is not None:
        items.append(P.NumLeaf(TIME, (rule.window,), rule.loc))
    if rule.condition is not None:
        items.append(rule.condition)
    if not items:
        return None
    return items[0] if len(items) == 1 else P.And(tuple(items), rule.loc)


def _conjuncts(cond: P.Cond | None) -> list[P.Cond]:
    if cond is None:
        return []
    if isinstance(cond, P.And):
        return [c for item in cond.items for c in _conjuncts(item)]
    return [cond]


# ---- zen-engine -------------------------------------------------------------------------------


def _zen_interval(low: int, high: int) -> str:
    if low == high:
        return str(low)
    if low <= P.INT_MIN:
        return f"<= {high}"
    if high >= P.INT_MAX:
        return f">= {low}"
    return f"[{low}..{high}]"


def _zen_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_text(v, "'") for v in sorted(values)) + "]"


def zen_unary(leaf: P.Leaf) -> str:
    """A zen unary test of one leaf on its column (``$`` is the column's field)."""
    if isinstance(leaf, P.NumLeaf):
        if not leaf.intervals:
            return "false"
        return ", ".join(_zen_interval(lo, hi) for lo, hi in leaf.intervals)
    if isinstance(leaf, P.StrLeaf):
        if leaf.negated:
            return f"not in {_zen_list(leaf.values)}"
        return ", ".join(_text(v, "'") for v in sorted(leaf.values))
    test = f"some($, # in {_zen_list(leaf.values)})"
    return f"not {test}" if leaf.negated else test


def _zen_dollar(leaf: P.Leaf) -> str:
    """A leaf as a unary expression written with ``$`` (to join two tests of one column)."""
    return _zen_expr(leaf, "$")



def _intervals_text(name: str, intervals: P.Intervals) -> str:
    """A numeric leaf's intervals in the comparison syntax both peers share."""
    parts = []
    for lo, hi in intervals:
        if lo == hi:
            parts.append(f"{name} == {lo}")
        elif lo <= P.INT_MIN:
            parts.append(f"{name} <= {hi}")
        elif hi >= P.INT_MAX:
            parts.append(f"{name} >= {lo}")
        else:
            parts.append(f"({name} >= {lo} and {name} <= {hi})")
    return "(" + (" or ".join(parts) or "false") + ")"

def _zen_expr(cond: P.Cond, field: str | None = None) -> str:
    """A full zen expression of a condition over the facts' fields."""
    if isinstance(cond, P.And | P.Or):
        joiner = " and " if isinstance(cond, P.And) else " or "
        return "(" + joiner.join(_zen_expr(item, field) for item in cond.items) + ")"
    if isinstance(cond, P.Not):
        return f"not ({_zen_expr(cond.item, field)})"
    name = field or fact_name(cond.attr)
    if isinstance(cond, P.NumLeaf):
        return _intervals_text(name, cond.intervals)
    if isinstance(cond, P.StrLeaf):
        test = f"{name} in {_zen_list(cond.values)}"
    else:
        test = f"some({name}, # in {_zen_list(cond.values)})"
    return f"not ({test})" if cond.negated else f"({test})"


def zen_table(program: P.Program) -> dict[str, Any]:
    """The programme as a JDM graph: request → one collect decision table → response.

    Each row outputs its rule's walk index; columns are the attributes in first-use order,
    then one expression column for conditions that are not plain conjunctions of leaves.
    """
    columns = {fact_name(a): f"c{i}" for i, a in enumerate(attributes(program))}
    rows = []
    uses_expr = False
    for rule in program.rules:
        cells: dict[str, list[P.Leaf]] = {}
        exprs: list[str] = []
        for item in _conjuncts(_rule_condition(rule)):
            if isinstance(item, P.NumLeaf | P.StrLeaf | P.SetLeaf):
                cells.setdefault(fact_name(item.attr), []).append(item)
            else:
                exprs.append(_zen_expr(item))
        row: dict[str, str] = {"_id": f"r{rule.walk_index}", "out": str(rule.walk_index)}
        for name, leaves in cells.items():
            if len(leaves) == 1:
                row[columns[name]] = zen_unary(leaves[0])
            else:
                row[columns[name]] = " and ".join(_zen_dollar(leaf) for leaf in leaves)
        if exprs:
            uses_expr = True
            row["expr"] = " and ".join(exprs)
        rows.append(row)
    inputs = [{"id": cid, "name": name, "field": name} for name, cid in columns.items()]
    if uses_expr:
        inputs.append({"id": "expr", "name": "condition", "field": ""})
    for row in rows:
        for column in inputs:
            row.setdefault(column["id"], "")
    table = {
        "hitPolicy": "collect",
        "inputs": inputs,
        "outputs": [{"id": "out", "name": "rule", "field": "rule"}],
        "rules": rows,
    }
    position = {"x": 0, "y": 0}
    return {
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": position,
             "content": {}},
            {"id": "rules", "type": "decisionTableNode", "name": program.name,
             "position": position, "content": table},
            {"id": "response", "type": "outputNode", "name": "Response", "position": position,
             "content": {}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "request", "targetId": "rules", "type": "edge"},
            {"id": "e2", "sourceId": "rules", "targetId": "response", "type": "edge"},
        ],
    }


class ZenPeer:
    """zen-engine on one programme: ``match`` one facts record, ``match_batch`` many.

    The JDM is parsed once into a ``ZenDecisionContent`` (zen compiles it then) and served
    by the engine's loader; ``evaluate`` goes through the engine by key (measured faster
    here than a created decision's own ``evaluate``), ``evaluate_batch`` is zen's batch API.
    """

    name = "zen-engine"
    KEY = "programme"

    def __init__(self, program: P.Program) -> None:
        import zen

        self.content = zen.ZenDecisionContent(json.dumps(zen_table(program)))
        self.engine = zen.ZenEngine({"loader": self._load})
        self.decision = self.engine.create_decision(self.content)

    def _load(self, key: str) -> Any:
        return self.content

    def evaluate(self, facts: dict[str, Any]) -> Any:
        return self.engine.evaluate(self.KEY, facts)

    def evaluate_decision(self, facts: dict[str, Any]) -> Any:
        return self.decision.evaluate(facts)

    def evaluate_batch(self, many: Sequence[dict[str, Any]]) -> Any:
        return self.engine.evaluate_batch([{"key": self.KEY, "context": f} for f in many])

    @staticmethod
    def rules_of(response: dict[str, Any]) -> list[int]:
        return sorted({int(hit["rule"]) for hit in response["result"]})

    def match(self, facts: dict[str, Any]) -> list[int]:
        return self.rules_of(self.evaluate(facts))

    def match_batch(self, many: Sequence[dict[str, Any]]) -> list[list[int]]:
        out = []
        for item in self.evaluate_batch(many):
            if not item.get("success"):
                raise RuntimeError(f"zen-engine batch item failed: {item.get('error')}")
            out.append(self.rules_of(item["data"]))
        return out


# ---- rule-engine ------------------------------------------------------------------------------


def _re_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_text(v, '"') for v in sorted(values)) + "]"


def rule_engine_text(cond: P.Cond | None) -> str:
    """A condition in rule-engine's expression language."""
    if cond is None:
        return "true"
    if isinstance(cond, P.And | P.Or):
        joiner = " and " if isinstance(cond, P.And) else " or "
        return "(" + joiner.join(rule_engine_text(item) for item in cond.items) + ")"
    if isinstance(cond, P.Not):
        return f"not {rule_engine_text(cond.item)}"
    name = fact_name(cond.attr)
    if isinstance(cond, P.NumLeaf):
        return _intervals_text(name, cond.intervals)
    if isinstance(cond, P.StrLeaf):
        test = f"{name} in {_re_list(cond.values)}"
    else:
        test = "(" + " or ".join(f"{_text(v, chr(34))} in {name}" for v in sorted(cond.values))
        test += ")"
    return f"not ({test})" if cond.negated else f"({test})"


class RuleEnginePeer:
    """The ``rule-engine`` package: one compiled Rule per rule, each tested in turn."""

    name = "rule-engine"

    def __init__(self, program: P.Program) -> None:
        import rule_engine

        self.rules = [
            (rule.walk_index, rule_engine.Rule(rule_engine_text(_rule_condition(rule))))
            for rule in program.rules
        ]

    def match(self, facts: dict[str, Any]) -> list[int]:
        return [index for index, rule in self.rules if rule.matches(facts)]


# ---- equivalence ------------------------------------------------------------------------------


def mismatches(
    expected: Sequence[Sequence[int]], got: Sequence[Sequence[int]]
) -> list[tuple[int, list[int], list[int]]]:
    """(position, Tessera's rules, the peer's rules) wherever the sets differ."""
    return [
        (i, sorted(e), sorted(g))
        for i, (e, g) in enumerate(zip(expected, got, strict=True))
        if sorted(e) != sorted(g)
    ]
