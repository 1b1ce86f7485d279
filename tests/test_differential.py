"""Differential tests: the compiled matcher against the reference evaluator.

Hypothesis builds random programmes as ``.rules`` text from structured choices (so a failure
shrinks to a small programme and a readable condition) and random transactions and member
states, then holds every path of the compiled matcher (``match``, ``encode_batch`` +
``match_batch``, ``match_encoded``) to the answers of :class:`Reference`.

Value domains are small on purpose: a handful of merchants, SKUs and categories, amounts
next to the thresholds the rules use, and instants around window edges, local midnights
and the 2026-10-25 / 2027-03-28 DST changes of Europe/Belgrade, so that conditions are
sometimes true and sometimes false (``test_workload_exercises_every_attribute`` checks that).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from tessera.engine import program as P
from tessera.engine.compiler import CompiledProgram, compile_source
from tessera.engine.model import BasketLine, MemberState, Transaction
from tessera.engine.reference import Reference, leaf_holds

# ---- value domains ---------------------------------------------------------------------------
# Literal domains are sorted by value so that two drawn indices, sorted, make a valid range.

AMOUNTS = ("0", "4.99", "5", "5.01", "10.00", "19.99", "20.00")
MCCS = ("5399", "5400", "5411", "5499", "5500", "5812", "5814")
DATES = (
    "2026-10-24", "2026-10-25", "2026-10-26", "2026-12-05", "2026-12-24", "2026-12-25",
    "2027-01-31", "2027-03-27", "2027-03-28", "2027-03-29",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = ("0", "1", "2", "3", "4", "9", "10", "22", "23")
MINUTES = ("0", "1", "29", "30", "59")
TIERS = ("bronze", "silver", "gold")
TXN_COUNTS = ("0", "1", "2", "5")
SPEND_30D = ("0", "50.00", "100.00", "100.01")
SPEND_12M = ("0", "499.99", "500.00", "2000.00")
DAYS_SINCE = ("0", "1", "7", "30", "150", "1000000")
DAYS_ENROLLED = ("0", "1", "30", "365")
POINTS = ("0", "99", "100", "101")
CASH = ("0", "4.99", "5.00", "5.01")
SCORES = ("0", "0.000001", "1", "1.499999", "1.5", "2", "2.5")
BASKET_QTYS = ("0", "1", "2", "3", "5")
BASKET_AMOUNTS = ("0", "2.00", "4.00", "5.00", "7.50", "10.00")
UNIT_PRICES = ("1.50", "2.00", "2.50", "5.00")
LINE_QTYS = ("1", "2", "3")

CHANNELS = ("pos", "ecom", "app")
MERCHANTS = ("M1", "M2", "M3", "M4", "M5")
TEXT_DOMAINS = {
    "currency": ("EUR", "USD", "RSD", "GBP"),
    "country": ("RS", "DE", "HR"),
    "merchant": MERCHANTS,
    "terminal": ("T1", "T2", "T3"),
    "card_bin": ("457061", "520000", "400000"),
    "member.attr.city": ("Novi Sad", "Beograd", "Niš"),
}
SKUS = ("S1", "S2", "S3")
CATEGORIES = ("coffee", "tea", "food", "snack")
SEGMENTS = ("vip", "new", "staff")

# What transactions and members carry: the domains above plus values no rule names.
TXN_AMOUNTS = (0, 499, 500, 501, 999, 1000, 1001, 1999, 2000, 2001)
TXN_MCCS = (5399, 5400, 5411, 5450, 5499, 5500, 5812, 5814, 0)
TXN_CHANNELS = (*CHANNELS, "kiosk")
TXN_TEXT = {
    "currency": ("EUR", "USD", "RSD", "CHF", ""),
    "country": ("RS", "DE", "HR", "FR", ""),
    "merchant": (*MERCHANTS, "M9", ""),
    "terminal": ("T1", "T2", "T3", "T9", ""),
    "card_bin": ("457061", "520000", "400000", "999999", ""),
}
TXN_SKUS = (*SKUS, "S9")
TXN_CATEGORIES = (*CATEGORIES, "misc")
TXN_UNIT_PRICES = (150, 200, 250, 500, 0)
MEMBER_TIERS = (None, "bronze", "silver", "gold", "platinum")
MEMBER_SEGMENTS = (*SEGMENTS, "other")
MEMBER_CITIES = ("Novi Sad", "Beograd", "Niš", "Subotica", 5)
MEMBER_SCORES = (
    1, 2, "1.5", "1.4999999", "abc", True, 1.5, "0.000001", -1, "2.50", 0,
    10**13, "-1e30",  # micro units beyond int64
)
DAY = 86_400


def _utc(*parts: int) -> int:
    return int(dt.datetime(*parts, tzinfo=dt.UTC).timestamp())


TIME_ANCHORS = (
    _utc(2026, 10, 25, 1, 0),  # DST ends: 03:00 CEST becomes 02:00 CET
    _utc(2026, 10, 24, 22, 0),  # local midnight starting Sunday 2026-10-25 (CEST)
    _utc(2026, 10, 25, 23, 0),  # local midnight starting 2026-10-26 (CET)
    _utc(2027, 3, 28, 1, 0),  # DST starts: 02:00 CET becomes 03:00 CEST
    _utc(2027, 3, 27, 23, 0),  # local midnight starting 2027-03-28 (CET)
    _utc(2027, 3, 28, 22, 0),  # local midnight starting 2027-03-29 (CEST)
    _utc(2026, 12, 5, 8, 30),  # a Saturday morning
    _utc(2026, 12, 24, 22, 59),  # the last minute of 2026-12-24
    _utc(2027, 1, 31, 22, 59, 30),  # the last minute of 2027-01-31
)
TIME_DELTAS = (0, 1, -1, 59, 60, -60, 1800, -1800, 3599, 3600, -3600, 7200, -7200, DAY, -DAY)

WINDOWS = (
    "2026-10-25 .. 2026-10-25",
    "2026-10-24 .. 2026-10-24",
    "2026-10-25T02:00 .. 2026-10-25T02:59",
    "2026-10-25T02:30 .. 2027-03-28T03:00",
    "2027-03-28 .. 2027-03-28",
    "2027-03-28T02:00 .. 2027-03-28T02:30",  # local times that do not exist
    "2026-12-01 .. 2027-01-31",
    "2027-03-27T23:00 .. 2027-03-28T01:59",
)
EFFECTS = (
    "discount 1%",
    "discount 1.00",
    "earn 10 points into pts",
    "cashback 2% into cash",
    'tag "seen"',
)
PRIORITIES = (None, 0, 1, 10, -5)

ORDER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
EQUALITY_OPS = ("=", "!=", "in", "not in")
MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}

# ---- condition strategies ------------------------------------------------------------------
# Every strategy is built once, at import: building them inside draws costs more than the
# whole compile of a small programme.


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_set(values: tuple[str, ...], ranges: bool = True) -> st.SearchStrategy[str]:
    """``{a, b..c}`` (ranges only for ordered values), or a bare range ``lo..hi``."""
    index = st.integers(0, len(values) - 1)
    single = st.sampled_from(values)

    @st.composite
    def span(draw: st.DrawFn) -> str:
        low = draw(index)
        high = draw(st.integers(low, len(values) - 1))
        return f"{values[low]}..{values[high]}"

    item = st.one_of(single, span()) if ranges else single
    sets = st.lists(item, min_size=1, max_size=3).map(lambda items: "{" + ", ".join(items) + "}")
    return st.one_of(sets, span()) if ranges else sets


def ordered_leaf(
    attr: str | st.SearchStrategy[str], values: tuple[str, ...], mirror: bool = True
) -> st.SearchStrategy[str]:
    """An ordered attribute against a value, a set or a range, with any operator."""
    attrs = st.just(attr) if isinstance(attr, str) else attr
    ops = st.sampled_from(ORDER_OPS)
    single = st.sampled_from(values)
    sets = value_set(values)
    flip = st.booleans() if mirror else st.just(False)

    @st.composite
    def leaf(draw: st.DrawFn) -> str:
        left = draw(attrs)
        op = draw(ops)
        if op in ("in", "not in"):
            return f"{left} {op} {draw(sets)}"
        value = draw(single)
        if draw(flip):
            return f"{value} {MIRROR[op]} {left}"  # written value-first: the checker mirrors it
        return f"{left} {op} {value}"

    return leaf()


def equality_leaf(
    attr: str, values: tuple[str, ...], render: Callable[[str], str]
) -> st.SearchStrategy[str]:
    """An unordered attribute: = != against one value, in / not in against a set."""
    single = st.sampled_from(values).map(render)
    sets = st.lists(single, min_size=1, max_size=3).map(lambda v: "{" + ", ".join(v) + "}")
    return st.one_of(
        st.tuples(st.sampled_from(("=", "!=")), single),
        st.tuples(st.sampled_from(("in", "not in")), sets),
    ).map(lambda pair: f"{attr} {pair[0]} {pair[1]}")


def text_leaf(attr: str, values: tuple[str, ...]) -> st.SearchStrategy[str]:
    return equality_leaf(attr, (*values, "ZZ"), quoted)


def group_leaf(attr: str, groups: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(("in", "not in")), st.sampled_from(groups)).map(
        lambda pair: f"{attr} {pair[0]} {pair[1]}"
    )


def combine(leaf: st.SearchStrategy[str], depth: int) -> st.SearchStrategy[str]:
    """A tree of ``and`` / ``or`` / ``not`` over leaves, always parenthesised.

    Nodes next to the leaves take up to three children, higher ones two, so that the
    normal form stays far below the 256-row limit of a rule (at most 81 rows at depth 3).
    """
    level = leaf
    for height in range(1, depth + 1):
        below = level
        widest = 3 if height == 1 else 2
        joined = st.tuples(
            st.sampled_from((" and ", " or ")), st.lists(below, min_size=2, max_size=widest)
        ).map(lambda pair: "(" + pair[0].join(pair[1]) + ")")
        negated = below.map(lambda text: f"not ({text})")
        # A leaf first (what shrinking goes to), a compound node twice as often.
        level = st.one_of(leaf, joined, joined, negated)
    return level


def pick(choices: tuple[st.SearchStrategy[str], ...]) -> st.SearchStrategy[str]:
    """One of ``choices``, evenly.

    Not ``st.one_of``: it flattens nested ``one_of``s into its own branches, and then draws
    the kinds made of several branches several times as often as the rest.
    """
    return st.integers(0, len(choices) - 1).flatmap(choices.__getitem__)


LINE_LEAF = pick((
    group_leaf("category", ("hot", "food")),
    text_leaf("category", CATEGORIES),
    text_leaf("sku", SKUS),
    ordered_leaf("unit_price", UNIT_PRICES),
    ordered_leaf("qty", LINE_QTYS),
))
BASKET_FILTER = st.one_of(combine(LINE_LEAF, 2), st.just(""))  # "": every line


def _basket_call(measure: str) -> st.SearchStrategy[str]:
    return BASKET_FILTER.map(lambda text: f"basket.{measure}({text})")


# Every attribute kind the language has; the first is the one a failing example shrinks to.
LEAVES: dict[str, st.SearchStrategy[str]] = {
    "amount": ordered_leaf("amount", AMOUNTS),
    "mcc": ordered_leaf("mcc", MCCS),
    "channel": equality_leaf("channel", CHANNELS, str),
    "date": ordered_leaf("date", DATES),
    "weekday": ordered_leaf("weekday", WEEKDAYS, mirror=False),
    "hour": ordered_leaf("hour", HOURS),
    "minute": ordered_leaf("minute", MINUTES),
    "currency": text_leaf("currency", TEXT_DOMAINS["currency"]),
    "country": text_leaf("country", TEXT_DOMAINS["country"]),
    "merchant": text_leaf("merchant", TEXT_DOMAINS["merchant"]),
    "terminal": text_leaf("terminal", TEXT_DOMAINS["terminal"]),
    "card_bin": text_leaf("card_bin", TEXT_DOMAINS["card_bin"]),
    "merchant_group": group_leaf("merchant", ("g1", "g2")),
    "basket_qty": ordered_leaf(_basket_call("qty"), BASKET_QTYS),
    "basket_amount": ordered_leaf(_basket_call("amount"), BASKET_AMOUNTS),
    "basket_has": _basket_call("has"),
    "category": st.one_of(
        group_leaf("category", ("hot", "food")), text_leaf("category", CATEGORIES)
    ),
    "sku": text_leaf("sku", SKUS),
    "tier": st.one_of(
        ordered_leaf("tier", TIERS, mirror=False), ordered_leaf("member.tier", TIERS, mirror=False)
    ),
    "segments": st.tuples(st.sampled_from(SEGMENTS), st.sampled_from(("in", "not in"))).map(
        lambda pair: f"{quoted(pair[0])} {pair[1]} member.segments"
    ),
    "txn_count": ordered_leaf("member.txn_count", TXN_COUNTS),
    "spend_30d": ordered_leaf("member.spend_30d", SPEND_30D),
    "spend_12m": ordered_leaf("member.spend_12m", SPEND_12M),
    "days_since_last": ordered_leaf("member.days_since_last", DAYS_SINCE),
    "days_enrolled": ordered_leaf("member.days_enrolled", DAYS_ENROLLED),
    "attr_text": text_leaf("member.attr.city", TEXT_DOMAINS["member.attr.city"]),
    "attr_number": ordered_leaf("member.attr.score", SCORES),
    "balance_points": ordered_leaf("balance(pts)", POINTS),
    "balance_money": ordered_leaf("balance(cash)", CASH),
}
RULE_LEAF = pick(tuple(LEAVES.values()))
RULE_CONDITION = combine(RULE_LEAF, 3)


# ---- programmes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    name: str
    priority: int | None
    window: str | None
    condition: str | None
    effect: str
    modifier: str | None

    def render(self) -> str:
        lines = [f"rule {self.name}"]
        if self.priority is not None:
            lines.append(f"  priority {self.priority}")
        if self.window is not None:
            lines.append(f"  active {self.window}")
        if self.condition is not None:
            lines.append(f"  when {self.condition}")
        lines.append(f"  then {self.effect}")
        if self.modifier is not None:
            lines.append(f"  {self.modifier}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ProgramSpec:
    groups: dict[str, tuple[str, ...]]
    rules: tuple[RuleSpec, ...]

    def render(self) -> str:
        head = [
            "program p",
            "  currency EUR",
            "  timezone Europe/Belgrade",
        ]
        for name, values in self.groups.items():
            kind = "merchant_group" if name.startswith("g") else "category_group"
            head.append(f"{kind} {name} = {{{', '.join(quoted(v) for v in values)}}}")
        head += [
            "wallet pts points",
            "wallet cash money",
            "draw lucky",
            "tier bronze default",
            "tier silver when spend_12m >= 500.00",
            "tier gold when spend_12m >= 2000.00",
        ]
        return "\n".join(head) + "\n\n" + "\n\n".join(r.render() for r in self.rules) + "\n"

    def walk_order(self) -> list[str]:
        """Priority (higher first), then file order: what the walk order must be."""
        ranked = sorted(enumerate(self.rules), key=lambda p: (-(p[1].priority or 0), p[0]))
        return [rule.name for _, rule in ranked]


def _rule(
    condition: str | None, window: str | None, priority: int | None, effect: str,
    modifier: str | None,
) -> RuleSpec:
    return RuleSpec("", priority, window, condition, effect, modifier)


RULE_SPEC = st.builds(
    _rule,
    condition=st.one_of(RULE_CONDITION, RULE_CONDITION, RULE_CONDITION, st.none()),
    window=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(WINDOWS)),
    priority=st.sampled_from(PRIORITIES),
    effect=st.sampled_from(EFFECTS),
    modifier=st.sampled_from((None, None, None, "stop", "group promo exclusive")),
)


def subset(values: tuple[str, ...], min_size: int, max_size: int) -> st.SearchStrategy:
    return st.lists(
        st.sampled_from(values), min_size=min_size, max_size=max_size, unique=True
    ).map(lambda chosen: tuple(sorted(chosen)))


GROUPS = st.fixed_dictionaries({
    "g1": subset(MERCHANTS, 0, 3),
    "g2": subset((*MERCHANTS, "M9"), 0, 4),
    "hot": subset(CATEGORIES, 0, 3),
    "food": subset((*CATEGORIES, "misc"), 0, 3),
})


def programs(
    max_rules: int = 12, min_rules: int = 1, rule: st.SearchStrategy[RuleSpec] = RULE_SPEC
) -> st.SearchStrategy[ProgramSpec]:
    def named(rules: list[RuleSpec]) -> tuple[RuleSpec, ...]:
        return tuple(replace(rule, name=f"r{i}") for i, rule in enumerate(rules))

    rules = st.lists(rule, min_size=min_rules, max_size=max_rules).map(named)
    return st.builds(ProgramSpec, GROUPS, rules)


# Rules of one or two leaves, for programmes large enough that the general block's bitsets
# span several 64-bit words.
SMALL_RULE_SPEC = st.builds(
    _rule,
    condition=combine(RULE_LEAF, 1),
    window=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(WINDOWS)),
    priority=st.sampled_from(PRIORITIES),
    effect=st.just("discount 1%"),
    modifier=st.none(),
)


# ---- transactions and members --------------------------------------------------------------

BASKET_LINE = st.builds(
    BasketLine,
    sku=st.sampled_from(TXN_SKUS),
    category=st.sampled_from(TXN_CATEGORIES),
    qty=st.sampled_from((1, 2, 3)),
    unit_price=st.sampled_from(TXN_UNIT_PRICES),
)
TRANSACTION = st.builds(
    Transaction,
    txn_id=st.just("t"),
    time=st.builds(
        int.__add__, st.sampled_from(TIME_ANCHORS), st.sampled_from(TIME_DELTAS)
    ),
    amount=st.sampled_from(TXN_AMOUNTS),
    member=st.just("m"),
    mcc=st.sampled_from(TXN_MCCS),
    channel=st.sampled_from(TXN_CHANNELS),
    card=st.just("c"),
    basket=st.lists(BASKET_LINE, max_size=3).map(tuple),
    **{name: st.sampled_from(values) for name, values in TXN_TEXT.items()},
)


def days_ago(days: tuple[int, ...]) -> st.SearchStrategy[int | None]:
    """None, or seconds before the transaction: whole days give or take a second."""
    exact = st.builds(
        lambda d, s: d * DAY + s, st.sampled_from(days), st.sampled_from((0, 1, -1))
    )
    return st.one_of(exact, exact, exact, st.none())


def _optional(key: str, values: tuple) -> st.SearchStrategy[dict]:
    return st.one_of(st.sampled_from(values).map(lambda v: {key: v}), st.just({}))


@dataclass(frozen=True)
class MemberDraft:
    """A member whose purchase and enrolment dates are relative to the transaction."""

    state: MemberState
    last_purchase_ago: int | None
    enrolled_ago: int | None

    def at(self, now: int) -> MemberState:
        member = self.state.copy()
        if self.last_purchase_ago is not None:
            member.last_purchase = now - self.last_purchase_ago
        if self.enrolled_ago is not None:
            member.enrolled = now - self.enrolled_ago
        return member


MEMBER_STATE = st.builds(
    MemberState,
    member=st.just("m"),
    tier=st.sampled_from(MEMBER_TIERS),
    segments=st.frozensets(st.sampled_from(MEMBER_SEGMENTS), max_size=3),
    txn_count=st.sampled_from((0, 1, 2, 5, 6)),
    spend_30d=st.sampled_from((0, 4999, 5000, 5001, 10_000, 10_001)),
    spend_12m=st.sampled_from((0, 49_999, 50_000, 199_999, 200_000)),
    attrs=st.builds(
        lambda a, b: a | b,
        _optional("city", MEMBER_CITIES),
        _optional("score", MEMBER_SCORES),
    ),
    balances=st.builds(
        lambda a, b: a | b,
        _optional("pts", (0, 99, 100, 101, 1000)),
        _optional("cash", (0, 499, 500, 501)),
    ),
)
MEMBER = st.one_of(
    st.builds(
        MemberDraft,
        MEMBER_STATE,
        days_ago((0, 1, 7, 30, 31, 150, -2)),  # -2: a purchase "after" the transaction
        days_ago((0, 1, 30, 365, 366)),
    ),
    st.builds(MemberDraft, MEMBER_STATE, days_ago((0, 1, 7, 30, 31, 150)), st.none()),
    st.none(),
)

Pair = tuple[Transaction, MemberState | None]


def traffic(max_size: int = 8) -> st.SearchStrategy[list[Pair]]:
    def resolve(drafts: list[tuple[Transaction, MemberDraft | None]]) -> list[Pair]:
        return [
            (replace(txn, txn_id=f"t{i}"), None if draft is None else draft.at(txn.time))
            for i, (txn, draft) in enumerate(drafts)
        ]

    return st.lists(st.tuples(TRANSACTION, MEMBER), min_size=1, max_size=max_size).map(resolve)


# ---- the checks -----------------------------------------------------------------------------


def batch_matches(compiled: CompiledProgram, pairs: list[Pair]) -> list[list[int]]:
    matcher = compiled.matcher
    encoded = matcher.encode_batch([t for t, _ in pairs], [m for _, m in pairs])
    assert encoded.shape == (len(pairs), max(matcher.n_slots, 1))
    offsets, rules = matcher.match_batch(encoded)
    assert offsets.tolist()[0] == 0 and len(offsets) == len(pairs) + 1
    assert offsets[-1] == len(rules)
    batch = [rules[offsets[i] : offsets[i + 1]].tolist() for i in range(len(pairs))]
    one_by_one = [matcher.match_encoded(encoded[i]) for i in range(len(pairs))]
    assert one_by_one == batch, "match_encoded disagrees with match_batch"
    return batch


def describe(pair: Pair) -> str:
    txn, member = pair
    local = dt.datetime.fromtimestamp(txn.time, dt.UTC).isoformat()
    return f"{txn} (UTC {local})\n  member={member}"


def assert_same_as_reference(source: str, pairs: list[Pair]) -> CompiledProgram:
    note(source)
    compiled = compile_source(source)
    reference = Reference(compiled.program)
    names = compiled.rule_names
    expected = [reference.match(t, m) for t, m in pairs]
    for pair, want in zip(pairs, expected, strict=True):
        got = compiled.match(*pair)
        assert got == want, (
            f"compiled {[names[i] for i in got]} != reference {[names[i] for i in want]}\n"
            f"for {describe(pair)}"
        )
    batch = batch_matches(compiled, pairs)
    for pair, got, want in zip(pairs, batch, expected, strict=True):
        assert got == want, (
            f"batch {[names[i] for i in got]} != reference {[names[i] for i in want]}\n"
            f"for {describe(pair)}"
        )
    return compiled


SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=300, **SETTINGS)
@given(spec=programs(), pairs=traffic())
def test_compiled_matches_reference(spec: ProgramSpec, pairs: list[Pair]) -> None:
    compiled = assert_same_as_reference(spec.render(), pairs)
    # Walk indices name rules in priority order, ties in file order.
    assert list(compiled.rule_names) == spec.walk_order()
    assert [rule.walk_index for rule in compiled.program.rules] == list(
        range(len(spec.rules))
    )


@settings(max_examples=60, **SETTINGS)
@given(spec=programs(max_rules=4), pairs=traffic(max_size=40))
def test_batch_of_many_transactions(spec: ProgramSpec, pairs: list[Pair]) -> None:
    """Few rules, many transactions: the batch buffer grows and rows stay independent."""
    assert_same_as_reference(spec.render(), pairs)


@settings(max_examples=15, **SETTINGS)
@given(spec=programs(min_rules=70, max_rules=100, rule=SMALL_RULE_SPEC), pairs=traffic())
def test_many_rules(spec: ProgramSpec, pairs: list[Pair]) -> None:
    """Over 64 rows in the general block: its bitsets take several words."""
    compiled = assert_same_as_reference(spec.render(), pairs)
    assert list(compiled.rule_names) == spec.walk_order()


@settings(max_examples=40, **SETTINGS)
@given(
    conditions=st.lists(combine(RULE_LEAF, 2), min_size=1, max_size=6),
    pairs=traffic(),
)
def test_one_condition_many_ways(conditions: list[str], pairs: list[Pair]) -> None:
    """The same condition as ``when``, negated twice, split over an ``or``, and negated.

    The first three rules mean the same thing, so each transaction matches all or none of
    them; the negated one matches exactly when they do not.  This holds without the
    reference: a bug that the reference shares still shows here.
    """
    rules = []
    for i, condition in enumerate(conditions):
        rules.append(
            f"rule plain_{i} when {condition} then discount 1%\n"
            f"rule double_not_{i} when not (not ({condition})) then discount 1%\n"
            f"rule split_{i} when ({condition}) and amount >= 5.00 or ({condition}) "
            f"and amount < 5.00 then discount 1%\n"
            f"rule negated_{i} when not ({condition}) then discount 1%\n"
        )
    source = (
        'program p currency EUR timezone Europe/Belgrade\n'
        'merchant_group g1 = {"M1", "M2"}\nmerchant_group g2 = {"M2", "M3"}\n'
        'category_group hot = {"coffee", "tea"}\ncategory_group food = {"food"}\n'
        "wallet pts points\nwallet cash money\n"
        "tier bronze default\ntier silver when spend_12m >= 500.00\n"
        "tier gold when spend_12m >= 2000.00\n" + "".join(rules)
    )
    compiled = assert_same_as_reference(source, pairs)
    for txn, member in pairs:
        matched = {compiled.rule_names[i] for i in compiled.match(txn, member)}
        for i in range(len(conditions)):
            trio = {f"plain_{i}", f"double_not_{i}", f"split_{i}"}
            assert len(trio & matched) in (0, 3), f"{sorted(trio & matched)} for {txn}"
            assert (f"plain_{i}" in matched) != (f"negated_{i}" in matched), txn


# ---- the workload itself must be worth testing -----------------------------------------------


def leaves_of(cond: P.Cond | None) -> list[P.Leaf]:
    if cond is None:
        return []
    if isinstance(cond, P.And | P.Or):
        return [leaf for item in cond.items for leaf in leaves_of(item)]
    if isinstance(cond, P.Not):
        return leaves_of(cond.item)
    return [cond]


def leaf_key(leaf: P.Leaf) -> str:
    attr = leaf.attr
    if isinstance(leaf, P.StrLeaf) and leaf.group is not None:
        return f"{attr.kind} in group"
    if attr.kind in ("attr", "balance"):
        return f"{attr.kind}:{attr.type}"
    return attr.kind


ALL_LEAF_KEYS = {
    "amount", "mcc", "channel", "date", "weekday", "hour", "minute", "time", "currency",
    "country", "merchant", "terminal", "card_bin", "merchant in group", "basket_qty",
    "basket_amount", "basket_has", "tier", "segments", "txn_count", "spend_30d", "spend_12m",
    "days_since_last", "days_enrolled", "attr:text", "attr:number", "balance:points",
    "balance:money",
}
ALL_LINE_KEYS = {"sku", "category", "category in group", "unit_price", "qty"}
SYNTAX = (" not in ", " in ", "..", "{", "not (", " or ", " and ", "priority -", "active ")


def test_workload_exercises_every_attribute() -> None:
    """Over a fixed sample, every kind of test is both true and false, and rules match.

    A differential test whose conditions are always false (or always true) proves nothing;
    this one fails when the value domains drift away from the thresholds the rules use.
    """
    outcomes: Counter[tuple[str, bool]] = Counter()
    stats: Counter[str] = Counter()

    @settings(max_examples=200, derandomize=True, database=None, **SETTINGS)
    @given(spec=programs(), pairs=traffic())
    def sample(spec: ProgramSpec, pairs: list[Pair]) -> None:
        source = spec.render()
        compiled = compile_source(source)
        reference = Reference(compiled.program)
        stats["programmes"] += 1
        stats.update(feature for feature in SYNTAX if feature in source)
        matched_any = False
        conditional = {r.walk_index for r in compiled.program.rules if r.condition is not None}
        for txn, member in pairs:
            matches = compiled.match(txn, member)
            matched_any |= bool(matches)
            stats["pairs"] += 1
            stats["conditional rule checks"] += len(conditional)
            stats["conditional rule matches"] += len(conditional.intersection(matches))
            for rule in compiled.program.rules:
                for leaf in leaves_of(rule.condition) + leaves_of(rule.window_leaf):
                    value = reference.value(leaf.attr, txn, member)
                    outcomes[leaf_key(leaf), leaf_holds(leaf, value)] += 1
            for filt in compiled.program.filters:
                for line in txn.basket:
                    for leaf in leaves_of(filt.condition):
                        held = leaf_holds(leaf, getattr(line, leaf.attr.kind))
                        outcomes["line " + leaf_key(leaf), held] += 1
        stats["programmes that match"] += matched_any

    sample()
    keys = ALL_LEAF_KEYS | {f"line {key}" for key in ALL_LINE_KEYS}
    seldom = {
        key: (outcomes[key, True], outcomes[key, False])
        for key in sorted(keys)
        if min(outcomes[key, True], outcomes[key, False]) < 3
    }
    assert not seldom, f"tests (true, false) counts: seldom true or seldom false: {seldom}"
    assert not [feature for feature in SYNTAX if not stats[feature]], stats
    assert stats["programmes that match"] >= 0.7 * stats["programmes"], stats
    share = stats["conditional rule matches"] / stats["conditional rule checks"]
    assert 0.15 <= share <= 0.85, f"conditional rules match {share:.0%} of the time"
