"""The decision walk, with every figure worked out by hand in the comments."""

from __future__ import annotations

from tessera.engine.compiler import compile_source
from tessera.engine.model import BasketLine, MemberState, Redeem, Transaction
from tessera.engine.simulate import Simulation

SAT_0930 = 1_796_459_400  # 2026-12-05T09:30:00+01:00, a Saturday
HEADER = """program p
  currency EUR
  timezone Europe/Belgrade
  points_value 100 points = 1.00
  {earn_on}
merchant_group partners = {{"M1"}}
category_group drinks = {{"coffee", "tea"}}
wallet points points
wallet cash money spend_at partners
wallet drinks_credit money spend_on drinks
"""


def sim(rules: str, earn_on: str = "earn_on net") -> Simulation:
    return Simulation(compile_source(HEADER.format(earn_on=earn_on) + rules, "t.rules"))


def txn(
    amount: int,
    *,
    txn_id: str = "t",
    merchant: str = "M1",
    member: str = "m",
    basket=(),
    redeem=None,
    time=SAT_0930,
):
    return Transaction(
        txn_id,
        time,
        amount,
        member,
        "EUR",
        merchant,
        "",
        5812,
        "pos",
        "RS",
        "",
        "",
        tuple(basket),
        redeem,
    )


def effects(decision):
    return [(a.rule, e.type, e.amount, e.points) for a in decision.applied for e in a.effects]


def test_discount_percent_is_capped_and_rounds_down():
    s = sim("rule d\n  then discount 10% cap 3.00\n")
    assert s.process(txn(1259)).discount == 125  # 10% of 12.59 = 1.259 -> 1.25
    assert s.process(txn(5000)).discount == 300  # 10% of 50.00 = 5.00, cap 3.00


def test_discounts_never_sum_past_the_amount():
    s = sim("rule a\n  priority 2\n  then discount 8.00\nrule b\n  then discount 5.00\n")
    decision = s.process(txn(1000))
    assert decision.discount == 1000 and decision.charged == 0
    assert effects(decision) == [("a", "discount", 800, 0), ("b", "discount", 200, 0)]


def test_earn_is_per_whole_unit_of_the_net_base():
    s = sim(
        "rule d\n  priority 2\n  then discount 1.50\n"
        "rule e\n  then earn 2 points per 1.00 into points\n"
    )
    # net = 12.50 - 1.50 = 11.00 -> 11 whole units -> 22 points
    assert effects(s.process(txn(1250)))[-1] == ("e", "earn", 0, 22)


def test_earn_on_gross_ignores_discounts():
    s = sim(
        "rule d\n  priority 2\n  then discount 1.50\n"
        "rule e\n  then earn 2 points per 1.00 into points\n",
        earn_on="earn_on gross",
    )
    assert effects(s.process(txn(1250)))[-1] == ("e", "earn", 0, 24)  # 12 whole units of 12.50


def test_cashback_of_a_basket_amount():
    s = sim("rule c\n  then cashback 5% of basket.amount(category in drinks) into cash\n")
    basket = [BasketLine("a", "coffee", 2, 350), BasketLine("b", "cake", 1, 400)]
    # drinks lines: 2 x 3.50 = 7.00; 5% = 0.35
    assert effects(s.process(txn(1100, basket=basket))) == [("c", "cashback", 35, 0)]


def test_exclusive_group_takes_the_first_and_reports_the_rest():
    s = sim(
        "rule a\n  then discount 1%\n  group g exclusive\n"
        "rule b\n  then discount 2%\n  group g exclusive\n"
        "rule c\n  then discount 3%\n"
    )
    decision = s.process(txn(10000))
    assert [a.rule for a in decision.applied] == ["a", "c"]
    assert [(k.rule, k.reason) for k in decision.skipped] == [("b", "group")]


def test_stop_ends_the_walk():
    s = sim("rule a\n  priority 9\n  then discount 1%\n  stop\nrule b\n  then discount 2%\n")
    decision = s.process(txn(10000))
    assert [a.rule for a in decision.applied] == ["a"]
    assert [(k.rule, k.reason) for k in decision.skipped] == [("b", "stop")]


def test_count_limit_per_member_per_day():
    s = sim("rule a\n  then discount 1.00\n  limit 2 per member per day\n")
    results = [s.process(txn(1000, txn_id=str(i))).discount for i in range(3)]
    assert results == [100, 100, 0]
    next_day = s.process(txn(1000, txn_id="x", time=SAT_0930 + 86_400))
    assert next_day.discount == 100
    other = s.process(txn(1000, txn_id="y", member="other"))
    assert other.discount == 100


def test_value_limit_cuts_the_reward_then_skips():
    s = sim("rule a\n  then cashback 10% into cash\n  limit 2.50 value per member per month\n")
    first = s.process(txn(2000, txn_id="1"))  # 10% of 20.00 = 2.00, 0.50 left
    second = s.process(txn(2000, txn_id="2"))  # 2.00 cut to 0.50
    third = s.process(txn(2000, txn_id="3"))
    assert [effects(d) for d in (first, second)] == [
        [("a", "cashback", 200, 0)],
        [("a", "cashback", 50, 0)],
    ]
    assert [(k.rule, k.reason) for k in third.skipped] == [("a", "limit")]


def test_budget_in_uses_and_in_money():
    s = sim(
        "rule a\n  then discount 1.00\n  budget 2 uses\n"
        "rule b\n  then cashback 3.00 into cash\n  budget 5.00\n"
    )
    discounts = [s.process(txn(1000, txn_id=str(i), member=f"m{i}")) for i in range(3)]
    assert [d.discount for d in discounts] == [100, 100, 0]
    cashback = [sum(e.amount for _, e in d.effects() if e.type == "cashback") for d in discounts]
    assert cashback == [300, 200, 0]  # 5.00 budget: 3.00, then the 2.00 left, then spent
    assert ("b", "budget") in [(k.rule, k.reason) for k in discounts[2].skipped]


def test_funders_split_with_the_remainder_to_the_first_non_programme_funder():
    s = sim(
        "rule a\n  then discount 1.25\n  funded_by program 50%, merchant 30%, partner oil 20%\n"
    )
    lines = s.process(txn(1000)).applied[0].funders
    # 1.25: program 0.625 -> 0.62, merchant 0.375 -> 0.37, oil 0.25; the odd cent to the merchant
    assert [(f.funder, f.amount) for f in lines] == [
        ("program", 62),
        ("merchant:M1", 38),
        ("partner:oil", 25),
    ]


def test_redemption_spend_at_and_points_value():
    s = sim("rule nothing\n  when amount > 1000000.00\n  then discount 1%\n")
    s.wallets.load(MemberState("m", balances={"cash": 500, "points": 250}))
    ok = s.process(txn(1000, txn_id="1", redeem=Redeem("cash", amount=200)))
    assert (ok.redeemed, ok.charged, ok.redemption.reason) == (200, 800, None)
    refused = s.process(txn(1000, txn_id="2", merchant="M9", redeem=Redeem("cash", amount=200)))
    assert (refused.redeemed, refused.redemption.reason) == (0, "spend_at")
    points = s.process(txn(1000, txn_id="3", redeem=Redeem("points")))
    # 250 points at 100 points = 1.00 are worth 2.50; all of it is used
    assert (points.redeemed, points.redemption.points, points.balances["points"]) == (250, 250, 0)


def test_redemption_spend_on_is_limited_to_matching_lines():
    s = sim("rule nothing\n  when amount > 1000000.00\n  then discount 1%\n")
    s.wallets.load(MemberState("m", balances={"drinks_credit": 1000}))
    basket = [BasketLine("a", "coffee", 1, 300), BasketLine("b", "cake", 1, 700)]
    decision = s.process(txn(1000, basket=basket, redeem=Redeem("drinks_credit", amount=500)))
    assert (decision.redeemed, decision.redemption.reason) == (300, "spend_on")
    assert decision.balances["drinks_credit"] == 700


def test_the_same_inputs_give_the_same_decision():
    rules = "rule a\n  then discount 10% cap 3.00\n  and earn 2 points per 1.00 into points\n"
    first, second = sim(rules).process(txn(1234)), sim(rules).process(txn(1234))
    assert effects(first) == effects(second) and first.charged == second.charged


def test_a_member_loaded_without_a_tier_gets_the_tier_their_spend_earns():
    rules = (
        "tier bronze default\ntier silver when spend_12m >= 500.00\n"
        "rule silver_only\n  when tier >= silver\n  then discount 1.00\n"
    )
    s = sim(rules)
    s.wallets.load(MemberState("m", spend_12m=60_000))
    assert s.process(txn(1000)).discount == 100
