"""The benchmark workload must be deterministic, valid and realistic.

Benchmarks compare runs across sizes and commits, so the same seed must give the same
programme and transactions byte for byte, every generated programme must compile, and the
transactions must respect the data model (integer cents, baskets that add up, times inside
the Dec 2026-Jan 2027 window the programme's offers are written for).
"""

from __future__ import annotations

import re

import pytest
from tessera.engine import checker, parser
from tessera.engine.model import MemberState, Transaction

from bench.workload import (
    CORE_RULES,
    MEMBER_POOL,
    RULE_COUNTS,
    WINDOW_END,
    WINDOW_START,
    generate_members,
    generate_program,
    generate_transactions,
    member_for,
    members_by_id,
)

CHANNELS = {"pos", "ecom", "app"}
WALLETS = {"points", "cashback", "credit", "giftcard"}


def tier_for(spend_12m: int) -> str:
    """The programme's tiers: silver from 500.00, gold from 2000.00 spent in 12 months."""
    if spend_12m >= 200_000:
        return "gold"
    return "silver" if spend_12m >= 50_000 else "bronze"


def compile_text(text: str, tmp_path):
    module = parser.parse(text, str(tmp_path / "bench.rules"))
    return checker.check(module, base_dir=str(tmp_path))


# ---- determinism


def test_same_seed_gives_identical_program() -> None:
    assert generate_program(300, seed=5) == generate_program(300, seed=5)


def test_different_seeds_give_different_programs() -> None:
    assert generate_program(300, seed=5) != generate_program(300, seed=6)


def test_same_seed_gives_identical_transactions() -> None:
    assert generate_transactions(500, seed=3) == generate_transactions(500, seed=3)


def test_different_seeds_give_different_transactions() -> None:
    assert generate_transactions(500, seed=3) != generate_transactions(500, seed=4)


def test_same_seed_gives_identical_members() -> None:
    assert generate_members(200, seed=1) == generate_members(200, seed=1)
    assert generate_members(200, seed=1) != generate_members(200, seed=2)


def test_a_larger_program_extends_a_smaller_one() -> None:
    """Sizes differ only by the offers added at the end, so benchmarks compare like with like."""
    small = generate_program(CORE_RULES + 20).split("\n", 1)[1]  # past the comment line
    large = generate_program(CORE_RULES + 70).split("\n", 1)[1]
    assert large.startswith(small)
    assert len(re.findall(r"^rule ", large, re.M)) == CORE_RULES + 70


# ---- programmes compile


@pytest.mark.parametrize("n_rules", [0, 1, 17, RULE_COUNTS[0], RULE_COUNTS[1]])
def test_program_compiles_with_exactly_n_rules(n_rules: int, tmp_path) -> None:
    text = generate_program(n_rules)
    program, diagnostics = compile_text(text, tmp_path)
    assert diagnostics.errors == [], diagnostics.render()
    assert len(program.rules) == n_rules
    assert len(re.findall(r"^rule ", text, re.M)) == n_rules


def test_program_declares_what_the_workload_relies_on(tmp_path) -> None:
    program, _ = compile_text(generate_program(100), tmp_path)
    assert program.currency == "EUR"
    assert program.timezone == "Europe/Belgrade"
    assert program.points_value == (100, 100)
    assert set(program.wallets) == WALLETS
    assert [t.name for t in program.tiers] == ["bronze", "silver", "gold"]
    merchant_groups = [g for g in program.groups.values() if g.kind == "merchant"]
    assert 15 <= len(merchant_groups) <= 25
    assert all(5 <= len(g.values) <= 50 for g in merchant_groups)
    assert {"hot_drinks", "groceries", "fuel", "electronics"} <= set(program.groups)


def test_large_programs_grow_by_targeted_offers() -> None:
    """Beyond the core, every rule names a merchant, terminal, BIN, group or MCC set."""
    text = generate_program(2_000, seed=9)
    whens = re.findall(r"^rule offer_\d+\n(?:  (?:priority|active) .*\n)*  when (.*)$", text, re.M)
    assert len(whens) == 2_000 - CORE_RULES
    anchors = ("merchant =", "merchant in", "terminal =", "card_bin =", "mcc in")
    assert all(w.startswith(anchors) for w in whens)
    assert sum(w.startswith("merchant") for w in whens) > len(whens) // 2


# ---- transactions


@pytest.fixture(scope="module")
def transactions() -> list[Transaction]:
    return generate_transactions(2_000)


def test_transactions_have_valid_baskets_and_amounts(transactions) -> None:
    for txn in transactions:
        assert 1 <= len(txn.basket) <= 10
        assert all(1 <= line.qty <= 5 for line in txn.basket)
        assert all(type(line.unit_price) is int and line.unit_price > 0 for line in txn.basket)
        assert type(txn.amount) is int and txn.amount > 0
        assert txn.amount == sum(line.qty * line.unit_price for line in txn.basket)


def test_transactions_fall_inside_the_window_in_time_order(transactions) -> None:
    times = [txn.time for txn in transactions]
    assert all(WINDOW_START <= t < WINDOW_END for t in times)
    assert times == sorted(times)
    assert len({txn.txn_id for txn in transactions}) == len(transactions)


def test_transactions_are_varied(transactions) -> None:
    assert {txn.channel for txn in transactions} == CHANNELS
    assert len({txn.merchant for txn in transactions}) > 500
    assert len({txn.mcc for txn in transactions}) >= 8
    assert len({txn.country for txn in transactions}) >= 3
    currencies = [txn.currency for txn in transactions]
    assert currencies.count("EUR") > len(currencies) * 0.8
    redeems = [txn.redeem for txn in transactions if txn.redeem is not None]
    assert 0 < len(redeems) < len(transactions) * 0.2
    assert {r.wallet for r in redeems} <= WALLETS


def test_transactions_draw_members_from_the_pool(transactions) -> None:
    members = members_by_id(generate_members(MEMBER_POOL))
    assert all(txn.member in members for txn in transactions)
    assert isinstance(member_for(transactions[0], members), MemberState)


def test_unknown_member_starts_empty() -> None:
    txn = generate_transactions(1)[0]
    state = member_for(txn, {})
    assert state == MemberState(member=txn.member)


# ---- members


def test_members_fit_the_programme() -> None:
    members = generate_members(1_000)
    assert [m.member for m in members] == sorted({m.member for m in members})
    assert {m.tier for m in members} == {"bronze", "silver", "gold"}
    for m in members:
        assert set(m.balances) == WALLETS
        assert all(type(v) is int and v >= 0 for v in m.balances.values())
        assert isinstance(m.attrs["city"], str)
        assert type(m.attrs["age"]) is int
        assert m.tier == tier_for(m.spend_12m)
    assert any(m.txn_count == 0 for m in members)
    assert any(m.segments for m in members)
