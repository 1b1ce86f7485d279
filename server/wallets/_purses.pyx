# cython: language_level=3, boundscheck=False, wraparound=False
"""A member's wallets from the read's reply, parsed from its bytes.

A member's wallets hash has a field per points bucket, and a bucket per earning purchase
within the expiry window (docs/wallets.md, "Long histories"): hundreds of fields for a
member who buys often.  In Python each field costs two decodes, a partition, an ``int``
and a generator's step, about a microsecond a field on these machines; here it is two
slices decoded in place and the digits read by hand.  The result is the one
:func:`tessera.server.wallets.buckets.purses_from_reply` gives (a hypothesis test holds
the two to it), and any reply that is not plain bytes goes to that function.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr, memcmp

from .buckets import Purse, purses_from_reply

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)

cdef enum:
    BAR = 124    # '|'
    MINUS = 45   # '-'
    ZERO = 48    # '0'
    NINE = 57    # '9'


cdef object _amount(bytes raw):
    """``int(raw)``: plain decimal digits (and a sign) read here, anything else by int()."""
    cdef const char* s = PyBytes_AS_STRING(raw)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(raw), i = 0
    cdef long long value = 0
    cdef bint negative = n > 1 and s[0] == MINUS
    if negative:
        i = 1
    if n == 0 or n > 18:
        return int(raw)
    while i < n:
        if s[i] < ZERO or s[i] > NINE:
            return int(raw)
        value = value * 10 + (s[i] - ZERO)
        i += 1
    return -value if negative else value


def purses(list flat):
    """Wallets (name -> Purse) from the wallets hash as the read returns it: field,
    amount, field, amount, ... with fields ``<wallet>|<bucket>`` or ``<wallet>|debt``."""
    cdef dict out = {}
    cdef Py_ssize_t i, size, cut, last_cut = -1
    cdef Py_ssize_t n = len(flat)
    cdef const char* s
    cdef const char* at
    cdef const char* last = NULL
    cdef bytes key, amount
    cdef dict buckets = None
    if n % 2:
        return purses_from_reply(flat)
    for i in range(0, n, 2):
        if type(flat[i]) is not bytes or type(flat[i + 1]) is not bytes:
            return purses_from_reply(flat)
    purse = None
    for i in range(0, n, 2):
        key = flat[i]
        amount = flat[i + 1]
        s = PyBytes_AS_STRING(key)
        size = PyBytes_GET_SIZE(key)
        at = <const char*>memchr(s, BAR, size)
        cut = size if at == NULL else at - s
        # A wallet's fields mostly come one after another: its name is decoded once.
        if last == NULL or cut != last_cut or memcmp(s, last, cut) != 0:
            name = PyUnicode_DecodeUTF8(s, cut, NULL)
            purse = out.get(name)
            if purse is None:
                purse = out[name] = Purse(name)
            buckets = purse.buckets
            last, last_cut = s, cut
        if at == NULL:
            bucket = ""
        else:
            bucket = PyUnicode_DecodeUTF8(at + 1, size - cut - 1, NULL)
        if bucket == "debt":
            purse.debt = _amount(amount)
        else:
            buckets[bucket] = _amount(amount)
    return out
