"""The walk's short paths and its compiled build decide exactly as its general Python path.

* ``Walker(fast=False)`` sends every rule down the general path; the usual walker takes
  a short path for one cashback or one earn to one funder, and for entries and tags alone.
* ``tessera.engine.walk`` is the Cython build where it is built; the same source loaded as
  plain Python, with and without the compiled record constructors, must agree with it.
* The walk reads basket filters itself; :class:`Reference` is the oracle for them.

Programmes come from hypothesis (rule shapes over every effect, limit, budget and funder
clause) and from the benchmark's generator; counters are consumed as decisions are made,
so limits and value caps bite along the way.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tessera.engine import decision as D
from tessera.engine import walk
from tessera.engine.compiler import compile_source
from tessera.engine.counters import MemoryCounters
from tessera.engine.dumps import dumps, jsonable
from tessera.engine.model import BasketLine, MemberState, Redeem, Transaction
from tessera.engine.reference import Reference

from bench.workload import generate_members, generate_program, generate_transactions

WALK_SOURCE = Path(walk.__file__).with_name("walk.py")
SAT_0930 = 1_796_459_400  # 2026-12-05T09:30:00+01:00
HEADER = """program p
  currency EUR
  timezone Europe/Belgrade
  points_value 100 points = 1.00
  {earn_on}
merchant_group partners = {{"M1"}}
category_group drinks = {{"coffee", "tea"}}
wallet pts points expire 365d pending 14d
wallet plain points
wallet cash money
wallet credit money spend_at partners
draw prize
"""
CATEGORIES = ("coffee", "tea", "cake", "fuel")
SKUS = ("A1", "A2", "B1")


def load_source(name: str, *, records: bool) -> ModuleType:
    """engine/walk.py imported as plain Python, optionally without engine/_records."""
    blocked = "tessera.engine._records"
    saved = sys.modules.get(blocked)
    if not records:
        sys.modules[blocked] = None  # type: ignore[assignment]  # makes the import fail
    try:
        spec = importlib.util.spec_from_file_location(f"tessera.engine.{name}", WALK_SOURCE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is not None:
            sys.modules[blocked] = saved
        else:
            sys.modules.pop(blocked, None)
    return module


PLAIN = load_source("_walk_plain", records=False)
SOURCE = load_source("_walk_source", records=True)


# ---- programmes and transactions
filters = st.sampled_from(
    [
        "category in drinks",
        'sku = "A1"',
        'category != "cake"',
        "unit_price >= 2.00",
        "qty >= 2",
        'category in drinks and not (sku in {"A2"})',
        'sku = "B1" or unit_price < 1.50',
        "not (category in drinks or qty in 3..5)",
        "",
    ]
)
percents = st.sampled_from(["1%", "2.5%", "10%", "33.33%", "100%"])
moneys = st.sampled_from(["0.01", "0.50", "1.00", "2.75", "10.00"])


@st.composite
def effects(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["discount", "cashback", "earn", "earn", "entries", "tag"]))
    base = ""
    if draw(st.booleans()):
        base = f" of basket.amount({draw(filters)})"
    cap = f" cap {draw(moneys)}" if draw(st.booleans()) else ""
    if kind == "discount":
        if draw(st.booleans()):
            return f"discount {draw(moneys)}"
        return f"discount {draw(percents)}{base}{cap}"
    if kind == "cashback":
        wallet = draw(st.sampled_from(["cash", "credit"]))
        if draw(st.booleans()):
            return f"cashback {draw(moneys)} into {wallet}"
        return f"cashback {draw(percents)}{base}{cap} into {wallet}"
    if kind == "earn":
        wallet = draw(st.sampled_from(["pts", "plain"]))
        points = draw(st.integers(1, 500))
        per = f" per {draw(moneys)}{base}" if draw(st.booleans()) else ""
        return f"earn {points} points{per} into {wallet}"
    if kind == "entries":
        return f"entries {draw(st.integers(1, 5))} into draw prize"
    return 'tag "seen"'


@st.composite
def rules(draw: st.DrawFn, number: int) -> str:
    lines = [f"rule r{number}", f"  priority {draw(st.integers(0, 3))}"]
    if draw(st.booleans()):
        lines.append(f"  when amount >= {draw(moneys)}")
    then = draw(st.lists(effects(), min_size=1, max_size=3))
    lines.append("  then " + "\n   and ".join(then))
    if draw(st.integers(0, 3)) == 0:
        period = draw(st.sampled_from(["day", "week", "month", "ever"]))
        lines.append(f"  limit {draw(st.integers(1, 3))} per member per {period}")
    if draw(st.integers(0, 2)) == 0:
        lines.append(f"  limit {draw(moneys)} value per member per month")
    budget = draw(st.integers(0, 5))
    if budget == 0:
        lines.append(f"  budget {draw(moneys)}")
    elif budget == 1:
        lines.append(f"  budget {draw(st.integers(1, 6))} uses")
    funding = draw(st.integers(0, 4))
    if funding == 0:
        lines.append("  funded_by merchant 100%")
    elif funding == 1:
        lines.append("  funded_by program 50%, merchant 30%, partner oil 20%")
    elif funding == 2:
        lines.append("  funded_by partner oil 100%")
    if draw(st.integers(0, 4)) == 0:
        lines.append(f"  group g{draw(st.integers(0, 1))} exclusive")
    if draw(st.integers(0, 9)) == 0:
        lines.append("  stop")
    return "\n".join(lines) + "\n"


@st.composite
def programmes(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 6))
    body = "".join(draw(rules(i)) for i in range(count))
    earn_on = draw(st.sampled_from(["earn_on net", "earn_on gross"]))
    return HEADER.format(earn_on=earn_on) + body


basket_lines = st.builds(
    BasketLine,
    st.sampled_from(SKUS),
    st.sampled_from(CATEGORIES),
    st.integers(1, 6),
    st.integers(1, 1_500),
)


@st.composite
def transactions(draw: st.DrawFn, number: int) -> Transaction:
    redeem = None
    if draw(st.integers(0, 4)) == 0:
        wallet = draw(st.sampled_from(["cash", "credit", "pts"]))
        redeem = Redeem(wallet, amount=draw(st.none() | st.integers(0, 3_000)))
    return Transaction(
        f"t{number}",
        SAT_0930 + draw(st.integers(0, 40 * 86_400)),
        draw(st.integers(0, 20_000)),
        draw(st.sampled_from(["m1", "m2"])),
        "EUR",
        draw(st.sampled_from(["M1", "M2"])),
        basket=tuple(draw(st.lists(basket_lines, max_size=5))),
        redeem=redeem,
    )


MEMBERS = {
    "m1": MemberState("m1", balances={"cash": 700, "credit": 300, "pts": 4_000}),
    "m2": MemberState("m2"),
}


def run(walker, compiled, txns, members) -> list[bytes]:
    """Every decision in full (its JSON and its repr), counters consumed as they come."""
    counters = MemoryCounters()
    out = []
    for txn in txns:
        member = members.get(txn.member)
        decision = walker.decide(txn, member, compiled.match(txn, member), counters)
        counters.consume(decision)
        written = orjson.dumps(decision)
        assert dumps(decision) == written  # through engine._records.plain
        assert jsonable(decision) == orjson.loads(written)
        out.append(written + repr(decision).encode())
    return out


def all_walkers(compiled):
    program, version = compiled.program, compiled.version
    return {
        "general": walk.Walker(program, version, fast=False),
        "installed": walk.Walker(program, version),
        "source": SOURCE.Walker(program, version),
        "plain": PLAIN.Walker(program, version),
        "plain general": PLAIN.Walker(program, version, fast=False),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    programmes(),
    st.integers(1, 12).flatmap(lambda n: st.tuples(*(transactions(i) for i in range(n)))),
)
def test_every_path_decides_the_same(source, txns):
    compiled = compile_source(source, "t.rules")
    results = {name: run(w, compiled, txns, MEMBERS) for name, w in all_walkers(compiled).items()}
    expected = results.pop("general")
    for name, got in results.items():
        assert got == expected, name


@pytest.mark.parametrize(("rules_count", "seed", "pool"), [(100, 3, 25), (300, 5, 10_000)])
def test_every_path_decides_the_same_on_generated_programmes(rules_count, seed, pool):
    compiled = compile_source(generate_program(rules_count, seed=seed), "g.rules")
    members = {m.member: m for m in generate_members(pool if pool < 10_000 else 2_000)}
    txns = generate_transactions(600, seed=seed, member_pool=pool)
    walkers = all_walkers(compiled)
    expected = run(walkers.pop("general"), compiled, txns, members)
    assert any(b"Usage(" in line and b"'limit'" in line for line in expected)
    for name, walker in walkers.items():
        assert run(walker, compiled, txns, members) == expected, name


def test_the_short_paths_are_taken_by_the_usual_rules():
    """A good part of the benchmark's rules give one reward to one funder."""
    compiled = compile_source(generate_program(300, seed=7), "g.rules")
    shapes = [plan.shape for plan in PLAIN.Walker(compiled.program)._plans]
    assert shapes.count(PLAIN._CASHBACK) > 20 and shapes.count(PLAIN._EARN) > 20
    assert shapes.count(PLAIN._MARKS) > 5
    general = PLAIN.Walker(compiled.program, fast=False)._plans
    assert {plan.shape for plan in general} == {PLAIN._GENERAL}


# ---- basket filters
@settings(max_examples=150, deadline=None)
@given(filters, st.lists(basket_lines, max_size=6))
def test_basket_filters_sum_as_the_reference_does(text, lines):
    source = HEADER.format(earn_on="") + (
        f"rule r\n  then cashback 1% of basket.amount({text}) into cash\n"
    )
    program = compile_source(source, "t.rules").program
    reference = Reference(program)
    basket = tuple(lines)
    for index, basket_filter in enumerate(program.filters):
        expected = reference.basket_measure("basket_amount", index, basket)
        for module in (walk, PLAIN):
            test = module._line_test(basket_filter.condition)
            assert test is not None
            assert module._filter_amount(test, basket) == expected


# ---- the compiled record constructors
records = pytest.importorskip("tessera.engine._records")


def test_records_are_genuine_equal_instances():
    built = [
        (
            records.effect("earn", 0, 5, "pts", None, None, 1, 2),
            D.EffectResult("earn", 0, 5, "pts", None, None, 1, 2),
        ),
        (records.funder_line("program", 3, 4), D.FunderLine("program", 3, 4)),
        (records.skipped("r", "stop", "x"), D.Skipped("r", "stop", "x")),
        (
            records.usage("limit", "r", "count", "day", "2026-12-05", 1, 3),
            D.Usage("limit", "r", "count", "day", "2026-12-05", 1, 3),
        ),
    ]
    effect = D.EffectResult("cashback", 7)
    built.append((records.applied("r", [effect], 7, []), D.Applied("r", [effect], 7, [])))
    built.append(
        (
            records.applied_one("r", effect, 7, "merchant:M1", 7, 0),
            D.Applied("r", [effect], 7, [D.FunderLine("merchant:M1", 7, 0)]),
        )
    )
    built.append((records.applied_unfunded("r", effect), D.Applied("r", [effect], 0, [])))
    fields = ("t", "m", "v", 10, 1, 0, [], [], [], None, {}, 5)
    built.append((records.decision(*fields), D.Decision(*fields)))
    for fast, slow in built:
        assert type(fast) is type(slow)
        assert fast == slow and repr(fast) == repr(slow)
        assert orjson.dumps(fast) == orjson.dumps(slow)
        assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    changed = dataclasses.replace(built[0][0], points=2.5)
    assert changed.points == 2.5 and changed.wallet == "pts"


def test_records_hold_their_own_references():
    value = object()
    before = sys.getrefcount(value)
    line = records.funder_line("program", value, value)
    assert sys.getrefcount(value) == before + 2
    del line
    assert sys.getrefcount(value) == before


def test_the_built_walk_is_the_one_imported():
    built = list(WALK_SOURCE.parent.glob("walk.*.so"))
    if not built:
        pytest.skip("the walk is not compiled in this checkout")
    assert walk.__file__ != str(WALK_SOURCE) and walk.__file__.endswith(".so")


def test_plain_writes_every_dataclass_as_orjson_does():
    txn = Transaction(
        "t1", SAT_0930, 1_250, "m1", "EUR", "M1",
        basket=(BasketLine("A1", "coffee", 2, 300), BasketLine("B1", "cake", 1, 650)),
        redeem=Redeem("cash", 200),
    )
    fields = tuple(getattr(txn, f.name) for f in dataclasses.fields(txn))
    assert dumps(fields) == orjson.dumps(fields)
    assert dumps({"t": txn}) == orjson.dumps({"t": txn})  # too many fields for a layout

    @dataclasses.dataclass
    class Open:  # no slots: its fields read as attributes
        a: int
        b: list = dataclasses.field(default_factory=list)

    assert dumps([Open(1, [Open(2)])]) == orjson.dumps([Open(1, [Open(2)])])
    assert records.plain(D.FunderLine("program", 3, 4)) == {
        "funder": "program", "amount": 3, "points": 4,
    }


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5)
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4),
        max_leaves=20,
    )
)
def test_jsonable_reads_back_what_orjson_writes(value):
    assert jsonable(value) == orjson.loads(orjson.dumps(value))


def test_plain_refuses_what_orjson_refuses():
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps([object()])
    with pytest.raises(TypeError):
        records.plain(D.FunderLine)  # the class, not an instance
    empty = object.__new__(D.Skipped)  # a slot never set
    with pytest.raises(AttributeError, match=r"Skipped\.rule"):
        records.plain(empty)
    for odd in ({1: "a"}, {"a": {2, 3}}, [b"x"]):
        with pytest.raises(TypeError):
            orjson.dumps(odd)
        with pytest.raises(TypeError):
            jsonable(odd)
