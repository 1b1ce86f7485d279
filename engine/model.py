"""The Python form of what the engine decides on: a transaction and a member's state.

Values are already exact integers here (minor units, epoch seconds); reading them from JSON
or protobuf, with errors that name the field, is :mod:`engine.jsonio`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BasketLine:
    sku: str
    category: str
    qty: int
    unit_price: int  # minor units

    @property
    def amount(self) -> int:
        return self.qty * self.unit_price


@dataclass(frozen=True, slots=True)
class Redeem:
    """A request to pay part of the charge from a wallet.

    ``amount`` (money) or ``points`` says how much; neither means as much as allowed.
    """

    wallet: str
    amount: int | None = None
    points: int | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    txn_id: str
    time: int  # seconds since the epoch, UTC
    amount: int  # minor units of the programme currency
    member: str
    currency: str = ""
    merchant: str = ""
    terminal: str = ""
    mcc: int = 0
    channel: str = "pos"
    country: str = ""
    card: str = ""
    card_bin: str = ""
    basket: tuple[BasketLine, ...] = ()
    redeem: Redeem | None = None


@dataclass(slots=True)
class MemberState:
    """What the engine knows of a member when it decides.

    ``balances`` hold spendable value: minor units for money wallets, whole points for
    points wallets.  ``last_purchase`` and ``enrolled`` are epoch seconds.
    """

    member: str
    tier: str | None = None
    segments: frozenset[str] = frozenset()
    txn_count: int = 0
    spend_30d: int = 0
    spend_12m: int = 0
    last_purchase: int | None = None
    enrolled: int | None = None
    attrs: dict[str, str | int] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)

    def copy(self) -> MemberState:
        return MemberState(
            self.member,
            self.tier,
            self.segments,
            self.txn_count,
            self.spend_30d,
            self.spend_12m,
            self.last_purchase,
            self.enrolled,
            dict(self.attrs),
            dict(self.balances),
            dict(self.entries),
        )


NEVER_PURCHASED_DAYS = 1_000_000  # days_since_last of a member with no purchase yet


def days_between(earlier: int | None, later: int, default: int) -> int:
    """Whole days from ``earlier`` to ``later`` (epoch seconds), never negative."""
    if earlier is None:
        return default
    return max(0, (later - earlier) // 86_400)
