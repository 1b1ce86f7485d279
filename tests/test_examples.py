"""The example programmes in rules/ compile cleanly and decide what was worked out by hand.

``tessera check`` runs as a child process (``python -m tessera.server.cli``); each programme
is simulated once per module through the same command's ``main`` in this process (to keep
the tests fast), and the key decisions are checked figure by figure.  The expected values
are literals computed from the rules by hand (the comments show the arithmetic), not copied
from the engine's output.

Conventions of the engine these figures rely on (all from the spec / walk.py):
* discounts first, on the gross amount; cashback and points on net = amount - discounts;
* ``earn N points per 1.00`` gives N points for each *whole* euro of the base;
* percentages round toward zero, in cents;
* a funder's share rounds toward zero; the remainder goes to the first listed funder that
  is not the programme;
* a redemption comes after the discounts and lowers the charge; it does not lower the base
  rewards are earned on.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from tessera.engine.compiler import compile_file
from tessera.server.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
SPEC = Path("/work/shared/spec/rules-language.md")

Decisions = dict[str, dict[str, Any]]


def tessera(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command in a child process, as ``make run`` calls it."""
    return subprocess.run(
        [sys.executable, "-m", "tessera.server.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Run(NamedTuple):
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> Run:
    """``tessera ARGS`` in this process (the console script's own ``main``), output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


def simulate(name: str, *extra: str) -> tuple[Decisions, Run]:
    result = run_cli(
        "simulate",
        str(RULES / f"{name}.rules"),
        "--transactions",
        str(RULES / f"{name}.transactions.jsonl"),
        "--members",
        str(RULES / f"{name}.members.jsonl"),
        *extra,
    )
    assert result.code == 0, result.stderr
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    by_id = {d["txn_id"]: d for d in decisions}
    assert len(by_id) == len(decisions)
    return by_id, result


def applied(decision: dict[str, Any]) -> list[str]:
    return [a["rule"] for a in decision["applied"]]


def skipped(decision: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["rule"], s["reason"]) for s in decision["skipped"]]


def effects(decision: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    (entry,) = [a for a in decision["applied"] if a["rule"] == rule]
    return entry["effects"]


def funders(decision: dict[str, Any], rule: str) -> list[tuple[str, str, int]]:
    (entry,) = [a for a in decision["applied"] if a["rule"] == rule]
    return [(f["funder"], f["amount"], f["points"]) for f in entry["funders"]]


def money(decision: dict[str, Any]) -> tuple[str, str, str, str]:
    return decision["amount"], decision["discount"], decision["redeemed"], decision["charged"]


def redemption(decision: dict[str, Any]) -> tuple[str | None, str, int, str | None]:
    r = decision["redemption"]
    return r["requested"], r["amount"], r["points"], r["reason"]


# ---- tessera check ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checked() -> subprocess.CompletedProcess[str]:
    return tessera(
        "check", "rules/coffee.rules", "rules/bank_cashback.rules", "rules/coalition.rules"
    )


@pytest.mark.parametrize(
    ("path", "summary"),
    [
        ("rules/coffee.rules", "4 rules, 4 wallets, 3 tiers, 0 warnings"),
        ("rules/bank_cashback.rules", "9 rules, 1 wallets, 2 tiers, 0 warnings"),
        ("rules/coalition.rules", "9 rules, 1 wallets, 3 tiers, 0 warnings"),
    ],
)
def test_check_passes_without_diagnostics(checked, path: str, summary: str) -> None:
    assert checked.returncode == 0
    assert checked.stderr == ""  # no error, no warning
    line = next(x for x in checked.stdout.splitlines() if x.startswith(f"{path}: "))
    assert re.fullmatch(rf"{re.escape(path)}: ok — {summary}, compiled in [0-9.]+ ms", line)


def test_coffee_contains_the_spec_example_verbatim() -> None:
    if not SPEC.exists():
        pytest.skip("the language spec is not available here")
    blocks = re.findall(r"```\n(.*?)```", SPEC.read_text(encoding="utf-8"), re.S)
    declarations, rules = blocks[0], blocks[1]
    assert declarations.startswith("program coffee_club")
    assert rules.startswith("rule weekend_coffee")
    text = (RULES / "coffee.rules").read_text(encoding="utf-8")
    assert declarations in text
    assert rules in text


def test_bank_partner_group_holds_over_ten_thousand_ids() -> None:
    program = compile_file(str(RULES / "bank_cashback.rules")).program
    partners = program.groups["partners"].values
    assert len(partners) == 12_000
    assert {"M000001", "M000123", "M011456", "M012000"} <= partners
    assert not {"M100001", "M100006", "M012001"} & partners
    assert program.wallets["cashback"].spend_at == "partners"


def test_bank_partner_file_is_what_its_generator_writes() -> None:
    script = RULES / "make_bank_partners.py"
    spec = importlib.util.spec_from_file_location("make_bank_partners", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (RULES / "bank_partners.txt").read_text(encoding="utf-8") == module.render()


# ---- coffee club (the spec's example) ------------------------------------------------------


@pytest.fixture(scope="module")
def coffee() -> tuple[Decisions, Run]:
    return simulate("coffee")


def test_coffee_weekend_discount_points_and_tea_basket(coffee) -> None:
    d = coffee[0]["c01"]  # m-1 silver, Sat 09:30, 12.50 at M1001, 2 coffees at 3.50
    # 10% of 12.50 = 1.25 (under the 3.00 cap); net 11.25
    assert money(d) == ("12.50", "1.25", "0.00", "11.25")
    assert applied(d) == ["weekend_coffee", "tea_basket"]  # priority 10 before priority 0
    assert effects(d, "weekend_coffee") == [
        {"type": "discount", "amount": "1.25"},
        # 2 points x 11 whole euros of 11.25 = 22; spendable after 14 days, lapse after 365
        {
            "type": "earn",
            "wallet": "points",
            "points": 22,
            "available_at": "2026-12-19T09:30:00+01:00",
            "expires_at": "2027-12-05T09:30:00+01:00",
        },
    ]
    # merchant 50% / program 50% of 1.25 = 0.62 / 0.62, the odd cent to the merchant;
    # 22 points = 11 / 11
    assert funders(d, "weekend_coffee") == [("merchant:M1001", "0.63", 11), ("program", "0.62", 11)]
    # 5% of the hot drinks 2 x 3.50 = 7.00 -> 0.35
    assert effects(d, "tea_basket") == [
        {"type": "cashback", "wallet": "cashback", "amount": "0.35"}
    ]
    assert funders(d, "tea_basket") == [("program", "0.35", 0)]
    # same exclusive group "drinks": tea_basket took it
    assert skipped(d) == [("hot_drink_credit", "group")]
    # cashback 3.10 + 0.35; the 22 points are still pending
    assert d["balances"] == {
        "cashback": "3.45",
        "drink_credit": "5.00",
        "giftcard": "0.00",
        "points": 1200,
    }


def test_coffee_discount_cap_and_cashback_redemption_at_partner(coffee) -> None:
    d = coffee[0]["c02"]  # 40.00 at M1002 (coffee partner), redeem 2.00 of cashback
    # 10% of 40.00 = 4.00, capped at 3.00; net 37.00; charged 40.00 - 3.00 - 2.00 = 35.00
    assert money(d) == ("40.00", "3.00", "2.00", "35.00")
    # points on net: 2 x 37 = 74
    assert effects(d, "weekend_coffee")[1]["points"] == 74
    assert funders(d, "weekend_coffee") == [("merchant:M1002", "1.50", 37), ("program", "1.50", 37)]
    assert redemption(d) == ("2.00", "2.00", 0, None)
    assert d["balances"]["cashback"] == "1.45"  # 3.45 - 2.00


def test_coffee_limit_three_a_day(coffee) -> None:
    decisions = coffee[0]
    d = decisions["c03"]  # third weekend coffee of Saturday: 10% of 8.00 = 0.80, 2 x 7 = 14 points
    assert money(d) == ("8.00", "0.80", "0.00", "7.20")
    assert effects(d, "weekend_coffee")[1]["points"] == 14
    d = decisions["c04"]  # fourth on the same day (11:15 is still hour 11)
    assert applied(d) == []
    assert skipped(d) == [("weekend_coffee", "limit")]
    assert money(d) == ("6.00", "0.00", "0.00", "6.00")
    d = decisions["c05"]  # Sunday: a new day, the limit starts again
    assert "weekend_coffee" in applied(d)


def test_coffee_drink_credit_spendable_on_hot_drinks_only(coffee) -> None:
    d = coffee[0]["c05"]  # Sun, 10.00: tea 2.50 + sandwich 7.50; redeem 5.00 of drink_credit
    # discount 10% of 10.00 = 1.00; 2 x 9 = 18 points; redemption only on the tea line: 2.50
    # charged 10.00 - 1.00 - 2.50 = 6.50
    assert money(d) == ("10.00", "1.00", "2.50", "6.50")
    assert applied(d) == ["weekend_coffee", "hot_drink_credit"]
    assert effects(d, "weekend_coffee")[1]["points"] == 18
    # one hot drink: no tea_basket, so the flat 0.50 drink credit applies
    assert effects(d, "hot_drink_credit") == [
        {"type": "cashback", "wallet": "drink_credit", "amount": "0.50"}
    ]
    assert redemption(d) == ("5.00", "2.50", 0, "spend_on")
    assert d["balances"]["drink_credit"] == "3.00"  # 5.00 - 2.50 + 0.50


def test_coffee_cashback_refused_outside_coffee_partners(coffee) -> None:
    # M2001 is in all_partners (partners.txt) but not in coffee_partners
    d = coffee[0]["c06"]
    assert money(d) == ("20.00", "2.00", "0.00", "18.00")  # 10% of 20.00; nothing redeemed
    assert redemption(d) == ("1.00", "0.00", 0, "spend_at")
    assert d["balances"]["cashback"] == "1.45"  # untouched


def test_coffee_welcome_stops_the_walk_and_comes_once(coffee) -> None:
    decisions = coffee[0]
    d = decisions["c07"]  # m-new: not in the members file, txn_count 0, bronze
    assert applied(d) == ["welcome"]
    assert effects(d, "welcome") == [
        {
            "type": "earn",
            "wallet": "points",
            "points": 500,
            "available_at": "2026-12-26T10:00:00+01:00",
            "expires_at": "2027-12-12T10:00:00+01:00",
        },
    ]
    assert funders(d, "welcome") == [("program", "0.00", 500)]
    # the basket has 2 coffees: both drink rules matched but come after the stop
    assert skipped(d) == [("tea_basket", "stop"), ("hot_drink_credit", "stop")]
    assert money(d) == ("9.00", "0.00", "0.00", "9.00")
    assert d["balances"]["points"] == 0  # the 500 are pending for 14 days
    d = decisions["c08"]  # next day: txn_count 1, no welcome; 5% of 2 x 3.50 = 0.35
    assert applied(d) == ["tea_basket"]
    assert effects(d, "tea_basket")[0]["amount"] == "0.35"
    assert skipped(d) == [("hot_drink_credit", "group")]


def test_coffee_points_redemption_at_points_value(coffee) -> None:
    decisions = coffee[0]
    d = decisions["c09"]  # Mon 14 Dec, 5.00: redeem 300 points; 100 points = 1.00 -> 3.00
    assert applied(d) == []
    assert money(d) == ("5.00", "0.00", "3.00", "2.00")
    assert redemption(d) == ("3.00", "3.00", 300, None)
    assert d["balances"]["points"] == 900  # 1200 - 300; earned points still pending
    d = decisions["c10"]  # Mon 21 Dec, 4.37: redeem as much as allowed
    # spendable: 900 + 22 + 74 + 14 (pending ended 19 Dec) + 18 (20 Dec) = 1028 points = 10.28
    # the charge 4.37 bounds it: 437 points
    assert money(d) == ("4.37", "0.00", "4.37", "0.00")
    assert redemption(d) == (None, "4.37", 437, None)
    assert d["balances"]["points"] == 591  # 1028 - 437; c06's 36 pending until 26 Dec
    d = decisions["c11"]  # Feb 2027: Saturday morning but outside the campaign window
    assert applied(d) == [] and skipped(d) == []
    assert d["balances"]["points"] == 627  # 591 + 36


def test_coffee_summary(coffee) -> None:
    stderr = coffee[1].stderr
    # discount 1.25 + 3.00 + 0.80 + 1.00 + 2.00; cashback 0.35 + 0.50 + 0.35;
    # points 22 + 74 + 14 + 18 + 36 + 500; redeemed 2.00 + 2.50 + 3.00 + 4.37
    assert (
        "transactions: 11, rejected: 0, discount: 8.05, cashback: 1.20, points: 664, "
        "redeemed: 11.87"
    ) in stderr


def test_coffee_explain_names_the_window() -> None:
    decisions, _ = simulate("coffee", "--explain")
    why = {e["rule"]: e for e in decisions["c11"]["explain"]}
    assert why["weekend_coffee"]["matched"] is False
    assert why["weekend_coffee"]["reason"] == "window"
    why = {e["rule"]: e for e in decisions["c04"]["explain"]}
    assert (why["weekend_coffee"]["matched"], why["weekend_coffee"]["reason"]) == (True, "limit")


# ---- bank cashback card ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank() -> tuple[Decisions, Run]:
    return simulate("bank_cashback")


def cashback(decision: dict[str, Any], rule: str) -> str:
    (effect,) = effects(decision, rule)
    assert effect["type"] == "cashback" and effect["wallet"] == "cashback"
    return effect["amount"]


def test_bank_category_rates(bank) -> None:
    decisions = bank[0]
    cases = {
        "k01": ("groceries", "12.00"),  # 2% of 600.00
        "k04": ("fuel", "1.80"),  # 3% of 60.00
        "k05": ("fuel", "5.00"),  # 3% of 200.00 = 6.00, capped at 5.00
        "k06": ("restaurants", "0.91"),  # 2% of 45.50
        "k09": ("travel", "4.50"),  # 3% of 150.00 (domestic flight: no abroad bonus)
        "k15": ("everything_else", "0.12"),  # 0.5% of 25.00 = 0.125, rounded down
    }
    for txn, (rule, amount) in cases.items():
        d = decisions[txn]
        assert applied(d) == [rule], txn
        assert cashback(d, rule) == amount, txn
        assert funders(d, rule) == [("program", amount, 0)], txn
        if rule != "everything_else":  # one category rate a purchase
            assert skipped(d) == [("everything_else", "group")], txn
        assert d["discount"] == "0.00"


def test_bank_monthly_value_cap(bank) -> None:
    decisions = bank[0]
    # November groceries for b-1: 2% of 600.00 = 12.00, then 2% of 500.00 = 10.00 cut to the
    # 8.00 left of the 20.00 monthly cap, then nothing: the base rate takes over
    assert cashback(decisions["k01"], "groceries") == "12.00"
    assert cashback(decisions["k02"], "groceries") == "8.00"
    d = decisions["k03"]
    assert skipped(d) == [("groceries", "limit")]
    assert applied(d) == ["everything_else"]
    assert cashback(d, "everything_else") == "0.20"  # 0.5% of 40.00
    d = decisions["k12"]  # 1 December: a new month, 2% of 100.00
    assert applied(d) == ["groceries"]
    assert cashback(d, "groceries") == "2.00"


def test_bank_gold_tier_restaurant_rate(bank) -> None:
    d = bank[0]["k07"]  # b-2 is gold: 4% of 80.00 = 3.20 instead of 2%
    assert applied(d) == ["restaurants_gold"]
    assert cashback(d, "restaurants_gold") == "3.20"
    assert skipped(d) == [("restaurants", "group"), ("everything_else", "group")]


def test_bank_travel_abroad_stacks(bank) -> None:
    d = bank[0]["k08"]  # 1500.00 airline, paid in USD in the US, online, b-1 is "digital"
    assert applied(d) == ["travel", "travel_abroad", "ecom_bonus"]
    assert cashback(d, "travel") == "45.00"  # 3% of 1500.00
    assert cashback(d, "travel_abroad") == "25.00"  # 2% = 30.00, capped at 25.00
    assert cashback(d, "ecom_bonus") == "15.00"  # 1% of 1500.00
    assert d["balances"] == {"cashback": "117.91"}  # 32.91 + 45.00 + 25.00 + 15.00


def test_bank_ecom_bonus_needs_the_digital_segment(bank) -> None:
    decisions = bank[0]
    d = decisions["k10"]  # b-1 (digital): 1% + 0.5% of 250.00
    assert applied(d) == ["ecom_bonus", "everything_else"]
    assert (cashback(d, "ecom_bonus"), cashback(d, "everything_else")) == ("2.50", "1.25")
    d = decisions["k11"]  # b-2, same purchase, not digital: base rate only
    assert applied(d) == ["everything_else"]
    assert cashback(d, "everything_else") == "1.25"
    assert d["balances"] == {"cashback": "4.45"}  # 3.20 + 1.25


def test_bank_partner_bonus_funded_by_merchant(bank) -> None:
    d = bank[0]["k13"]  # 50.00 groceries at partner M000123
    assert applied(d) == ["partner_bonus", "groceries"]
    assert cashback(d, "partner_bonus") == "1.50"  # 3% of 50.00
    # merchant 80% of 1.50 = 1.20, program 20% = 0.30
    assert funders(d, "partner_bonus") == [("merchant:M000123", "1.20", 0), ("program", "0.30", 0)]
    assert cashback(d, "groceries") == "1.00"  # 2% of 50.00; 18.00 of December's cap left
    assert d["balances"] == {"cashback": "130.66"}  # 128.16 + 1.50 + 1.00


def test_bank_redemption_only_at_partners(bank) -> None:
    decisions = bank[0]
    d = decisions["k14"]  # 30.00 at partner M011456, redeem 10.00
    assert money(d) == ("30.00", "0.00", "10.00", "20.00")
    assert redemption(d) == ("10.00", "10.00", 0, None)
    # rewards on the 30.00: 3% = 0.90 (merchant 0.72, program 0.18) and 0.5% = 0.15
    assert applied(d) == ["partner_bonus", "everything_else"]
    assert funders(d, "partner_bonus") == [("merchant:M011456", "0.72", 0), ("program", "0.18", 0)]
    assert cashback(d, "everything_else") == "0.15"
    assert d["balances"] == {"cashback": "121.71"}  # 130.66 - 10.00 + 0.90 + 0.15
    d = decisions["k15"]  # 25.00 at M100006, not a partner: redeem 5.00 refused
    assert money(d) == ("25.00", "0.00", "0.00", "25.00")
    assert redemption(d) == ("5.00", "0.00", 0, "spend_at")
    assert d["balances"] == {"cashback": "121.83"}  # 121.71 + 0.12


def test_bank_running_balance_and_summary(bank) -> None:
    decisions, result = bank
    # b-1 starts with 5.00: +12.00 +8.00 +0.20 +1.80 +5.00 +0.91 = 32.91 by k06
    assert decisions["k06"]["balances"] == {"cashback": "32.91"}
    assert decisions["k12"]["balances"] == {"cashback": "128.16"}  # 117.91+4.50+3.75+2.00
    assert (
        "transactions: 15, rejected: 0, discount: 0.00, cashback: 131.28, points: 0, "
        "redeemed: 10.00"
    ) in result.stderr


# ---- coalition club -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coalition() -> tuple[Decisions, Run]:
    return simulate("coalition")


def points(decision: dict[str, Any], rule: str) -> int:
    (effect,) = effects(decision, rule)
    assert effect["type"] == "earn" and effect["wallet"] == "points"
    return effect["points"]


def test_coalition_fuel_partner_share_and_draw_entry(coalition) -> None:
    d = coalition[0]["x01"]  # c-1 bronze, 47.80 at FuelCo F-001
    assert applied(d) == ["fuel_bronze", "winter_draw_fuel"]
    assert effects(d, "fuel_bronze") == [
        # 1 point x 47 whole euros; spendable after 7 days, lapse after 365
        {
            "type": "earn",
            "wallet": "points",
            "points": 47,
            "available_at": "2026-12-09T08:00:00+01:00",
            "expires_at": "2027-12-02T08:00:00+01:00",
        },
    ]
    # fuelco 60% of 47 = 28.2 -> 28, program 40% = 18.8 -> 18, the odd point to fuelco
    assert funders(d, "fuel_bronze") == [("partner:fuelco", "0.00", 29), ("program", "0.00", 18)]
    assert effects(d, "winter_draw_fuel") == [
        {"type": "entries", "draw": "winter_draw", "entries": 1}
    ]
    assert funders(d, "winter_draw_fuel") == []
    assert d["balances"] == {"points": 150}  # the 47 are pending


def test_coalition_grocer_three_way_split_and_tag(coalition) -> None:
    d = coalition[0]["x02"]  # c-1, 64.40 at G-101: fruit 2 x 1.70 + bakery 2.50 + wine 58.50
    assert applied(d) == ["freshmart_points", "freshmart_fresh", "spot_frequent"]
    assert points(d, "freshmart_points") == 64  # 1 x 64 whole euros
    # grocer 50% = 32, store 25% = 16, program 25% = 16
    assert funders(d, "freshmart_points") == [
        ("partner:grocer", "0.00", 32),
        ("merchant:G-101", "0.00", 16),
        ("program", "0.00", 16),
    ]
    assert points(d, "freshmart_fresh") == 25  # fresh 3.40 + 2.50 = 5.90 -> 5 x 5
    # 12.5 -> 12, 6.25 -> 6, 6.25 -> 6; the odd point to the grocer (first non-programme)
    assert funders(d, "freshmart_fresh") == [
        ("partner:grocer", "0.00", 13),
        ("merchant:G-101", "0.00", 6),
        ("program", "0.00", 6),
    ]
    # 4th purchase (txn_count 3), 1 day after the last: tagged
    assert effects(d, "spot_frequent") == [{"type": "tag", "segment": "frequent"}]


def test_coalition_upgrade_to_silver_applies_from_the_next_purchase(coalition) -> None:
    decisions = coalition[0]
    # spend_12m 900.00 + 47.80 = 947.80 (bronze) + 64.40 = 1012.20 >= 1000.00: silver after x02
    d = decisions["x03"]  # 52.30 at F-002
    assert applied(d) == ["fuel_silver", "winter_draw_fuel"]
    assert points(d, "fuel_silver") == 104  # 2 x 52
    # fuelco 62.4 -> 62, program 41.6 -> 41, the odd point to fuelco
    assert funders(d, "fuel_silver") == [("partner:fuelco", "0.00", 63), ("program", "0.00", 41)]
    assert skipped(d) == [("fuel_bronze", "group")]
    d = decisions["x04"]  # the same evening, 35.00: 2 x 35 = 70; the draw's daily entry is used
    assert points(d, "fuel_silver") == 70
    assert funders(d, "fuel_silver") == [("partner:fuelco", "0.00", 42), ("program", "0.00", 28)]
    assert skipped(d) == [("fuel_bronze", "group"), ("winter_draw_fuel", "limit")]


def test_coalition_frequent_bonus_once_a_week(coalition) -> None:
    decisions = coalition[0]
    d = decisions["x05"]  # Mon 7 Dec, 25.00 at G-102: bakery 2 x 1.25 + dairy 22.50
    assert applied(d) == ["freshmart_points", "freshmart_fresh", "frequent_basket_bonus"]
    assert points(d, "freshmart_points") == 25
    # 12.5 -> 12, 6.25 -> 6, 6.25 -> 6, +1 to the grocer
    assert funders(d, "freshmart_points") == [
        ("partner:grocer", "0.00", 13),
        ("merchant:G-102", "0.00", 6),
        ("program", "0.00", 6),
    ]
    assert points(d, "freshmart_fresh") == 10  # fresh 2.50 -> 2 x 5
    # 5, 2.5 -> 2, 2.5 -> 2, +1 to the grocer
    assert funders(d, "freshmart_fresh") == [
        ("partner:grocer", "0.00", 6),
        ("merchant:G-102", "0.00", 2),
        ("program", "0.00", 2),
    ]
    assert points(d, "frequent_basket_bonus") == 50
    assert funders(d, "frequent_basket_bonus") == [("partner:grocer", "0.00", 50)]
    d = decisions["x06"]  # Thu 10 Dec: same ISO week
    assert skipped(d) == [("frequent_basket_bonus", "limit")]


def test_coalition_redemption_sees_only_points_past_pending(coalition) -> None:
    d = coalition[0]["x06"]  # Thu 10 Dec 12:00, 30.00 at G-101, redeem 200 points (= 2.00)
    # spendable: 150 + x01's 47 (from 9 Dec 08:00); x02's 89 only from 10 Dec 18:00
    # 197 points = 1.97; charged 30.00 - 1.97 = 28.03
    assert money(d) == ("30.00", "0.00", "1.97", "28.03")
    assert redemption(d) == ("2.00", "1.97", 197, "balance")
    assert applied(d) == ["freshmart_points"]
    assert points(d, "freshmart_points") == 30  # earned on 30.00, the redemption aside
    assert funders(d, "freshmart_points") == [  # 15, 7.5 -> 7, 7.5 -> 7, +1 to the grocer
        ("partner:grocer", "0.00", 16),
        ("merchant:G-101", "0.00", 7),
        ("program", "0.00", 7),
    ]
    assert d["balances"] == {"points": 0}


def test_coalition_welcome_once_and_expiry(coalition) -> None:
    decisions = coalition[0]
    d = decisions["x07"]  # c-2, first purchase ever: 40.00 at F-003
    assert applied(d) == ["welcome", "fuel_bronze", "winter_draw_fuel"]
    assert points(d, "welcome") == 200
    assert funders(d, "welcome") == [("program", "0.00", 200)]
    assert points(d, "fuel_bronze") == 40
    assert funders(d, "fuel_bronze") == [("partner:fuelco", "0.00", 24), ("program", "0.00", 16)]
    d = decisions["x08"]  # second purchase: no welcome
    assert applied(d) == ["freshmart_points"]
    assert skipped(d) == []
    assert points(d, "freshmart_points") == 12
    assert funders(d, "freshmart_points") == [
        ("partner:grocer", "0.00", 6),
        ("merchant:G-101", "0.00", 3),
        ("program", "0.00", 3),
    ]
    d = decisions["x11"]  # 13 Dec 2027: x07's 240 points lapsed on 12 Dec 2027, x08's 12 not
    assert points(d, "freshmart_points") == 5
    assert d["balances"] == {"points": 12}  # the 5 just earned are pending


def test_coalition_gold_rate(coalition) -> None:
    decisions = coalition[0]
    d = decisions["x09"]  # c-3 gold, 100.00 at F-001: 3 x 100 = 300
    assert applied(d) == ["fuel_gold", "winter_draw_fuel"]
    assert points(d, "fuel_gold") == 300
    assert funders(d, "fuel_gold") == [("partner:fuelco", "0.00", 180), ("program", "0.00", 120)]
    assert skipped(d) == [("fuel_silver", "group"), ("fuel_bronze", "group")]
    d = decisions["x10"]  # c-3 was tagged "frequent" already: 21.10 with vegetables 3 x 0.90
    assert applied(d) == ["freshmart_points", "freshmart_fresh", "frequent_basket_bonus"]
    assert points(d, "freshmart_points") == 21  # 10.5 -> 10, 5.25 -> 5, 5, +1 to the grocer
    assert funders(d, "freshmart_points") == [
        ("partner:grocer", "0.00", 11),
        ("merchant:G-102", "0.00", 5),
        ("program", "0.00", 5),
    ]
    assert points(d, "freshmart_fresh") == 10  # fresh 2.70 -> 2 x 5


def test_coalition_summary(coalition) -> None:
    # 47 + 89 + 104 + 70 + 85 + 30 + 240 + 12 + 300 + 81 + 5 points; 1.97 redeemed
    assert (
        "transactions: 11, rejected: 0, discount: 0.00, cashback: 0.00, points: 1063, "
        "redeemed: 1.97"
    ) in coalition[1].stderr
