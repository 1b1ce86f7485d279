"""The hand-written parser builds exactly the syntax tree that the lark parser builds.

``engine._fastparse.parse_fast`` takes valid files only; ``engine.parser.parse`` tries it
first and falls back to lark (which reports the errors) when it raises FastParseError.
Dataclass equality compares locations too, so every test here checks positions as well.
"""

from __future__ import annotations

import gc
import os
import random
import re
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tessera.engine import _fastparse, parser
from tessera.engine._fastparse import FastParseError, parse_fast
from tessera.engine.errors import RulesError

from bench.workload import generate_program

ROOT = Path(__file__).resolve().parents[1]
SPEC = Path("/work/shared/spec/rules-language.md")


def lark_parse(source: str, path: str = "t.rules"):
    """The lark path of ``parser.parse``, whatever the fast parser would do."""
    with mock.patch.dict(os.environ, {"TESSERA_PARSER": "lark"}):
        return parser.parse(source, path)


def lark_diagnostics(source: str, path: str = "t.rules"):
    with pytest.raises(RulesError) as info:
        lark_parse(source, path)
    return info.value.diagnostics.items


def assert_same(source: str, path: str = "t.rules") -> None:
    expected = lark_parse(source, path)
    assert parse_fast(source, path) == expected
    assert parser.parse(source, path) == expected


# ---- known programmes -----------------------------------------------------------------------


def spec_blocks() -> list[str]:
    """The rules-language code blocks of the spec (those without a language tag)."""
    if not SPEC.exists():
        return []
    blocks, current = [], None
    for line in SPEC.read_text("utf-8").splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current = (line[3:].strip(), [])
            else:
                if not current[0]:
                    blocks.append("".join(current[1]))
                current = None
        elif current is not None:
            current[1].append(line)
    return blocks


def test_spec_examples():
    blocks = spec_blocks()
    if not blocks:
        pytest.skip(f"{SPEC} is not here")
    for block in [*blocks, "\n".join(blocks)]:
        assert_same(block, "spec.rules")


@pytest.mark.parametrize(("rules", "seed"), [(1, 7), (5, 3), (61, 7), (61, 99), (150, 11)])
def test_generated_workloads(rules, seed):
    assert_same(generate_program(rules, seed=seed), "bench.rules")


def test_rules_directory():
    files = sorted((ROOT / "rules").glob("*.rules"))
    if not files:
        pytest.skip("no rules files yet")
    for file in files:
        assert_same(file.read_text("utf-8"), str(file))


def test_large_workload_round_trips_through_parse():
    """The fast path on a big file: equal to lark on a prefix, and no GC left disabled."""
    source = generate_program(2_000, seed=5)
    module = parser.parse(source, "big.rules")
    assert len([d for d in module.decls if type(d).__name__ == "RuleDecl"]) == 2_000
    head = source[: source.index("rule offer_", len(source) // 20)]
    assert_same(head, "big.rules")
    assert gc.isenabled()


# ---- small, odd but valid inputs ------------------------------------------------------------

ODD = [
    "",
    "   \n\n  # only a comment",
    "# comment\nrule r",
    "program p currency EUR timezone Europe/Belgrade points_value 100 points = 1.00 earn_on net",
    'program p\n  timezone "America/Argentina/Buenos_Aires"\n  timezone UTC # utc\n',
    "program p timezone Etc/GMT+1\r\n  currency RSD\r\n",
    "wallet points points expire 365d pending 14d\nwallet cash money spend_at partners "
    "spend_on hot_drinks",
    "wallet w money\ndraw d\ntier t default\ntier u when spend_12m >= 500.00",
    'merchant_group g = {}\ncategory_group c = {"a"}\nmerchant_group f from "partners.txt"',
    'merchant_group g={"M1","M2" ,  "M3"}',
    "rule r priority -5 priority 007 stop stop",
    "rule r active 2026-12-01..2027-01-31 active 2026-12-31T18:00 .. 2027-01-01T06:00",
    "rule r limit 3 per member limit 2 value per member per month limit 1 per member ever",
    "rule r budget 10000.00 budget 5 uses group g group h exclusive",
    "rule r funded_by merchant 50%, program 25.5%, partner bank 24.5% funded_by program 100%",
    "rule r then discount 10% of basket.amount(category in drinks) cap 3.00 and discount 2",
    "rule r then cashback 5% into w and cashback 2.50 into w and cashback 1% of amount into w",
    "rule r then earn 2 points per 1.00 of amount into points and earn 5 points into points",
    'rule r then entries 1 into draw winter and tag "a\\"b\\\\c" and tag ""',
    "rule r when a",
    "rule r when (a)",
    "rule r when ((a = 1))",
    "rule r when not not a",
    "rule r when not (a = 1) and (b or c) or d and e",
    "rule r when (a or b) and not c = d",
    "rule r when a not in {1, 2..5, x, \"y\", 2026-12-01, 2026-12-01T08:00} or b in {}",
    "rule r when a.b.c(x.y(), z()) > 5 and f(not a) and g((b))",
    "rule r when mon..fri = weekday and 7..11 != hour and \"a\"..\"b\" in x",
    "rule r when 5 = amount and \"vip\" in member.segments and 2026-12-01 <= date",
    "rule r when date in 2026-12-20..2026-12-31T23:59 and {a} = {b..c}",
    "rule r when a=1and b<=2or c>=3",
    "rule r when a\n not\tin b",
    "rule points when points = points then earn 1 points into points",
    "wallet points points\nrule money when balance(points) >= 1000 then cashback 1 into money",
    "rule r when not = 1",  # invalid: "not" is the keyword there
    "rule r when x = not and in = 1 and and = or and when = then",
    "rule r when day = per and member = exclusive then discount 1 group stop exclusive stop",
    "rule r when a in in",
    "rule r then tag \"x\" # comment\n# another\n\n\x0c\trule s",
    "rule r when a.not in b",
    "rule r when not in = 1",  # "not", then a path named "in"
]


@pytest.mark.parametrize("source", ODD)
def test_odd_but_valid(source):
    try:
        expected = lark_parse(source)
    except RulesError:
        with pytest.raises(FastParseError):
            parse_fast(source, "t.rules")
        return
    assert parse_fast(source, "t.rules") == expected


# ---- valid for lark, left to lark by the fast parser -----------------------------------------

LARK_ONLY = [
    "rule r when a not\n in b",  # NOT_IN across lines (there could be a comment)
    "rule r when a not  # c\n in b",  # ... and here is one: lark rejects it
    "rule r when a inx",  # the contextual lexer reads "in" "x"
    "wallet w pointsexpire 30d",  # ... and "points" "expire"
    "rule r then entries 1 into drawwinter",  # ... and "draw" "winter"
    "rule r limit 1 per member everypriority 5",
    "program p timezone europe/belgrade",  # a time zone that starts lower case
    "program p timezone _Foo/Bar",  # one TZNAME for lark, "_" then "Foo/Bar" here
    "rule r when " + "(" * 1000 + "a" + ")" * 1000,  # deeper than the recursion limit
    "rule r when " + "(" * 101 + "a" + ")" * 101,  # deeper than _MAX_NESTING
    "rule r when " + "basket.has(" * 101 + "a" + ")" * 101,  # ... in call arguments
]
NESTED = [  # as deep as the fast parser goes, or (not chains are a loop) much deeper
    "rule r when " + "(" * 99 + "a = 1" + ")" * 99,
    "rule r when " + "(" * 99 + "a" + ")" * 99 + " and b",
    "rule r when " + "basket.has(" * 99 + "a" + ")" * 99,
    "rule r when " + "not " * 300 + "a",
    "rule r when not (" + "not " * 50 + "(not a) or b) and not not c",
]


@pytest.mark.parametrize("source", NESTED)
def test_nested_expressions(source):
    assert parse_fast(source, "t.rules") == lark_parse(source)


@pytest.mark.parametrize("source", LARK_ONLY)
def test_left_to_lark(source):
    with pytest.raises(FastParseError):
        parse_fast(source, "t.rules")
    try:
        expected = lark_parse(source)
    except RulesError as err:
        with pytest.raises(RulesError) as info:
            parser.parse(source, "t.rules")
        assert info.value.diagnostics.items == err.diagnostics.items
    except RecursionError:  # lark's transformer recurses too; not the fast parser's job
        return
    else:
        assert parser.parse(source, "t.rules") == expected


# ---- invalid inputs: the fast parser gives up and lark reports -------------------------------

INVALID = [
    "rule",
    "rule r when",
    "rule r when a =",
    "rule r when a = 1 and",
    "rule r when (a = 1",
    "rule r when a = 1)",
    "rule r when a not b",
    "rule r when a = (b)",
    "rule r when a == 1",
    "rule r when a = 10%",
    "rule r when a = 30d",
    "rule r when a = -1",
    "rule r when a.b..c",
    "rule r when {a,}",
    "rule r when f(",
    "rule r then",
    "rule r then discount",
    "rule r then discount 10% into w",
    "rule r then discount 5 cap 3",
    "rule r then cashback 5%",
    "rule r then cashback 5 into",
    "rule r then earn 5 into points",
    "rule r then entries 1 into w",
    "rule r then tag x",
    "rule r priority 1.5",
    "rule r priority x",
    "rule r active 2026-12-01",
    "rule r active 2026-12-01 .. 5",
    "rule r limit 1",
    "rule r limit 1 per day",
    "rule r limit 1 per member per",
    "rule r limit 1 per member per year",
    "rule r budget",
    "rule r budget 5 usage",
    "rule r funded_by",
    "rule r funded_by merchant",
    "rule r funded_by merchant 50",
    "rule r funded_by merchant 50%,",
    "rule r funded_by bank 50%",
    "rule r group",
    "rule r stop now",
    "program",
    "program p currency eur",
    "program p currency EURO",
    "program p timezone 5",
    "program p timezone Etc2/GMT",
    "program p points_value 100 points 1.00",
    "program p points_value 100 = 1.00",
    "program p earn_on",
    "merchant_group g",
    "merchant_group g = {a}",
    'merchant_group g = {"a",}',
    "merchant_group g from x",
    "wallet w",
    "wallet w cash",
    "wallet w money expire 30",
    "wallet w money spend_at",
    "draw",
    "tier t",
    "tier t when",
    'rule r when a = "unterminated',
    "rule r when a = 1 ; rule s",
    "rule r when a = 1\nrule s then\nrule t when b @ c\nrule u",
    "rule r when a = 1\x0b",
    "\ufeffrule r",
    "rule r when a = b c",
    "rule r when a = b cap 3",
    "rule r when a = 1 rule",
    "rule r\nwhen a = 1\n  then discount 10% cap\nrule s",
    "when a = 1",
    "then discount 5",
    "5",
    "Rule r",
]


@pytest.mark.parametrize("source", INVALID)
def test_invalid_inputs(source):
    with pytest.raises(FastParseError):
        parse_fast(source, "t.rules")
    expected = lark_diagnostics(source)
    with pytest.raises(RulesError) as info:
        parser.parse(source, "t.rules")
    assert info.value.diagnostics.items == expected


# ---- the switch in parser.parse ----------------------------------------------------------


def test_parse_uses_the_fast_path_and_the_escape_hatch(monkeypatch):
    sentinel = object()
    monkeypatch.setattr(_fastparse, "parse_fast", lambda source, path: sentinel)
    monkeypatch.delenv("TESSERA_PARSER", raising=False)
    assert parser.parse("rule r", "t.rules") is sentinel
    monkeypatch.setenv("TESSERA_PARSER", "lark")
    assert parser.parse("rule r", "t.rules") is not sentinel


def test_plain_constructors_give_the_same_tree(monkeypatch):
    """Without the quick construction (say ast changed shape) the result is the same."""
    for name in dir(_fastparse):
        maker = getattr(_fastparse, name)
        if name.startswith("_") and name.isupper() and callable(maker):
            real = getattr(maker, "cls", None)
            if real is not None:
                monkeypatch.setattr(_fastparse, name, real)
    assert _fastparse._LOC is _fastparse.Location
    source = generate_program(8, seed=3)
    assert parse_fast(source, "p.rules") == lark_parse(source, "p.rules")


def test_garbage_collection_is_restored():
    gc.disable()
    try:
        parse_fast("rule r", "t.rules")
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(FastParseError):
        parse_fast("rule", "t.rules")
    assert gc.isenabled()


# ---- generated programmes -----------------------------------------------------------------

# Names, including keywords: the contextual lexer reads them as NAMEs where a keyword
# cannot come.  (Only "not" at the start of a condition is always the keyword.)
WORDS = [
    "a", "b", "x_1", "_y", "amount", "member", "tier", "mon", "fri", "balance", "basket",
    "points", "money", "day", "ever", "per", "exclusive", "stop", "rule", "program", "in",
    "and", "or", "of", "cap", "into", "value", "uses", "then", "when", "draw", "currency",
    "merchant", "partner", "default", "from", "earn", "tag", "not",
]
PUNCT = {"(", ")", "{", "}", ",", ".", "..", "=", "!=", "<=", ">=", "<", ">"}
SAME_LINE = object()  # marker: the next separator must not break the line

names = st.sampled_from(WORDS)
first_names = st.sampled_from([w for w in WORDS if w != "not"])
numbers = st.sampled_from(["0", "5", "5.00", "1234.5", "10", "007", "3.14159"])
percents = st.sampled_from(["10%", "2.5%", "100%", "0%"])
durations = st.sampled_from(["30d", "12h", "15m", "365d"])
dates = st.sampled_from(["2026-12-01", "2027-01-31"])
datetimes = st.sampled_from(["2026-12-31T18:00", "2027-01-01T06:00"])
strings = st.sampled_from(
    ['"M1001"', '"a b"', '""', '"a\\"b"', '"x\\\\y"', '"#no comment"', '"é"', '"\\n"']
)
literals = st.one_of(numbers, strings, dates, datetimes)
bounds = st.one_of(literals, names.map(lambda n: [n]))
comparisons = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "in", "not in"])


def flat(*parts) -> list:
    out: list = []
    for part in parts:
        if isinstance(part, list):
            out.extend(part)
        elif part is not None:
            out.append(part)
    return out


@st.composite
def ranges(draw, first=names):
    low = draw(st.one_of(literals, first.map(lambda n: [n])))
    return flat(low, "..", draw(bounds))


@st.composite
def sets(draw):
    items = draw(st.lists(st.one_of(bounds, ranges()), max_size=3))
    out: list = ["{"]
    for n, item in enumerate(items):
        out += ([","] if n else []) + flat(item)
    return [*out, "}"]


@st.composite
def paths(draw, first=names):
    out = [draw(first)]
    for _ in range(draw(st.integers(0, 2))):
        out += [".", draw(names)]
    return out


@st.composite
def operands(draw, first=names, depth=0):
    kind = draw(st.sampled_from(["path", "path", "call", "literal", "set", "range"]))
    if kind == "path":
        return draw(paths(first))
    if kind == "call":
        arg = draw(st.none() | expressions(depth + 1)) if depth < 2 else None
        return flat(draw(paths(first)), "(", arg or [], ")")
    if kind == "literal":
        return [draw(literals)]
    if kind == "set":
        return draw(sets())
    return draw(ranges(first))


@st.composite
def atoms(draw, depth=0):
    kind = draw(st.sampled_from(["compare", "compare", "truth", "not", "parens"]))
    if depth >= 2:
        kind = "compare"
    if kind == "not":
        return ["not", *draw(atoms(depth + 1))]
    if kind == "parens":
        return ["(", *draw(expressions(depth + 1)), ")"]
    left = draw(operands(first_names, depth))
    if kind == "truth":
        return left
    op = draw(comparisons)
    middle = ["not", SAME_LINE, "in"] if op == "not in" else [op]
    return flat(left, middle, draw(operands(names, depth)))


@st.composite
def expressions(draw, depth=0):
    groups = draw(st.lists(st.lists(atoms(depth), min_size=1, max_size=3), min_size=1, max_size=3))
    out: list = []
    for g, group in enumerate(groups):
        out += ["or"] if g else []
        for a, atom in enumerate(group):
            out += (["and"] if a else []) + atom
    return out


@st.composite
def effects(draw):
    kind = draw(st.sampled_from(["discount", "cashback", "earn", "entries", "tag"]))
    base = draw(st.none() | operands()) if kind in ("discount", "cashback") else None
    cap = draw(st.none() | numbers)
    into = ["into", draw(names)]
    if kind == "discount":
        if draw(st.booleans()):
            return ["discount", draw(numbers)]
        of = ["of", *base] if base else []
        return flat("discount", draw(percents), of, ["cap", cap] if cap else [])
    if kind == "cashback":
        if draw(st.booleans()):
            return ["cashback", draw(numbers), *into]
        return flat("cashback", draw(percents), ["of", *base] if base else [],
                    ["cap", cap] if cap else [], into)
    if kind == "earn":
        per = []
        if draw(st.booleans()):
            per = ["per", draw(numbers)]
            if draw(st.booleans()):
                per += ["of", *draw(operands())]
        return flat("earn", draw(numbers), "points", per, into)
    if kind == "entries":
        return ["entries", draw(numbers), "into", "draw", draw(names)]
    return ["tag", draw(strings)]


@st.composite
def clauses(draw):
    kind = draw(st.sampled_from(
        ["when", "then", "priority", "active", "limit", "budget", "funded_by", "group", "stop"]
    ))
    if kind == "when":
        return ["when", *draw(expressions())]
    if kind == "then":
        items = draw(st.lists(effects(), min_size=1, max_size=3))
        out = ["then"]
        for n, item in enumerate(items):
            out += (["and"] if n else []) + item
        return out
    if kind == "priority":
        return ["priority", draw(st.sampled_from(["0", "10", "-5", "007"]))]
    if kind == "active":
        return ["active", draw(dates | datetimes), "..", draw(dates | datetimes)]
    if kind == "limit":
        value = ["value"] if draw(st.booleans()) else []
        period = draw(st.sampled_from([[], ["day"], ["per", "week"], ["month"], ["per", "ever"]]))
        return flat("limit", draw(numbers), value, "per", "member", period)
    if kind == "budget":
        return flat("budget", draw(numbers), ["uses"] if draw(st.booleans()) else [])
    if kind == "funded_by":
        funders = draw(st.lists(st.sampled_from(["merchant", "program", "partner"]), min_size=1,
                                max_size=3))
        out = ["funded_by"]
        for n, who in enumerate(funders):
            out += ([","] if n else []) + ([who, draw(names)] if who == "partner" else [who])
            out.append(draw(percents))
        return out
    if kind == "group":
        return flat("group", draw(names), ["exclusive"] if draw(st.booleans()) else [])
    return ["stop"]


@st.composite
def declarations(draw):
    kind = draw(st.sampled_from(
        ["rule", "rule", "rule", "program", "group", "wallet", "draw", "tier"]
    ))
    if kind == "rule":
        return flat("rule", draw(names), *draw(st.lists(clauses(), max_size=6)))
    if kind == "program":
        out = ["program", draw(names)]
        for setting in draw(st.lists(st.sampled_from(["currency", "timezone", "tz", "pv", "earn"]),
                                     max_size=4)):
            out += {
                "currency": ["currency", "EUR"],
                "timezone": ["timezone", draw(st.sampled_from(
                    ["Europe/Belgrade", "UTC", "Etc/GMT+1", "utc", "America/Port-au-Prince"]
                ))],
                "tz": ["timezone", draw(strings)],
                "pv": ["points_value", draw(numbers), "points", "=", draw(numbers)],
                "earn": ["earn_on", draw(names)],
            }[setting]
        return out
    if kind == "group":
        which = draw(st.sampled_from(["merchant_group", "category_group"]))
        if draw(st.booleans()):
            return [which, draw(names), "from", draw(strings)]
        items = draw(st.lists(strings, max_size=3))
        out = [which, draw(names), "=", "{"]
        for n, item in enumerate(items):
            out += ([","] if n else []) + [item]
        return [*out, "}"]
    if kind == "wallet":
        out = ["wallet", draw(names), draw(st.sampled_from(["points", "money"]))]
        for option in draw(st.lists(st.sampled_from(["expire", "pending", "spend_at", "spend_on"]),
                                    max_size=3)):
            out += [option, draw(durations) if option in ("expire", "pending") else draw(names)]
        return out
    if kind == "draw":
        return ["draw", draw(names)]
    if draw(st.booleans()):
        return ["tier", draw(names), "default"]
    return ["tier", draw(names), "when", *draw(expressions())]


SEPARATORS = [" ", " ", " ", "  ", "\n", "\n  ", "\t", " # a comment\n", "\r\n", "\x0c", "\n\n"]
SAME_LINE_SEPARATORS = [" ", "  ", "\t", "\x0c"]


def glue_allowed(left: str, right: str) -> bool:
    """Can these two tokens touch without changing how the text splits into tokens?"""
    if left == "." and right.startswith("."):
        return False
    if left in ("<", ">", "!", "=") and right.startswith("="):
        return False
    if left[-1].isdigit() and right.startswith("."):
        return right == ".."
    if left.endswith(".") and right[0].isdigit():
        return left == ".."
    return left in PUNCT or right in PUNCT


@st.composite
def programmes(draw):
    tokens = flat(*draw(st.lists(declarations(), max_size=5)))
    out = [draw(st.sampled_from(["", "\n", "# head\n", "  "]))]
    for n, token in enumerate(tokens):
        if token is SAME_LINE:
            continue
        if n:
            if tokens[n - 1] is SAME_LINE:
                out.append(draw(st.sampled_from(SAME_LINE_SEPARATORS)))
            else:
                glue = [""] if glue_allowed(tokens[n - 1], token) else []
                out.append(draw(st.sampled_from(glue + SEPARATORS)))
        out.append(token)
    out.append(draw(st.sampled_from(["", "\n", " # tail", "\n\n"])))
    return "".join(out)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(programmes())
def test_generated_programmes(source):
    """Valid by construction: both parsers accept them and agree on every node."""
    assert parse_fast(source, "gen.rules") == lark_parse(source, "gen.rules")


# ---- mutations of valid programmes ---------------------------------------------------------

_PIECES = re.compile(r'"(?:\\.|[^"\\\n])*"|#[^\n]*|\s+|\w+|\.\.|[!<>]=|.', re.S)
_INSERTS = ["and", "or", "not", "in", "(", ")", "{", "}", ",", ".", "..", "=", "5", "5%", "30d",
            '"s"', "rule", "then", "when", "per", "points", "\n", " ", "#", "-", "@", "2026-12-01"]


def mutants(source: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces = _PIECES.findall(source)
    out = []
    for _ in range(count):
        edited = list(pieces)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(edited))
            roll = rng.random()
            if roll < 0.3:
                del edited[at]
            elif roll < 0.6:
                edited.insert(at, rng.choice(_INSERTS))
            elif roll < 0.8:
                edited[at] = rng.choice(_INSERTS)
            else:
                edited.insert(at, edited[rng.randrange(len(edited))])
        out.append("".join(edited))
    return out


def test_mutants_are_never_accepted_wrongly():
    """Whatever the fast parser accepts, lark accepts too, with the same tree."""
    base = "\n".join(spec_blocks()) or ODD[15] + "\n" + ODD[27]
    accepted = 0
    for source in mutants(base, 150, seed=2026) + mutants(generate_program(3, 4), 100, 9):
        try:
            fast = parse_fast(source, "m.rules")
        except FastParseError:
            continue
        accepted += 1
        assert fast == lark_parse(source, "m.rules"), source
    assert accepted > 10
