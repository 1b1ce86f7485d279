"""A member's wallet as buckets: the rules, and the reference reader of the wallets hash.

The wallets hash holds ``<wallet>|<expires_at>:<available_at>`` -> amount (> 0) per bucket
and ``<wallet>|debt`` -> amount (< 0).  Spendable at ``now``: buckets with
``available_at <= now < expires_at``, plus the debt; the balance the ledger sums to: every
bucket plus the debt.  Spending takes the earliest-expiring bucket first; value added while
there is debt pays the debt first.

These are the rules of ``lua/wallets.lua`` (which capture, reversal, refund and expiry use;
only authorise spends): authorise computes its changes with :class:`Purse`, on the snapshot
whose version the script checks, so that the hot script only checks and writes.  The tests
hold the two to the same results.  :class:`Purse` is compiled (``_purses.pyx``): an
authorisation copies, spends, credits and writes out a purse per wallet it touches.
:func:`purses_from_reply` is the Python reference of the compiled reader of the hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ._purses import Purse, bucket_times

__all__ = ["Purse", "bucket_times", "purses", "purses_from_reply"]


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
