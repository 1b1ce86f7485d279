# cython: language_level=3
"""A member read's reply (``lua/read.lua``, the wallets hash beside it) turned into the
engine's member state and the store's snapshot.

Every authorisation and quote reads its member first, and the decision waits on this: the
profile's fields, the limit counters of the current periods and the wallets' buckets, as
bytes.  ``WalletStore.snapshot`` does the same in Python (its reference, and the path for a
reply that is not plain bytes): a dict of every profile field decoded, then picked from.
Here the fields are compared as bytes and only the values the engine uses are decoded.
"""

import orjson

from ._purses import purses

cdef bytes _TAG = b"tg:"
cdef frozenset _NO_SEGMENTS = frozenset()


cdef class MemberReader:
    """What a store decodes a read with: its wallets (draws as ``draw:<name>``), the
    constructors of the state and the snapshot, and its tier rater (None: no tiers)."""

    cdef tuple wallet_names
    cdef object member_state
    cdef object snapshot
    cdef object rate_tier

    def __init__(self, tuple wallet_names, member_state, snapshot, rate_tier):
        self.wallet_names = wallet_names
        self.member_state = member_state
        self.snapshot = snapshot
        self.rate_tier = rate_tier

    def read(self, str member, object now, object reply):
        """The snapshot of ``member`` at ``now`` from the read's ``reply``; None when the
        reply holds anything but bytes where the script returns bytes (the caller's
        reference decodes it)."""
        if type(reply) is not list or len(<list>reply) != 7:
            return None
        raw_profile, s30, s12, flat, raw_wallets, s1, old_days = <list>reply
        if not _pairs_of_bytes(raw_profile) or not _pairs_of_bytes(flat):
            return None
        cdef Py_ssize_t i
        cdef bytes name
        cdef bytes value
        tier = None
        segments = _NO_SEGMENTS
        attrs = None
        txns = version = 0
        last = enrolled = None
        last_txn = spend_mark = ""
        cdef dict tag_counts = {}
        for i in range(0, len(<list>raw_profile), 2):
            name = (<list>raw_profile)[i]
            value = (<list>raw_profile)[i + 1]
            if name == b"ver":
                version = int(value)
            elif name == b"txns":
                txns = int(value)
            elif name == b"last":
                last = int(value)
            elif name == b"lastx":
                last_txn = value.decode()
            elif name == b"spend":
                spend_mark = value.decode()
            elif name == b"tier":
                tier = value.decode() or None
            elif name == b"segs":
                segments = frozenset(orjson.loads(value))
            elif name == b"attrs":
                attrs = orjson.loads(value)
            elif name == b"enrolled":
                enrolled = int(value)
            elif name.startswith(_TAG):
                tag_counts[name[3:].decode()] = int(value)
        cdef dict limits = {}
        for i in range(0, len(<list>flat), 2):
            pkey, counter = (<bytes>(<list>flat)[i]).decode().split("|", 1)
            limits[(pkey, counter)] = int((<list>flat)[i + 1])
        held = purses(raw_wallets)
        cdef dict balances = {}
        cdef dict entries = {}
        cdef dict totals = {}
        cdef str wallet_name
        for wallet_name in self.wallet_names:
            wallet = held.get(wallet_name)
            total = wallet.total if wallet is not None else 0
            totals[wallet_name] = total
            if wallet_name.startswith("draw:"):
                entries[wallet_name[5:]] = total
            else:
                balances[wallet_name] = wallet.spendable(now) if wallet is not None else 0
        state = self.member_state(
            member, tier, segments, txns, int(s30), int(s12), last, enrolled,
            attrs if attrs is not None else {}, balances, entries,
        )
        if tier is None and self.rate_tier is not None:
            # A member without a tier on record has the one its counters earn.
            state.tier = self.rate_tier(state, now)
        return self.snapshot(
            state, version, now, limits, tier, last_txn, totals, held, tag_counts, int(s1),
            spend_mark, bool(old_days),
        )


cdef bint _pairs_of_bytes(object flat):
    """``flat`` is a list of an even number of bytes (field, value, ...)."""
    if type(flat) is not list or len(<list>flat) % 2:
        return False
    for item in <list>flat:
        if type(item) is not bytes:
            return False
    return True
