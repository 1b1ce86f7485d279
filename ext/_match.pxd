# cython: language_level=3
cimport cython
from libc.stdint cimport int64_t, uint64_t
from cpython.object cimport PyObject

cdef enum LiteralKind:
    LIT_INTERVALS = 0
    LIT_ANY = 1
    LIT_NONE = 2
    LIT_RANGE = 3  # the matcher's own: one interval, its bounds in the literal itself

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
    if count == 1:  # most tests are one range
        return pairs[0] <= value and value <= pairs[1]
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


cdef inline Py_ssize_t count_at_most(const int64_t* values, Py_ssize_t count, int64_t value) noexcept nogil:
    """``bisect_right`` for sorted ``values``; a branch-free scan when they are few."""
    cdef Py_ssize_t i, n = 0
    if count <= 8:
        for i in range(count):
            n += values[i] <= value
        return n
    return bisect_right(values, count, value)


@cython.final
cdef class _Fields:
    cdef type cls
    cdef tuple names
    cdef Py_ssize_t offsets[16]
    cdef bint complete  # every field is a slot
    cdef inline bint exact(self, object obj) noexcept


@cython.final
cdef class _Ids:
    cdef dict mapping
    cdef tuple owned
    cdef Py_ssize_t mask
    cdef PyObject** keys
    cdef Py_ssize_t* hashes
    cdef int64_t* ids


@cython.final
cdef class Matcher:
    cdef readonly Py_ssize_t n_slots
    cdef readonly Py_ssize_t n_rules
    cdef readonly Py_ssize_t n_rows
    cdef object _keep  # the tables as the compiler gave them
    cdef list _arrays  # the arrays the pointers below point into
    cdef Py_ssize_t _derived_nbytes
    cdef tuple _ints  # the walk indices as int objects, handed out in results
    # encoding
    # the slot each encode operation fills, -1 when the programme does not read it
    cdef Py_ssize_t s_amount, s_mcc, s_channel, s_time, s_date, s_weekday, s_hour, s_minute
    cdef Py_ssize_t s_text[5]  # by engine.layout.TEXT_FIELDS
    cdef Py_ssize_t s_groups, groups_words, s_tier, s_txn_count, s_spend_30d, s_spend_12m
    cdef Py_ssize_t s_days_last, s_days_enrolled, s_segments
    cdef bint any_time
    cdef Py_ssize_t n_balances, n_attr_texts, n_attr_numbers
    cdef const int64_t* balance_ops  # (slot, wallet index) pairs
    cdef const int64_t* attr_text_ops  # (slot, attribute index) pairs
    cdef const int64_t* attr_number_ops
    cdef tuple text_ids  # _Ids per TEXT_FIELDS entry
    cdef tuple attr_names
    cdef tuple attr_text_ids  # _Ids per custom attribute
    cdef tuple wallets
    cdef _Ids segment_bits
    cdef _Ids tier_ranks
    cdef _Ids channels
    cdef _Ids sku_ids
    cdef _Ids category_ids
    cdef object attr_number
    cdef _Fields txn_fields
    cdef _Fields member_fields
    cdef _Fields line_fields
    cdef int64_t default_tier
    cdef const uint64_t* group_masks
    cdef Py_ssize_t group_rows
    cdef Py_ssize_t group_words
    cdef const int64_t* tz_starts
    cdef const int64_t* tz_offsets
    cdef Py_ssize_t tz_count
    cdef Py_ssize_t tz_hint  # the span the last transaction fell in: checked, then used
    # basket filters
    cdef bint any_basket
    cdef bint want_sku
    cdef bint want_category
    cdef const int64_t* filter_slots  # (filters, 3): qty, amount and has slots, or -1
    cdef const int64_t* sku_op_start  # per sku id + 1: CSR into sku_ops
    cdef const int64_t* sku_ops  # f: the line counts for filter f; -1 - f: check f's rows
    cdef const int64_t* category_op_start
    cdef const int64_t* category_ops
    cdef Py_ssize_t n_range_filters
    cdef const int64_t* range_filters  # (filter, line slot, low, high): one-range filters
    cdef Py_ssize_t n_row_filters
    cdef const int64_t* row_filters  # filters every line checks row by row
    cdef const int64_t* filter_row_span
    cdef const int64_t* f_row_start
    cdef const int64_t* f_slot
    cdef const int64_t* f_off
    cdef const int64_t* f_len
    cdef const int64_t* f_pack  # per filter test: line slot, pool offset, length (one read)
    # rows and literals
    cdef const int64_t* row_rule
    cdef const int64_t* row_start
    cdef const int64_t* lit_kind
    cdef const int64_t* lit_slot
    cdef const int64_t* lit_off
    cdef const int64_t* lit_len
    cdef const int64_t* lit_pack  # per literal: kind, slot, pool offset, length (one read)
    cdef const int64_t* pool
    # anchors
    cdef Py_ssize_t n_anchors
    cdef const int64_t* a_slot
    cdef const int64_t* a_key_start
    cdef const int64_t* a_direct_start  # per anchor: offset into a_direct, or -1
    cdef const int64_t* a_direct_low
    cdef const int64_t* a_direct_len
    cdef const int64_t* a_direct  # value - low -> key index, or -1
    cdef const int64_t* keys
    cdef const int64_t* key_row_start
    cdef const int64_t* key_rows
    cdef const int64_t* key_guards  # per key_rows entry: slot, low, high a candidate needs
    cdef Py_ssize_t n_mask_anchors
    cdef const int64_t* m_slot
    cdef const int64_t* m_words
    cdef const int64_t* m_bit_start
    cdef const int64_t* bit_row_start
    cdef const int64_t* bit_rows
    # general block
    cdef Py_ssize_t n_general
    cdef const int64_t* general_rows
    cdef const uint64_t* g_plain  # per general row: 1 when it has no residual literals
    cdef Py_ssize_t g_words
    cdef Py_ssize_t g_n_pairs  # slots with at most 2 breakpoints: padded, read branch-free
    cdef const int64_t* p_slot
    cdef const int64_t* p_bps  # 2 per slot, padded with INT64_MAX
    cdef const uint64_t* p_tables  # 3 rows per slot
    cdef Py_ssize_t g_n_quads  # slots with 3 or 4 breakpoints
    cdef const int64_t* q_slot
    cdef const int64_t* q_bps  # 4 per slot, padded with INT64_MAX
    cdef const uint64_t* q_tables  # 5 rows per slot (rows past the last repeat it)
    cdef const int64_t* p_pack  # one word: per pair slot, 2 breakpoints, 3 rows (bit patterns)
    cdef const int64_t* q_pack  # one word: per quad slot, 4 breakpoints, 5 rows
    cdef Py_ssize_t g_n_dense  # one word: slots of 3+ breakpoints within a small span
    cdef const int64_t* d_pack  # per dense slot: slot, low, span, span + 1 rows by value
    cdef const int64_t* g_rule  # per general row (bit): its rule's walk index
    cdef Py_ssize_t g_n_slots  # the other slots
    cdef const int64_t* g_slot
    cdef const int64_t* g_bp_start
    cdef const int64_t* g_bps
    cdef const int64_t* g_table_start
    cdef const uint64_t* g_tables
    cdef const uint64_t* g_all
    # scratch
    cdef int64_t* _vals
    cdef uint64_t* _acc
    cdef int64_t* _out

    cdef int _load_ops(self, ops) except -1
    cdef int _load_filters(self, dict tables) except -1
    cdef int _load_anchors(self, dict tables) except -1
    cdef int _load_general(self, dict tables) except -1
    cdef const int64_t* _i64(self, object values) except NULL
    cdef const uint64_t* _u64(self, object values) except NULL
    cdef int64_t _utc_offset(self, int64_t now) noexcept
    cdef int _encode(self, object txn, object member, int64_t* vals) except -1
    cdef int _encode_member(self, object member, bint m_exact, int64_t now,
                            int64_t* vals) except -1
    cdef int _encode_basket(self, object basket, int64_t* vals) except -1
    cdef inline bint _row_holds(self, Py_ssize_t row, const int64_t* vals) noexcept nogil
    cdef inline void _line_ops(self, const int64_t* start, const int64_t* ops, int64_t text_id,
                               const int64_t* line, int64_t* vals) noexcept nogil
    cdef inline void _filter_line(self, Py_ssize_t f, const int64_t* line, int64_t* vals) noexcept nogil
    cdef inline bint _filter_row_holds(self, Py_ssize_t row, const int64_t* line) noexcept nogil
    cpdef list match(self, object txn, object member)
    cdef Py_ssize_t _match(self, const int64_t* vals, uint64_t* acc, int64_t* out) noexcept nogil
