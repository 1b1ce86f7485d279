# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled matcher: encoded transaction in, matching rules (walk order) out.

The tables come from ``tessera.engine.compiler``; see its docstring for their meaning.
Everything that runs per transaction after encoding is C over typed memoryviews with the
GIL released, so a batch can run beside other Python threads.
"""

from libc.stdint cimport INT64_MIN, int64_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy
from cpython.object cimport PyObject

import numpy as np

DEF NEVER_PURCHASED_DAYS = 1000000
DEF MAX_WHOLE_ATTR = 9000000000000  # whole custom numbers this large still fit at micro scale
DEF DAY = 86400



cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil


cdef inline Py_ssize_t _ctz(uint64_t word) noexcept nogil:
    return __builtin_ctzll(word)


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


# Fields the encoder reads, by position in these tuples.
TXN_FIELDS = ("time", "amount", "mcc", "channel", "merchant", "currency", "country",
              "terminal", "card_bin", "basket")
MEMBER_FIELDS = ("tier", "txn_count", "spend_30d", "spend_12m", "last_purchase", "enrolled",
                 "segments", "balances", "attrs")
LINE_FIELDS = ("sku", "category", "unit_price", "qty")
DEF T_TIME = 0
DEF T_AMOUNT = 1
DEF T_MCC = 2
DEF T_CHANNEL = 3
DEF T_MERCHANT = 4
DEF T_CURRENCY = 5
DEF T_COUNTRY = 6
DEF T_TERMINAL = 7
DEF T_CARD_BIN = 8
DEF T_BASKET = 9
DEF M_TIER = 0
DEF M_TXN_COUNT = 1
DEF M_SPEND_30D = 2
DEF M_SPEND_12M = 3
DEF M_LAST_PURCHASE = 4
DEF M_ENROLLED = 5
DEF M_SEGMENTS = 6
DEF M_BALANCES = 7
DEF M_ATTRS = 8
DEF L_SKU = 0
DEF L_CATEGORY = 1
DEF L_UNIT_PRICE = 2
DEF L_QTY = 3


cdef class _Fields:
    """Reads the slots of one model class at their offsets, skipping attribute lookup.

    Only an object of exactly that class is read this way; anything else (a subclass, a
    look-alike) goes through ``getattr``, so a wrong guess costs speed, never safety.
    """

    def __init__(self, type cls, tuple names):
        self.cls = cls
        self.names = names
        for i, name in enumerate(names):
            descriptor = cls.__dict__.get(name)
            if descriptor is not None and type(descriptor).__name__ == "member_descriptor":
                self.offsets[i] = (<PyMemberDescrObject*>descriptor).d_member.offset
            else:
                self.offsets[i] = 0

    cdef object get(self, object obj, Py_ssize_t i):
        cdef PyObject* item
        cdef Py_ssize_t offset = self.offsets[i]
        if offset > 0 and type(obj) is self.cls:
            item = (<PyObject**>((<char*><void*>obj) + offset))[0]
            if item != NULL:
                return <object>item
        return getattr(obj, self.names[i])


cdef inline object _lookup(object mapping, object key, object default):
    """``mapping.get(key, default)``, without a method call for a plain dict."""
    if type(mapping) is dict:
        return (<dict>mapping).get(key, default)
    return mapping.get(key, default)


cdef inline void _sort_unique(int64_t* out, Py_ssize_t* count) noexcept nogil:
    cdef Py_ssize_t n = count[0], i, j, k
    cdef int64_t key
    for i in range(1, n):
        key = out[i]
        j = i - 1
        while j >= 0 and out[j] > key:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = key
    k = 0
    for i in range(n):
        if k == 0 or out[k - 1] != out[i]:
            out[k] = out[i]
            k += 1
    count[0] = k


cdef class Matcher:
    """Evaluate every rule of a compiled programme against a transaction at once."""

    def __init__(self, dict tables not None):
        self._keep = tables
        self.n_slots = tables["n_slots"]
        self.n_rules = tables["n_rules"]
        self.ops = tables["ops"]
        self.text_ids = tables["text_ids"]
        self.attr_names = tables["attr_names"]
        self.attr_text_ids = tables["attr_text_ids"]
        self.wallets = tables["wallets"]
        self.segment_bits = tables["segment_bits"]
        self.tier_ranks = tables["tier_ranks"]
        self.default_tier = tables["default_tier"]
        self.channels = tables["channels"]
        self.sku_ids = tables["sku_ids"]
        self.category_ids = tables["category_ids"]
        self.attr_number = tables.get("attr_number")
        txn_type, member_type, line_type = tables["model_types"]
        self.txn_fields = _Fields(txn_type, TXN_FIELDS)
        self.member_fields = _Fields(member_type, MEMBER_FIELDS)
        self.line_fields = _Fields(line_type, LINE_FIELDS)
        self.group_masks = tables["group_masks"]
        self.tz_starts = tables["tz_starts"]
        self.tz_offsets = tables["tz_offsets"]
        self.row_rule = tables["row_rule"]
        self.n_rows = len(tables["row_rule"])
        self.row_start = tables["row_start"]
        self.lit_kind = tables["lit_kind"]
        self.lit_slot = tables["lit_slot"]
        self.lit_off = tables["lit_off"]
        self.lit_len = tables["lit_len"]
        self.filter_row_span = tables["filter_row_span"]
        self.f_lut_slot = tables["f_lut_slot"]
        self.f_lut_off = tables["f_lut_off"]
        self.f_lut = tables["f_lut"] if len(tables["f_lut"]) else np.zeros(1, dtype=np.uint8)
        # A filter none of whose sums a rule reads need not be evaluated at all.
        self.f_used = (np.asarray(tables["filter_slots"]) >= 0).any(axis=1).astype(np.uint8) \
            if len(tables["filter_slots"]) else np.zeros(1, dtype=np.uint8)
        self.filter_slots = tables["filter_slots"]
        self.f_row_start = tables["f_row_start"]
        self.f_kind = tables["f_kind"]
        self.f_slot = tables["f_slot"]
        self.f_off = tables["f_off"]
        self.f_len = tables["f_len"]
        self.pool = tables["pool"]
        self.a_slot = tables["a_slot"]
        self.a_key_start = tables["a_key_start"]
        self.keys = tables["keys"]
        self.key_row_start = tables["key_row_start"]
        self.key_rows = tables["key_rows"]
        self.m_slot = tables["m_slot"]
        self.m_words = tables["m_words"]
        self.m_bit_start = tables["m_bit_start"]
        self.bit_row_start = tables["bit_row_start"]
        self.bit_rows = tables["bit_rows"]
        self.general_rows = tables["general_rows"]
        self.g_words = tables["g_words"]
        self.g_slot = tables["g_slot"]
        self.g_bp_start = tables["g_bp_start"]
        self.g_bps = tables["g_bps"]
        self.g_table_start = tables["g_table_start"]
        self.g_tables = tables["g_tables"]
        self.g_all = tables["g_all"]
        self.any_basket = bool(np.asarray(self.f_used).any())
        self._vals = np.zeros(max(self.n_slots, 1), dtype=np.int64)
        self._acc = np.zeros(max(self.g_words, 1), dtype=np.uint64)
        self._out = np.zeros(max(self.n_rows, 1) + 1, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes held by the predicate tables (arrays and dictionaries)."""
        import sys

        total = 0
        for value in self._keep.values():
            if isinstance(value, np.ndarray):
                total += value.nbytes
            elif isinstance(value, dict):
                total += sys.getsizeof(value) + sum(sys.getsizeof(k) for k in value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        total += sys.getsizeof(item) + sum(sys.getsizeof(k) for k in item)
        return total

    # ---- encoding ------------------------------------------------------------------------

    cdef int _encode(self, object txn, object member, int64_t* vals) except -1:
        cdef Py_ssize_t i, n_ops = self.ops.shape[0], w, words, index
        cdef int64_t op, slot, arg, local = 0, days = 0, secs, merchant_id = -2, last
        cdef bint have_time = False
        cdef object value, ids, bit
        cdef _Fields T = self.txn_fields, M = self.member_fields
        cdef int64_t now = T.get(txn, T_TIME)
        for i in range(self.n_slots):
            vals[i] = 0
        for i in range(n_ops):
            op = self.ops[i, 0]
            slot = self.ops[i, 1]
            arg = self.ops[i, 2]
            if op == OP_AMOUNT:
                vals[slot] = T.get(txn, T_AMOUNT)
            elif op == OP_MCC:
                vals[slot] = T.get(txn, T_MCC)
            elif op == OP_CHANNEL:
                vals[slot] = self.channels.get(T.get(txn, T_CHANNEL), -1)
            elif op >= OP_TIME and op <= OP_MINUTE:
                if not have_time:
                    index = bisect_right(&self.tz_starts[0], self.tz_starts.shape[0], now) - 1
                    local = now + self.tz_offsets[index]
                    days = floor_div(local, DAY)
                    have_time = True
                secs = local - days * DAY
                if op == OP_TIME:
                    vals[slot] = local
                elif op == OP_DATE:
                    vals[slot] = days
                elif op == OP_WEEKDAY:
                    vals[slot] = (days + 3) - floor_div(days + 3, 7) * 7
                elif op == OP_HOUR:
                    vals[slot] = secs // 3600
                else:
                    vals[slot] = (secs % 3600) // 60
            elif op == OP_TEXT:
                ids = self.text_ids[arg]
                if arg == 2:
                    if merchant_id == -2:
                        merchant_id = (<dict>ids).get(T.get(txn, T_MERCHANT), -1)
                    vals[slot] = merchant_id
                else:
                    if arg == 0:
                        value = T.get(txn, T_CURRENCY)
                    elif arg == 1:
                        value = T.get(txn, T_COUNTRY)
                    elif arg == 3:
                        value = T.get(txn, T_TERMINAL)
                    else:
                        value = T.get(txn, T_CARD_BIN)
                    vals[slot] = (<dict>ids).get(value, -1)
            elif op == OP_MERCHANT_GROUPS:
                if merchant_id == -2:
                    merchant_id = (<dict>self.text_ids[2]).get(T.get(txn, T_MERCHANT), -1)
                if merchant_id >= 0 and merchant_id < self.group_masks.shape[0]:
                    for w in range(arg):
                        vals[slot + w] = <int64_t>self.group_masks[merchant_id, w]
            elif member is None:
                if op == OP_TIER:
                    vals[slot] = self.default_tier
                elif op == OP_DAYS_SINCE_LAST:
                    vals[slot] = NEVER_PURCHASED_DAYS
                elif op == OP_ATTR_TEXT:
                    vals[slot] = -1
                elif op == OP_ATTR_NUMBER:
                    vals[slot] = INT64_MIN
            elif op == OP_TIER:
                value = M.get(member, M_TIER)
                vals[slot] = self.default_tier if value is None else self.tier_ranks.get(value, self.default_tier)
            elif op == OP_TXN_COUNT:
                vals[slot] = M.get(member, M_TXN_COUNT)
            elif op == OP_SPEND_30D:
                vals[slot] = M.get(member, M_SPEND_30D)
            elif op == OP_SPEND_12M:
                vals[slot] = M.get(member, M_SPEND_12M)
            elif op == OP_DAYS_SINCE_LAST:
                value = M.get(member, M_LAST_PURCHASE)
                if value is None:
                    vals[slot] = NEVER_PURCHASED_DAYS
                else:
                    last = now - <int64_t>value
                    vals[slot] = 0 if last < 0 else last // DAY
            elif op == OP_DAYS_ENROLLED:
                value = M.get(member, M_ENROLLED)
                if value is None:
                    vals[slot] = 0
                else:
                    last = now - <int64_t>value
                    vals[slot] = 0 if last < 0 else last // DAY
            elif op == OP_SEGMENTS:
                for value in M.get(member, M_SEGMENTS):
                    bit = self.segment_bits.get(value)
                    if bit is not None:
                        vals[slot + (<int64_t>bit >> 6)] |= <int64_t>((<uint64_t>1) << ((<int64_t>bit) & 63))
            elif op == OP_BALANCE:
                vals[slot] = _lookup(M.get(member, M_BALANCES), self.wallets[arg], 0)
            elif op == OP_ATTR_TEXT:
                value = _lookup(M.get(member, M_ATTRS), self.attr_names[arg], None)
                vals[slot] = (<dict>self.attr_text_ids[arg]).get(value, -1) if isinstance(value, str) else -1
            elif op == OP_ATTR_NUMBER:
                value = _lookup(M.get(member, M_ATTRS), self.attr_names[arg], None)
                if type(value) is int and -MAX_WHOLE_ATTR <= <object>value <= MAX_WHOLE_ATTR:
                    vals[slot] = <int64_t>value * 1000000
                else:
                    value = None if value is None else self.attr_number(value)
                    vals[slot] = INT64_MIN if value is None else value
        if self.any_basket:
            self._encode_basket(T.get(txn, T_BASKET), vals)
        return 0

    cdef void _encode_basket(self, object basket, int64_t* vals) except *:
        cdef int64_t line[4]
        cdef Py_ssize_t f, r, n_filters = self.filter_slots.shape[0]
        cdef int64_t qty, price
        cdef bint hit
        cdef _Fields L = self.line_fields
        cdef bint want_sku = len(self.sku_ids) > 0, want_category = len(self.category_ids) > 0
        line[0] = -1
        line[1] = -1
        for line_obj in basket:
            if want_sku:
                line[0] = self.sku_ids.get(L.get(line_obj, L_SKU), -1)
            if want_category:
                line[1] = self.category_ids.get(L.get(line_obj, L_CATEGORY), -1)
            price = L.get(line_obj, L_UNIT_PRICE)
            qty = L.get(line_obj, L_QTY)
            line[2] = price
            line[3] = qty
            for f in range(n_filters):
                if not self.f_used[f]:
                    continue
                if self.f_lut_off[f] >= 0:
                    hit = self.f_lut[self.f_lut_off[f] + line[self.f_lut_slot[f]] + 1] != 0
                else:
                    hit = False
                    for r in range(self.filter_row_span[f], self.filter_row_span[f + 1]):
                        if self._filter_row_holds(r, line):
                            hit = True
                            break
                if hit:
                    if self.filter_slots[f, 0] >= 0:
                        vals[self.filter_slots[f, 0]] += qty
                    if self.filter_slots[f, 1] >= 0:
                        vals[self.filter_slots[f, 1]] += qty * price
                    if self.filter_slots[f, 2] >= 0:
                        vals[self.filter_slots[f, 2]] = 1

    cdef bint _filter_row_holds(self, Py_ssize_t row, const int64_t* line) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(self.f_row_start[row], self.f_row_start[row + 1]):
            if not in_intervals(&self.pool[self.f_off[i]], self.f_len[i], line[self.f_slot[i]]):
                return False
        return True

    # ---- matching ------------------------------------------------------------------------

    cdef bint _row_holds(self, Py_ssize_t row, const int64_t* vals) noexcept nogil:
        cdef Py_ssize_t i, w, n
        cdef int64_t kind, slot
        cdef const int64_t* data
        cdef bint hit
        for i in range(self.row_start[row], self.row_start[row + 1]):
            kind = self.lit_kind[i]
            slot = self.lit_slot[i]
            data = &self.pool[self.lit_off[i]]
            n = self.lit_len[i]
            if kind == LIT_INTERVALS:
                if not in_intervals(data, n, vals[slot]):
                    return False
            else:
                hit = False
                for w in range(n):
                    if (vals[slot + w] & data[w]) != 0:
                        hit = True
                        break
                if hit != (kind == LIT_ANY):
                    return False
        return True

    cdef Py_ssize_t _match(self, const int64_t* vals, uint64_t* acc, int64_t* out) noexcept nogil:
        cdef Py_ssize_t count = 0, c, w, idx, a, k, r, b, bit_index, words
        cdef Py_ssize_t n_general = self.general_rows.shape[0]
        cdef const int64_t* bps
        cdef const uint64_t* table
        cdef uint64_t word, nonzero
        cdef int64_t value, slot, row
        cdef bint need_sort = False
        # General block: AND one bitset per indexed slot.
        if n_general > 0:
            for w in range(self.g_words):
                acc[w] = self.g_all[w]
            for c in range(self.g_slot.shape[0]):
                value = vals[self.g_slot[c]]
                bps = &self.g_bps[self.g_bp_start[c]]
                idx = bisect_right(bps, self.g_bp_start[c + 1] - self.g_bp_start[c], value)
                table = &self.g_tables[self.g_table_start[c] + idx * self.g_words]
                nonzero = 0
                for w in range(self.g_words):
                    acc[w] &= table[w]
                    nonzero |= acc[w]
                if nonzero == 0:
                    break
            for w in range(self.g_words):
                word = acc[w]
                while word:
                    b = w * 64 + _ctz(word)
                    word &= word - 1
                    row = self.general_rows[b]
                    if self._row_holds(row, vals):
                        out[count] = self.row_rule[row]
                        count += 1
        if count > 1:
            need_sort = True
        # Anchored rows: look up the transaction's value of each anchor slot.
        for a in range(self.a_slot.shape[0]):
            value = vals[self.a_slot[a]]
            k = self.a_key_start[a]
            idx = bisect_right(&self.keys[k], self.a_key_start[a + 1] - k, value) - 1
            if idx < 0 or self.keys[k + idx] != value:
                continue
            k += idx
            for r in range(self.key_row_start[k], self.key_row_start[k + 1]):
                row = self.key_rows[r]
                if self._row_holds(row, vals):
                    out[count] = self.row_rule[row]
                    count += 1
                    need_sort = True
        for a in range(self.m_slot.shape[0]):
            slot = self.m_slot[a]
            words = self.m_words[a]
            for w in range(words):
                word = <uint64_t>vals[slot + w]
                while word:
                    bit_index = self.m_bit_start[a] + w * 64 + _ctz(word)
                    word &= word - 1
                    for r in range(self.bit_row_start[bit_index], self.bit_row_start[bit_index + 1]):
                        row = self.bit_rows[r]
                        if self._row_holds(row, vals):
                            out[count] = self.row_rule[row]
                            count += 1
                            need_sort = True
        if need_sort:
            _sort_unique(out, &count)
        return count

    cpdef list match(self, object txn, object member):
        """Walk indices of the rules matching ``txn`` for ``member`` (``None``: a new member)."""
        cdef int64_t* vals = &self._vals[0]
        cdef int64_t* out = &self._out[0]
        cdef Py_ssize_t count, i
        self._encode(txn, member, vals)
        count = self._match(vals, &self._acc[0], out)
        return [out[i] for i in range(count)]

    def encode(self, object txn, object member):
        """The int64 slot vector of one transaction (what the batch form takes a row of)."""
        result = np.zeros(max(self.n_slots, 1), dtype=np.int64)
        cdef int64_t[::1] view = result
        self._encode(txn, member, &view[0])
        return result

    def encode_batch(self, transactions, members):
        """Encode many transactions into one (n, slots) array; ``members`` pairs with them."""
        cdef Py_ssize_t n = len(transactions), i
        result = np.zeros((n, max(self.n_slots, 1)), dtype=np.int64)
        cdef int64_t[:, ::1] view = result
        for i in range(n):
            self._encode(transactions[i], members[i], &view[i, 0])
        return result

    def match_encoded(self, const int64_t[::1] vals):
        cdef int64_t* out = &self._out[0]
        cdef Py_ssize_t count, i
        if vals.shape[0] < self.n_slots:
            raise ValueError(f"expected {self.n_slots} slots, got {vals.shape[0]}")
        count = self._match(&vals[0], &self._acc[0], out)
        return [out[i] for i in range(count)]

    def match_batch(self, const int64_t[:, ::1] vals):
        """Match every row of an encoded batch with the GIL released.

        Returns ``(offsets, rules)``: the matches of row ``i`` are
        ``rules[offsets[i]:offsets[i + 1]]``, in walk order.
        """
        cdef Py_ssize_t n = vals.shape[0], i, count, capacity, used = 0
        if n and vals.shape[1] < self.n_slots:
            raise ValueError(f"expected {self.n_slots} slots, got {vals.shape[1]}")
        offsets = np.zeros(n + 1, dtype=np.int64)
        cdef int64_t[::1] off = offsets
        cdef Py_ssize_t row_cap = max(self.n_rows, 1) + 1
        cdef int64_t* scratch = <int64_t*>malloc(row_cap * sizeof(int64_t))
        cdef uint64_t* acc = <uint64_t*>malloc(max(self.g_words, 1) * sizeof(uint64_t))
        capacity = max(n * 4, 64)
        cdef int64_t* buffer = <int64_t*>malloc(capacity * sizeof(int64_t))
        cdef int64_t* grown
        cdef bint failed = False
        if scratch == NULL or acc == NULL or buffer == NULL:
            free(scratch); free(acc); free(buffer)
            raise MemoryError()
        with nogil:
            for i in range(n):
                count = self._match(&vals[i, 0], acc, scratch)
                if used + count > capacity:
                    while used + count > capacity:
                        capacity *= 2
                    grown = <int64_t*>realloc(buffer, capacity * sizeof(int64_t))
                    if grown == NULL:
                        failed = True
                        break
                    buffer = grown
                memcpy(&buffer[used], scratch, count * sizeof(int64_t))
                used += count
                off[i + 1] = used
        free(scratch)
        free(acc)
        if failed:
            free(buffer)
            raise MemoryError()
        rules = np.empty(used, dtype=np.int64)
        cdef int64_t[::1] rv = rules
        if used:
            memcpy(&rv[0], buffer, used * sizeof(int64_t))
        free(buffer)
        return offsets, rules
