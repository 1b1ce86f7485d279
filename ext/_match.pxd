# cython: language_level=3
cimport cython
from libc.stdint cimport int64_t, uint64_t

cdef enum LiteralKind:
    LIT_INTERVALS = 0
    LIT_ANY = 1
    LIT_NONE = 2

cdef enum EncodeOp:
    OP_AMOUNT = 1
    OP_MCC = 2
    OP_CHANNEL = 3
    OP_TIME = 4
    OP_DATE = 5
    OP_WEEKDAY = 6
    OP_HOUR = 7
    OP_MINUTE = 8
    OP_TEXT = 9
    OP_MERCHANT_GROUPS = 10
    OP_TIER = 11
    OP_TXN_COUNT = 12
    OP_SPEND_30D = 13
    OP_SPEND_12M = 14
    OP_DAYS_SINCE_LAST = 15
    OP_DAYS_ENROLLED = 16
    OP_SEGMENTS = 17
    OP_BALANCE = 18
    OP_ATTR_TEXT = 19
    OP_ATTR_NUMBER = 20
    OP_BASKET_QTY = 21
    OP_BASKET_AMOUNT = 22
    OP_BASKET_HAS = 23


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef inline bint in_intervals(const int64_t* pairs, Py_ssize_t count, int64_t value) noexcept nogil:
    """Binary search over sorted, disjoint (low, high) pairs."""
    cdef Py_ssize_t lo = 0, hi = count, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if pairs[2 * mid + 1] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo < count and pairs[2 * lo] <= value


cdef inline Py_ssize_t bisect_right(const int64_t* values, Py_ssize_t count, int64_t value) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = count, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if value < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@cython.final
cdef class _Fields:
    cdef type cls
    cdef tuple names
    cdef Py_ssize_t offsets[16]
    cdef object get(self, object obj, Py_ssize_t i)


cdef class Matcher:
    cdef readonly Py_ssize_t n_slots
    cdef readonly Py_ssize_t n_rules
    cdef readonly Py_ssize_t n_rows
    cdef object _keep  # the arrays the memoryviews below point into
    cdef const int64_t[:, ::1] ops
    cdef list text_ids
    cdef list attr_names
    cdef list attr_text_ids
    cdef list wallets
    cdef dict segment_bits
    cdef dict tier_ranks
    cdef dict channels
    cdef dict sku_ids
    cdef dict category_ids
    cdef object attr_number
    cdef _Fields txn_fields
    cdef _Fields member_fields
    cdef _Fields line_fields
    cdef int64_t default_tier
    cdef const uint64_t[:, ::1] group_masks
    cdef const int64_t[::1] tz_starts
    cdef const int64_t[::1] tz_offsets
    cdef const int64_t[::1] row_rule
    cdef const int64_t[::1] row_start
    cdef const int64_t[::1] lit_kind
    cdef const int64_t[::1] lit_slot
    cdef const int64_t[::1] lit_off
    cdef const int64_t[::1] lit_len
    cdef const int64_t[::1] filter_row_span
    cdef const int64_t[::1] f_lut_slot
    cdef const int64_t[::1] f_lut_off
    cdef const unsigned char[::1] f_lut
    cdef const unsigned char[::1] f_used
    cdef const int64_t[:, ::1] filter_slots
    cdef const int64_t[::1] f_row_start
    cdef const int64_t[::1] f_kind
    cdef const int64_t[::1] f_slot
    cdef const int64_t[::1] f_off
    cdef const int64_t[::1] f_len
    cdef const int64_t[::1] pool
    cdef const int64_t[::1] a_slot
    cdef const int64_t[::1] a_key_start
    cdef const int64_t[::1] keys
    cdef const int64_t[::1] key_row_start
    cdef const int64_t[::1] key_rows
    cdef const int64_t[::1] m_slot
    cdef const int64_t[::1] m_words
    cdef const int64_t[::1] m_bit_start
    cdef const int64_t[::1] bit_row_start
    cdef const int64_t[::1] bit_rows
    cdef const int64_t[::1] general_rows
    cdef Py_ssize_t g_words
    cdef const int64_t[::1] g_slot
    cdef const int64_t[::1] g_bp_start
    cdef const int64_t[::1] g_bps
    cdef const int64_t[::1] g_table_start
    cdef const uint64_t[::1] g_tables
    cdef const uint64_t[::1] g_all
    cdef bint any_basket
    cdef int64_t[::1] _vals
    cdef uint64_t[::1] _acc
    cdef int64_t[::1] _out

    cdef int _encode(self, object txn, object member, int64_t* vals) except -1
    cdef void _encode_basket(self, object basket, int64_t* vals) except *
    cdef bint _row_holds(self, Py_ssize_t row, const int64_t* vals) noexcept nogil
    cdef bint _filter_row_holds(self, Py_ssize_t row, const int64_t* line) noexcept nogil
    cpdef list match(self, object txn, object member)
    cdef Py_ssize_t _match(self, const int64_t* vals, uint64_t* acc, int64_t* out) noexcept nogil
