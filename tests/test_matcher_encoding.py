"""The compiled matcher's encoder takes fast paths for the model's own objects (slots read
at their offsets, exact str looked up by cached hash, small ints read in place); these tests
hold every path to the answer of the generic one and of the reference evaluator."""

from __future__ import annotations

import types

import pytest
from tessera.engine.model import BasketLine, MemberState, Transaction

from tests.test_matcher import TIERS, WEDNESDAY_NOON, build, matched, txn


class Text(str):
    """A str subclass: equal to the plain value, but never on the exact-str path."""


def look_alike(obj: object) -> types.SimpleNamespace:
    """The same fields on an object of another class (read through ``getattr``)."""
    fields = {name: getattr(obj, name) for name in type(obj).__slots__}  # type: ignore[attr-defined]
    if "basket" in fields:
        fields["basket"] = tuple(look_alike(line) for line in fields["basket"])
    return types.SimpleNamespace(**fields)


TEXT_RULES = TIERS + """
    rule eur when currency = "EUR" then discount 1%
    rule rs when country = "RS" then discount 1%
    rule shop when merchant = "M7" then discount 1%
    rule till when terminal = "T7-2" then discount 1%
    rule card when card_bin = "457061" then discount 1%
    rule app when channel = app then discount 1%
    rule gold when tier = gold then discount 1%
    rule vip when "vip" in member.segments then discount 1%
    rule town when member.attr.city = "Niš" then discount 1%
    rule tea when basket.has(category = "čaj") then discount 1%
    rule cap when basket.has(sku = "CAP-01") then discount 1%
"""
ALL_TEXT = ["eur", "rs", "shop", "till", "card", "app", "gold", "vip", "town", "tea", "cap"]


def fresh(text: str) -> str:
    """An equal str that is a new object (not the one the compiler saw, hash not cached)."""
    return "".join(list(text))


def test_text_values_match_however_the_str_was_made() -> None:
    compiled = build(TEXT_RULES)
    for make in (str, fresh, Text):
        transaction = txn(
            currency=make("EUR"), country=make("RS"), merchant=make("M7"),
            terminal=make("T7-2"), card_bin=make("457061"), channel=make("app"),
            basket=(BasketLine(make("CAP-01"), make("čaj"), 1, 100),),
        )
        member = MemberState(
            "m", tier=make("gold"), segments=frozenset({make("vip")}),
            attrs={"city": make("Niš")},
        )
        assert matched(compiled, transaction, member) == ALL_TEXT, make
        assert compiled.match(look_alike(transaction), look_alike(member)) == compiled.match(
            transaction, member
        )
        for segments in ({make("vip")}, [make("vip")], (make("other"), make("vip"))):
            other = look_alike(member)
            other.segments = segments
            assert compiled.match(transaction, other) == compiled.match(transaction, member)


@pytest.mark.parametrize(
    "value",
    ["Nis", "NiŠ", "Niš ", "Ni", "", "N" * 40, "Niš\U0001f600", "\U0001f600", "ниш"],
)
def test_text_values_that_differ_do_not_match(value: str) -> None:
    """Same length, another kind (1-, 2- or 4-byte characters), a prefix: no match."""
    compiled = build(TEXT_RULES)
    transaction = txn(currency=value, country=value, merchant=value, terminal=value,
                      card_bin=value, channel=value, basket=(BasketLine(value, value, 1, 1),))
    member = MemberState("m", tier=value, segments=frozenset({value}), attrs={"city": value})
    assert matched(compiled, transaction, member) == []


def test_many_text_values_each_find_their_own_id() -> None:
    """Thousands of merchants share one open-addressing table; every one finds its rule."""
    rules = "\n".join(f'rule r{i} when merchant = "M{i:05d}" then discount 1%' for i in range(3000))
    compiled = build(rules)
    for i in [*range(0, 3000, 7), 2999]:
        assert compiled.match(txn(merchant=fresh(f"M{i:05d}")), None) == [i]
    assert compiled.match(txn(merchant="M03000"), None) == []
    assert compiled.match(txn(merchant="m00001"), None) == []


BIG = [0, 1, -1, 2**30 - 1, 2**30, -(2**30), 2**60 - 1, 2**60, -(2**60), 2**62, -(2**62)]


@pytest.mark.parametrize("count", BIG)
def test_ints_of_every_size_encode_exactly(count: int) -> None:
    """One, two and three internal digits, either sign, around each threshold."""
    thresholds = sorted({abs(v) for v in BIG} | {abs(v) + 1 for v in BIG})
    rules = "\n".join(
        f"rule ge{i} when member.txn_count >= {t} then discount 1%\n"
        f"rule eq{i} when member.txn_count = {t} then discount 1%"
        for i, t in enumerate(thresholds)
    )
    compiled = build(rules)
    member = MemberState("m", txn_count=count, balances={})
    expected = [f"ge{i}" for i, t in enumerate(thresholds) if count >= t]
    expected += [f"eq{i}" for i, t in enumerate(thresholds) if count == t]
    got = matched(compiled, txn(), member)
    assert sorted(got) == sorted(expected)
    assert compiled.match(txn(), look_alike(member)) == compiled.match(txn(), member)


def test_wrong_types_are_refused_as_before() -> None:
    compiled = build("rule r when amount >= 1.00 then discount 1%")
    with pytest.raises(TypeError):
        compiled.match(txn(amount="1000"), None)
    with pytest.raises(TypeError):
        compiled.match(look_alike(txn(amount="1000")), None)
    with pytest.raises(OverflowError):
        compiled.match(txn(amount=2**70), None)


def test_general_block_wider_than_one_word() -> None:
    """Over 64 general rows (several bitset words), with slots of one to many breakpoints."""
    rules = []
    for i in range(150):
        low = (i % 13) * 5
        rules.append(
            f"rule g{i} when amount >= {low}.00 and hour in {i % 24}..23"
            f"{' and weekday in {wed, sat}' if i % 3 == 0 else ''}"
            f"{' and channel = app' if i % 5 == 0 else ''}"
            f"{f' and mcc != {5000 + i % 7}' if i % 4 == 0 else ''}"
            " then discount 1%"
        )
    compiled = build("\n".join(rules))
    assert compiled.matcher.n_rows == 150
    for amount in (0, 499, 500, 2_500, 6_000, 100_000):
        for hour in (0, 7, 12, 23):
            for channel in ("pos", "app"):
                transaction = txn(
                    amount=amount, time=WEDNESDAY_NOON + (hour - 12) * 3600, channel=channel,
                    mcc=5000 + amount % 7,
                )
                matched(compiled, transaction, None)


def test_model_objects_and_look_alikes_agree_on_a_workload() -> None:
    from tessera.engine.compiler import compile_source

    from bench.workload import generate_members, generate_program, generate_transactions

    compiled = compile_source(generate_program(300), "generated-300.rules")
    members = {m.member: m for m in generate_members()}
    for transaction in generate_transactions(300):
        member = members.get(transaction.member)
        assert isinstance(transaction, Transaction)
        got = compiled.match(transaction, member)
        other = look_alike(member) if member is not None else None
        assert compiled.match(look_alike(transaction), other) == got


def test_basket_filters_screened_by_category_or_sku() -> None:
    """Filters whose every row tests the category (or the sku) are checked only for lines
    with an id those rows accept; the others are checked for every line."""
    compiled = build("""
        rule pricey_tea when basket.has(category = "tea" and unit_price >= 5.00)
          then discount 1%
        rule two_drinks when basket.qty(category in {"tea", "coffee"} and qty >= 2
          or sku = "X-1") >= 2 then discount 1%
        rule cheap_s1 when basket.amount(sku = "S-1" and unit_price < 2.00) >= 3.00
          then discount 1%
        rule not_tea when basket.has(category != "tea" and qty >= 3) then discount 1%
        rule either when basket.has(category = "tea" and qty >= 4 or category = "milk")
          then discount 1%
    """)
    lines = [
        ("S-1", "tea", 1, 500), ("S-1", "tea", 4, 150), ("X-1", "coffee", 2, 100),
        ("S-2", "coffee", 3, 100), ("S-1", "juice", 3, 100), ("Q", "milk", 1, 100),
        ("Z", "unknown", 5, 100), ("X-1", "unknown", 1, 100),
    ]
    seen: set[str] = set()
    for size in range(1, 4):
        for start in range(len(lines)):
            basket = tuple(
                BasketLine(*lines[(start + k * 3) % len(lines)]) for k in range(size)
            )
            seen.update(matched(compiled, txn(basket=basket), None))
    assert seen == {"pricey_tea", "two_drinks", "cheap_s1", "not_tea", "either"}
