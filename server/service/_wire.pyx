# cython: language_level=3, boundscheck=False, wraparound=False
"""The serialized ``AuthorizeResponse`` of a stored result, written byte by byte.

Building the answer as protobuf messages from nested keyword dicts (``decision_fields``)
and serializing it costs about 150,000 instructions an answer, a sixth of an in-process
authorisation: every dict becomes a message, every value is checked and copied twice.
Here the result dict is walked once and the wire bytes written as it goes, in field-number
order as protobuf's own serializer writes them, so the bytes are the same: varints for
integers (a negative int64 in ten bytes), UTF-8 for strings, each sub-message behind its
length.  A length is not known before its message is written: one byte is kept for it and
the message moved up in the rare case that its length needs more.

Only the shapes the wallet store answers with are taken here (exact dicts, lists and
tuples, ``str``, ``int`` within int64).  Anything else raises :class:`Unsupported`, and
the caller builds the answer with protobuf instead, which takes or refuses it as it always
has: errors are protobuf's, never this module's.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.string cimport memcpy, memmove

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1


class Unsupported(Exception):
    """A value of a shape the encoder does not write (protobuf is asked instead)."""


cdef enum:
    LOCAL_ROOM = 1024  # most answers fit: no allocation at all
    VARINT_ROOM = 10  # the longest varint, a negative int64
    # A tag is (field number << 3) | wire type, one byte: every field number here is
    # below 16.  Varints are wire type 0, strings and sub-messages LEN.
    LEN = 2

cdef object _MISSING = object()


cdef struct Out:
    char* data
    Py_ssize_t pos
    Py_ssize_t room
    bint heap


cdef int _grow(Out* out, Py_ssize_t more) except -1:
    cdef Py_ssize_t room = out.room * 2
    cdef char* data
    if room < out.pos + more:
        room = out.pos + more
    if out.heap:
        data = <char*>PyMem_Realloc(out.data, room)
    else:
        data = <char*>PyMem_Malloc(room)
        if data is not NULL:
            memcpy(data, out.data, out.pos)
    if data is NULL:
        raise MemoryError()
    out.data = data
    out.room = room
    out.heap = True
    return 0


cdef inline int _reserve(Out* out, Py_ssize_t more) except -1:
    if out.pos + more > out.room:
        _grow(out, more)
    return 0


cdef inline int _varint_size(unsigned long long value) noexcept nogil:
    cdef int size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


cdef inline Py_ssize_t _put_varint(char* at, unsigned long long value) noexcept nogil:
    """Write ``value`` at ``at`` (room for it is reserved); the bytes written."""
    cdef Py_ssize_t n = 0
    while value >= 0x80:
        at[n] = <char>((value & 0x7F) | 0x80)
        value >>= 7
        n += 1
    at[n] = <char>value
    return n + 1


cdef inline Py_ssize_t _begin(Out* out, int field) except -1:
    """Open a sub-message: its tag and one byte kept for its length; where that byte is."""
    _reserve(out, 2)
    out.data[out.pos] = <char>((field << 3) | LEN)
    out.pos += 2
    return out.pos - 1


cdef int _end(Out* out, Py_ssize_t mark) except -1:
    """Close the sub-message opened at ``mark``: its length, moving it up if that takes
    more than the one byte kept."""
    cdef Py_ssize_t length = out.pos - mark - 1
    cdef int size
    if length < 0x80:
        out.data[mark] = <char>length
        return 0
    size = _varint_size(<unsigned long long>length)
    _reserve(out, size - 1)
    memmove(out.data + mark + size, out.data + mark + 1, length)
    _put_varint(out.data + mark, <unsigned long long>length)
    out.pos += size - 1
    return 0


cdef int _int64(Out* out, int field, object value) except -1:
    """An int64 field (not written when zero)."""
    cdef int overflow = 0
    cdef long long number
    if type(value) is not int:
        raise Unsupported(field)
    number = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        raise Unsupported(field)
    if number == 0:
        return 0
    _reserve(out, 1 + VARINT_ROOM)
    out.data[out.pos] = <char>(field << 3)
    out.pos += 1 + _put_varint(out.data + out.pos + 1, <unsigned long long>number)
    return 0


cdef int _bytes(Out* out, int field, const char* data, Py_ssize_t size) except -1:
    if size == 0:
        return 0
    _reserve(out, 1 + VARINT_ROOM + size)
    out.data[out.pos] = <char>((field << 3) | LEN)
    out.pos += 1
    out.pos += _put_varint(out.data + out.pos, <unsigned long long>size)
    memcpy(out.data + out.pos, data, size)
    out.pos += size
    return 0


cdef int _string(Out* out, int field, object value) except -1:
    """A string field (not written when empty)."""
    cdef Py_ssize_t size
    cdef const char* data
    if not isinstance(value, str):
        raise Unsupported(field)
    try:
        data = PyUnicode_AsUTF8AndSize(value, &size)
    except UnicodeError:  # a lone surrogate: protobuf says what it makes of it
        raise Unsupported(field) from None
    return _bytes(out, field, data, size)


cdef struct Currency:
    const char* data
    Py_ssize_t size


cdef int _money(Out* out, int field, object units, Currency* cur) except -1:
    """A ``Money``: present even when zero (a sub-message set is present)."""
    cdef Py_ssize_t mark = _begin(out, field)
    _int64(out, 1, units)
    _bytes(out, 2, cur.data, cur.size)
    return _end(out, mark)


cdef int _timestamp(Out* out, int field, object seconds) except -1:
    cdef Py_ssize_t mark = _begin(out, field)
    _int64(out, 1, seconds)
    return _end(out, mark)


cdef inline object _need(dict d, str key):
    """``d[key]``, where a missing key is for protobuf's path to report."""
    cdef object value = d.get(key, _MISSING)
    if value is _MISSING:
        raise Unsupported(key)
    return value


cdef inline dict _dict(object value):
    if type(value) is not dict:
        raise Unsupported(type(value).__name__)
    return <dict>value


cdef inline int _sequence(object value) except -1:
    if type(value) is not list and type(value) is not tuple:
        raise Unsupported(type(value).__name__)
    return 0


cdef int _effect(Out* out, dict effect, Currency* cur) except -1:
    """An ``Effect`` as ``convert._effect_out`` sets it."""
    cdef object kind = _need(effect, "type")
    cdef object value
    _string(out, 1, kind)
    value = effect.get("wallet")
    if value:
        _string(out, 2, value)
    if kind == "discount" or kind == "cashback":
        _money(out, 3, effect.get("amount") or 0, cur)
    value = effect.get("points")
    if value:
        _int64(out, 4, value)
    value = effect.get("draw")
    if value:
        _string(out, 5, value)
    value = effect.get("segment")
    if value:
        _string(out, 6, value)
    value = effect.get("available_at")
    if value is not None:
        _timestamp(out, 7, value)
    value = effect.get("expires_at")
    if value is not None:
        _timestamp(out, 8, value)
    return 0


cdef int _applied(Out* out, dict applied, Currency* cur) except -1:
    cdef object items
    cdef object item
    cdef dict funder
    cdef Py_ssize_t mark
    _string(out, 1, _need(applied, "rule"))
    items = applied.get("effects", ())
    _sequence(items)
    for item in items:
        mark = _begin(out, 2)
        _effect(out, _dict(item), cur)
        _end(out, mark)
    items = applied.get("funders", ())
    _sequence(items)
    for item in items:
        funder = _dict(item)
        mark = _begin(out, 3)
        _string(out, 1, _need(funder, "funder"))
        _money(out, 2, _need(funder, "amount"), cur)
        _int64(out, 3, _need(funder, "points"))
        _end(out, mark)
    return 0


cdef int _redemption(Out* out, dict redemption, Currency* cur) except -1:
    cdef object value
    _string(out, 1, _need(redemption, "wallet"))
    value = redemption.get("requested")
    if value is not None:
        _money(out, 2, value, cur)
    _money(out, 3, _need(redemption, "amount"), cur)
    _int64(out, 4, _need(redemption, "points"))
    _string(out, 5, redemption.get("reason") or "")
    return 0


cdef int _balances(Out* out, dict balances, frozenset points, Currency* cur) except -1:
    """The balances by wallet name; a points wallet fills ``points``, a money wallet
    ``amount``."""
    cdef list ordered
    cdef tuple pair
    cdef Py_ssize_t mark
    try:
        ordered = sorted(balances.items())
    except TypeError:  # names that do not compare: protobuf's path says so
        raise Unsupported("balances") from None
    for pair in ordered:
        name, value = pair
        mark = _begin(out, 12)
        _string(out, 1, name)
        if name in points:
            _int64(out, 3, value)
        else:
            _money(out, 2, value, cur)
        _end(out, mark)
    return 0


cdef int _decision(
    Out* out, dict result, Currency* cur, frozenset points, object decision_id
) except -1:
    """A ``Decision`` as ``convert.decision_fields`` sets it (no status given)."""
    cdef object value
    cdef object item
    cdef dict skipped
    cdef Py_ssize_t mark
    _string(out, 1, _need(result, "txn_id"))
    _string(out, 2, _need(result, "member"))
    _string(out, 3, result.get("program_version", ""))
    _string(out, 4, decision_id)
    _money(out, 5, _need(result, "amount"), cur)
    _money(out, 6, _need(result, "discount"), cur)
    _money(out, 7, _need(result, "redeemed"), cur)
    _money(out, 8, _need(result, "charged"), cur)
    value = result.get("applied")
    if value:
        _sequence(value)
        for item in value:
            mark = _begin(out, 9)
            _applied(out, _dict(item), cur)
            _end(out, mark)
    value = result.get("skipped")
    if value:
        _sequence(value)
        for item in value:
            skipped = _dict(item)
            mark = _begin(out, 10)
            _string(out, 1, _need(skipped, "rule"))
            _string(out, 2, _need(skipped, "reason"))
            _string(out, 3, _need(skipped, "detail"))
            _end(out, mark)
    value = result.get("redemption")
    if value:
        mark = _begin(out, 11)
        _redemption(out, _dict(value), cur)
        _end(out, mark)
    value = result.get("balances")
    if value:
        _balances(out, _dict(value), points, cur)
    _string(out, 13, result.get("status", ""))
    value = result.get("hold_until")
    if value:
        _timestamp(out, 14, value)
    return 0


def authorize_response(
    object result, str currency, frozenset points, object decision_id
) -> bytes:
    """The serialized ``AuthorizeResponse(decision=...)`` of the store's ``result``: the
    bytes of ``AuthorizeResponse(decision=decision_fields(result, program, decision_id))``
    for a programme in ``currency`` whose points wallets are ``points``.

    Raises :class:`Unsupported` for a result this encoder does not take as it stands."""
    cdef char local[LOCAL_ROOM]
    cdef Out out
    cdef Currency cur
    cdef Py_ssize_t mark
    if currency is None or points is None:
        raise Unsupported("currency or points")
    try:
        cur.data = PyUnicode_AsUTF8AndSize(currency, &cur.size)
    except UnicodeError:
        raise Unsupported("currency") from None
    out.data = local
    out.pos = 0
    out.room = LOCAL_ROOM
    out.heap = False
    try:
        mark = _begin(&out, 1)
        _decision(&out, _dict(result), &cur, points, decision_id)
        _end(&out, mark)
        return PyBytes_FromStringAndSize(out.data, out.pos)
    finally:
        if out.heap:
            PyMem_Free(out.data)
