"""Example tests of the compiled matcher.

Each test compiles a small programme and states, by hand, which rules a transaction
matches.  ``matched`` also holds every other path (the reference evaluator, ``match_batch``,
``match_encoded``) to the same answer, so a test fails whichever of them is wrong.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import subprocess
import sys
import textwrap
import zoneinfo
from collections import Counter

import pytest
from tessera.engine.compiler import CompiledProgram, compile_source
from tessera.engine.errors import RulesError
from tessera.engine.model import BasketLine, MemberState, Transaction
from tessera.engine.reference import Reference

ZONE = zoneinfo.ZoneInfo("Europe/Belgrade")
HEADER = "program p\n  currency EUR\n  timezone Europe/Belgrade\n"
TIERS = (
    "tier bronze default\n"
    "tier silver when spend_12m >= 500.00\n"
    "tier gold when spend_12m >= 2000.00\n"
)


def build(body: str) -> CompiledProgram:
    return compile_source(HEADER + textwrap.dedent(body))


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0, sec: int = 0) -> int:
    """Epoch seconds of a Belgrade wall-clock time."""
    return int(dt.datetime(year, month, day, hour, minute, sec, tzinfo=ZONE).timestamp())


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, sec, tzinfo=dt.UTC).timestamp())


WEDNESDAY_NOON = local(2026, 12, 2, 12)


def txn(**fields: object) -> Transaction:
    values: dict[str, object] = {
        "txn_id": "t-1", "time": WEDNESDAY_NOON, "amount": 1000, "member": "m-1",
        "currency": "EUR", "merchant": "M0", "terminal": "T0", "mcc": 5999, "channel": "pos",
        "country": "RS", "card": "c-1", "card_bin": "411111",
    }
    values.update(fields)
    return Transaction(**values)  # type: ignore[arg-type]


def matched(
    compiled: CompiledProgram, transaction: Transaction, member: MemberState | None = None
) -> list[str]:
    """Names of the rules ``transaction`` matches, in walk order, from every matcher path."""
    got = compiled.match(transaction, member)
    assert got == sorted(set(got)), f"not ascending walk indices, each rule once: {got}"
    assert got == Reference(compiled.program).match(transaction, member), "reference differs"
    matcher = compiled.matcher
    offsets, rules = matcher.match_batch(matcher.encode_batch([transaction], [member]))
    assert rules[offsets[0] : offsets[1]].tolist() == got, "match_batch differs"
    assert matcher.match_encoded(matcher.encode(transaction, member)) == got
    return [compiled.rule_names[i] for i in got]


def warned(compiled: CompiledProgram, code: str) -> set[str]:
    """Names of the rules a warning with ``code`` is about."""
    return {
        re.search(r"rule '(\w+)'", d.message).group(1)  # type: ignore[union-attr]
        for d in compiled.diagnostics.warnings
        if d.code == code
    }


# ---- anchored and general rows ---------------------------------------------------------------


def test_anchored_rules_merchant_terminal_bin_mcc_and_groups() -> None:
    compiled = build("""
        merchant_group partners = {"M1", "M2", "M3"}
        rule by_merchant when merchant = "M1" then discount 1%
        rule by_set when merchant in {"M2", "M4"} then discount 1%
        rule by_group when merchant in partners then discount 1%
        rule by_terminal when terminal = "T-7" then discount 1%
        rule by_bin when card_bin in {"457061", "520000"} and amount >= 5.00 then discount 1%
        rule by_mcc when mcc = 5814 and channel = pos then discount 1%
    """)
    assert (compiled.anchored_rows, compiled.general_rows) == (6, 0)
    assert matched(compiled, txn(merchant="M1")) == ["by_merchant", "by_group"]
    assert matched(compiled, txn(merchant="M2")) == ["by_set", "by_group"]
    assert matched(compiled, txn(merchant="M4")) == ["by_set"]
    assert matched(compiled, txn(merchant="M3", terminal="T-7")) == ["by_group", "by_terminal"]
    assert matched(compiled, txn(merchant="M9")) == []
    assert matched(compiled, txn(card_bin="457061", amount=499)) == []
    assert matched(compiled, txn(card_bin="457061", amount=500)) == ["by_bin"]
    assert matched(compiled, txn(mcc=5814)) == ["by_mcc"]
    assert matched(compiled, txn(mcc=5814, channel="ecom")) == []
    everything = txn(merchant="M1", terminal="T-7", card_bin="520000", amount=500, mcc=5814)
    assert matched(compiled, everything) == [
        "by_merchant", "by_group", "by_terminal", "by_bin", "by_mcc",
    ]


def test_anchored_rows_out_of_their_active_window_are_skipped() -> None:
    """An anchored row's window is tested before its literals: inside, at both ends and
    outside it, with rows without a window and rows of several windows under one key."""
    compiled = build("""
        rule december active 2026-12-01 .. 2026-12-31 when mcc in {5814, 5812} then discount 1%
        rule week active 2026-12-01 .. 2026-12-07 when mcc = 5814 and amount >= 5.00
          then discount 1%
        rule always when mcc = 5814 and channel = pos then discount 1%
        rule either when (mcc = 5814 and hour in 8..10) or (mcc = 5814 and hour in 11..13)
          then discount 1%
        rule by_merchant active 2026-12-02 .. 2026-12-02 when merchant = "M1" then discount 1%
    """)
    assert compiled.general_rows == 0
    assert matched(compiled, txn(mcc=5814)) == ["december", "week", "always", "either"]
    assert matched(compiled, txn(mcc=5814, amount=499)) == ["december", "always", "either"]
    start, end = local(2026, 12, 1, 0, 0, 0), local(2026, 12, 7, 23, 59, 59)
    assert matched(compiled, txn(mcc=5814, time=start)) == ["december", "week", "always"]
    assert matched(compiled, txn(mcc=5814, time=end, channel="app")) == ["december", "week"]
    assert matched(compiled, txn(mcc=5814, time=end + 1)) == ["december", "always"]
    assert matched(compiled, txn(mcc=5814, time=start - 1)) == ["always"]
    assert matched(compiled, txn(mcc=5812, time=local(2026, 12, 31, 23, 59, 59))) == ["december"]
    assert matched(compiled, txn(merchant="M1")) == ["by_merchant"]
    assert matched(compiled, txn(merchant="M1", time=local(2026, 12, 3, 0))) == []


def test_results_follow_walk_order_when_priorities_reorder_rules() -> None:
    """General rows of a rule reordered by priority, and anchored ones between them."""
    compiled = build("""
        rule late when amount >= 1.00 then discount 1%
        rule first priority 10 when amount >= 2.00 or channel = app then discount 1%
        rule anchored priority 5 when merchant = "M1" then discount 1%
        rule middle priority 7 when amount >= 3.00 or amount < 50.00 then discount 1%
    """)
    got = compiled.match(txn(merchant="M1", amount=1000, channel="app"), None)
    assert got == sorted(set(got)) and len(got) == 4
    assert matched(compiled, txn(merchant="M1", amount=1000, channel="app")) == [
        compiled.rule_names[i] for i in got
    ]
    assert set(matched(compiled, txn(amount=100))) == {"late", "middle"}


def test_general_rules() -> None:
    compiled = build("""
        rule big when amount >= 20.00 then discount 1%
        rule mid when amount in 5.00..19.99 then discount 1%
        rule food when mcc in {5812, 5400..5499} then discount 1%
        rule morning when hour in 7..11 and channel in {pos, app} then discount 1%
        rule weekend when weekday in {sat, sun} then discount 1%
        rule always then discount 1%
    """)
    assert (compiled.anchored_rows, compiled.general_rows) == (0, 6)
    assert matched(compiled, txn()) == ["mid", "always"]
    wednesday_7am = local(2026, 12, 2, 7)
    assert matched(compiled, txn(amount=2000, mcc=5450, time=wednesday_7am)) == [
        "big", "food", "morning", "always",
    ]
    saturday = local(2026, 12, 5, 11, 59)
    assert matched(compiled, txn(amount=499, mcc=5812, time=saturday, channel="ecom")) == [
        "food", "weekend", "always",
    ]
    saturday_late = local(2026, 12, 5, 11, 59, 59)
    assert matched(compiled, txn(amount=1999, time=saturday_late, channel="app")) == [
        "mid", "morning", "weekend", "always",
    ]
    assert matched(compiled, txn(amount=0, time=local(2026, 12, 2, 12))) == ["always"]


def test_rule_with_several_rows_is_listed_once() -> None:
    compiled = build("""
        rule either
          when merchant = "M1" or terminal = "T1" or amount >= 10.00 or mcc in 5400..5499
          then discount 1%
        rule general_or when amount >= 10.00 or hour >= 0 then discount 1%
        rule just_m1 when merchant = "M1" then discount 1%
    """)
    assert compiled.row_count == 7
    assert (compiled.anchored_rows, compiled.general_rows) == (3, 4)
    all_rows_true = txn(merchant="M1", terminal="T1", amount=1000, mcc=5411)
    assert matched(compiled, all_rows_true) == ["either", "general_or", "just_m1"]
    assert matched(compiled, txn(merchant="M9", terminal="T9", amount=999)) == ["general_or"]
    assert matched(compiled, txn(merchant="M9", amount=999, mcc=5499)) == [
        "either", "general_or",
    ]
    matcher = compiled.matcher
    offsets, rules = matcher.match_batch(matcher.encode_batch([all_rows_true] * 3, [None] * 3))
    assert offsets.tolist() == [0, 3, 6, 9]
    assert rules.tolist() == [0, 1, 2] * 3


def test_not_and_not_equal() -> None:
    compiled = build("""
        merchant_group partners = {"M1", "M2"}
        rule not_m1 when not merchant = "M1" then discount 1%
        rule ne_m1 when merchant != "M1" then discount 1%
        rule outside when merchant not in partners then discount 1%
        rule not_both when not (amount > 5.00 and mcc = 5812) then discount 1%
        rule ne_pos when channel != pos then discount 1%
        rule not_either when not (merchant = "M2" or "vip" in member.segments) then discount 1%
    """)
    vip = MemberState("m-1", segments=frozenset({"vip"}))
    assert matched(compiled, txn(merchant="M1", mcc=5812)) == ["not_either"]
    assert matched(compiled, txn(merchant="M2", mcc=5812)) == ["not_m1", "ne_m1"]
    assert matched(compiled, txn(merchant="M9", amount=500, mcc=5812, channel="ecom"), vip) == [
        "not_m1", "ne_m1", "outside", "not_both", "ne_pos",
    ]
    assert matched(compiled, txn(merchant="", amount=501, mcc=5814)) == [
        "not_m1", "ne_m1", "outside", "not_both", "not_either",
    ]


def test_mirrored_comparisons() -> None:
    compiled = build("""
        rule at_least_five when 5.00 <= amount then discount 1%
        rule before_christmas when 2026-12-24 > date then discount 1%
        rule two_items when 2 <= basket.qty() then discount 1%
    """)
    two = (BasketLine("A", "x", 2, 100),)
    assert matched(compiled, txn(amount=499)) == ["before_christmas"]
    assert matched(compiled, txn(amount=500, basket=two)) == [
        "at_least_five", "before_christmas", "two_items",
    ]
    assert matched(compiled, txn(time=local(2026, 12, 24, 0, 0))) == ["at_least_five"]
    assert matched(compiled, txn(time=local(2026, 12, 23, 23, 59, 59))) == [
        "at_least_five", "before_christmas",
    ]


def test_rules_that_can_never_match_warn_w001() -> None:
    compiled = build("""
        merchant_group partners = {"M1", "M2"}
        rule contradiction when amount > 5.00 and amount < 3.00 then discount 1%
        rule two_merchants when merchant = "M1" and merchant = "M2" then discount 1%
        rule vip_and_not when "vip" in member.segments and not ("vip" in member.segments)
          then discount 1%
        rule empty_set when mcc in {} then discount 1%
        rule hours when hour < 7 and not (hour < 8) then discount 1%
        rule in_and_out when merchant in partners and merchant not in partners
          then discount 1%
        rule fine when amount > 5.00 then discount 1%
    """)
    never = {"contradiction", "two_merchants", "vip_and_not", "empty_set", "hours", "in_and_out"}
    assert warned(compiled, "W001") == never
    source_lines = compiled.program.source.splitlines()
    for warning in compiled.diagnostics.warnings:
        name = re.search(r"rule '(\w+)'", warning.message).group(1)  # type: ignore[union-attr]
        assert source_lines[warning.location.line - 1].strip().startswith(f"rule {name}")
    assert compiled.row_count == 1
    vip = MemberState("m-1", segments=frozenset({"vip"}))
    for merchant in ("M1", "M2", "M9"):
        for amount in (200, 400, 600):
            for hour in (6, 7, 8):
                for member in (None, vip):
                    transaction = txn(
                        merchant=merchant, amount=amount, mcc=5999,
                        time=local(2026, 12, 2, hour),
                    )
                    expected = ["fine"] if amount > 500 else []
                    assert matched(compiled, transaction, member) == expected


@pytest.mark.parametrize("attribute", ["merchant", "basket_sku"])
def test_conditions_too_complex_to_index_are_diagnostics(attribute: str) -> None:
    """Five ANDed 4-way ORs are 1,024 rows: an E509 error naming the limit, not a crash.

    A basket filter is lowered apart from its rule, so it needs the same guard.
    """
    ors = " or ".join(f'{"sku" if attribute == "basket_sku" else "merchant"} = "X{i}"'
                      for i in range(4))
    condition = " and ".join(f"({ors})" for _ in range(5))
    if attribute == "basket_sku":
        condition = f"basket.has({condition})"
    with pytest.raises(RulesError) as failure:
        build(f"rule wide when {condition} then discount 1%")
    (error,) = failure.value.diagnostics.errors
    assert error.code == "E509" and "256" in error.message, error.message


def test_priority_orders_the_walk() -> None:
    compiled = build("""
        rule low priority -5 when amount >= 1.00 then discount 1%
        rule plain when amount >= 1.00 then discount 1%
        rule high priority 10 when amount >= 1.00 then discount 1%
        rule plain_two when amount >= 1.00 then discount 1%
        rule high_two priority 10 when merchant = "M1" then discount 1%
    """)
    assert compiled.rule_names == ("high", "high_two", "plain", "plain_two", "low")
    assert [r.walk_index for r in compiled.program.rules] == [0, 1, 2, 3, 4]
    assert compiled.match(txn(merchant="M1"), None) == [0, 1, 2, 3, 4]
    assert matched(compiled, txn(merchant="M9")) == ["high", "plain", "plain_two", "low"]
    assert compiled.match(txn(merchant="M9"), None) == [0, 2, 3, 4]
    assert matched(compiled, txn(merchant="M1", amount=99)) == ["high_two"]


# ---- merchant groups ---------------------------------------------------------------------------


def test_merchant_group_loaded_from_a_file(tmp_path) -> None:
    ids = [f"G{i:05d}" for i in range(20_000)]
    (tmp_path / "ids.txt").write_text("# partner merchants\n\n" + "\n".join(ids) + "\n")
    text = HEADER + textwrap.dedent("""
        merchant_group big from "ids.txt"
        rule in_big when merchant in big then discount 1%
        rule outside_big when merchant not in big and amount >= 5.00 then discount 1%
        rule big_and_exact when merchant in big and merchant = "G00042" then discount 1%
    """)
    path = str(tmp_path / "p.rules")
    compiled = compile_source(text, path, base_dir=str(tmp_path))
    assert len(compiled.program.groups["big"].values) == 20_000
    assert (compiled.anchored_rows, compiled.general_rows) == (2, 1)
    assert matched(compiled, txn(merchant="G00000")) == ["in_big"]
    assert matched(compiled, txn(merchant="G19999")) == ["in_big"]
    assert matched(compiled, txn(merchant="G00042")) == ["in_big", "big_and_exact"]
    assert matched(compiled, txn(merchant="G20000")) == ["outside_big"]
    assert matched(compiled, txn(merchant="G20000", amount=499)) == []
    assert matched(compiled, txn(merchant="# partner merchants")) == ["outside_big"]
    assert matched(compiled, txn(merchant="")) == ["outside_big"]

    # The file is part of the programme: a changed file is a new version.
    (tmp_path / "ids.txt").write_text("\n".join(ids[:-1]) + "\n")
    changed = compile_source(text, path, base_dir=str(tmp_path))
    assert changed.version != compiled.version
    assert matched(changed, txn(merchant="G19999")) == ["outside_big"]

    (tmp_path / "ids.txt").unlink()
    with pytest.raises(RulesError) as failure:
        compile_source(text, path, base_dir=str(tmp_path))
    codes = [d.code for d in failure.value.diagnostics.errors]
    assert "E406" in codes and set(codes) <= {"E406", "E203"}, codes  # E203: each use of it


def test_empty_merchant_group_compiles(tmp_path) -> None:
    """A partner file with no ids yet only warns (W004); the programme must still work.

    Regression (fixed in cd086ca): when every merchant group the rows test was empty, the
    layout had no merchant dictionary and ``_pack`` raised KeyError: 'merchant'.
    """
    (tmp_path / "soon.txt").write_text("# nobody signed up yet\n")
    text = HEADER + textwrap.dedent("""
        merchant_group soon from "soon.txt"
        rule outside when merchant not in soon then discount 1%
    """)
    compiled = compile_source(text, str(tmp_path / "p.rules"), base_dir=str(tmp_path))
    assert [d.code for d in compiled.diagnostics.warnings] == ["W004"]
    assert matched(compiled, txn(merchant="M1")) == ["outside"]


def test_sixty_four_merchant_groups_compile() -> None:
    """The 64th merchant group has the sign bit of its mask word.

    Regression (fixed in cd086ca): ``_stage_index`` walked the set bits of the signed mask
    word with ``while word:``; a negative Python int never reaches zero, so the compiler
    looped forever.  The compile runs in a child process so that a hang is a failure, not a
    stuck test run.
    """
    script = textwrap.dedent("""
        from tessera.engine.compiler import compile_source
        from tessera.engine.model import Transaction
        n = 64
        groups = "\\n".join(f'merchant_group g{i:02d} = {{"M{i}"}}' for i in range(n))
        rules = "\\n".join(
            f"rule r{i} when merchant in g{i:02d} then discount 1%" for i in range(n)
        )
        compiled = compile_source(
            "program p currency EUR timezone Europe/Belgrade\\n" + groups + "\\n" + rules
        )
        for merchant in ("M0", "M62", "M63", "M64"):
            sale = Transaction("t", 1_800_000_000, 100, "m", merchant=merchant)
            print(compiled.match(sale, None))
    """)
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail("compiling a programme with 64 merchant groups did not finish in 20 s")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[0]", "[62]", "[63]", "[]"]


def test_more_than_64_segments() -> None:
    """Segment masks span several words; bits 63 and 64 sit on either side of the seam."""
    rules = "\n".join(
        f'rule s{i} when "seg{i:02d}" in member.segments then discount 1%' for i in range(70)
    )
    compiled = build(rules + '\nrule not_s63 when "seg63" not in member.segments then discount 1%')
    assert matched(compiled, txn(), MemberState("m", segments=frozenset({"seg63"}))) == ["s63"]
    member = MemberState("m", segments=frozenset({"seg00", "seg64", "seg69", "other"}))
    assert matched(compiled, txn(), member) == ["s0", "s64", "s69", "not_s63"]
    assert matched(compiled, txn(), None) == ["not_s63"]


# ---- members -----------------------------------------------------------------------------------

MEMBER_RULES = TIERS + """
wallet pts points
wallet cash money
rule bronze_only when tier = bronze then discount 1%
rule silver_up when tier >= silver then discount 1%
rule new_member when member.txn_count = 0 then discount 1%
rule lapsed when member.days_since_last > 30 then discount 1%
rule enrolled_today when member.days_enrolled = 0 then discount 1%
rule not_vip when "vip" not in member.segments then discount 1%
rule vip when "vip" in member.segments then discount 1%
rule no_points when balance(pts) = 0 then discount 1%
rule some_cash when balance(cash) > 0 then discount 1%
rule city_ne when member.attr.city != "Novi Sad" then discount 1%
rule city_eq when member.attr.city = "Novi Sad" then discount 1%
rule score_lt when member.attr.score < 100 then discount 1%
rule score_ne when member.attr.score != 1 then discount 1%
rule big_spender when member.spend_12m >= 0.01 then discount 1%
"""


def test_missing_member_is_a_new_member() -> None:
    compiled = build(MEMBER_RULES)
    new = [
        "bronze_only", "new_member", "lapsed", "enrolled_today", "not_vip", "no_points",
        "city_ne", "score_ne",
    ]
    assert matched(compiled, txn(), None) == new
    assert matched(compiled, txn(), MemberState("m-1")) == new
    known = MemberState(
        "m-1", tier="gold", segments=frozenset({"vip"}), txn_count=3, spend_12m=250_000,
        last_purchase=WEDNESDAY_NOON - 2 * 86_400, enrolled=WEDNESDAY_NOON - 400 * 86_400,
        attrs={"city": "Novi Sad", "score": "1"}, balances={"pts": 10, "cash": 1},
    )
    assert matched(compiled, txn(), known) == [
        "silver_up", "vip", "some_cash", "city_eq", "score_lt", "big_spender",
    ]


def test_day_counters_at_their_edges() -> None:
    compiled = build("""
        rule month_ago when member.days_since_last = 30 then discount 1%
        rule year_in when member.days_enrolled >= 365 then discount 1%
    """)
    now = WEDNESDAY_NOON
    for last, enrolled, expected in (
        (now - 30 * 86_400, now - 365 * 86_400, ["month_ago", "year_in"]),
        (now - 30 * 86_400 + 1, now - 365 * 86_400 + 1, []),  # a second short of the day
        (now - 31 * 86_400 + 1, now - 366 * 86_400 + 1, ["month_ago", "year_in"]),
        (now + 86_400, now + 86_400, []),  # dates after the transaction count as day 0
    ):
        member = MemberState("m", last_purchase=last, enrolled=enrolled)
        assert matched(compiled, txn(time=now), member) == expected


def test_tier_comparisons() -> None:
    compiled = build(TIERS + """
        rule at_least_silver when tier >= silver then discount 1%
        rule below_gold when member.tier < gold then discount 1%
        rule exactly_silver when tier = silver then discount 1%
        rule not_silver when tier != silver then discount 1%
        rule ends when tier in {bronze, gold} then discount 1%
        rule lower_two when tier in bronze..silver then discount 1%
    """)
    bronze = ["below_gold", "not_silver", "ends", "lower_two"]
    assert matched(compiled, txn(), None) == bronze
    assert matched(compiled, txn(), MemberState("m", tier="bronze")) == bronze
    assert matched(compiled, txn(), MemberState("m", tier="platinum")) == bronze  # unknown
    assert matched(compiled, txn(), MemberState("m", tier="silver")) == [
        "at_least_silver", "below_gold", "exactly_silver", "lower_two",
    ]
    assert matched(compiled, txn(), MemberState("m", tier="gold")) == [
        "at_least_silver", "not_silver", "ends",
    ]


def test_unknown_text_values() -> None:
    compiled = build(TIERS + """
        rule eur when currency = "EUR" then discount 1%
        rule not_usd when currency != "USD" then discount 1%
        rule balkan when country in {"RS", "HR"} then discount 1%
        rule not_rs when country not in {"RS"} then discount 1%
        rule app when channel = app then discount 1%
        rule not_app when channel != app then discount 1%
        rule coffee when category = "coffee" then discount 1%
        rule cap when basket.has(sku = "CAP-01") then discount 1%
        rule no_cap when not basket.has(sku = "CAP-01") then discount 1%
        rule gold when tier = gold then discount 1%
        rule bronze when tier = bronze then discount 1%
        rule city when member.attr.city = "Novi Sad" then discount 1%
        rule not_city when member.attr.city not in {"Novi Sad"} then discount 1%
        rule bin when card_bin = "457061" then discount 1%
        rule other_terminal when terminal != "T1" then discount 1%
    """)
    unknown = ["not_usd", "not_rs", "not_app", "no_cap", "bronze", "not_city", "other_terminal"]
    strange = txn(
        currency="XXX", country="ZZ", channel="kiosk", card_bin="000000", terminal="T?",
        basket=(BasketLine("UNKNOWN", "mystery", 1, 100),),
    )
    member = MemberState("m", tier="platinum", attrs={"city": "Atlantis"})
    assert matched(compiled, strange, member) == unknown
    empty = txn(currency="", country="", channel="", card_bin="", terminal="", basket=())
    assert matched(compiled, empty, MemberState("m", attrs={"city": 42})) == unknown
    known = txn(
        currency="EUR", country="RS", channel="app", card_bin="457061", terminal="T1",
        basket=(BasketLine("CAP-01", "coffee", 1, 350),),
    )
    assert matched(compiled, known, MemberState("m", tier="gold", attrs={"city": "Novi Sad"})) == [
        "eur", "not_usd", "balkan", "app", "coffee", "cap", "gold", "city", "bin",
    ]


SCORE_RULES = """
rule ge when member.attr.score >= 1.5 then discount 1%
rule lt when member.attr.score < 1.5 then discount 1%
rule eq when member.attr.score = 1.499999 then discount 1%
rule ne when member.attr.score != 1.5 then discount 1%
rule out when member.attr.score not in 1..2 then discount 1%
rule within when member.attr.score in {0..1, 2.5} then discount 1%
"""
MISSING = object()


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (MISSING, ["ne", "out"]),
        (None, ["ne", "out"]),
        ("abc", ["ne", "out"]),
        (True, ["ne", "out"]),  # a boolean is not a number
        ("1.5", ["ge"]),
        (1, ["lt", "ne", "within"]),
        ("1.4999999", ["lt", "eq", "ne"]),  # cut to 6 decimals toward minus infinity
        (2.5, ["ge", "ne", "out", "within"]),
        ("-3", ["lt", "ne", "out"]),
        (" 2 ", ["ge", "ne"]),
    ],
)
def test_numeric_custom_attribute(score: object, expected: list[str]) -> None:
    compiled = build(SCORE_RULES)
    attrs = {} if score is MISSING else {"score": score}
    assert matched(compiled, txn(), MemberState("m", attrs=attrs)) == expected  # type: ignore[arg-type]
    if score is MISSING:
        assert matched(compiled, txn(), None) == expected


@pytest.mark.parametrize("score", [10**13, "1e30", 1e300, -(10**13)])
def test_numeric_custom_attribute_beyond_int64(score: object) -> None:
    """A number whose micro units do not fit int64 (|x| > 9,223,372,036,854).

    Regression (fixed in cd086ca by clamping in ``values.micro_units``): the compiled
    encoder raised OverflowError storing it in an int64 slot, and the reference matched
    nothing, not even ``!=`` or ``not in``, as the value lay outside every interval.
    A score of 10^13 is >= 1.5, != 1.5 and not in 1..2.
    """
    compiled = build(SCORE_RULES)
    expected = ["ge", "ne", "out"] if not str(score).startswith("-") else ["lt", "ne", "out"]
    assert matched(compiled, txn(), MemberState("m", attrs={"score": score})) == expected


# ---- baskets -----------------------------------------------------------------------------------


def test_basket_filters_and_top_level_category() -> None:
    compiled = build("""
        category_group hot = {"coffee", "tea"}
        rule two_hot when basket.qty(category in hot) >= 2 then discount 1%
        rule hot_spend when basket.amount(category in hot and unit_price >= 2.00) >= 5.00
          then discount 1%
        rule cap_or_big_tea when basket.has(sku = "CAP-01" or (category = "tea" and not qty = 1))
          then discount 1%
        rule any_hot when category in hot then discount 1%
        rule no_hot when category not in hot then discount 1%
        rule three_items when basket.qty() >= 3 then discount 1%
        rule cheap_line when basket.has(unit_price < 2.00 and sku not in {"CAP-01"})
          then discount 1%
    """)

    def basket(*lines: tuple[str, str, int, int]) -> Transaction:
        return txn(basket=tuple(BasketLine(*line) for line in lines))

    assert matched(compiled, basket()) == ["no_hot"]
    assert matched(compiled, basket(("CAP-01", "coffee", 1, 350))) == ["cap_or_big_tea", "any_hot"]
    assert matched(compiled, basket(("CAP-01", "coffee", 2, 350))) == [
        "two_hot", "hot_spend", "cap_or_big_tea", "any_hot",
    ]
    assert matched(compiled, basket(("TEA-1", "tea", 2, 150), ("CK-1", "cake", 1, 100))) == [
        "two_hot", "cap_or_big_tea", "any_hot", "three_items", "cheap_line",
    ]
    assert matched(compiled, basket(("CK-1", "cake", 3, 100))) == [
        "no_hot", "three_items", "cheap_line",
    ]
    assert matched(compiled, basket(("TEA-1", "tea", 1, 250), ("COF", "coffee", 1, 250))) == [
        "two_hot", "hot_spend", "any_hot",
    ]


# ---- local time --------------------------------------------------------------------------------

CLOCK_RULES = """
rule two when hour = 2 then discount 1%
rule three when hour = 3 then discount 1%
rule before_three when hour < 3 then discount 1%
rule half_past when minute = 30 then discount 1%
rule sunday when weekday = sun then discount 1%
rule on_25th when date = 2026-10-25 then discount 1%
"""


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # 2026-10-25: at 01:00 UTC, 03:00 CEST becomes 02:00 CET; 02:xx happens twice.
        (utc(2026, 10, 24, 21, 59, 59), []),  # Saturday 23:59:59
        (utc(2026, 10, 24, 22, 0), ["before_three", "sunday", "on_25th"]),  # 00:00
        (utc(2026, 10, 25, 0, 30), ["two", "before_three", "half_past", "sunday", "on_25th"]),
        (utc(2026, 10, 25, 0, 59, 59), ["two", "before_three", "sunday", "on_25th"]),
        (utc(2026, 10, 25, 1, 0), ["two", "before_three", "sunday", "on_25th"]),  # 02:00 CET
        (utc(2026, 10, 25, 1, 30), ["two", "before_three", "half_past", "sunday", "on_25th"]),
        (utc(2026, 10, 25, 2, 0), ["three", "sunday", "on_25th"]),
        (utc(2026, 10, 25, 22, 59, 59), ["sunday", "on_25th"]),  # 23:59:59 CET
        (utc(2026, 10, 25, 23, 0), ["before_three"]),  # Monday 00:00
        # 2027-03-28: at 01:00 UTC, 02:00 CET becomes 03:00 CEST; there is no 02:xx.
        (utc(2027, 3, 27, 22, 59, 59), []),
        (utc(2027, 3, 27, 23, 0), ["before_three", "sunday"]),
        (utc(2027, 3, 28, 0, 59, 59), ["before_three", "sunday"]),  # 01:59:59 CET
        (utc(2027, 3, 28, 1, 0), ["three", "sunday"]),  # 03:00 CEST
        (utc(2027, 3, 28, 1, 30), ["three", "half_past", "sunday"]),
        (utc(2027, 3, 28, 21, 59, 59), ["sunday"]),  # 23:59:59 CEST
        (utc(2027, 3, 28, 22, 0), ["before_three"]),  # Monday 00:00
    ],
)
def test_clock_across_dst_changes(instant: int, expected: list[str]) -> None:
    assert matched(build(CLOCK_RULES), txn(time=instant)) == expected


def test_every_minute_of_the_dst_days() -> None:
    """Hour tests and windows, minute by minute over the two DST days of Europe/Belgrade."""
    compiled = build("""
        rule two when hour = 2 then discount 1%
        rule three when hour = 3 then discount 1%
        rule doubled active 2026-10-25T02:00 .. 2026-10-25T02:59 then discount 1%
        rule skipped active 2027-03-28T02:00 .. 2027-03-28T02:59 then discount 1%
        rule on_25th when date = 2026-10-25 then discount 1%
        rule on_28th active 2027-03-28 .. 2027-03-28 then discount 1%
    """)
    reference = Reference(compiled.program)

    def minutes_matched(start: int, end: int) -> dict[str, int]:
        transactions = [txn(time=t) for t in range(start, end, 60)]
        matcher = compiled.matcher
        offsets, rules = matcher.match_batch(
            matcher.encode_batch(transactions, [None] * len(transactions))
        )
        for i, transaction in enumerate(transactions):
            row = rules[offsets[i] : offsets[i + 1]].tolist()
            assert row == reference.match(transaction, None), transaction
        counts = Counter(compiled.rule_names[i] for i in rules.tolist())
        return {name: counts[name] for name in compiled.rule_names}

    # The local day of 2026-10-25 lasts 25 hours, that of 2027-03-28 lasts 23.
    autumn = minutes_matched(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert autumn == {
        "two": 120, "three": 60, "doubled": 120, "skipped": 0, "on_25th": 1500, "on_28th": 0,
    }
    spring = minutes_matched(utc(2027, 3, 27, 23), utc(2027, 3, 28, 22))
    assert spring == {
        "two": 0, "three": 60, "doubled": 0, "skipped": 0, "on_25th": 0, "on_28th": 1380,
    }


def test_local_time_after_2100() -> None:
    """The compiled time-zone table must reach the transactions' years.

    Regression (cd086ca moved ``engine/timezone.py`` LAST_YEAR from 2100 to 2200): past the
    table every instant got its last offset (CET), so a summer transaction read an hour
    early while the reference, asking zoneinfo, kept applying DST.
    """
    compiled = build("rule noon when hour = 12 then discount 1%")
    assert matched(compiled, txn(time=utc(2099, 7, 1, 10))) == ["noon"]
    assert matched(compiled, txn(time=utc(2101, 7, 1, 10))) == ["noon"]


# ---- batches and size --------------------------------------------------------------------------


def test_batch_buffer_grows_past_its_first_allocation() -> None:
    rules = "\n".join(f"rule always_{i} then discount 1%" for i in range(40))
    compiled = build(rules + '\nrule m1 when merchant = "M1" then discount 1%')
    transactions = [txn(merchant="M1" if i % 2 else "M2") for i in range(10)]
    offsets, matches = compiled.matcher.match_batch(
        compiled.matcher.encode_batch(transactions, [None] * 10)
    )
    sizes = [41 if i % 2 else 40 for i in range(10)]
    assert (offsets[1:] - offsets[:-1]).tolist() == sizes
    for i in range(10):
        assert matches[offsets[i] : offsets[i + 1]].tolist() == list(range(sizes[i]))
    empty_offsets, empty = compiled.matcher.match_batch(compiled.matcher.encode_batch([], []))
    assert empty_offsets.tolist() == [0] and empty.size == 0


def test_large_programme_of_merchant_offers() -> None:
    """5,000 merchant offers and a few general rules, random traffic, compiled == reference."""
    offers = []
    for i in range(5_000):
        merchant = f'"M{i:05d}"'
        priority = "  priority 5\n" if i % 97 == 0 else ""
        condition = (
            f"merchant = {merchant}",
            f'merchant in {{{merchant}, "M{i + 1:05d}"}} and amount >= {i % 20}.00',
            f'terminal = "T{i:05d}" and mcc in {{5812, 5814}}',
            f"merchant = {merchant} and (hour in 7..11 or weekday in {{sat, sun}})",
        )[i % 4]
        offers.append(f"rule offer_{i}\n{priority}  when {condition}\n  then discount {i % 9 + 1}%")
    flagship = ", ".join(f'"M{i:05d}"' for i in range(0, 5_000, 100))
    general = f"""
        merchant_group flagship = {{{flagship}}}
        rule flagship_bonus when merchant in flagship and amount >= 10.00 then discount 1%
        rule big_ticket when amount >= 50.00 then discount 1%
        rule online_grocery when mcc in 5400..5499 and channel = ecom then discount 1%
        rule vip_silver when tier >= silver and "vip" in member.segments then discount 1%
        rule everyone priority 1 then discount 1%
    """
    compiled = build(TIERS + "\n".join(offers) + textwrap.dedent(general))
    assert len(compiled.program.rules) == 5_005
    assert compiled.anchored_rows >= 5_000 and compiled.general_rows == 4
    promoted = tuple(f"offer_{i}" for i in range(0, 5_000, 97))  # priority 5
    assert compiled.rule_names[: len(promoted)] == promoted
    assert compiled.rule_names[len(promoted)] == "everyone"  # priority 1
    assert compiled.rule_names[len(promoted) + 1] == "offer_1"

    rnd = random.Random(20261025)
    pairs = []
    for i in range(150):
        member = None
        if rnd.random() < 0.7:
            member = MemberState(
                "m", tier=rnd.choice(["bronze", "silver", "gold"]),
                segments=frozenset(rnd.sample(["vip", "new"], rnd.randint(0, 2))),
            )
        transaction = txn(
            txn_id=f"t{i}", merchant=f"M{rnd.randrange(5_200):05d}",
            terminal=f"T{rnd.randrange(5_200):05d}", amount=rnd.randrange(0, 8_000),
            mcc=rnd.choice([5411, 5450, 5812, 5814, 5999]),
            channel=rnd.choice(["pos", "ecom", "app"]),
            time=local(2026, 12, rnd.randint(1, 14), rnd.randint(0, 23), rnd.randint(0, 59)),
        )
        pairs.append((transaction, member))
    reference = Reference(compiled.program)
    expected = [reference.match(t, m) for t, m in pairs]
    assert [compiled.match(t, m) for t, m in pairs] == expected
    matcher = compiled.matcher
    offsets, rules = matcher.match_batch(
        matcher.encode_batch([t for t, _ in pairs], [m for _, m in pairs])
    )
    assert [rules[offsets[i] : offsets[i + 1]].tolist() for i in range(len(pairs))] == expected
    offer_hits = sum(
        1 for row in expected if any(compiled.rule_names[i].startswith("offer_") for i in row)
    )
    assert offer_hits >= 50, "the random traffic should reach the merchant offers"
