"""The checked programme: names resolved, literals turned into exact integers.

This is what the compiler lowers into predicate tables and what the reference evaluator
interprets; both read the same meaning, so a difference between them is a compiler bug.

Conditions are trees of :class:`And`, :class:`Or`, :class:`Not` over three kinds of leaf,
each testing one :class:`Attr`:

* :class:`NumLeaf` — the integer value lies in a union of closed intervals (money in minor
  units, counts, dates as days, weekdays 0=Mon, tiers and channels by rank);
* :class:`StrLeaf` — the text value is (or is not) one of a set;
* :class:`SetLeaf` — a many-valued attribute (a member's segments, the merchant's groups)
  shares (or does not share) an element with a set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from . import ast
from .errors import Location

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

CHANNELS = ("pos", "ecom", "app")

# Attribute kinds by where their value comes from.
TXN_NUMERIC = ("amount", "mcc", "channel", "date", "weekday", "hour", "minute", "time")
TXN_TEXT = ("currency", "country", "merchant", "terminal", "card_bin")
MEMBER_COUNTERS = ("txn_count", "spend_30d", "spend_12m", "days_since_last", "days_enrolled")
LINE_NUMERIC = ("unit_price", "qty")
LINE_TEXT = ("sku", "category")
BASKET_MEASURES = ("basket_qty", "basket_amount", "basket_has")


class Attr(NamedTuple):
    """One value a condition reads.

    ``arg`` names the wallet of ``balance``, the custom attribute of ``attr``, or the index
    of the basket filter of ``basket_*``.  ``type`` is one of money, int, points, date,
    weekday, channel, tier, text, number, bool, set.

    A named tuple rather than a dataclass: attributes key the dictionaries of every
    compiler stage, and a tuple hashes and compares in C.
    """

    kind: str
    arg: str | int | None
    type: str

    def describe(self) -> str:
        if self.kind == "attr":
            return f"member.attr.{self.arg}"
        if self.kind == "balance":
            return f"balance({self.arg})"
        if self.kind in BASKET_MEASURES:
            return f"basket.{self.kind[7:]}(#{self.arg})"
        if self.kind in MEMBER_COUNTERS or self.kind == "segments":
            return f"member.{self.kind}"
        return self.kind


Intervals = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class NumLeaf:
    attr: Attr
    intervals: Intervals
    loc: Location
    source: ast.Compare | ast.Truth | ast.Window | None = None


@dataclass(frozen=True, slots=True)
class StrLeaf:
    attr: Attr
    values: frozenset[str]
    negated: bool
    loc: Location
    group: str | None = None  # the merchant/category group the values came from
    source: ast.Compare | ast.Truth | None = None


@dataclass(frozen=True, slots=True)
class SetLeaf:
    attr: Attr
    values: frozenset[str]
    negated: bool
    loc: Location
    source: ast.Compare | ast.Truth | None = None


Leaf = NumLeaf | StrLeaf | SetLeaf


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Cond, ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Cond, ...]
    loc: Location


@dataclass(frozen=True, slots=True)
class Not:
    item: Cond
    loc: Location


Cond = NumLeaf | StrLeaf | SetLeaf | And | Or | Not


@dataclass(frozen=True, slots=True)
class BasketFilter:
    """A condition over one basket line (sku, category, unit_price, qty)."""

    index: int
    condition: Cond | None  # None: every line
    text: str


@dataclass(frozen=True, slots=True)
class Group:
    kind: str  # merchant | category
    name: str
    values: frozenset[str]
    loc: Location
    file: str | None = None


@dataclass(frozen=True, slots=True)
class Wallet:
    name: str
    kind: str  # points | money
    expire: int | None  # seconds
    pending: int | None  # seconds
    spend_at: str | None  # merchant group
    spend_on: str | None  # category group
    loc: Location


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    rank: int
    is_default: bool
    condition: Cond | None
    loc: Location


@dataclass(frozen=True, slots=True)
class Base:
    """What a percent or a per-unit earn is computed on: the amount or a basket sum."""

    filter: int | None  # None: the transaction amount (net or gross by earn_on)


@dataclass(frozen=True, slots=True)
class Effect:
    kind: str  # discount | cashback | earn | entries | tag
    loc: Location
    percent_bp: int | None = None
    amount: int | None = None  # fixed money, minor units
    base: Base = Base(None)
    cap: int | None = None
    wallet: str | None = None
    points: int | None = None
    per: int | None = None  # earn: minor units per step
    draw: str | None = None
    segment: str | None = None


@dataclass(frozen=True, slots=True)
class LimitSpec:
    count: int | None  # applications allowed
    value: int | None  # minor units of reward allowed
    period: str  # day | week | month | ever
    loc: Location


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    value: int | None
    uses: int | None
    loc: Location

    @property
    def kind(self) -> str:
        """The counter this budget spends: ``count`` of uses, else ``value`` in minor units."""
        return "count" if self.uses is not None else "value"

    @property
    def cap(self) -> int:
        """How much of :attr:`kind` the campaign may spend in all."""
        return self.uses if self.uses is not None else self.value or 0


@dataclass(frozen=True, slots=True)
class FunderShare:
    funder: str  # program | merchant | partner:NAME
    bp: int


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    file_index: int
    priority: int
    window: tuple[int, int] | None  # local seconds, inclusive
    window_leaf: NumLeaf | None
    condition: Cond | None
    effects: tuple[Effect, ...]
    limits: tuple[LimitSpec, ...]
    budget: BudgetSpec | None
    funders: tuple[FunderShare, ...]
    group: str | None
    exclusive: bool
    stop: bool
    loc: Location
    walk_index: int = -1


@dataclass(slots=True)
class Program:
    name: str
    path: str
    currency: str
    digits: int
    timezone: str
    points_value: tuple[int, int] | None  # (points, minor units)
    earn_on: str  # net | gross
    groups: dict[str, Group]
    wallets: dict[str, Wallet]
    draws: tuple[str, ...]
    tiers: tuple[Tier, ...]
    rules: tuple[Rule, ...]  # in walk order
    filters: tuple[BasketFilter, ...]
    custom_attrs: dict[str, str] = field(default_factory=dict)  # name -> text | number
    segments: frozenset[str] = frozenset()
    source: str = ""

    @property
    def tier_rank(self) -> dict[str, int]:
        return {t.name: t.rank for t in self.tiers}

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def structural_key(cond: Cond | None) -> object:
    """A hashable form of a condition that ignores where it was written."""
    if cond is None:
        return None
    if isinstance(cond, NumLeaf):
        return ("num", cond.attr, cond.intervals)
    if isinstance(cond, StrLeaf):
        return ("str", cond.attr, cond.values, cond.negated)
    if isinstance(cond, SetLeaf):
        return ("set", cond.attr, cond.values, cond.negated)
    if isinstance(cond, Not):
        return ("not", structural_key(cond.item))
    tag = "and" if isinstance(cond, And) else "or"
    return (tag, tuple(structural_key(item) for item in cond.items))
