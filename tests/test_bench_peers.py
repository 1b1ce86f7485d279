"""The peers' translation of generated programmes: zen-engine and rule-engine must return
the same rules as Tessera's compiled matcher on every sampled transaction."""

from __future__ import annotations

import pytest
from tessera.engine.compiler import compile_source
from tessera.engine.model import MemberState, Transaction

from bench.peers import (
    Facts,
    RuleEnginePeer,
    ZenPeer,
    attributes,
    fact_name,
    mismatches,
    rule_engine_text,
    zen_table,
)
from bench.workload import generate_members, generate_program, generate_transactions

pytest.importorskip("zen", reason="zen-engine comes with the test extra")
pytest.importorskip("rule_engine", reason="rule-engine comes with the test extra")


@pytest.fixture(scope="module")
def generated():
    compiled = compile_source(generate_program(150), "generated-150.rules")
    members = {m.member: m for m in generate_members(3_000)}
    pairs = [(t, members.get(t.member)) for t in generate_transactions(400, seed=5)]
    facts = Facts(compiled.program)
    return compiled, pairs, [facts(t, m) for t, m in pairs]


def test_zen_matches_tessera_one_at_a_time_and_in_batch(generated):
    compiled, pairs, facts = generated
    expected = [list(compiled.match(t, m)) for t, m in pairs]
    assert sum(map(len, expected)) > len(pairs)  # the sample does match rules
    zen = ZenPeer(compiled.program)
    assert mismatches(expected, [zen.match(f) for f in facts]) == []
    assert mismatches(expected, zen.match_batch(facts)) == []
    assert zen.rules_of(zen.evaluate_decision(facts[0])) == sorted(expected[0])


def test_rule_engine_matches_tessera(generated):
    compiled, pairs, facts = generated
    peer = RuleEnginePeer(compiled.program)
    sample = slice(0, 60)
    expected = [list(compiled.match(t, m)) for t, m in pairs[sample]]
    assert mismatches(expected, [peer.match(f) for f in facts[sample]]) == []


SMALL = """program small
  currency EUR
  timezone Europe/Belgrade
merchant_group partners = {"M1", "M2"}
wallet points points
rule either
  active 2026-12-01 .. 2026-12-31
  when (channel = app or amount >= 20.00) and not ("vip" in member.segments)
  then earn 10 points into points
rule partner_weekend
  when merchant in partners and weekday in {sat, sun} and hour in 9..11
  then earn 5 points into points
rule abroad
  when country != "RS" and member.attr.city = "Novi Sad"
  then earn 1 points into points
"""


def test_each_kind_of_leaf_translates_exactly():
    compiled = compile_source(SMALL, "small.rules")
    program = compiled.program
    names = [fact_name(a) for a in attributes(program)]
    assert names[0] == "time" and {"channel", "amount", "segments", "merchant"} <= set(names)
    table = zen_table(program)["nodes"][1]["content"]
    assert table["hitPolicy"] == "collect" and len(table["rules"]) == 3
    assert "not (" in rule_engine_text(program.rules[0].condition)

    zen, other = ZenPeer(program), RuleEnginePeer(program)
    facts = Facts(program)
    sat_10 = 1_797_325_200 + 9 * 3_600 + 60  # Sat 2026-12-12 10:01 local (UTC+1)
    vip = MemberState("m1", segments=frozenset({"vip"}), attrs={"city": "Novi Sad"})
    plain = MemberState("m2", attrs={"city": "Niš"})
    cases = [
        (Transaction("t1", sat_10, 2_500, "m2", "EUR", "M1", channel="pos"), plain),
        (Transaction("t2", sat_10, 500, "m2", "EUR", "M9", channel="app", country="HU"), vip),
        (Transaction("t3", sat_10 - 86_400 * 30, 2_500, "m2", "EUR", "M2"), plain),
        (Transaction("t4", sat_10, 100, "m1", "EUR", "M3", country="AT"), vip),
        (Transaction("t5", sat_10, 100, "m1", "EUR", "M3", country="AT"), None),
    ]
    expected = [list(compiled.match(t, m)) for t, m in cases]
    assert any(expected) and not all(expected)
    assert [zen.match(facts(t, m)) for t, m in cases] == [sorted(e) for e in expected]
    assert [other.match(facts(t, m)) for t, m in cases] == [sorted(e) for e in expected]


def test_mismatches_names_where_sets_differ():
    assert mismatches([[1, 2], [3]], [[2, 1], [3]]) == []
    assert mismatches([[1, 2], [3]], [[1], [3]]) == [(0, [1, 2], [1])]
