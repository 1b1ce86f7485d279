"""A member's wallet as buckets, worked on in Python for the authorise script to apply.

The wallets hash holds ``<wallet>|<expires_at>:<available_at>`` -> amount (> 0) per bucket
and ``<wallet>|debt`` -> amount (< 0).  Spendable at ``now``: buckets with
``available_at <= now < expires_at``, plus the debt; the balance the ledger sums to: every
bucket plus the debt.  Spending takes the earliest-expiring bucket first; value added while
there is debt pays the debt first.

These are the rules of ``lua/wallets.lua`` (which capture, reversal, refund and expiry use;
only authorise spends): authorise computes its changes here, on the snapshot whose version
the script checks, so that the hot script only checks and writes.  The tests hold the two to
the same results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache


@lru_cache(maxsize=4096)
def bucket_times(field_name: str) -> tuple[int, int]:
    """``(expires_at, available_at)`` of a bucket field (few distinct fields: cached)."""
    expires, _, available = field_name.partition(":")
    return int(expires), int(available)


@dataclass(slots=True)
class Purse:
    """One wallet's buckets, and the fields changed since it was read."""

    name: str
    buckets: dict[str, int] = field(default_factory=dict)  # "<expires_at>:<available_at>" -> amount
    debt: int = 0
    changed: set[str] = field(default_factory=set)

    parse = staticmethod(bucket_times)

    def __init__(
        self,
        name: str,
        buckets: dict[str, int] | None = None,
        debt: int = 0,
        changed: set[str] | None = None,
    ) -> None:
        # Written out rather than generated: dataclass's own __init__ is interpreted code
        # even in the compiled module, and authorise builds a purse per wallet it touches.
        self.name = name
        self.buckets = {} if buckets is None else buckets
        self.debt = debt
        self.changed = set() if changed is None else changed

    def copy(self) -> Purse:
        """A purse to work on: the same buckets and debt, nothing changed yet."""
        return Purse(self.name, dict(self.buckets), self.debt)

    @staticmethod
    def live(field_name: str, now: int) -> bool:
        expires, available = bucket_times(field_name)
        return available <= now < expires

    def spendable(self, now: int) -> int:
        live = _live_total(self.buckets, now)
        if live is not None:
            return self.debt + live  # type: ignore[no-any-return]
        total = self.debt
        for name, amount in self.buckets.items():
            expires, available = bucket_times(name)
            if available <= now < expires:
                total += amount
        return total

    @property
    def total(self) -> int:
        return self.debt + sum(self.buckets.values())

    def spend(self, amount: int, now: int) -> list[list[object]] | None:
        """Take ``amount`` of spendable value, earliest-expiring first; the buckets taken
        from, or None if there is not that much."""
        live = []
        have = self.debt
        for name, held in self.buckets.items():
            expires, available = bucket_times(name)
            if available <= now < expires:
                have += held
                if held > 0:
                    live.append((expires, available, name))
        if have < amount:
            return None
        live.sort()
        took: list[list[object]] = []
        left = amount
        buckets = self.buckets
        for _, _, name in live:
            part = min(buckets[name], left)
            buckets[name] -= part
            self.changed.add(name)
            took.append([name, part])
            left -= part
            if not left:
                break
        return took

    def add(self, field_name: str, amount: int) -> int:
        """Credit ``amount`` into a bucket, paying debt first; the part that paid debt."""
        settled = min(amount, -self.debt) if self.debt < 0 else 0
        if settled:
            self.debt += settled
            self.changed.add("debt")
        if amount > settled:
            self.buckets[field_name] = self.buckets.get(field_name, 0) + amount - settled
            self.changed.add(field_name)
        return settled

    def writes_into(self, sets: list[object], dels: list[str]) -> None:
        """Append the fields to set (``<wallet>|<field>``, amount, flat) and to delete."""
        for name in sorted(self.changed):
            amount = self.debt if name == "debt" else self.buckets.get(name, 0)
            if amount:
                sets += (f"{self.name}|{name}", amount)
            else:
                dels.append(f"{self.name}|{name}")

    def writes(self) -> tuple[list[tuple[str, int]], list[str]]:
        """Fields to set (``<wallet>|<field>``, amount) and fields to delete."""
        sets, dels = [], []
        for name in sorted(self.changed):
            amount = self.debt if name == "debt" else self.buckets.get(name, 0)
            key = f"{self.name}|{name}"
            if amount:
                sets.append((key, amount))
            else:
                dels.append(key)
        return sets, dels


def purses(flat: Iterable[tuple[str, int]]) -> dict[str, Purse]:
    """Wallets from the hash's (field, amount) pairs."""
    out: dict[str, Purse] = {}
    for key, amount in flat:
        name, _, bucket = key.partition("|")
        purse = out.get(name)
        if purse is None:
            purse = out[name] = Purse(name)
        if bucket == "debt":
            purse.debt = amount
        else:
            purse.buckets[bucket] = amount
    return out


def purses_from_reply(
    flat: Sequence[bytes | str] | Mapping[bytes | str, bytes | str],
) -> dict[str, Purse]:
    """Wallets from the hash as Redis returns it (field, amount, field, amount, ..., or a
    map of them): the reference of the compiled ``_purses.purses``, and what it hands
    anything but bytes."""
    if isinstance(flat, Mapping):
        raw = list(flat.items())
    else:
        raw = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    return purses((k.decode() if isinstance(k, bytes) else k, int(v)) for k, v in raw)


def _live_total_in_python(buckets: dict[str, int], now: int) -> int | None:
    return None  # Purse.spendable sums in Python


# The sum over a wallet's buckets in C where the extension is built.  Imported last: the
# extension imports Purse and purses_from_reply from this module, defined above by now.
try:
    from ._purses import live_total as _live_total
except ImportError:  # pragma: no cover - the extension is part of every build
    _live_total = _live_total_in_python
