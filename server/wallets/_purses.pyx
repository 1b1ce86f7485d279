# cython: language_level=3, boundscheck=False, wraparound=False
"""A member's wallets: :class:`Purse`, and the purses of the read's reply, parsed from its
bytes.

:class:`Purse` is a wallet's buckets as authorise works on them (the rules are
``buckets.py``'s, written there for the whole module); an authorisation copies, spends,
credits and writes out a purse per wallet it touches, so its methods are C calls here.

A member's wallets hash has a field per points bucket, and a bucket per earning purchase
within the expiry window (docs/wallets.md, "Long histories"): hundreds of fields for a
member who buys often.  In Python each field costs two decodes, a partition, an ``int``
and a generator's step, about a microsecond a field on these machines; here it is two
slices decoded in place and the digits read by hand.  The result is the one
:func:`tessera.server.wallets.buckets.purses_from_reply` gives (a hypothesis test holds
the two to it), and any reply that is not plain bytes goes to that function.
:func:`live_total` is ``Purse.spendable``'s loop over those buckets.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject
from libc.limits cimport LLONG_MAX, LLONG_MIN
from libc.string cimport memchr, memcmp

from functools import lru_cache

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1

cdef enum:
    BAR = 124    # '|'
    MINUS = 45   # '-'
    COLON = 58   # ':'
    ZERO = 48    # '0'
    NINE = 57    # '9'


cdef bint _digits(const char* s, Py_ssize_t n, long long* out):
    """``s[:n]`` as 1 to 18 decimal digits."""
    cdef long long value = 0
    cdef Py_ssize_t i
    if n < 1 or n > 18:
        return False
    for i in range(n):
        if s[i] < ZERO or s[i] > NINE:
            return False
        value = value * 10 + (s[i] - ZERO)
    out[0] = value
    return True


cdef object _amount(bytes raw):
    """``int(raw)``: plain decimal digits (and a sign) read here, anything else by int()."""
    cdef const char* s = PyBytes_AS_STRING(raw)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(raw)
    cdef bint negative = n > 1 and s[0] == MINUS
    cdef long long value
    if _digits(s + negative, n - negative, &value):
        return -value if negative else value
    return int(raw)


def live_total(dict buckets, long long now):
    """The amounts of the buckets live at ``now`` (``available_at <= now < expires_at``),
    summed: what ``Purse.spendable`` adds to the debt.  Each bucket's times are read from its
    name as it goes (a purse of a member who buys often holds hundreds of buckets; a cache of
    parsed names costs more than reading them).  None when a name is not ``<digits>:<digits>``
    or an amount not a machine integer: Purse.spendable then sums in Python."""
    cdef Py_ssize_t pos = 0, size, cut
    cdef PyObject* key
    cdef PyObject* value
    cdef const char* s
    cdef const char* at
    cdef long long expires, available, amount, total = 0
    cdef int overflow = 0
    while PyDict_Next(buckets, &pos, &key, &value):
        if type(<object>key) is not str or type(<object>value) is not int:
            return None
        s = PyUnicode_AsUTF8AndSize(<object>key, &size)
        at = <const char*>memchr(s, COLON, size)
        if at == NULL:
            return None
        cut = at - s
        if not _digits(s, cut, &expires) or not _digits(at + 1, size - cut - 1, &available):
            return None
        if available <= now < expires:
            amount = PyLong_AsLongLongAndOverflow(<object>value, &overflow)
            if overflow or (amount > 0 and total > LLONG_MAX - amount) or (
                amount < 0 and total < LLONG_MIN - amount
            ):
                return None
            total += amount
    return total


@lru_cache(maxsize=4096)
def bucket_times(str field_name):
    """``(expires_at, available_at)`` of a bucket field (few distinct fields: cached)."""
    expires, _, available = field_name.partition(":")
    return int(expires), int(available)


cdef class Purse:
    """One wallet's buckets (``"<expires_at>:<available_at>"`` -> amount), its debt, and the
    fields changed since it was read (docs/wallets.md)."""

    cdef public str name
    cdef public dict buckets
    cdef public object debt
    cdef public set changed

    def __init__(self, str name, dict buckets=None, debt=0, set changed=None):
        self.name = name
        self.buckets = {} if buckets is None else buckets
        self.debt = debt
        self.changed = set() if changed is None else changed

    def __eq__(self, other):
        """Purses with the same name, buckets, debt and changed fields are equal (as the
        dataclass this was compared them), so snapshots compare by value."""
        if not isinstance(other, Purse):
            return NotImplemented
        that = <Purse>other
        return (
            self.name == that.name and self.buckets == that.buckets
            and self.debt == that.debt and self.changed == that.changed
        )

    __hash__ = None  # mutable: as the dataclass, not hashable

    def __repr__(self):
        return (
            f"Purse(name={self.name!r}, buckets={self.buckets!r}, debt={self.debt!r},"
            f" changed={self.changed!r})"
        )

    def copy(self) -> Purse:
        """A purse to work on: the same buckets and debt, nothing changed yet."""
        return Purse(self.name, dict(self.buckets), self.debt)

    def spendable(self, now):
        """The debt and every bucket live at ``now`` (``available_at <= now < expires_at``)."""
        live = live_total(self.buckets, now)
        if live is not None:
            return self.debt + live
        total = self.debt
        for name, amount in self.buckets.items():
            expires, available = bucket_times(name)
            if available <= now < expires:
                total += amount
        return total

    @property
    def total(self):
        """Every bucket and the debt: what the ledger sums to."""
        total = self.debt
        for amount in self.buckets.values():
            total += amount
        return total

    def spend(self, amount, now):
        """Take ``amount`` of spendable value, earliest-expiring first; the buckets taken
        from (``[bucket, part]``), or None if there is not that much."""
        cdef list live = []
        cdef list took = []
        cdef dict buckets = self.buckets
        have = self.debt
        for name, held in buckets.items():
            expires, available = bucket_times(name)
            if available <= now < expires:
                have += held
                if held > 0:
                    live.append((expires, available, name))
        if have < amount:
            return None
        live.sort()
        left = amount
        for _, _, name in live:
            part = min(buckets[name], left)
            buckets[name] -= part
            self.changed.add(name)
            took.append([name, part])
            left -= part
            if not left:
                break
        return took

    def add(self, str field_name, amount):
        """Credit ``amount`` into a bucket, paying debt first; the part that paid debt."""
        settled = min(amount, -self.debt) if self.debt < 0 else 0
        if settled:
            self.debt += settled
            self.changed.add("debt")
        if amount > settled:
            self.buckets[field_name] = self.buckets.get(field_name, 0) + amount - settled
            self.changed.add(field_name)
        return settled

    def writes_into(self, list sets, list dels):
        """Append the fields to set (``<wallet>|<field>``, amount, flat) and to delete."""
        for name in sorted(self.changed):
            amount = self.debt if name == "debt" else self.buckets.get(name, 0)
            if amount:
                sets.append(f"{self.name}|{name}")
                sets.append(amount)
            else:
                dels.append(f"{self.name}|{name}")


cdef class _Reader:
    """Purses built field by field; a wallet's fields mostly come one after another, so its
    name is decoded once for the run of them."""

    cdef dict out
    cdef object purse
    cdef dict buckets
    cdef const char* last
    cdef Py_ssize_t last_cut

    def __cinit__(self):
        self.out = {}
        self.last = NULL
        self.last_cut = -1

    cdef void add(self, bytes key, bytes amount) except *:
        cdef const char* s = PyBytes_AS_STRING(key)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(key)
        cdef const char* at = <const char*>memchr(s, BAR, size)
        cdef Py_ssize_t cut = size if at == NULL else at - s
        if self.last == NULL or cut != self.last_cut or memcmp(s, self.last, cut) != 0:
            name = PyUnicode_DecodeUTF8(s, cut, NULL)
            purse = self.out.get(name)
            if purse is None:
                purse = self.out[name] = Purse(name)
            self.purse = purse
            self.buckets = purse.buckets
            self.last, self.last_cut = s, cut
        bucket = "" if at == NULL else PyUnicode_DecodeUTF8(at + 1, size - cut - 1, NULL)
        if bucket == "debt":
            self.purse.debt = _amount(amount)
        else:
            self.buckets[bucket] = _amount(amount)


def purses(flat):
    """Wallets (name -> Purse) from the wallets hash as Redis returns it: field, amount,
    field, amount, ... (a script's reply, RESP2) or a map of them (HGETALL in RESP3), with
    fields ``<wallet>|<bucket>`` or ``<wallet>|debt``."""
    cdef _Reader reader = _Reader()
    cdef Py_ssize_t i, n
    # The keys stay referenced by ``flat`` while the reader points into the last one.
    if type(flat) is dict:
        for key, amount in (<dict>flat).items():
            if type(key) is not bytes or type(amount) is not bytes:
                return buckets.purses_from_reply(flat)
        for key, amount in (<dict>flat).items():
            reader.add(key, amount)
        return reader.out
    if type(flat) is not list or len(<list>flat) % 2:
        return buckets.purses_from_reply(flat)
    n = len(<list>flat)
    for i in range(n):
        if type((<list>flat)[i]) is not bytes:
            return buckets.purses_from_reply(flat)
    for i in range(0, n, 2):
        reader.add((<list>flat)[i], (<list>flat)[i + 1])
    return reader.out


# The reference reader, for replies that are not plain bytes.  Imported last: buckets.py
# imports Purse and bucket_times from this module, defined above by now.
from . import buckets  # noqa: E402
