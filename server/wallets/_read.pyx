# cython: language_level=3
"""A member read's reply (the spend sums of ``lua/read.lua``, the profile and the wallets
hashes beside it) turned into the engine's member state and the store's snapshot.

Every authorisation and quote reads its member first, and the decision waits on this: the
profile's fields (the limit counters of the current periods among them) and the wallets'
buckets, as bytes.  ``WalletStore.snapshot_of`` does the same in Python (its reference,
and the path for a reply that is not plain bytes): a dict of every profile field decoded,
then picked from.  Here the fields are compared as bytes and only the values the engine
uses are decoded.
"""

import orjson

from ._purses import purses

cdef bytes _TAG = b"tg:"
cdef bytes _COUNTER = b"c:"  # a limit counter: "c:<period>|<rule>|<kind>" -> "<period key>|<used>"
cdef bytes _OLD_COUNTER = b"l:"  # the layout before: "l:<period key>|<rule>|<kind>" -> used
cdef bytes _OLD_DAY = b"d:"  # a spend day the layout before the spend hash kept here
cdef object _DAY = 86_400
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

    def read(self, str member, object now, object reply, tuple current):
        """The snapshot of ``member`` at ``now`` from the read's ``reply``, the limit periods
        ``current`` at ``now``; None when the reply holds anything but bytes where Redis
        gives bytes (the caller's reference decodes it)."""
        if type(reply) is not list or len(<list>reply) != 5:
            return None
        s30, s12, s1, raw_profile, raw_wallets = <list>reply
        if type(s30) is not int or type(s12) is not int or type(s1) is not int:
            return None
        if not _pairs_of_bytes(raw_profile):
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
        cdef dict limits = {}
        cdef dict older = None
        cdef int old_days = 0
        today = now // _DAY
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
            elif name.startswith(_COUNTER):
                key, bar, used = value.decode().partition("|")
                _, named, counter = name[2:].decode().partition("|")
                if bar and named and key in current:
                    limits[(key, counter)] = int(used)
            elif name.startswith(_TAG):
                tag_counts[name[3:].decode()] = int(value)
            elif name.startswith(_OLD_COUNTER):
                key, bar, counter = name[2:].decode().partition("|")
                if bar and key in current:
                    if older is None:
                        older = {}
                    older[(key, counter)] = int(value)
            elif name.startswith(_OLD_DAY):
                old_days += 1
                day, amount = int(name[2:]), int(value)
                if day == today:
                    s1 += amount
                if day <= today:
                    if day > today - 30:
                        s30 += amount
                    if day > today - 365:
                        s12 += amount
        if older is not None:
            for counter, used in older.items():
                limits.setdefault(counter, used)
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
            member, tier, segments, txns, s30, s12, last, enrolled,
            attrs if attrs is not None else {}, balances, entries,
        )
        if tier is None and self.rate_tier is not None:
            # A member without a tier on record has the one its counters earn.
            state.tier = self.rate_tier(state, now)
        return self.snapshot(
            state, version, now, limits, tier, last_txn, totals, held, tag_counts, s1,
            spend_mark, old_days > 0,
        )


cdef bint _pairs_of_bytes(object flat):
    """``flat`` is a list of an even number of bytes (field, value, ...)."""
    if type(flat) is not list or len(<list>flat) % 2:
        return False
    for item in <list>flat:
        if type(item) is not bytes:
            return False
    return True
