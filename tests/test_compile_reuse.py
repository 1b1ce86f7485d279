"""The compiler's shortcuts give what the long way gives.

The checker checks each distinct one-line test, effect and clause once and gives later
copies the same meaning at their own place; the shadowing analysis remembers which stop and
exclusive rules could imply each set of attributes.  These tests hold both to the long way:
the same programme, the same locations and sources, every copy of a mistake reported.
"""

from __future__ import annotations

import pytest
from tessera.engine import ast
from tessera.engine import program as P
from tessera.engine.checker import Checker
from tessera.engine.compiler import compile_source
from tessera.engine.errors import RulesError
from tessera.engine.parser import parse

from bench.workload import generate_program

HEADER = """program p
  currency EUR
  timezone Europe/Belgrade
merchant_group partners = {"M1", "M2"}
category_group drinks = {"coffee", "tea"}
wallet points points
wallet cash money
tier bronze default
tier silver when txn_count >= 3
"""


def _check_the_long_way(monkeypatch: pytest.MonkeyPatch, module: ast.Module) -> P.Program:
    """Check ``module`` with every memo bypassed: each construct is checked afresh."""
    with monkeypatch.context() as patch:
        patch.setattr(
            Checker,
            "_leaf_memoized",
            lambda self, expr, scope: (
                self._truth(expr, scope) if type(expr) is ast.Truth else self._compare(expr, scope)
            ),
        )
        patch.setattr(Checker, "_effect_memoized", lambda self, effect: self._effect(effect))
        patch.setattr(
            Checker, "_limit_memoized", lambda self, limit, effects, _: self._limit(limit, effects)
        )
        patch.setattr(
            Checker, "_budget_memoized", lambda self, budget, effects: self._budget(budget, effects)
        )
        patch.setattr(
            Checker, "_funders_memoized", lambda self, funders, loc: self._funders(funders, loc)
        )
        patch.setattr(Checker, "_window", Checker._window_of)
        patch.setattr(Checker, "_attr", Checker._resolve)
        return Checker(module).check()


def test_memoized_checking_builds_the_same_programme(monkeypatch):
    module = parse(generate_program(1_000), "generated.rules")
    quick = Checker(module).check()
    slow = _check_the_long_way(monkeypatch, module)
    assert quick == slow  # every rule, leaf, location and source node
    assert len(quick.rules) == 1_000


def test_copies_of_a_test_keep_their_own_location_and_source():
    source = HEADER + (
        "rule a\n  when amount >= 5.00 and channel = app\n  then discount 1%\n"
        "rule b\n  when channel = app\n   and amount >= 5.00\n  then discount 1%\n"
    )
    program = compile_source(source, "t.rules").program
    a, b = program.rule("a").condition, program.rule("b").condition
    assert isinstance(a, P.And) and isinstance(b, P.And)
    (a_amount, a_channel), (b_channel, b_amount) = a.items, b.items
    assert a_amount.intervals == b_amount.intervals == ((500, P.INT_MAX),)
    assert a_channel.intervals == b_channel.intervals
    for leaf, line in ((a_amount, 11), (a_channel, 11), (b_channel, 14), (b_amount, 15)):
        assert leaf.loc.line == line
        assert isinstance(leaf.source, ast.Compare) and leaf.source.loc == leaf.loc
    assert a_amount.source is not b_amount.source


def test_every_copy_of_a_bad_construct_is_reported():
    bad = "  when hour in 7..25\n  then earn 1 points into nowhere\n  funded_by merchant 60%\n"
    source = HEADER + "rule a\n" + bad + "rule b\n" + bad
    with pytest.raises(RulesError) as info:
        compile_source(source, "t.rules")
    found = [(d.code, d.location.line) for d in info.value.diagnostics.errors]
    assert found == [
        ("E418", 11),
        ("E205", 12),
        ("E416", 13),
        ("E418", 15),
        ("E205", 16),
        ("E416", 17),
    ]


def test_the_same_text_is_checked_per_scope():
    # ``qty >= 2`` is a line attribute inside a basket filter, unknown in a rule; the tier's
    # ``txn_count >= 3`` is a member counter, unknown as a bare name in a rule.
    source = HEADER + (
        "rule a\n  when basket.qty(qty >= 2) >= 1\n  then discount 1%\n"
        "rule b\n  when qty >= 2\n  then discount 1%\n"
        "rule c\n  when txn_count >= 3\n  then discount 1%\n"
    )
    with pytest.raises(RulesError) as info:
        compile_source(source, "t.rules")
    found = [(d.code, d.location.line) for d in info.value.diagnostics.errors]
    assert found == [("E208", 14), ("E208", 17)]  # rule a is fine


def test_a_stop_rule_added_later_shadows_rules_with_attributes_seen_before():
    source = HEADER + (
        "rule s1\n  when mcc = 5812\n  then discount 1%\n  stop\n"
        "rule a\n  when amount >= 5.00\n  then discount 1%\n"
        "rule s2\n  when amount >= 1.00\n  then discount 1%\n  stop\n"
        "rule b\n  when amount >= 5.00\n  then discount 1%\n"
        "rule c\n  when amount >= 0.50\n  then discount 1%\n"
    )
    compiled = compile_source(source, "t.rules")
    shadowed = [w for w in compiled.diagnostics.warnings if w.code == "W002"]
    assert [w.location.line for w in shadowed] == [21]
    assert "'b'" in shadowed[0].message and "'s2'" in shadowed[0].message
