"""The tier rater gives the reference's tier for every member, on every kind of condition a
tier may read (counters, segments, days since, custom attributes, balances)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.engine.compiler import compile_source
from tessera.engine.model import MemberState
from tessera.engine.reference import Reference
from tessera.engine.tiers import TierRater

NOW = 1_796_459_400
DAY = 86_400
SOURCE = """program t
  currency EUR
  timezone Europe/Belgrade
wallet points points
wallet cash money
tier bronze default
tier silver when member.spend_12m >= 500.00 or member.txn_count in 10..20
tier gold when spend_12m >= 2000.00 and "vip" in member.segments and not (days_since_last > 30)
tier platinum when balance(points) >= 1000 and member.attr.level >= 3 and days_enrolled >= 365
tier black when spend_30d in 100.00..200.00 and member.attr.club = "x" and txn_count > 1
"""
PROGRAM = compile_source(SOURCE, "tiers.rules").program
REFERENCE = Reference(PROGRAM)
RATE = TierRater(PROGRAM)

money = st.integers(min_value=0, max_value=1_000_000)
moment = st.one_of(st.none(), st.integers(min_value=NOW - 800 * DAY, max_value=NOW))
members = st.builds(
    MemberState,
    st.just("m"),
    st.sampled_from([None, "bronze", "silver", "gold"]),
    st.frozensets(st.sampled_from(["vip", "new", "lapsed"])),
    st.integers(min_value=0, max_value=40),
    money,
    money,
    moment,
    moment,
    st.dictionaries(
        st.sampled_from(["level", "club"]),
        st.one_of(st.integers(-5, 10), st.sampled_from(["x", "y", "3"])),
    ),
    st.dictionaries(st.sampled_from(["points", "cash"]), st.integers(0, 5_000)),
)


@settings(max_examples=600, deadline=None)
@given(members)
def test_the_rater_agrees_with_the_reference(member):
    assert RATE(member, NOW) == REFERENCE.tier_for(member, NOW)


def test_each_tier_is_reached():
    vip = MemberState(
        "m", segments=frozenset({"vip"}), spend_12m=250_000, last_purchase=NOW - DAY,
    )
    platinum = MemberState(
        "m", enrolled=NOW - 400 * DAY, attrs={"level": 4}, balances={"points": 1_000},
    )
    black = MemberState("m", spend_30d=15_000, txn_count=2, attrs={"club": "x"})
    cases = [
        (MemberState("m"), "bronze"),
        (MemberState("m", txn_count=12), "silver"),
        (vip, "gold"),
        (platinum, "platinum"),
        (black, "black"),
    ]
    for member, tier in cases:
        assert RATE(member, NOW) == REFERENCE.tier_for(member, NOW) == tier
