"""Parser and checker: what compiles, and the diagnostics for what does not."""

from __future__ import annotations

import pytest
from tessera.engine.compiler import compile_source
from tessera.engine.errors import RulesError

HEADER = """program p
  currency EUR
  timezone Europe/Belgrade
  points_value 100 points = 1.00
merchant_group partners = {"M1", "M2"}
category_group drinks = {"coffee", "tea"}
wallet points points expire 365d
wallet cash money spend_at partners
draw lucky
tier bronze default
tier silver when spend_12m >= 500.00
"""


def errors_of(source: str) -> list[tuple[int, int, str]]:
    with pytest.raises(RulesError) as info:
        compile_source(source, "t.rules")
    return [(d.location.line, d.location.column, d.code) for d in info.value.diagnostics.errors]


def test_every_error_of_a_file_is_reported_sorted():
    source = HEADER + (
        "rule a\n  when amount >= 5.001\n  then discount 10%\n"  # line 12: too many decimals
        "rule b\n  when mcc >= 5.5\n  then discount 10%\n"  # line 15: not a whole number
        "rule c\n  when tier >= platinum\n  then earn 5 points into nowhere\n"  # 18, 19
    )
    found = errors_of(source)
    assert [code for _, _, code in found] == ["E417", "E417", "E210", "E205"]
    assert [line for line, _, _ in found] == [13, 16, 19, 20]
    assert found == sorted(found)


def test_diagnostic_renders_file_line_column_code_and_caret():
    source = HEADER + 'rule a\n  when merchant = "M1" and hour in 7..25\n  then discount 10%\n'
    with pytest.raises(RulesError) as info:
        compile_source(source, "shop.rules")
    text = info.value.render()
    first_line, source_line, caret = text.splitlines()[:3]
    assert first_line == "shop.rules:13:39: error[E418]: hour is 0..23, not 25"
    assert source_line.strip() == 'when merchant = "M1" and hour in 7..25'
    assert caret.strip() == "^^"
    assert caret.index("^") == source_line.index("25")


def test_syntax_errors_resume_at_the_next_declaration():
    source = HEADER + (
        "rule a\n  when amount >= then discount 5%\n"
        "rule b\n  when amount > 1 then discount 5%\n"
        "rule c\n  then earn 5 points into\n"
    )
    found = errors_of(source)
    assert [code for *_, code in found] == ["E100", "E100"]
    assert [line for line, *_ in found] == [13, 17]


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        ('merchant < "M1"', "E316"),
        ('amount = "x"', "E324"),
        ("weekday in {sat, someday}", "E327"),
        ("channel = kiosk", "E328"),
        ("merchant in drinks", "E301"),
        ("category in nowhere", "E203"),
        ("member.unknown > 1", "E208"),
        ("balance(nowhere) > 1", "E205"),
        ('basket.weight(sku in {"a"}) > 1', "E209"),
        ('member.attr.age > 5 and member.attr.age = "x"', "E319"),
        ("amount >= member.spend_30d", "E306"),
        ("date >= 2026-02-30", "E417"),
        ("basket.has(amount > 5)", "E206"),
    ],
)
def test_type_and_name_errors(condition: str, code: str):
    source = HEADER + f"rule r\n  when {condition}\n  then discount 1%\n"
    assert code in [c for *_, c in errors_of(source)]


@pytest.mark.parametrize(
    ("clauses", "code"),
    [
        ("then discount 1%\n  funded_by merchant 50%, program 40%", "E416"),
        ("then discount 101%", "E413"),
        ("then discount 1.005%", "E412"),
        ("then cashback 5% into points", "E303"),
        ("then entries 2 into draw nothing", "E204"),
        ("active 2027-01-31 .. 2026-12-01\n  then discount 1%", "E408"),
        ("priority 1\n  priority 2\n  then discount 1%", "E506"),
        ("when amount > 1", "E507"),
    ],
)
def test_clause_errors(clauses: str, code: str):
    source = HEADER + f"rule r\n  {clauses}\n"
    assert code in [c for *_, c in errors_of(source)]


def test_unknown_currency_and_time_zone():
    found = errors_of(
        "program p\n  currency EUX\n  timezone Mars/Olympus\nrule r then discount 1%\n"
    )
    assert [c for *_, c in found] == ["E401", "E402"]


def test_warning_for_a_rule_that_can_never_match():
    source = HEADER + "rule r\n  when amount > 5 and amount < 3\n  then discount 1%\n"
    compiled = compile_source(source, "t.rules")
    warnings = compiled.diagnostics.warnings
    assert [(w.code, w.location.line) for w in warnings] == [("W001", 12)]


def test_warning_for_a_rule_shadowed_by_an_earlier_stop():
    source = HEADER + (
        "rule everything\n  priority 5\n  when amount >= 1.00\n  then discount 1%\n  stop\n"
        "rule big\n  when amount >= 10.00 and channel = pos\n  then discount 2%\n"
        "rule small\n  when amount >= 0.50\n  then discount 2%\n"
    )
    compiled = compile_source(source, "t.rules")
    shadowed = [w.message for w in compiled.diagnostics.warnings if w.code == "W002"]
    assert len(shadowed) == 1
    assert "'big'" in shadowed[0] and "'everything'" in shadowed[0]


def test_warning_for_a_rule_shadowed_in_an_exclusive_group():
    source = HEADER + (
        "rule first\n  when mcc in {5812, 5814}\n  then discount 1%\n  group g exclusive\n"
        "rule second\n  when mcc = 5812 and amount > 5\n  then discount 2%\n  group g exclusive\n"
    )
    compiled = compile_source(source, "t.rules")
    assert [w.code for w in compiled.diagnostics.warnings] == ["W002"]


def test_compiler_stages_are_named_and_timed():
    compiled = compile_source(HEADER + "rule r\n  when amount > 1\n  then discount 1%\n", "t.rules")
    names = [stage.name for stage in compiled.stages]
    assert names == ["parse", "check", "normalise", "analyse", "layout", "index", "load"]
    assert all(stage.seconds >= 0 for stage in compiled.stages)


def test_literals_take_the_type_of_what_they_are_compared_with():
    compiled = compile_source(
        HEADER
        + "rule r\n  when amount >= 5 and hour >= 5 and balance(points) >= 5\n  then discount 1%\n",
        "t.rules",
    )
    leaves = compiled.program.rules[0].condition.items
    assert [leaf.intervals[0][0] for leaf in leaves] == [500, 5, 5]


def test_group_file_is_read_beside_the_rules(tmp_path):
    (tmp_path / "ids.csv").write_text("merchant_id\nM9\nM10\n")
    source = (
        'program p\n currency EUR\nmerchant_group g from "ids.csv"\n'
        "rule r when merchant in g then discount 1%\n"
    )
    path = tmp_path / "p.rules"
    path.write_text(source)
    from tessera.engine.compiler import compile_file

    compiled = compile_file(str(path))
    assert compiled.program.groups["g"].values == frozenset({"M9", "M10"})


def test_missing_group_file_is_an_error_at_its_name(tmp_path):
    source = 'program p\n currency EUR\nmerchant_group g from "missing.txt"\n'
    with pytest.raises(RulesError) as info:
        compile_source(source, str(tmp_path / "p.rules"), base_dir=str(tmp_path))
    (diagnostic,) = info.value.diagnostics.errors
    assert diagnostic.code == "E406"
    assert (diagnostic.location.line, diagnostic.location.column) == (3, 23)


def test_a_group_must_be_exclusive_everywhere_or_nowhere():
    source = HEADER + (
        "rule a\n  then discount 1%\n  group g exclusive\nrule b\n  then discount 1%\n  group g\n"
    )
    assert [(line, code) for line, _, code in errors_of(source)] == [(15, "E510")]


def test_wallet_options_are_set_once_and_durations_are_positive():
    source = "program p\n  currency EUR\nwallet w points expire 10d expire 20d pending 0d\n"
    assert [code for *_, code in errors_of(source)] == ["E422", "E423"]


def test_a_tier_condition_cannot_read_the_tier():
    source = "program p\n  currency EUR\ntier a default\ntier b when member.tier >= a\n"
    assert [code for *_, code in errors_of(source)] == ["E312"]


def test_tiers_without_a_default_warn_that_the_first_is_default():
    source = "program p\n  currency EUR\ntier a when txn_count > 1\ntier b when txn_count > 5\n"
    compiled = compile_source(source, "t.rules")
    (warning,) = compiled.diagnostics.warnings
    assert (
        warning.code == "W003"
        and "'a' is the default and its condition is not used" in warning.message
    )


def test_names_are_claimed_in_file_order():
    source = 'program p\n  currency EUR\nwallet x money\nmerchant_group x = {"M1"}\n'
    assert [(line, code) for line, _, code in errors_of(source)] == [(4, "E201")]
