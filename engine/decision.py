"""What a transaction gets: the decision the walk returns and its JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class EffectResult:
    type: str  # discount | cashback | earn | entries | tag | redeem
    amount: int = 0  # minor units (discount, cashback, redeem)
    points: int = 0  # earn, redeem from a points wallet; entries for a draw
    wallet: str | None = None
    draw: str | None = None
    segment: str | None = None
    available_at: int | None = None  # pending points become spendable then
    expires_at: int | None = None


@dataclass(slots=True)
class FunderLine:
    """Who pays for a reward: ``program``, ``merchant:ID`` or ``partner:NAME``."""

    funder: str
    amount: int
    points: int


@dataclass(slots=True)
class Applied:
    rule: str
    effects: list[EffectResult]
    value: int  # minor units of reward, points at points_value
    funders: list[FunderLine]


@dataclass(slots=True)
class Skipped:
    rule: str
    reason: str  # group | stop | limit | budget
    detail: str = ""


@dataclass(slots=True)
class Usage:
    """One counter the decision consumes: a member's limit or a campaign's budget."""

    scope: str  # limit | budget
    rule: str
    kind: str  # count | value
    period: str  # day | week | month | ever
    key: str  # the period's key, e.g. 2026-12-05, 2026-W49, 2026-12, ever
    delta: int
    cap: int


@dataclass(slots=True)
class Redemption:
    wallet: str
    requested: int | None  # minor units; None: as much as allowed
    amount: int  # minor units taken off the charge
    points: int  # points spent, for a points wallet
    reason: str | None = None  # why less than requested was redeemed


@dataclass(slots=True)
class Decision:
    txn_id: str
    member: str
    version: str
    amount: int
    discount: int
    redeemed: int
    applied: list[Applied]
    skipped: list[Skipped]
    usage: list[Usage]
    redemption: Redemption | None = None
    balances: dict[str, int] = field(default_factory=dict)
    time: int = 0

    @property
    def charged(self) -> int:
        return self.amount - self.discount - self.redeemed

    def effects(self) -> list[tuple[str, EffectResult]]:
        return [(a.rule, e) for a in self.applied for e in a.effects]
