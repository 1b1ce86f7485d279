# cython: annotation_typing=False, boundscheck=True, wraparound=True
"""A fast, hand-written parser for *valid* rules files.

:func:`engine.parser.parse` tries :func:`parse_fast` first and falls back to the lark
parser when it raises :class:`FastParseError`; lark then produces the precise diagnostics.
The fast parser therefore only has to be right about valid input: it builds exactly the
:class:`ast.Module` that the lark path builds (same nodes, values and locations), and it
gives up on anything it does not fully understand.  Giving up is always safe, it only
costs time; accepting something lark rejects, or building a different tree, is a bug.

How it mirrors lark (LALR, contextual lexer, ``propagate_positions=True``):

* Tokens.  One regex (:data:`_SPLIT`) cuts each line into tokens, following lark's
  terminals and priorities; comments and whitespace are what lies between.  Every token
  gets a kind code from a dict (keywords, punctuation) or from its first character.  The
  parser checks at each point that the token is one the grammar allows there.  In lark's
  parse table the only state that accepts both NAME and a keyword is the start of a
  ``not_expr`` (with ``not``), and no state accepts both ``=`` and COMPARE, so everywhere
  else a word is a NAME whatever it spells.  Where the contextual lexer would cut the text
  differently (``pointsexpire`` is ``points expire`` after ``wallet w``, ``inx`` is
  ``in x`` after an operand, ``not`` and ``in`` on two lines are NOT_IN, a TZNAME glued to
  what follows), the parser gives up and lark decides.
* Locations.  A node spans its first to its last token, as lark's ``meta`` does; the
  one wrinkle is ``( expr )``: the inner node keeps its own location while the enclosing
  node's span includes the parentheses (lark's ``container_*`` positions).  So the
  expression functions return ``(node, first_token, last_token, next_index)``.
* Speed.  Rules files repeat many lines, so each distinct line is tokenized once and the
  per-token lists are built with list extensions, not Python code per token.  The frozen
  slotted dataclasses of :mod:`engine.ast` are slow to construct (``object.__setattr__``
  for every field); :func:`engine.fastclass.fast_constructor` fills in an instance of a
  plain class with the same slots and then sets its ``__class__`` to the real dataclass: a
  genuine, equal instance at about a third of the cost; where the extension is built,
  :class:`engine._untrack.SlotConstructor` fills the slots in C for half that again, and
  :class:`engine._untrack.Locations` builds a location from two token indices.  The
  garbage collector is paused during the parse, and the nodes and locations are built
  untracked (they are immutable and acyclic, see :mod:`engine._untrack`), so that no
  later collection walks them.
* Compiled.  Cython compiles this module as it stands (setup.py); where it is not built
  it runs as Python.  Compiled code does not meet Python's recursion limit, so nesting is
  bounded by :data:`_MAX_NESTING` instead, the same for both.
"""

from __future__ import annotations

import gc
import re
from itertools import accumulate, repeat

from . import ast
from .errors import Location
from .fastclass import Locations, SlotConstructor, fast_constructor, give_way, untrack

__all__ = ["FastParseError", "parse_fast"]


class FastParseError(Exception):
    """The fast parser does not accept this text; use the lark parser (it reports why)."""


# ---- fast construction of the frozen dataclasses ---------------------------------------


# What the checked programme keeps (locations, the tests' nodes, the windows) is built
# untracked (engine/_untrack.pyx); what only the checker reads (declarations, clauses,
# effects, and/or/not) is dropped with the syntax tree and stays an ordinary object.
_LOC = fast_constructor(Location, untracked=True)
_NUMBER = fast_constructor(ast.Number, untracked=True)
_STRING = fast_constructor(ast.String, untracked=True)
_DATE = fast_constructor(ast.DateLit, untracked=True)
_DATETIME = fast_constructor(ast.DateTimeLit, untracked=True)
_NAME = fast_constructor(ast.Name, untracked=True)
_RANGE = fast_constructor(ast.Range, untracked=True)
_SET = fast_constructor(ast.SetLit, untracked=True)
_PATH = fast_constructor(ast.Path, untracked=True)
_CALL = fast_constructor(ast.Call, untracked=True)
_COMPARE = fast_constructor(ast.Compare, untracked=True)
_TRUTH = fast_constructor(ast.Truth, untracked=True)
_AND = fast_constructor(ast.And)
_OR = fast_constructor(ast.Or)
_NOT = fast_constructor(ast.Not)
_DISCOUNT = fast_constructor(ast.Discount)
_CASHBACK = fast_constructor(ast.Cashback)
_EARN = fast_constructor(ast.Earn)
_ENTRIES = fast_constructor(ast.Entries)
_TAG = fast_constructor(ast.Tag)
_LIMIT = fast_constructor(ast.Limit)
_BUDGET = fast_constructor(ast.Budget)
_FUNDER = fast_constructor(ast.Funder)
_WINDOW = fast_constructor(ast.Window, untracked=True)
_RULE = fast_constructor(ast.RuleDecl)

_LOCATION_FIELDS = ("file", "line", "column", "end_line", "end_column")
_BareLocation = type("_BareLocation", (), {"__slots__": _LOCATION_FIELDS})


def _location_maker(file: str, LN: list[int], CL: list[int], EC: list[int]):
    """``loc(s, e)``: the Location from the start of token s to the end of token e."""
    make = _LOC
    if make is Location or Location.__slots__ != _LOCATION_FIELDS:  # the tricks are off

        def plain(s: int, e: int) -> Location:
            return Location(file, LN[s], CL[s], LN[e], EC[e])

        return plain
    if SlotConstructor is not None and type(make) is SlotConstructor:
        return Locations(make, file, LN, CL, EC).at  # in C, see engine/_untrack.pyx
    bare = _BareLocation
    keep = _kept if untrack is None else untrack  # see engine/_untrack.pyx

    def loc(s: int, e: int) -> Location:  # fast_constructor's Python trick, inlined
        obj = bare()
        obj.file = file
        obj.line = LN[s]
        obj.column = CL[s]
        obj.end_line = LN[e]
        obj.end_column = EC[e]
        obj.__class__ = Location
        return keep(obj)

    return loc


def _kept(obj: Location) -> Location:
    return obj

# ---- tokens --------------------------------------------------------------------------------

# Kind codes.  Every lower-case word (a NAME as far as the lexer goes) has a code >= NAME;
# the keywords get their own codes so that the parser can test them cheaply.
ERR, EOF, COMMENT, LPAR, RPAR, LBRACE, RBRACE, COMMA, DOT, DOTDOT, EQ, CMP = range(12)
STR, NUM, NEG, UWORD = range(12, 16)
NAME = 16
_KEYWORDS = (
    "and", "or", "not", "in", "when", "then", "active", "priority", "limit", "budget",
    "funded_by", "group", "stop", "rule", "program", "merchant_group", "category_group",
    "wallet", "draw", "tier", "currency", "timezone", "points_value", "earn_on", "from",
    "expire", "pending", "spend_at", "spend_on", "default", "per", "member", "value", "uses",
    "exclusive", "merchant", "partner", "discount", "cashback", "earn", "entries", "tag", "of",
    "cap", "into", "points", "money", "day", "week", "month", "ever",
)
_KW = {word: NAME + 1 + n for n, word in enumerate(_KEYWORDS)}
AND, OR, NOT, IN = _KW["and"], _KW["or"], _KW["not"], _KW["in"]
WHEN, THEN, ACTIVE, PRIORITY = _KW["when"], _KW["then"], _KW["active"], _KW["priority"]
LIMIT, BUDGET, FUNDED_BY, GROUP, STOP = (
    _KW["limit"], _KW["budget"], _KW["funded_by"], _KW["group"], _KW["stop"]
)
RULE, PROGRAM, WALLET, DRAW, TIER = (
    _KW["rule"], _KW["program"], _KW["wallet"], _KW["draw"], _KW["tier"]
)
MERCHANT_GROUP, CATEGORY_GROUP = _KW["merchant_group"], _KW["category_group"]
OF, CAP, INTO, PER, MEMBER = _KW["of"], _KW["cap"], _KW["into"], _KW["per"], _KW["member"]
VALUE, USES, EXCLUSIVE, POINTS = _KW["value"], _KW["uses"], _KW["exclusive"], _KW["points"]
DISCOUNT, CASHBACK, EARN = _KW["discount"], _KW["cashback"], _KW["earn"]
ENTRIES, TAG = _KW["entries"], _KW["tag"]
_PERIODS = frozenset((_KW["day"], _KW["week"], _KW["month"], _KW["ever"]))
_COMPARES = frozenset((EQ, CMP, IN))
_MONEY_EFFECTS = frozenset((DISCOUNT, CASHBACK))
_PATH_GOES_ON = frozenset((DOT, DOTDOT, LPAR))  # after a NAME: more than a one-word path

_KIND: dict[str, int] = dict(_KW)
_KIND.update({
    "(": LPAR, ")": RPAR, "{": LBRACE, "}": RBRACE, ",": COMMA, ".": DOT, "..": DOTDOT,
    "=": EQ, "!=": CMP, "<=": CMP, ">=": CMP, "<": CMP, ">": CMP,
    '"': ERR, "-": ERR,  # a lone quote or minus is an error token, not a string or number
})
_FIRST: dict[str, int] = dict.fromkeys("abcdefghijklmnopqrstuvwxyz_", NAME)
_FIRST.update(dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZ", UWORD))
_FIRST.update(dict.fromkeys("0123456789", NUM))
_FIRST.update({'"': STR, "-": NEG, "#": COMMENT})

# re.split with one group gives [gap, token, gap, token, ..., gap]; the gaps can only hold
# lark's WS characters because the last alternative takes any other character as a
# one-character token (which no rule accepts).  The alternatives follow lark's terminals
# and priorities: DATETIME > DATE > DURATION, PERCENT > NUMBER.  Every alternative starts
# with a literal or a character class, which lets the regex engine skip gaps quickly.
# NOT_IN is left to the parser: "not" and "in" are two words here.  The text is split one
# line at a time (no token spans lines), so a comment can only be the last token of a line.
_SPLIT = re.compile(
    "("
    r"[a-z_][a-z0-9_]*"  # NAME and keywords
    r"|\d(?:\d{3}-\d{2}-\d{2}(?:T\d{2}:\d{2})?"  # DATETIME, DATE
    r"|\d*(?:[dhm](?![a-z0-9_])|(?:\.\d+)?%?))"  # DURATION, NUMBER, PERCENT
    r'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"'  # STRING
    r"|\.\.|[!<>]=|[(){},.=<>]"  # punctuation and comparisons
    r"|-\d+"  # a negative SIGNED
    r"|[A-Z][A-Za-z0-9_]*(?:/[A-Za-z0-9_+\-]+)*"  # CURRENCY, TZNAME
    r"|#.*"  # COMMENT
    r"|[^ \t\f\r]"  # anything else: an error
    ")"
)
_CURRENCY = re.compile(r"[A-Z]{3}")
_TZNAME = re.compile(r"[A-Za-z_]+(/[A-Za-z0-9_+\-]+)*")
_ESCAPE = re.compile(r"\\(.)")
_PAD = 6  # end-of-file tokens after the last one, so that lookahead never runs off
# Expressions nested deeper than this are left to lark.  The parser recurses once per level,
# and compiled by Cython it would not meet Python's recursion limit before the C stack's.
_MAX_NESTING = 100

Tokens = tuple[list[str], list[int], list[int], list[int], list[int]]


class _Kinds(dict):
    """Token text -> kind code; texts repeat a lot, so a memo beats classifying each token."""

    def __missing__(self, text: str) -> int:
        kind = self[text] = _FIRST.get(text[0], ERR)
        return kind


class _Lines(dict):
    """Line text -> (texts, kinds, columns, end columns) of its tokens, memoized.

    Rules files repeat many lines (``funded_by merchant 100%``, ``and channel = app``),
    and columns are relative to the line, so every distinct line is split only once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.kinds = _Kinds(_KIND)

    def __missing__(self, line: str) -> tuple[list[str], list[int], list[int], list[int]]:
        pieces = _SPLIT.split(line)
        texts = pieces[1::2]
        kinds = list(map(self.kinds.__getitem__, texts))
        if kinds and kinds[-1] == COMMENT:
            del texts[-1], kinds[-1]
        n = 2 * len(texts)
        marks = list(accumulate(map(len, pieces), initial=1))  # 1-based column marks
        tokens = self[line] = (texts, kinds, marks[1:n:2], marks[2 : n + 1 : 2])
        return tokens


def _tokenize(source: str) -> Tokens:
    """Texts, kinds, lines, columns and end columns (exclusive) of every token.

    Apart from splitting each distinct line once, the work per line is a few list
    extensions, and there is no Python code per token.
    """
    T: list[str] = []
    K: list[int] = []
    LN: list[int] = []
    CL: list[int] = []
    EC: list[int] = []
    lines = map(_Lines().__getitem__, source.split("\n"))
    for number, (texts, kinds, columns, ends) in enumerate(lines, 1):
        if not number & 1023:  # a waiting thread's turn (see engine/_untrack.pyx)
            give_way()
        if texts:
            T += texts
            K += kinds
            CL += columns
            EC += ends
            LN += [number] * len(texts)
    T.extend(repeat("", _PAD))
    K.extend(repeat(EOF, _PAD))
    LN.extend(repeat(0, _PAD))
    CL.extend(repeat(0, _PAD))
    EC.extend(repeat(0, _PAD))
    return T, K, LN, CL, EC


class _Words(dict):
    """Word -> the one-word tuple ``(word,)``: the parts of a path like ``amount`` are the
    same tuple wherever it is written, not one more object for the collector per test."""

    def __missing__(self, word: str) -> tuple[str]:
        parts = self[word] = (word,)
        return parts


def _unquote(token: str) -> str:
    body = token[1:-1]
    return _ESCAPE.sub(r"\1", body) if "\\" in body else body


def _fail(index: int) -> FastParseError:
    return FastParseError(f"token {index}")


# ---- the parser ----------------------------------------------------------------------------


def parse_fast(source: str, path: str = "<rules>") -> ast.Module:
    """Parse a valid rules file; raise :class:`FastParseError` on anything else.

    The cyclic garbage collector is paused meanwhile: the parse allocates hundreds of
    thousands of objects, none of them garbage, and the full collections that their
    number would trigger on the way would take longer than the parse itself.  (The first
    young collection after the parse still walks the new tree once, as it would after any
    parser that builds it.)
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return ast.Module(path=path, source=source, decls=_parse(*_tokenize(source), path))
    except IndexError as err:  # pragma: no cover - the padding should make this impossible
        raise FastParseError("ran off the end") from err
    except RecursionError as err:  # a recursion limit set below _MAX_NESTING: leave it to lark
        raise FastParseError("nested too deep") from err
    finally:
        if collecting:
            gc.enable()


def _parse(T, K, LN, CL, EC, file):  # one function: the helpers share its locals
    """The declarations of the file, from the token lists of :func:`_tokenize`.

    Helpers return ``(node, next_index)``; expression helpers return
    ``(node, first_token, last_token, next_index)`` where first/last include parentheses.
    ``loc(s, e)`` is the location from the start of token s to the end of token e.
    """
    loc = _location_maker(file, LN, CL, EC)
    word = _Words()  # one-word path parts, one shared tuple per word

    def numeric(i):
        """The NUMBER, DATE or DATETIME literal at i (not a PERCENT or DURATION)."""
        t = T[i]
        if "-" in t:
            if len(t) == 16:
                return _DATETIME(t, loc(i, i))
            return _DATE(t, loc(i, i))
        if t[-1] in "%dhm":
            raise _fail(i)
        return _NUMBER(t, loc(i, i))

    def number(i):
        """The NUMBER token at i as an ast.Number."""
        t = T[i]
        if K[i] != NUM or "-" in t or t[-1] in "%dhm":
            raise _fail(i)
        return _NUMBER(t, loc(i, i))

    def bound(i):
        """literal | NAME at i: a set item or an end of a range."""
        k = K[i]
        if k >= NAME:
            return _NAME(T[i], loc(i, i))
        if k == NUM:
            return numeric(i)
        if k == STR:
            return _STRING(_unquote(T[i]), loc(i, i))
        raise _fail(i)

    def operand(i):
        """path | call | literal | set | range at i."""
        k = K[i]
        if k >= NAME:
            k = K[i + 1]
            if k == DOTDOT:
                low = _NAME(T[i], loc(i, i))
                return _RANGE(low, bound(i + 2), loc(i, i + 2)), i, i + 2, i + 3
            if k == DOT:
                parts = [T[i]]
                j = i + 1
                while K[j] == DOT:
                    if K[j + 1] < NAME:
                        raise _fail(j + 1)
                    parts.append(T[j + 1])
                    j += 2
                e = j - 1
                node = _PATH(tuple(parts), loc(i, e))
            else:
                j = i + 1
                e = i
                node = _PATH(word[T[i]], loc(i, i))
            if K[j] != LPAR:
                return node, i, e, j
            if K[j + 1] == RPAR:
                arg = None
                e = j + 1
            else:
                arg, _, _, e = expr(j + 1)
                if K[e] != RPAR:
                    raise _fail(e)
            return _CALL(node, arg, loc(i, e)), i, e, e + 1
        if k == STR:
            node = _STRING(_unquote(T[i]), loc(i, i))
        elif k == NUM:
            node = numeric(i)
        elif k == LBRACE:
            return set_literal(i)
        else:
            raise _fail(i)
        if K[i + 1] != DOTDOT:
            return node, i, i, i + 1
        return _RANGE(node, bound(i + 2), loc(i, i + 2)), i, i + 2, i + 3

    def set_literal(i):
        items = []
        j = i + 1
        if K[j] != RBRACE:
            while True:
                item = bound(j)
                if K[j + 1] == DOTDOT:
                    item = _RANGE(item, bound(j + 2), loc(j, j + 2))
                    j += 3
                else:
                    j += 1
                items.append(item)
                k = K[j]
                if k == COMMA:
                    j += 1
                elif k == RBRACE:
                    break
                else:
                    raise _fail(j)
        return _SET(tuple(items), loc(i, j)), i, j, j + 1

    def unary(i):
        """not_expr: not ..., ( expr ), or a comparison."""
        k = K[i]
        if k >= NAME:
            if k == NOT:  # not not ... x: a loop, so that a long chain is no deep recursion
                j = i + 1
                while K[j] == NOT:
                    j += 1
                node, _, e, after = unary(j)
                while j > i:
                    j -= 1
                    node = _NOT(node, loc(j, e))
                return node, i, e, after
            if K[i + 1] in _PATH_GOES_ON:
                left, s, e, j = operand(i)
            else:  # the usual case: a one-word path
                left = _PATH(word[T[i]], loc(i, i))
                s = e = i
                j = i + 1
        elif k == LPAR:
            node, _, _, j = expr(i + 1)
            if K[j] != RPAR:
                raise _fail(j)
            return node, i, j, j + 1
        else:
            left, s, e, j = operand(i)
        k = K[j]
        if k in _COMPARES:
            op = T[j]
        elif k == NOT and K[j + 1] == IN and LN[j + 1] == LN[j]:
            # lark's NOT_IN is /not\s+in\b/: only whitespace between (across lines there
            # could be a comment; that rare case is left to lark)
            op = "not in"
            j += 1
        else:
            return _TRUTH(left, left.loc), s, e, j
        j += 1
        k = K[j]
        if k == STR and K[j + 1] != DOTDOT:
            right = _STRING(_unquote(T[j]), loc(j, j))
            e = j
            j += 1
        elif k == NUM and K[j + 1] != DOTDOT:
            right = numeric(j)
            e = j
            j += 1
        else:
            right, _, e, j = operand(j)
        here = loc(s, e)
        return _COMPARE(left, op, right, here), s, e, j

    depth = 0  # expressions open around the current one: ( expr ) and call arguments

    def expr(i):
        """An or_expr nested in ``depth`` others; past _MAX_NESTING it is left to lark."""
        nonlocal depth
        if depth >= _MAX_NESTING:
            raise _fail(i)
        depth += 1
        found = or_expr(i)
        depth -= 1
        return found

    def or_expr(i):
        """or_expr: not_exprs joined by and, and those groups joined by or."""
        node, s, e, i = unary(i)
        k = K[i]
        if k != AND and k != OR:
            return node, s, e, i
        items = []
        group = [node]
        gs = s
        while True:
            if k == AND:
                node, _, e, i = unary(i + 1)
                group.append(node)
            else:
                if len(group) == 1:
                    items.append(group[0])
                else:
                    here = loc(gs, e)
                    items.append(_AND(tuple(group), here))
                if k != OR:
                    break
                node, gs, e, i = unary(i + 1)
                group = [node]
            k = K[i]
        if len(items) == 1:
            return items[0], s, e, i
        return _OR(tuple(items), loc(s, e)), s, e, i

    def base_and_cap(i):
        """[of operand] [cap NUMBER] at i -> (base, cap, next)."""
        base = cap = None
        if K[i] == OF:
            base, _, _, i = operand(i + 1)
        if K[i] == CAP:
            cap = number(i + 1)
            i += 2
        return base, cap, i

    def into(i):
        """into NAME at i -> (name, next)."""
        if K[i] != INTO or K[i + 1] < NAME:
            raise _fail(i)
        return T[i + 1], i + 2

    def effect(i):
        k = K[i]
        s = i
        if k in _MONEY_EFFECTS:
            t = T[i + 1]
            if K[i + 1] != NUM or "-" in t or t[-1] in "dhm":
                raise _fail(i + 1)
            if t[-1] == "%":
                base, cap, i = base_and_cap(i + 2)
                if k == DISCOUNT:
                    return _DISCOUNT(t, None, base, cap, loc(s, i - 1)), i
                wallet, i = into(i)
                return _CASHBACK(t, None, base, cap, wallet, loc(s, i - 1)), i
            if k == DISCOUNT:
                return _DISCOUNT(None, t, None, None, loc(s, i + 1)), i + 2
            wallet, i = into(i + 2)
            return _CASHBACK(None, t, None, None, wallet, loc(s, i - 1)), i
        if k == EARN:
            points = number(i + 1)
            if K[i + 2] != POINTS:
                raise _fail(i + 2)
            i += 3
            per = base = None
            if K[i] == PER:
                per = number(i + 1)
                i += 2
                if K[i] == OF:
                    base, _, _, i = operand(i + 1)
            wallet, i = into(i)
            return _EARN(points, per, base, wallet, loc(s, i - 1)), i
        if k == ENTRIES:
            count = number(i + 1)
            if K[i + 2] != INTO or K[i + 3] != DRAW or K[i + 4] < NAME:
                raise _fail(i + 2)
            return _ENTRIES(count, T[i + 4], loc(s, i + 4)), i + 5
        if k == TAG:
            if K[i + 1] != STR:
                raise _fail(i + 1)
            return _TAG(_unquote(T[i + 1]), loc(s, i + 1)), i + 2
        raise _fail(i)

    def funder(i):
        t = T[i]
        if t == "partner":
            if K[i + 1] < NAME:
                raise _fail(i + 1)
            name = T[i + 1]
            j = i + 2
        elif t == "merchant" or t == "program":
            name = t
            j = i + 1
        else:
            raise _fail(i)
        pct = T[j]
        if K[j] != NUM or pct[-1] != "%":
            raise _fail(j)
        return _FUNDER(t, name, pct, loc(i, j)), j + 1

    def rule(i):
        s = i
        if K[i + 1] < NAME:
            raise _fail(i + 1)
        name = T[i + 1]
        i += 2
        priority = window = condition = budget = group = None
        effects = ()
        exclusive = stop = False
        limits = []
        funders = []
        seen = []
        while True:
            k = K[i]
            c = i
            if k == WHEN:
                condition, _, e, i = expr(i + 1)
                here = loc(c, e)
                seen.append(("condition", here))
            elif k == THEN:
                node, i = effect(i + 1)
                if K[i] == AND:
                    items = [node]
                    while K[i] == AND:
                        node, i = effect(i + 1)
                        items.append(node)
                    effects = tuple(items)
                else:
                    effects = (node,)
                e = i - 1
                here = loc(c, e)
                seen.append(("effects", here))
            elif k == ACTIVE:
                start = T[i + 1]
                end = T[i + 3]
                if (
                    K[i + 1] != NUM or "-" not in start or K[i + 2] != DOTDOT
                    or K[i + 3] != NUM or "-" not in end
                ):
                    raise _fail(i)
                start = (_DATETIME if len(start) == 16 else _DATE)(start, loc(i + 1, i + 1))
                end = (_DATETIME if len(end) == 16 else _DATE)(end, loc(i + 3, i + 3))
                e = i + 3
                i += 4
                here = loc(c, e)
                window = _WINDOW(start, end, here)
                seen.append(("window", here))
            elif k == LIMIT:
                amount = number(i + 1)
                by_value = K[i + 2] == VALUE
                j = i + 3 if by_value else i + 2
                if K[j] != PER or K[j + 1] != MEMBER:
                    raise _fail(j)
                j += 2
                k = K[j]
                if k == PER:
                    j += 1
                    k = K[j]
                    if k not in _PERIODS:
                        raise _fail(j)
                if k in _PERIODS:
                    period = T[j]
                    i = j + 1
                else:
                    period = "ever"
                    i = j
                e = i - 1
                here = loc(c, e)
                limits.append(_LIMIT(amount, by_value, period, here))
                seen.append(("limit", here))
            elif k == FUNDED_BY:
                node, i = funder(i + 1)
                funders.append(node)
                while K[i] == COMMA:
                    node, i = funder(i + 1)
                    funders.append(node)
                e = i - 1
                here = loc(c, e)
                seen.append(("funded_by", here))
            elif k == PRIORITY:
                t = T[i + 1]
                k = K[i + 1]
                if not (k == NEG or (k == NUM and t.isdecimal())):
                    raise _fail(i + 1)
                priority = int(t)
                i += 2
                seen.append(("priority", loc(c, i - 1)))
            elif k == BUDGET:
                amount = number(i + 1)
                uses = K[i + 2] == USES
                i += 3 if uses else 2
                here = loc(c, i - 1)
                budget = _BUDGET(amount, uses, here)
                seen.append(("budget", here))
            elif k == GROUP:
                if K[i + 1] < NAME:
                    raise _fail(i + 1)
                group = T[i + 1]
                exclusive = K[i + 2] == EXCLUSIVE
                i += 3 if exclusive else 2
                seen.append(("group", loc(c, i - 1)))
            elif k == STOP:
                stop = True
                i += 1
                seen.append(("stop", loc(c, c)))
            else:
                break
        return _RULE(
            name, priority, window, condition, effects, tuple(limits), budget, tuple(funders),
            group, exclusive, stop, loc(s, i - 1), tuple(seen),
        ), i

    def program(i):
        s = i
        if K[i + 1] < NAME:
            raise _fail(i + 1)
        name = T[i + 1]
        i += 2
        settings = []
        while True:
            key = T[i]
            value = T[i + 1]
            k = K[i + 1]
            e = i + 1
            if key == "currency":
                if k != UWORD or not _CURRENCY.fullmatch(value):
                    raise _fail(e)
                values = (value,)
            elif key == "timezone":
                if k == STR:
                    value = _unquote(value)
                # a TZNAME could swallow what is glued to it: leave that to lark
                elif not ((k == UWORD or k >= NAME) and _TZNAME.fullmatch(value)) or (
                    LN[e + 1] == LN[e] and CL[e + 1] == EC[e]
                ):
                    raise _fail(e)
                values = (value,)
            elif key == "points_value":
                points = number(i + 1)
                if K[i + 2] != POINTS or K[i + 3] != EQ:
                    raise _fail(i + 2)
                e = i + 4
                values = (points.text, number(e).text)
            elif key == "earn_on":
                if k < NAME:
                    raise _fail(e)
                values = (value,)
            else:
                break
            settings.append(ast.Setting(key, values, loc(i, e)))
            i = e + 1
        return ast.ProgramDecl(name, tuple(settings), loc(s, i - 1)), i

    def group_decl(i, kind):
        s = i
        if K[i + 1] < NAME:
            raise _fail(i + 1)
        name = T[i + 1]
        if K[i + 2] == EQ:
            if K[i + 3] != LBRACE:
                raise _fail(i + 3)
            j = i + 4
            values = []
            if K[j] != RBRACE:
                while True:
                    if K[j] != STR:
                        raise _fail(j)
                    values.append(ast.String(_unquote(T[j]), loc(j, j)))
                    j += 1
                    if K[j] == RBRACE:
                        break
                    if K[j] != COMMA:
                        raise _fail(j)
                    j += 1
            return ast.GroupDecl(kind, name, tuple(values), None, loc(s, j)), j + 1
        if T[i + 2] == "from" and K[i + 3] == STR:
            j = i + 3
            source_file = ast.String(_unquote(T[j]), loc(j, j))
            return ast.GroupDecl(kind, name, None, source_file, loc(s, j)), j + 1
        raise _fail(i + 2)

    def wallet(i):
        s = i
        if K[i + 1] < NAME:
            raise _fail(i + 1)
        name = T[i + 1]
        kind = T[i + 2]
        if kind != "points" and kind != "money":
            raise _fail(i + 2)
        i += 3
        options = []
        while True:
            key = T[i]
            value = T[i + 1]
            if key == "expire" or key == "pending":
                if K[i + 1] != NUM or value[-1] not in "dhm":
                    raise _fail(i + 1)
                options.append((key, value, loc(i, i + 1)))
            elif key == "spend_at" or key == "spend_on":
                if K[i + 1] < NAME:
                    raise _fail(i + 1)
                options.append((key, value, loc(i + 1, i + 1)))
            else:
                break
            i += 2
        return ast.WalletDecl(name, kind, tuple(options), loc(s, i - 1)), i

    def tier(i):
        if K[i + 1] < NAME:
            raise _fail(i + 1)
        name = T[i + 1]
        key = T[i + 2]
        if key == "default":
            return ast.TierDecl(name, True, None, loc(i, i + 2)), i + 3
        if key != "when":
            raise _fail(i + 2)
        condition, _, e, j = expr(i + 3)
        return ast.TierDecl(name, False, condition, loc(i, e)), j

    decls = []
    append = decls.append
    i = 0
    while True:
        k = K[i]
        if k == RULE:
            node, i = rule(i)
        elif k == EOF:
            break
        elif k == MERCHANT_GROUP:
            node, i = group_decl(i, "merchant")
        elif k == CATEGORY_GROUP:
            node, i = group_decl(i, "category")
        elif k == PROGRAM:
            node, i = program(i)
        elif k == WALLET:
            node, i = wallet(i)
        elif k == TIER:
            node, i = tier(i)
        elif k == DRAW:
            if K[i + 1] < NAME:
                raise _fail(i + 1)
            node = ast.DrawDecl(T[i + 1], loc(i, i + 1))
            i += 2
        else:
            raise _fail(i)
        append(node)
    if i != len(T) - _PAD:
        raise _fail(i)
    return tuple(decls)
