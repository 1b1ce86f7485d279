"""The syntax tree of a rules file: frozen dataclasses, each with its source location.

Literals keep their text: what ``5`` means (5.00 of money, 5 points, hour 5) is only known
once the checker sees what it is compared with, and its errors must point at the literal.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Location

# ---- conditions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    text: str
    loc: Location


@dataclass(frozen=True, slots=True)
class String:
    value: str
    loc: Location


@dataclass(frozen=True, slots=True)
class DateLit:
    text: str
    loc: Location


@dataclass(frozen=True, slots=True)
class DateTimeLit:
    text: str
    loc: Location


@dataclass(frozen=True, slots=True)
class Name:
    """A bare word inside a set or range: a weekday, a tier, a channel."""

    name: str
    loc: Location


@dataclass(frozen=True, slots=True)
class Range:
    low: Literal
    high: Literal
    loc: Location


@dataclass(frozen=True, slots=True)
class SetLit:
    items: tuple[Literal | Range, ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class Path:
    """``amount``, ``member.spend_12m``, ``member.attr.city`` or a bare group/tier name."""

    parts: tuple[str, ...]
    loc: Location

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Call:
    """``basket.qty(FILTER)``, ``basket.amount(FILTER)``, ``basket.has(FILTER)``, ``balance(W)``."""

    func: Path
    arg: Expr | None
    loc: Location


Literal = Number | String | DateLit | DateTimeLit | Name
Operand = Path | Call | Number | String | DateLit | DateTimeLit | Name | SetLit | Range


@dataclass(frozen=True, slots=True)
class Compare:
    left: Operand
    op: str  # = != < <= > >= in, "not in"
    right: Operand
    loc: Location


@dataclass(frozen=True, slots=True)
class Truth:
    """An operand used as a condition on its own, such as ``basket.has(sku in {"A"})``."""

    operand: Operand
    loc: Location


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr
    loc: Location


Expr = Compare | Truth | And | Or | Not

# ---- effects ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discount:
    percent: str | None  # "10%" or None for a fixed amount
    amount: str | None  # "2.00" for a fixed discount
    base: Operand | None
    cap: Number | None
    loc: Location


@dataclass(frozen=True, slots=True)
class Cashback:
    percent: str | None
    amount: str | None
    base: Operand | None
    cap: Number | None
    wallet: str
    loc: Location


@dataclass(frozen=True, slots=True)
class Earn:
    points: Number
    per: Number | None
    base: Operand | None
    wallet: str
    loc: Location


@dataclass(frozen=True, slots=True)
class Entries:
    count: Number
    draw: str
    loc: Location


@dataclass(frozen=True, slots=True)
class Tag:
    segment: str
    loc: Location


Effect = Discount | Cashback | Earn | Entries | Tag

# ---- rule clauses ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    amount: Number
    by_value: bool
    period: str  # day | week | month | ever
    loc: Location


@dataclass(frozen=True, slots=True)
class Budget:
    amount: Number
    uses: bool
    loc: Location


@dataclass(frozen=True, slots=True)
class Funder:
    kind: str  # merchant | program | partner
    name: str  # partner name, or the kind itself
    percent: str
    loc: Location


@dataclass(frozen=True, slots=True)
class Window:
    start: DateLit | DateTimeLit
    end: DateLit | DateTimeLit
    loc: Location


@dataclass(frozen=True, slots=True)
class RuleDecl:
    name: str
    priority: int | None
    window: Window | None
    condition: Expr | None
    effects: tuple[Effect, ...]
    limits: tuple[Limit, ...]
    budget: Budget | None
    funders: tuple[Funder, ...]
    group: str | None
    exclusive: bool
    stop: bool
    loc: Location
    clause_locs: tuple[tuple[str, Location], ...] = ()


# ---- declarations -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    key: str  # currency | timezone | points_value | earn_on
    values: tuple[str, ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class ProgramDecl:
    name: str
    settings: tuple[Setting, ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class GroupDecl:
    kind: str  # merchant | category
    name: str
    values: tuple[String, ...] | None
    file: String | None
    loc: Location


@dataclass(frozen=True, slots=True)
class WalletDecl:
    name: str
    kind: str  # points | money
    options: tuple[tuple[str, str, Location], ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class DrawDecl:
    name: str
    loc: Location


@dataclass(frozen=True, slots=True)
class TierDecl:
    name: str
    is_default: bool
    condition: Expr | None
    loc: Location


Decl = ProgramDecl | GroupDecl | WalletDecl | DrawDecl | TierDecl | RuleDecl


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed rules file."""

    path: str
    source: str
    decls: tuple[Decl, ...]
