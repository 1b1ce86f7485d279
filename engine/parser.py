"""Text to syntax tree: one cached LALR parser over ``grammar.lark``, a Transformer that
builds the dataclasses of :mod:`engine.ast`, and syntax errors as diagnostics.

A syntax error does not end the report: parsing resumes at the next declaration that starts
a line, so one typo does not hide the problems in every rule after it.
"""

from __future__ import annotations

import os
import re
from functools import cache
from importlib import resources

import lark
from lark import Transformer, v_args

from . import _fastparse, ast
from .errors import Diagnostic, Diagnostics, Location, RulesError

MAX_SYNTAX_ERRORS = 20
_DECL_START = re.compile(
    r"^(program|rule|wallet|tier|draw|merchant_group|category_group)\b", re.MULTILINE
)
_FRIENDLY = {
    "NAME": "a name",
    "NUMBER": "a number",
    "SIGNED": "a whole number",
    "STRING": 'a "string"',
    "PERCENT": "a percent like 10%",
    "DURATION": "a duration like 30d",
    "DATE": "a date like 2026-12-01",
    "DATETIME": "a date-time like 2026-12-01T08:00",
    "CURRENCY": "a currency code like EUR",
    "TZNAME": "a time zone like Europe/Belgrade",
    "COMPARE": "a comparison (= != < <= > >= in)",
    "NOT_IN": "'not in'",
    "WALLET_KIND": "points or money",
    "PERIOD": "day, week, month or ever",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "EQUAL": "'='",
    "__ANON_0": "'..'",
    "DOT": "'.'",
    "LSQB": "'['",
    "RSQB": "']'",
    "EXCLUSIVE": "'exclusive'",
    "STOP": "'stop'",
    "$END": "the end of the file",
}


@cache
def _parser() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text("utf-8")
    return lark.Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=False,
    )


def _describe_expected(expected: set[str]) -> str:
    names = set()
    for term in expected:
        if term in _FRIENDLY:
            names.add(_FRIENDLY[term])
        elif term.isupper() and not term.startswith("__"):
            names.add(repr(term.lower()))
    if not names:
        return ""
    ordered = sorted(names)
    if len(ordered) > 8:
        ordered = [*ordered[:8], "..."]
    return "; expected " + ", ".join(ordered)


def _syntax_diagnostic(
    path: str, lines: list[str], err: lark.exceptions.UnexpectedInput
) -> Diagnostic:
    line, column = err.line, err.column
    if isinstance(err, lark.exceptions.UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            message = "unexpected end of file" + _describe_expected(err.expected)
            line = max(len(lines), 1)
            column = len(lines[-1]) + 1 if lines else 1
        else:
            message = f"unexpected {tok.value!r}" + _describe_expected(err.expected)
        end_col = column + max(len(str(tok.value)), 1) if tok.type != "$END" else column + 1
    elif isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = err.char
        message = f"unexpected character {char!r}" + _describe_expected(err.allowed)
        end_col = column + 1
    else:  # pragma: no cover - lark raises only the two above for LALR
        message = str(err)
        end_col = column + 1
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    return Diagnostic(
        "error", "E100", message, Location(path, line, column, line, end_col), source_line
    )


def parse(source: str, path: str = "<rules>") -> ast.Module:
    """Parse ``source``; raise :class:`RulesError` holding every syntax error found."""
    # The hand-written parser takes valid files ~50x faster; on anything it does not
    # accept, lark below decides and reports.  TESSERA_PARSER=lark skips the fast path.
    if os.environ.get("TESSERA_PARSER") != "lark":
        try:
            return _fastparse.parse_fast(source, path)
        except _fastparse.FastParseError:
            pass
    parser = _parser()
    lines = source.splitlines()
    diagnostics = Diagnostics()
    decls: list[ast.Decl] = []
    offset = 0
    text = source
    while True:
        try:
            tree = parser.parse(text)
        except lark.exceptions.UnexpectedInput as err:
            diagnostics.add(_syntax_diagnostic(path, lines, err))
            if len(diagnostics.items) >= MAX_SYNTAX_ERRORS:
                break
            # Resume at the next declaration that starts a line after the error.
            error_pos = _position(lines, err.line, err.column)
            match = _DECL_START.search(source, max(error_pos + 1, offset + 1))
            if match is None:
                break
            offset = match.start()
            # Blank out what came before so that line and column numbers stay true.
            text = re.sub(r"[^\n]", " ", source[:offset]) + source[offset:]
            continue
        if not diagnostics.items:
            decls = list(_Builder(path).transform(tree).children)
        break
    if diagnostics.items:
        raise RulesError(diagnostics)
    return ast.Module(path=path, source=source, decls=tuple(decls))


def _position(lines: list[str], line: int, column: int) -> int:
    if line <= 0:
        return 0
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


def _loc_of(path: str, meta_or_tok: object) -> Location:
    return Location(
        path,
        getattr(meta_or_tok, "line", 0) or 0,
        getattr(meta_or_tok, "column", 0) or 0,
        getattr(meta_or_tok, "end_line", 0) or 0,
        getattr(meta_or_tok, "end_column", 0) or 0,
    )


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


@v_args(meta=True)
class _Builder(Transformer):
    """Builds :mod:`engine.ast` nodes; every node gets the location of its text."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._file = path

    def _loc(self, meta: object) -> Location:
        return _loc_of(self._file, meta)

    # ---- programme
    def program(self, meta, children):
        name, *settings = children
        return ast.ProgramDecl(str(name), tuple(settings), self._loc(meta))

    def set_currency(self, meta, children):
        return ast.Setting("currency", (str(children[0]),), self._loc(meta))

    def set_timezone(self, meta, children):
        tok = children[0]
        value = _unquote(tok) if tok.type == "STRING" else str(tok)
        return ast.Setting("timezone", (value,), self._loc(meta))

    def set_points_value(self, meta, children):
        return ast.Setting("points_value", (str(children[0]), str(children[1])), self._loc(meta))

    def set_earn_on(self, meta, children):
        return ast.Setting("earn_on", (str(children[0]),), self._loc(meta))

    # ---- groups
    def merchant_group(self, meta, children):
        return self._group("merchant", meta, children)

    def category_group(self, meta, children):
        return self._group("category", meta, children)

    def _group(self, kind, meta, children):
        name, (source_kind, payload) = children
        if source_kind == "inline":
            return ast.GroupDecl(kind, str(name), payload, None, self._loc(meta))
        return ast.GroupDecl(kind, str(name), None, payload, self._loc(meta))

    def group_inline(self, meta, children):
        return (
            "inline",
            tuple(
                ast.String(_unquote(t), _loc_of(self._file, t)) for t in children if t is not None
            ),
        )

    def group_file(self, meta, children):
        tok = children[0]
        return ("file", ast.String(_unquote(tok), _loc_of(self._file, tok)))

    # ---- wallets, draws, tiers
    def wallet(self, meta, children):
        name, kind, *options = children
        return ast.WalletDecl(str(name), str(kind), tuple(options), self._loc(meta))

    def opt_expire(self, meta, children):
        return ("expire", str(children[0]), self._loc(meta))

    def opt_pending(self, meta, children):
        return ("pending", str(children[0]), self._loc(meta))

    def opt_spend_at(self, meta, children):
        return ("spend_at", str(children[0]), _loc_of(self._file, children[0]))

    def opt_spend_on(self, meta, children):
        return ("spend_on", str(children[0]), _loc_of(self._file, children[0]))

    def draw(self, meta, children):
        return ast.DrawDecl(str(children[0]), self._loc(meta))

    def tier_default(self, meta, children):
        return ast.TierDecl(str(children[0]), True, None, self._loc(meta))

    def tier_when(self, meta, children):
        return ast.TierDecl(str(children[0]), False, children[1], self._loc(meta))

    # ---- rules
    def rule(self, meta, children):
        name, *clauses = children
        fields: dict[str, object] = {
            "priority": None,
            "window": None,
            "condition": None,
            "effects": (),
            "budget": None,
            "group": None,
            "exclusive": False,
            "stop": False,
        }
        limits: list[ast.Limit] = []
        funders: list[ast.Funder] = []
        seen: list[tuple[str, Location]] = []
        for key, value, loc in clauses:
            seen.append((key, loc))
            if key == "limit":
                limits.append(value)
            elif key == "funded_by":
                funders.extend(value)
            elif key == "group":
                fields["group"], fields["exclusive"] = value
            else:
                fields[key] = value
        return ast.RuleDecl(
            name=str(name),
            limits=tuple(limits),
            funders=tuple(funders),
            loc=self._loc(meta),
            clause_locs=tuple(seen),
            **fields,
        )

    def c_priority(self, meta, children):
        return ("priority", int(children[0]), self._loc(meta))

    def c_active(self, meta, children):
        start, end = (self._moment(t) for t in children)
        return ("window", ast.Window(start, end, self._loc(meta)), self._loc(meta))

    def _moment(self, tok):
        loc = _loc_of(self._file, tok)
        if tok.type == "DATETIME":
            return ast.DateTimeLit(str(tok), loc)
        return ast.DateLit(str(tok), loc)

    def c_when(self, meta, children):
        return ("condition", children[0], self._loc(meta))

    def c_then(self, meta, children):
        return ("effects", tuple(children), self._loc(meta))

    def c_limit_count(self, meta, children):
        return self._limit(meta, children, by_value=False)

    def c_limit_value(self, meta, children):
        return self._limit(meta, children, by_value=True)

    def _limit(self, meta, children, by_value):
        amount, period = children
        number = ast.Number(str(amount), _loc_of(self._file, amount))
        limit = ast.Limit(
            number, by_value, str(period) if period is not None else "ever", self._loc(meta)
        )
        return ("limit", limit, self._loc(meta))

    def c_budget_value(self, meta, children):
        tok = children[0]
        number = ast.Number(str(tok), _loc_of(self._file, tok))
        return ("budget", ast.Budget(number, False, self._loc(meta)), self._loc(meta))

    def c_budget_uses(self, meta, children):
        tok = children[0]
        number = ast.Number(str(tok), _loc_of(self._file, tok))
        return ("budget", ast.Budget(number, True, self._loc(meta)), self._loc(meta))

    def c_funded_by(self, meta, children):
        return ("funded_by", tuple(children), self._loc(meta))

    def c_group(self, meta, children):
        name, exclusive = children
        return ("group", (str(name), exclusive is not None), self._loc(meta))

    def c_stop(self, meta, children):
        return ("stop", True, self._loc(meta))

    def period(self, meta, children):
        return children[-1]

    def funder_merchant(self, meta, children):
        return ast.Funder("merchant", "merchant", str(children[0]), self._loc(meta))

    def funder_program(self, meta, children):
        return ast.Funder("program", "program", str(children[0]), self._loc(meta))

    def funder_partner(self, meta, children):
        return ast.Funder("partner", str(children[0]), str(children[1]), self._loc(meta))

    # ---- effects
    def e_discount_pct(self, meta, children):
        pct, base, cap = children
        return ast.Discount(str(pct), None, base, cap, self._loc(meta))

    def e_discount_fixed(self, meta, children):
        return ast.Discount(None, str(children[0]), None, None, self._loc(meta))

    def e_cashback_pct(self, meta, children):
        pct, base, cap, wallet = children
        return ast.Cashback(str(pct), None, base, cap, str(wallet), self._loc(meta))

    def e_cashback_fixed(self, meta, children):
        amount, wallet = children
        return ast.Cashback(None, str(amount), None, None, str(wallet), self._loc(meta))

    def e_earn(self, meta, children):
        points, per, wallet = children
        per_amount, base = per if per is not None else (None, None)
        number = ast.Number(str(points), _loc_of(self._file, points))
        return ast.Earn(number, per_amount, base, str(wallet), self._loc(meta))

    def e_entries(self, meta, children):
        count, draw = children
        return ast.Entries(
            ast.Number(str(count), _loc_of(self._file, count)), str(draw), self._loc(meta)
        )

    def e_tag(self, meta, children):
        return ast.Tag(_unquote(children[0]), self._loc(meta))

    def base(self, meta, children):
        return children[0]

    def cap(self, meta, children):
        tok = children[0]
        return ast.Number(str(tok), _loc_of(self._file, tok))

    def per(self, meta, children):
        tok, base = children
        return (ast.Number(str(tok), _loc_of(self._file, tok)), base)

    # ---- conditions
    def or_(self, meta, children):
        return children[0] if len(children) == 1 else ast.Or(tuple(children), self._loc(meta))

    def and_(self, meta, children):
        return children[0] if len(children) == 1 else ast.And(tuple(children), self._loc(meta))

    def not_(self, meta, children):
        return ast.Not(children[0], self._loc(meta))

    def comparison(self, meta, children):
        if len(children) == 1 or children[1] is None:
            return ast.Truth(children[0], self._loc(meta))
        left, op, right = children
        return ast.Compare(left, str(op), right, self._loc(meta))

    def not_in(self, meta, children):
        left, _op, right = children
        return ast.Compare(left, "not in", right, self._loc(meta))

    def path(self, meta, children):
        return ast.Path(tuple(str(c) for c in children), self._loc(meta))

    def call(self, meta, children):
        func, arg = children
        return ast.Call(func, arg, self._loc(meta))

    def set(self, meta, children):
        return ast.SetLit(tuple(c for c in children if c is not None), self._loc(meta))

    def range(self, meta, children):
        return ast.Range(children[0], children[1], self._loc(meta))

    def number(self, meta, children):
        return ast.Number(str(children[0]), self._loc(meta))

    def string(self, meta, children):
        return ast.String(_unquote(children[0]), self._loc(meta))

    def date(self, meta, children):
        return ast.DateLit(str(children[0]), self._loc(meta))

    def datetime(self, meta, children):
        return ast.DateTimeLit(str(children[0]), self._loc(meta))

    def name(self, meta, children):
        return ast.Name(str(children[0]), self._loc(meta))

    def start(self, meta, children):
        return lark.Tree("start", children)
