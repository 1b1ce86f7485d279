"""The compiled matcher reads some tables by shortcuts: a general slot whose breakpoints lie
close together is read by value, a residual test of one interval keeps its bounds inline, a
member's frozenset of segments is read from the set's own table.  Each test runs both sides
of such a choice and holds them to the reference evaluator (through ``matched``)."""

from __future__ import annotations

import pytest
import tessera.ext
from tessera.engine.model import MemberState

from tests.test_matcher import WEDNESDAY_NOON, build, local, matched, txn
from tests.test_matcher_encoding import Text, fresh

INT64 = 2**63

# txn_count: breakpoints 3, 6, 9, 10, 20 (a span of 17: read by value); spend_30d: 100,
# 5000, 50000 (too wide a span: compared with each breakpoint).
CLOSE_AND_WIDE = """
    rule few when member.txn_count in 3..5 then discount 1%
    rule nine when member.txn_count = 9 then discount 1%
    rule many when member.txn_count >= 20 then discount 1%
    rule not_nine when member.txn_count != 9 and member.spend_30d >= 50.00 then discount 1%
    rule low when member.spend_30d in 1.00..49.99 then discount 1%
    rule high when member.spend_30d >= 500.00 then discount 1%
"""
COUNTS = [-(INT64 - 1), -(2**40), -1, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 19, 20, 21, 63, 64,
          2**40, INT64 - 1]
SPENDS = [0, 99, 100, 4_999, 5_000, 49_999, 50_000, 10**12]


def test_close_breakpoints_are_read_by_value_wide_ones_compared() -> None:
    compiled = build(CLOSE_AND_WIDE)
    layout = compiled.matcher.general_layout
    assert layout["dense"] == 1 and layout["quad"] == 1, layout
    seen = set()
    for count in COUNTS:
        for spend in SPENDS:
            member = MemberState("m", txn_count=count, spend_30d=spend)
            seen.update(matched(compiled, txn(), member))
    assert seen == {"few", "nine", "many", "not_nine", "low", "high"}


def test_a_block_of_several_words_reads_every_slot_by_comparison() -> None:
    """Read by value is a one-word shortcut; 70 general rules take the general path."""
    rules = CLOSE_AND_WIDE + "\n".join(
        f"rule amount{i} when amount >= {i + 1}.00 and channel != ecom then discount 1%"
        for i in range(70)
    )
    compiled = build(rules)
    assert compiled.matcher.general_layout["dense"] == 0
    for count in (-1, 3, 9, 20):
        for amount in (99, 100, 3_500, 7_000, 7_001):
            member = MemberState("m", txn_count=count, spend_30d=5_000)
            names = matched(compiled, txn(amount=amount), member)
            assert ("nine" in names) == (count == 9)
            assert sum(name.startswith("amount") for name in names) == min(amount // 100, 70)


def test_residual_tests_of_one_interval_and_of_several() -> None:
    """Under an anchor (the merchant), ``amount in ..`` is one interval and is read inline;
    a weekday set is several intervals and is searched."""
    compiled = build("""
        rule window when merchant = "M1" and amount in 10.00..20.00 then discount 1%
        rule days when merchant = "M1" and weekday in {mon, wed, fri} then discount 1%
        rule both when merchant = "M1" and amount >= 15.00 and weekday in {tue, wed}
          then discount 1%
    """)
    assert compiled.general_rows == 0
    wednesday, thursday = WEDNESDAY_NOON, local(2026, 12, 3, 12)
    expected = {
        (999, wednesday): ["days"], (1000, wednesday): ["window", "days"],
        (1500, wednesday): ["window", "days", "both"], (2000, thursday): ["window"],
        (2001, thursday): [], (2001, wednesday): ["days", "both"],
    }
    for (amount, time), names in expected.items():
        assert matched(compiled, txn(merchant="M1", amount=amount, time=time)) == names
        assert matched(compiled, txn(merchant="M2", amount=amount, time=time)) == []


SEGMENTS = """
    rule vip when "vip" in member.segments then discount 1%
    rule student when "student" in member.segments then discount 1%
    rule neither when not ("vip" in member.segments) and not ("student" in member.segments)
      then discount 1%
"""


@pytest.mark.parametrize(
    "names",
    [
        set(),
        {"vip"},
        {fresh("vip"), "other"},
        {Text("student")},
        {"vip", "student"} | {f"extra{i}" for i in range(200)},
        {1, None, ("vip",), "student"},
        {f"extra{i}" for i in range(50)},
    ],
)
def test_segments_read_from_the_frozenset_table_as_by_iteration(names: set) -> None:
    compiled = build(SEGMENTS)
    as_frozenset = matched(compiled, txn(), MemberState("m", segments=frozenset(names)))
    for other in (list(names), tuple(names), set(names)):
        member = MemberState("m", segments=frozenset())
        object.__setattr__(member, "segments", other)  # not a frozenset: iterated
        assert compiled.match(txn(), member) == compiled.match(
            txn(), MemberState("m", segments=frozenset(names))
        )
    expected = [name for name in ("vip", "student") if name in names] or ["neither"]
    assert as_frozenset == expected


def test_a_frozenset_copied_from_a_set_that_had_removals() -> None:
    """Only the live entries of the set it was made from become the frozenset's."""
    compiled = build(SEGMENTS)
    source = {f"extra{i}" for i in range(40)} | {"vip"}
    for i in range(0, 40, 2):
        source.discard(f"extra{i}")
    assert matched(compiled, txn(), MemberState("m", segments=frozenset(source))) == ["vip"]


def test_a_row_rule_that_is_negative_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results index the matcher's own ints by walk index, so tables must not hold a
    negative one; every index a row names has its int."""
    seen: list[dict] = []
    real = tessera.ext.Matcher

    def keep(tables: dict) -> object:
        seen.append(tables)
        return real(tables)

    monkeypatch.setattr(tessera.ext, "Matcher", keep)
    compiled = build(SEGMENTS)
    tables = dict(seen[0])
    rules = tables["row_rule"].copy()
    assert real(dict(tables)).match(txn(), None) == compiled.match(txn(), None) == [2]
    rules[0] = -1
    with pytest.raises(ValueError, match="negative walk index"):
        real(dict(tables, row_rule=rules))
