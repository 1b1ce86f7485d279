# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled matcher: encoded transaction in, matching rules (walk order) out.

The tables come from ``tessera.engine.compiler``; see its docstring for their meaning.
Everything that runs per transaction after encoding is C over raw pointers into the
tables' arrays with the GIL released, so a batch can run beside other Python threads.

Encoding one transaction from its Python objects is most of what a single ``match`` costs,
so the encoder avoids the generic paths where a cheaper one gives the same answer: model
slots are read at their offsets, text values find their dictionary id in a hash table of
its own keyed on the str's cached hash, small ints are read without a call, and basket
filters that test only a line's category or sku are looked up per id.
"""

from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memmove, memset
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.object cimport PyObject, PyObject_Hash
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM

import bisect
import sys

import numpy as np

DEF NEVER_PURCHASED_DAYS = 1000000
DEF MAX_WHOLE_ATTR = 9000000000000  # whole custom numbers this large still fit at micro scale
DEF DAY = 86400
DEF DIRECT_SLACK = 4096  # an anchor index is a direct table when its key span is this small
DEF SPARSE_IDS = 4096  # text dictionaries up to this many keys get quarter-full tables
DEF DENSE_SPAN = 64  # a general slot whose breakpoints span this few values is read by value


cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil
    void __builtin_prefetch(const void*) nogil


cdef inline Py_ssize_t _ctz(uint64_t word) noexcept nogil:
    return __builtin_ctzll(word)


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    bint PyUnicode_CheckExact(object)


cdef extern from *:
    """
    /* The hash CPython caches in every str (-1 until first computed). */
    static CYTHON_INLINE Py_ssize_t tessera_cached_hash(PyObject *s) {
        return ((PyASCIIObject *)s)->hash;
    }
    static CYTHON_INLINE int tessera_str_ready(PyObject *s) {
        return PyUnicode_IS_READY(s);
    }
    /* Equality of n bytes; up to 16 compared inline (two overlapping loads), since most
       text values are short and a call to memcmp costs more than the comparison. */
    static __attribute__((noinline)) int tessera_bytes_eq(const unsigned char *p, const unsigned char *q,
                                                          size_t n) {
        uint64_t x, y, u, v;
        uint32_t s, t, s2, t2;
        if (n >= 8 && n <= 16) {
            memcpy(&x, p, 8); memcpy(&y, q, 8);
            memcpy(&u, p + n - 8, 8); memcpy(&v, q + n - 8, 8);
            return ((x ^ y) | (u ^ v)) == 0;
        }
        if (n >= 4 && n < 8) {
            memcpy(&s, p, 4); memcpy(&t, q, 4);
            memcpy(&s2, p + n - 4, 4); memcpy(&t2, q + n - 4, 4);
            return ((s ^ t) | (s2 ^ t2)) == 0;
        }
        if (n < 4) {
            size_t i;
            for (i = 0; i < n; i++) if (p[i] != q[i]) return 0;
            return 1;
        }
        return memcmp(p, q, n) == 0;
    }
    /* Equality of two ready, exact str objects. */
    static CYTHON_INLINE int tessera_str_eq(PyObject *a, PyObject *b) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(a);
        int kind = PyUnicode_KIND(a);
        return n == PyUnicode_GET_LENGTH(b) && kind == (int)PyUnicode_KIND(b)
            && tessera_bytes_eq((const unsigned char *)PyUnicode_DATA(a),
                                (const unsigned char *)PyUnicode_DATA(b), (size_t)n * kind);
    }
    /* The object in the slot at `offset` of `obj` (borrowed; NULL while unset). */
    static CYTHON_INLINE PyObject *tessera_slot(PyObject *obj, Py_ssize_t offset) {
        return *(PyObject **)((char *)obj + offset);
    }
    /* Ask the cache for the objects in the first `n` slots of `obj`: the encoder's reads
       of them are pointer chases, which otherwise wait for memory one after another. */
    static CYTHON_INLINE void tessera_prefetch_slots(PyObject *obj, const Py_ssize_t *offsets,
                                                     Py_ssize_t n) {
        Py_ssize_t i;
        PyObject *item;
        for (i = 0; i < n; i++) {
            item = *(PyObject **)((char *)obj + offsets[i]);
            if (item != NULL) __builtin_prefetch(item);
        }
    }
    /* A ready, exact str's id in an open-addressing table: -1 when absent; -3 for any
       other object, which the table's dictionary must answer. */
    static CYTHON_INLINE int64_t tessera_probe(PyObject *v, PyObject *const *keys,
                                               const Py_ssize_t *hashes, const int64_t *ids,
                                               Py_ssize_t mask) {
        Py_ssize_t h, i;
        PyObject *k;
        if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_READY(v)) return -3;
        h = ((PyASCIIObject *)v)->hash;
        if (h == -1) {
            h = PyObject_Hash(v);
            if (h == -1) { PyErr_Clear(); return -3; }
        }
        for (i = h & mask;; i = (i + 1) & mask) {
            k = keys[i];
            if (k == NULL) return -1;
            if (k == v || (hashes[i] == h && tessera_str_eq(k, v))) return ids[i];
        }
    }
    /* The same for an object whose hash `h` is known (a set's entry keeps it). */
    static int64_t tessera_probe_hashed(PyObject *v, Py_ssize_t h, PyObject *const *keys,
                                        const Py_ssize_t *hashes, const int64_t *ids,
                                        Py_ssize_t mask) {
        Py_ssize_t i;
        PyObject *k;
        if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_READY(v)) return -3;
        for (i = h & mask;; i = (i + 1) & mask) {
            k = keys[i];
            if (k == NULL) return -1;
            if (k == v || (hashes[i] == h && tessera_str_eq(k, v))) return ids[i];
        }
    }
    /* An exact int small enough to read without a call: 1 and the value in *out, else 0. */
    static CYTHON_INLINE int tessera_small_int(PyObject *o, int64_t *out) {
        if (!PyLong_CheckExact(o)) return 0;
    #if PY_VERSION_HEX >= 0x030C0000
        if (_PyLong_IsCompact((PyLongObject *)o)) {
            *out = (int64_t)_PyLong_CompactValue((PyLongObject *)o);
            return 1;
        }
        return 0;
    #else
        {
            Py_ssize_t size = Py_SIZE(o);
            const digit *d = ((PyLongObject *)o)->ob_digit;
            /* One digit (below 2**30: amounts, counts, prices) and two (epoch seconds) are
               nearly all the ints read, so they are tested before the general switch. */
            if (size == 1) { *out = (int64_t)d[0]; return 1; }
            if (size == 2) { *out = (int64_t)(((uint64_t)d[1] << PyLong_SHIFT) | d[0]); return 1; }
            switch (size) {
            case 0: *out = 0; return 1;
            case 1: *out = (int64_t)d[0]; return 1;
            case -1: *out = -(int64_t)d[0]; return 1;
            case 2: *out = (int64_t)(((uint64_t)d[1] << PyLong_SHIFT) | d[0]); return 1;
            case -2: *out = -(int64_t)(((uint64_t)d[1] << PyLong_SHIFT) | d[0]); return 1;
            default: return 0;
            }
        }
    #endif
    }
    """
    Py_ssize_t tessera_cached_hash(PyObject* s) noexcept
    bint tessera_str_ready(PyObject* s) noexcept
    bint tessera_str_eq(PyObject* a, PyObject* b) noexcept
    bint tessera_small_int(PyObject* o, int64_t* out) noexcept
    PyObject* tessera_slot(PyObject* obj, Py_ssize_t offset) noexcept
    void tessera_prefetch_slots(PyObject* obj, const Py_ssize_t* offsets, Py_ssize_t n) noexcept
    int64_t tessera_probe(PyObject* v, PyObject** keys, Py_ssize_t* hashes, int64_t* ids,
                          Py_ssize_t mask) noexcept
    int64_t tessera_probe_hashed(PyObject* v, Py_ssize_t h, PyObject** keys, Py_ssize_t* hashes,
                                 int64_t* ids, Py_ssize_t mask) noexcept


cdef extern from "Python.h":
    # A set's table, walked in place (cpython/setobject.h): entries hold their key's hash.
    ctypedef struct setentry:
        PyObject* key
        Py_ssize_t hash
    ctypedef struct PySetObject:
        Py_ssize_t used
        Py_ssize_t mask
        setentry* table
    PyObject* _PySet_Dummy  # the key of a removed entry


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
        self.complete = True
        for i, name in enumerate(names):
            descriptor = cls.__dict__.get(name)
            if descriptor is not None and type(descriptor).__name__ == "member_descriptor":
                self.offsets[i] = (<PyMemberDescrObject*>descriptor).d_member.offset
            else:
                self.offsets[i] = 0
                self.complete = False

    cdef inline bint exact(self, object obj) noexcept:
        """Whether ``obj``'s fields can all be read at their offsets."""
        return self.complete and type(obj) is self.cls


cdef inline object _read(object obj, bint exact, _Fields fields, Py_ssize_t i):
    """Field ``i`` of ``obj``; ``exact``: ``obj`` is a ``fields.cls`` with every field a slot."""
    cdef PyObject* item
    if exact:
        item = tessera_slot(<PyObject*>obj, fields.offsets[i])
        if item != NULL:
            return <object>item
    return _read_slow(obj, fields, i)


cdef object _read_slow(object obj, _Fields fields, Py_ssize_t i):
    return getattr(obj, <str>PyTuple_GET_ITEM(fields.names, i))


cdef int64_t _to_int64_slow(object value) except? -1:
    return value


cdef inline int64_t _to_int64(object value) except? -1:
    """``value`` as int64, as Cython's conversion gives it (same errors), small ints inline."""
    cdef int64_t result
    if tessera_small_int(<PyObject*>value, &result):
        return result
    return _to_int64_slow(value)


cdef inline int64_t _int_field(object obj, bint exact, _Fields fields, Py_ssize_t i) except? -1:
    """Field ``i`` of ``obj`` as int64, read in place when it is a small int."""
    cdef PyObject* item
    cdef int64_t result
    if exact:
        item = tessera_slot(<PyObject*>obj, fields.offsets[i])
        if item != NULL and tessera_small_int(item, &result):
            return result
    return _to_int64(_read(obj, exact, fields, i))


cdef inline int64_t _text_field(object obj, bint exact, _Fields fields, Py_ssize_t i,
                                _Ids table) except -2:
    """The dictionary id of text field ``i`` of ``obj``, read in place when it is a str."""
    cdef PyObject* item
    cdef int64_t found
    if exact:
        item = tessera_slot(<PyObject*>obj, fields.offsets[i])
        if item != NULL:
            found = tessera_probe(item, table.keys, table.hashes, table.ids, table.mask)
            if found != -3:
                return found
    return _id_of(table, _read(obj, exact, fields, i))


cdef class _Ids:
    """A text value's dictionary id (-1 for a value the programme does not name).

    Equal str values have equal hashes, and CPython caches a str's hash in the object, so
    an open-addressing table keyed on that hash answers an exact str with one or two probes
    and no call; anything else (a str subclass, ``None``, a number) asks the dictionary the
    table was built from, so the answer is always the dictionary's.
    """

    def __cinit__(self, dict mapping not None):
        cdef Py_ssize_t capacity = 8, i
        cdef Py_ssize_t h
        self.mapping = mapping
        self.owned = tuple(sys.intern(k) if PyUnicode_CheckExact(k) else k for k in mapping)
        # At most a quarter full, so that a miss (most text values are ones the programme
        # does not name) usually ends at its first or second probe; half full for large
        # dictionaries, where the table's size matters more than a probe.
        load = 4 if len(mapping) <= SPARSE_IDS else 2
        while capacity < load * len(mapping):
            capacity <<= 1
        self.mask = capacity - 1
        self.keys = <PyObject**>calloc(capacity, sizeof(PyObject*))
        self.hashes = <Py_ssize_t*>calloc(capacity, sizeof(Py_ssize_t))
        self.ids = <int64_t*>calloc(capacity, sizeof(int64_t))
        if self.keys == NULL or self.hashes == NULL or self.ids == NULL:
            raise MemoryError()
        for key, value in mapping.items():
            if value < 0:
                raise ValueError(f"negative id {value} for {key!r}")
            if not PyUnicode_CheckExact(key) or not tessera_str_ready(<PyObject*>key):
                continue  # found through the dictionary
            # The interned copy: a value that is the interned str (a literal in code, many
            # decoders' keys) is then found by identity, without comparing characters.
            key = sys.intern(key)
            h = hash(key)
            i = h & self.mask
            while self.keys[i] != NULL:
                i = (i + 1) & self.mask
            self.keys[i] = <PyObject*>key
            self.hashes[i] = h
            self.ids[i] = value

    def __dealloc__(self):
        free(self.keys)
        free(self.hashes)
        free(self.ids)

    def __len__(self):
        return len(self.mapping)

    def get(self, value):
        return _id_of(self, value)


cdef int64_t _id_slow(_Ids table, object value) except -2:
    found = table.mapping.get(value)
    return -1 if found is None else found


cdef inline int64_t _id_of(_Ids table, object value) except -2:
    cdef int64_t found = tessera_probe(<PyObject*>value, table.keys, table.hashes, table.ids,
                                       table.mask)
    if found != -3:
        return found
    return _id_slow(table, value)


cdef int _frozenset_bits(PyObject* names, _Ids bits, int64_t* words) except -1:
    """Set the bit of each of the frozenset ``names`` that ``bits`` numbers in ``words``.

    The set's table is walked in place, each entry's hash reused for the probe: what
    iterating it gives (a frozenset cannot change meanwhile) without a call per element."""
    cdef PySetObject* table = <PySetObject*>names
    cdef setentry* entry = table.table
    cdef Py_ssize_t left = table.used
    cdef PyObject* key
    cdef int64_t bit
    while left > 0:
        key = entry.key
        if key != NULL and key != _PySet_Dummy:
            left -= 1
            bit = tessera_probe_hashed(key, entry.hash, bits.keys, bits.hashes, bits.ids,
                                       bits.mask)
            if bit == -3:
                bit = _id_slow(bits, <object>key)
            if bit >= 0:
                words[bit >> 6] |= <int64_t>((<uint64_t>1) << (bit & 63))
        entry += 1
    return 0


cdef inline object _lookup(object mapping, object key, object default):
    """``mapping.get(key, default)``, without a method call for a plain dict."""
    if type(mapping) is dict:
        return (<dict>mapping).get(key, default)
    return mapping.get(key, default)


cdef inline Py_ssize_t _insert(int64_t* out, Py_ssize_t count, int64_t rule) noexcept nogil:
    """Add ``rule`` to the sorted, duplicate-free ``out[:count]``; the new count.

    The general block hands its rules over in walk order (the compiler orders its rows so),
    so the usual insertion is one comparison at the end; anchored rows are few."""
    cdef Py_ssize_t j = count
    while j > 0 and out[j - 1] > rule:
        j -= 1
    if j > 0 and out[j - 1] == rule:
        return count
    if j < count:
        memmove(&out[j + 1], &out[j], (count - j) * sizeof(int64_t))
    out[j] = rule
    return count + 1


cdef inline void _add_line(int64_t* vals, const int64_t* slots, Py_ssize_t f, int64_t qty,
                           int64_t price) noexcept nogil:
    """Add a line that filter ``f`` accepts to the sums (qty, amount, has) its rules read."""
    cdef int64_t s = slots[3 * f]
    if s >= 0:
        vals[s] += qty
    s = slots[3 * f + 1]
    if s >= 0:
        vals[s] += qty * price
    s = slots[3 * f + 2]
    if s >= 0:
        vals[s] = 1


def _filter_screen(dict tables, Py_ssize_t f, dict counts):
    """``(slot, ids)`` when every row of filter ``f`` tests the line's category (or, failing
    that, its sku): only a line with one of those ids can pass, so only such a line checks the
    rows. ``None`` when neither slot is tested by every row."""
    span = tables["filter_row_span"]
    starts, slots = tables["f_row_start"], tables["f_slot"]
    offsets, lengths, pool = tables["f_off"], tables["f_len"], tables["pool"]
    rows = range(int(span[f]), int(span[f + 1]))
    for slot in (1, 0):  # LINE_CATEGORY, LINE_SKU
        ids = set()
        for row in rows:
            tests = [i for i in range(int(starts[row]), int(starts[row + 1])) if slots[i] == slot]
            if not tests:
                break
            accepted = set(range(-1, counts[slot]))
            for i in tests:
                pairs = pool[int(offsets[i]) : int(offsets[i]) + 2 * int(lengths[i])]
                accepted = {
                    v for v in accepted
                    if any(pairs[2 * j] <= v <= pairs[2 * j + 1] for j in range(len(pairs) // 2))
                }
            ids |= accepted
        else:
            return slot, sorted(ids)
    return None


def _pack_rows(slots, bps, tables, width):
    """Per slot ``[slot, width breakpoints, width + 1 one-word rows as int64]``."""
    n = len(slots)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.concatenate(tables).view(np.int64).reshape(n, width + 1)
    return np.concatenate([np.asarray(slots, dtype=np.int64).reshape(n, 1),
                           np.asarray(bps, dtype=np.int64).reshape(n, width), rows],
                          axis=1).reshape(-1)


def _pack_literals(tables):
    """Per literal ``(kind, slot, pool offset, length)``, one read; a test of one interval
    (most are: a window, a threshold) is ``(LIT_RANGE, slot, low, high)``, its bounds inline."""
    kinds = np.asarray(tables["lit_kind"], dtype=np.int64).reshape(-1)
    offsets = np.asarray(tables["lit_off"], dtype=np.int64).reshape(-1)
    lengths = np.asarray(tables["lit_len"], dtype=np.int64).reshape(-1)
    pool = np.asarray(tables["pool"], dtype=np.int64).reshape(-1)
    pack = np.stack([kinds, np.asarray(tables["lit_slot"], dtype=np.int64).reshape(-1),
                     offsets, lengths], axis=1)
    single = (kinds == LIT_INTERVALS) & (lengths == 1)
    pack[single, 0] = LIT_RANGE
    pack[single, 2] = pool[offsets[single]]
    pack[single, 3] = pool[offsets[single] + 1]
    return pack


def _dense_rows(slot, bps, table):
    """``[slot, low, span, span + 1 rows]`` of a one-word general slot whose breakpoints lie
    close together: entry ``i`` is the row of bits for the value ``low + i`` (a value at or
    below ``low`` reads entry 0, one at or above ``low + span`` the last), so a value finds
    its row by one subtraction instead of a comparison with each breakpoint."""
    low = int(bps[0]) - 1  # breakpoints never hold INT64_MIN: no overflow
    span = int(bps[len(bps) - 1]) - low
    points = [int(b) for b in bps]
    rows = table.view(np.int64)
    by_value = [int(rows[bisect.bisect_right(points, low + i)]) for i in range(span + 1)]
    return np.asarray([slot, low, span] + by_value, dtype=np.int64)


def _csr(lists):
    """``(starts, items)`` of a list of int lists."""
    starts = [0]
    items = []
    for entry in lists:
        items.extend(entry)
        starts.append(len(items))
    return np.asarray(starts, dtype=np.int64), np.asarray(items, dtype=np.int64)


cdef class Matcher:
    """Evaluate every rule of a compiled programme against a transaction at once."""

    def __init__(self, dict tables not None):
        self._keep = tables
        self._arrays = []
        self._derived_nbytes = 0
        self.n_slots = tables["n_slots"]
        self.n_rules = tables["n_rules"]
        rules = np.asarray(tables["row_rule"], dtype=np.int64)
        if rules.size and rules.min() < 0:
            raise ValueError("a row's rule has a negative walk index")
        # Every walk index a result can hold has its int here, so results need no check.
        self._ints = tuple(range(max(self.n_rules, int(rules.max()) + 1 if rules.size else 0)))
        self._derived_nbytes += 8 * self.n_rules + 32 * max(self.n_rules - 256, 0)
        ops = np.asarray(tables["ops"], dtype=np.int64).reshape(-1, 3)
        self._load_ops(ops)
        self.text_ids = tuple(_Ids(ids) for ids in tables["text_ids"])
        # Interned, so that a member's dictionary whose keys are interned finds them by identity.
        self.attr_names = tuple(sys.intern(name) for name in tables["attr_names"])
        self.attr_text_ids = tuple(_Ids(ids) for ids in tables["attr_text_ids"])
        self.wallets = tuple(sys.intern(name) for name in tables["wallets"])
        self.segment_bits = _Ids(tables["segment_bits"])
        self.tier_ranks = _Ids(tables["tier_ranks"])
        self.default_tier = tables["default_tier"]
        self.channels = _Ids(tables["channels"])
        self.sku_ids = _Ids(tables["sku_ids"])
        self.category_ids = _Ids(tables["category_ids"])
        self.attr_number = tables.get("attr_number")
        txn_type, member_type, line_type = tables["model_types"]
        self.txn_fields = _Fields(txn_type, TXN_FIELDS)
        self.member_fields = _Fields(member_type, MEMBER_FIELDS)
        self.line_fields = _Fields(line_type, LINE_FIELDS)
        group_masks = np.asarray(tables["group_masks"], dtype=np.uint64)
        self.group_rows = group_masks.shape[0]
        self.group_words = group_masks.shape[1] if group_masks.ndim == 2 else 0
        self.group_masks = self._u64(group_masks)
        self.tz_starts = self._i64(tables["tz_starts"])
        self.tz_offsets = self._i64(tables["tz_offsets"])
        self.tz_count = len(tables["tz_starts"])
        self.tz_hint = 0
        self.row_rule = self._i64(tables["row_rule"])
        self.n_rows = len(tables["row_rule"])
        self.row_start = self._i64(tables["row_start"])
        self.lit_kind = self._i64(tables["lit_kind"])
        self.lit_slot = self._i64(tables["lit_slot"])
        self.lit_off = self._i64(tables["lit_off"])
        self.lit_len = self._i64(tables["lit_len"])
        self.lit_pack = self._i64(_pack_literals(tables))
        self._derived_nbytes += 32 * len(tables["lit_kind"])
        self.pool = self._i64(tables["pool"])
        self._load_filters(tables)
        self._load_anchors(tables)
        self.n_general = len(tables["general_rows"])
        self.general_rows = self._i64(tables["general_rows"])
        self.g_rule = self._i64(rules[np.asarray(tables["general_rows"], dtype=np.int64)])
        # General rows without residual literals: surviving the block is matching.
        plain = np.zeros(max(tables["g_words"], 1), dtype=np.uint64)
        starts = np.asarray(tables["row_start"], dtype=np.int64)
        for b, row in enumerate(np.asarray(tables["general_rows"], dtype=np.int64).tolist()):
            if starts[row + 1] == starts[row]:
                plain[b >> 6] |= np.uint64(1 << (b & 63))
        self.g_plain = self._u64(plain)
        self.g_words = tables["g_words"]
        self.g_all = self._u64(tables["g_all"])
        self._load_general(tables)
        self._vals = <int64_t*>self._i64(np.zeros(max(self.n_slots, 1), dtype=np.int64))
        self._acc = <uint64_t*>self._u64(np.zeros(max(self.g_words, 1), dtype=np.uint64))
        self._out = <int64_t*>self._i64(np.zeros(max(self.n_rows, 1) + 1, dtype=np.int64))

    cdef const int64_t* _i64(self, object values) except NULL:
        """A pointer to ``values`` as contiguous int64, kept alive by the matcher."""
        array = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
        if array.size == 0:
            array = np.zeros(1, dtype=np.int64)
        cdef const int64_t[::1] view = array
        self._arrays.append(array)
        return &view[0]

    cdef const uint64_t* _u64(self, object values) except NULL:
        array = np.ascontiguousarray(values, dtype=np.uint64).reshape(-1)
        if array.size == 0:
            array = np.zeros(1, dtype=np.uint64)
        cdef const uint64_t[::1] view = array
        self._arrays.append(array)
        return &view[0]

    cdef int _load_filters(self, dict tables) except -1:
        """Basket filters: table filters become per-id lists, the rest are checked by rows."""
        filter_slots = np.asarray(tables["filter_slots"], dtype=np.int64).reshape(-1, 3)
        n_filters = filter_slots.shape[0]
        used = (filter_slots >= 0).any(axis=1)  # a filter no rule reads is not evaluated
        lut_slot = np.asarray(tables["f_lut_slot"], dtype=np.int64)
        lut_off = np.asarray(tables["f_lut_off"], dtype=np.int64)
        lut = np.asarray(tables["f_lut"], dtype=np.uint8)
        counts = {0: len(self.sku_ids), 1: len(self.category_ids)}  # LINE_SKU, LINE_CATEGORY
        hits = {0: [[] for _ in range(counts[0] + 1)], 1: [[] for _ in range(counts[1] + 1)]}
        screened = {0: [[] for _ in range(counts[0] + 1)], 1: [[] for _ in range(counts[1] + 1)]}
        row_filters = []
        for f in range(n_filters):
            if not used[f]:
                continue
            if lut_off[f] >= 0:
                slot = int(lut_slot[f])
                flags = lut[lut_off[f] : lut_off[f] + counts[slot] + 1]
                for value in np.flatnonzero(flags).tolist():
                    hits[slot][value].append(f)
                continue
            accepted = _filter_screen(tables, f, counts)
            if accepted is None:
                row_filters.append(f)
            else:
                slot, ids = accepted
                for value in ids:
                    screened[slot][value + 1].append(f)
        self.any_basket = bool(used.any())
        self.want_sku = counts[0] > 0
        self.want_category = counts[1] > 0
        self.filter_slots = self._i64(filter_slots)
        # Per id: the filters the line passes outright (f) and those whose rows it must
        # check (-1 - f), in one list, so that a line costs one list per text field.
        sku_start, sku_ops = _csr([h + [-1 - f for f in r] for h, r in zip(hits[0], screened[0])])
        category_start, category_ops = _csr([h + [-1 - f for f in r]
                                             for h, r in zip(hits[1], screened[1])])
        self.sku_op_start = self._i64(sku_start)
        self.sku_ops = self._i64(sku_ops)
        self.category_op_start = self._i64(category_start)
        self.category_ops = self._i64(category_ops)
        # A filter of one row with one single-range test (``unit_price >= 500.00``) is that
        # range, checked inline; the others go row by row.
        simple, general = [], []
        starts, lengths = tables["f_row_start"], tables["f_len"]
        span, offsets, pool = tables["filter_row_span"], tables["f_off"], tables["pool"]
        for f in row_filters:
            row = int(span[f])
            test = int(starts[row])
            if (int(span[f + 1]) == row + 1 and int(starts[row + 1]) == test + 1
                    and int(lengths[test]) == 1):
                low = int(offsets[test])
                simple.extend((f, int(tables["f_slot"][test]), int(pool[low]), int(pool[low + 1])))
            else:
                general.append(f)
        self._derived_nbytes += 8 * (sku_start.size + sku_ops.size + category_start.size
                                     + category_ops.size + len(simple) + len(general))
        self.n_range_filters = len(simple) // 4
        self.range_filters = self._i64(simple)
        self.n_row_filters = len(general)
        self.row_filters = self._i64(general)
        self.filter_row_span = self._i64(tables["filter_row_span"])
        self.f_row_start = self._i64(tables["f_row_start"])
        self.f_slot = self._i64(tables["f_slot"])
        self.f_off = self._i64(tables["f_off"])
        self.f_len = self._i64(tables["f_len"])
        self.f_pack = self._i64(np.stack([np.asarray(tables[k], dtype=np.int64).reshape(-1)
                                          for k in ("f_slot", "f_off", "f_len")], axis=1))
        self._derived_nbytes += 24 * len(tables["f_slot"])
        return 0

    cdef int _load_general(self, dict tables) except -1:
        """The general block's slots; those with at most two, or four, breakpoints get tables
        padded to that many (rows past the last repeat it), searched without branches."""
        words = self.g_words
        g_slot = np.asarray(tables["g_slot"], dtype=np.int64)
        g_bp_start = np.asarray(tables["g_bp_start"], dtype=np.int64)
        g_bps = np.asarray(tables["g_bps"], dtype=np.int64)
        g_table_start = np.asarray(tables["g_table_start"], dtype=np.int64)
        g_tables = np.asarray(tables["g_tables"], dtype=np.uint64)
        p_slot, p_bps, p_tables = [], [], []
        q_slot, q_bps, q_tables = [], [], []
        rest_slot, rest_bp_start, rest_bps, rest_table_start, rest_tables = [], [0], [], [0], []
        dense = []
        for c in range(len(g_slot)):
            bps = g_bps[g_bp_start[c] : g_bp_start[c + 1]]
            n = len(bps)
            table = g_tables[g_table_start[c] : g_table_start[c] + (n + 1) * words]
            if words == 1 and n > 2 and int(bps[n - 1]) - int(bps[0]) < DENSE_SPAN:
                dense.append(_dense_rows(int(g_slot[c]), bps, table))
            elif n <= 2:
                p_slot.append(int(g_slot[c]))
                p_bps.extend(bps.tolist() + [INT64_MAX] * (2 - n))
                rows = table.reshape(n + 1, words)
                p_tables.append(np.concatenate([rows] + [rows[n:]] * (2 - n)).reshape(-1))
            elif n <= 4:
                q_slot.append(int(g_slot[c]))
                q_bps.extend(bps.tolist() + [INT64_MAX] * (4 - n))
                rows = table.reshape(n + 1, words)
                q_tables.append(np.concatenate([rows] + [rows[n:]] * (4 - n)).reshape(-1))
            else:
                rest_slot.append(int(g_slot[c]))
                rest_bps.extend(bps.tolist())
                rest_bp_start.append(len(rest_bps))
                rest_tables.append(table)
                rest_table_start.append(rest_table_start[len(rest_table_start) - 1] + table.size)
        self.g_n_pairs = len(p_slot)
        self.p_slot = self._i64(p_slot)
        self.p_bps = self._i64(p_bps)
        self.p_tables = self._u64(np.concatenate(p_tables) if p_tables else [])
        self._derived_nbytes += 8 * (len(p_slot) + len(p_bps) + 3 * words * len(p_slot))
        self.g_n_quads = len(q_slot)
        self.q_slot = self._i64(q_slot)
        self.q_bps = self._i64(q_bps)
        self.q_tables = self._u64(np.concatenate(q_tables) if q_tables else [])
        self._derived_nbytes += 8 * (len(q_slot) + len(q_bps) + 5 * words * len(q_slot))
        if words == 1:
            # One-word tables: each slot's slot, breakpoints and rows side by side, so that a
            # slot costs one base address (tables stored as their int64 bit patterns).
            self.p_pack = self._i64(_pack_rows(p_slot, p_bps, p_tables, 2))
            self.q_pack = self._i64(_pack_rows(q_slot, q_bps, q_tables, 4))
            self._derived_nbytes += 8 * (6 * len(p_slot) + 10 * len(q_slot))
        else:
            self.p_pack = self.q_pack = NULL
        self.g_n_dense = len(dense)
        self.d_pack = self._i64(np.concatenate(dense) if dense else [])
        self._derived_nbytes += 8 * sum(len(d) for d in dense)
        self.g_n_slots = len(rest_slot)
        self.g_slot = self._i64(rest_slot)
        self.g_bp_start = self._i64(rest_bp_start)
        self.g_bps = self._i64(rest_bps)
        self.g_table_start = self._i64(rest_table_start)
        self.g_tables = self._u64(np.concatenate(rest_tables) if rest_tables else [])
        return 0

    cdef int _load_anchors(self, dict tables) except -1:
        """Anchor indexes; one whose keys are dense (dictionary ids) also gets a direct table."""
        a_slot = np.asarray(tables["a_slot"], dtype=np.int64)
        a_key_start = np.asarray(tables["a_key_start"], dtype=np.int64)
        keys = np.asarray(tables["keys"], dtype=np.int64)
        direct_start, direct_low, direct_len, direct = [], [], [], []
        used = 0
        for a in range(len(a_slot)):
            ks = keys[a_key_start[a] : a_key_start[a + 1]]
            span = int(ks[len(ks) - 1]) - int(ks[0]) + 1 if len(ks) else 0
            if len(ks) and span <= 4 * len(ks) + DIRECT_SLACK:
                table = np.full(span, -1, dtype=np.int64)
                table[ks - ks[0]] = np.arange(a_key_start[a], a_key_start[a + 1], dtype=np.int64)
                direct_start.append(used)
                direct_low.append(int(ks[0]))
                direct_len.append(span)
                direct.append(table)
                used += span
            else:
                direct_start.append(-1)
                direct_low.append(0)
                direct_len.append(0)
        self.n_anchors = len(a_slot)
        self.a_slot = self._i64(a_slot)
        self.a_key_start = self._i64(a_key_start)
        self.a_direct_start = self._i64(direct_start)
        self.a_direct_low = self._i64(direct_low)
        self.a_direct_len = self._i64(direct_len)
        self.a_direct = self._i64(np.concatenate(direct) if direct else [])
        self._derived_nbytes += 8 * (used + 3 * len(a_slot))
        self.keys = self._i64(keys)
        self.key_row_start = self._i64(tables["key_row_start"])
        self.key_rows = self._i64(tables["key_rows"])
        self.key_guards = self._i64(self._guards(tables))
        self._derived_nbytes += 24 * len(tables["key_rows"])
        self.n_mask_anchors = len(tables["m_slot"])
        self.m_slot = self._i64(tables["m_slot"])
        self.m_words = self._i64(tables["m_words"])
        self.m_bit_start = self._i64(tables["m_bit_start"])
        self.bit_row_start = self._i64(tables["bit_row_start"])
        self.bit_rows = self._i64(tables["bit_rows"])
        return 0

    def _guards(self, dict tables):
        """Per anchored row: (slot, low, high) of its validity window, checked before the row.

        Rows under one key (a small mcc set, a busy merchant) are mostly campaigns whose
        ``active`` window is short: at any moment most of them are out of it, and one range
        test says so before the row's literals are walked. A row without a one-range window
        test gets a range that always holds."""
        starts = np.asarray(tables["row_start"], dtype=np.int64)
        kinds = np.asarray(tables["lit_kind"], dtype=np.int64)
        slots = np.asarray(tables["lit_slot"], dtype=np.int64)
        offsets = np.asarray(tables["lit_off"], dtype=np.int64)
        lengths = np.asarray(tables["lit_len"], dtype=np.int64)
        pool = np.asarray(tables["pool"], dtype=np.int64)
        window = [slot for slot in (self.s_time, self.s_date) if slot >= 0]
        per_row = {}
        guards = []
        for row in np.asarray(tables["key_rows"], dtype=np.int64).tolist():
            guard = per_row.get(row)
            if guard is None:
                guard = (0, INT64_MIN, INT64_MAX)
                for slot in window:
                    for i in range(int(starts[row]), int(starts[row + 1])):
                        if kinds[i] == LIT_INTERVALS and slots[i] == slot and lengths[i] == 1:
                            low = int(offsets[i])
                            guard = (slot, int(pool[low]), int(pool[low + 1]))
                            break
                    if guard[1] != INT64_MIN or guard[2] != INT64_MAX:
                        break
                per_row[row] = guard
            guards.extend(guard)
        return np.asarray(guards, dtype=np.int64).reshape(-1)

    @property
    def general_layout(self) -> dict:
        """How many general-block slots each reading takes: ``paired`` (at most two
        breakpoints), ``quad`` (three or four), ``dense`` (one word, read by value) and
        ``searched`` (the rest), so that tests can tell which path a programme exercises."""
        return {"paired": self.g_n_pairs, "quad": self.g_n_quads, "dense": self.g_n_dense,
                "searched": self.g_n_slots}

    @property
    def nbytes(self) -> int:
        """Bytes held by the predicate tables (arrays and dictionaries) and those derived here."""
        import sys

        total = self._derived_nbytes
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

    cdef int64_t _utc_offset(self, int64_t now) noexcept:
        """The zone's offset at ``now``: the last transaction's span if it holds, else a search."""
        cdef Py_ssize_t index = self.tz_hint
        if not (self.tz_starts[index] <= now
                and (index + 1 == self.tz_count or now < self.tz_starts[index + 1])):
            index = bisect_right(self.tz_starts, self.tz_count, now) - 1
            if index < 0:
                index = 0
            self.tz_hint = index
        return self.tz_offsets[index]

    cdef int _load_ops(self, ops) except -1:
        """Each encode operation's slot (-1: the programme does not read it), so that the
        encoder runs straight through instead of dispatching on a list of operations."""
        cdef Py_ssize_t i
        for i in range(5):
            self.s_text[i] = -1
        self.s_amount = self.s_mcc = self.s_channel = -1
        self.s_time = self.s_date = self.s_weekday = self.s_hour = self.s_minute = -1
        self.s_groups = self.s_tier = self.s_txn_count = self.s_spend_30d = -1
        self.s_spend_12m = self.s_days_last = self.s_days_enrolled = self.s_segments = -1
        self.groups_words = 0
        lists = {OP_BALANCE: [], OP_ATTR_TEXT: [], OP_ATTR_NUMBER: []}
        for op, slot, arg in ops.tolist():
            if op == OP_AMOUNT: self.s_amount = slot
            elif op == OP_MCC: self.s_mcc = slot
            elif op == OP_CHANNEL: self.s_channel = slot
            elif op == OP_TIME: self.s_time = slot
            elif op == OP_DATE: self.s_date = slot
            elif op == OP_WEEKDAY: self.s_weekday = slot
            elif op == OP_HOUR: self.s_hour = slot
            elif op == OP_MINUTE: self.s_minute = slot
            elif op == OP_TEXT: self.s_text[arg] = slot
            elif op == OP_MERCHANT_GROUPS:
                self.s_groups = slot
                self.groups_words = arg
            elif op == OP_TIER: self.s_tier = slot
            elif op == OP_TXN_COUNT: self.s_txn_count = slot
            elif op == OP_SPEND_30D: self.s_spend_30d = slot
            elif op == OP_SPEND_12M: self.s_spend_12m = slot
            elif op == OP_DAYS_SINCE_LAST: self.s_days_last = slot
            elif op == OP_DAYS_ENROLLED: self.s_days_enrolled = slot
            elif op == OP_SEGMENTS: self.s_segments = slot
            elif op in lists: lists[op].append((slot, arg))
            elif op < OP_BASKET_QTY or op > OP_BASKET_HAS:
                raise ValueError(f"unknown encode operation {op}")
        self.any_time = (self.s_time >= 0 or self.s_date >= 0 or self.s_weekday >= 0
                         or self.s_hour >= 0 or self.s_minute >= 0)
        self.n_balances = len(lists[OP_BALANCE])
        self.balance_ops = self._i64(lists[OP_BALANCE])
        self.n_attr_texts = len(lists[OP_ATTR_TEXT])
        self.attr_text_ops = self._i64(lists[OP_ATTR_TEXT])
        self.n_attr_numbers = len(lists[OP_ATTR_NUMBER])
        self.attr_number_ops = self._i64(lists[OP_ATTR_NUMBER])
        return 0

    cdef int _encode(self, object txn, object member, int64_t* vals) except -1:
        cdef Py_ssize_t i, w, slot, arg
        cdef int64_t local, days, secs, merchant_id = -1, last, now, bit
        cdef object value, attrs
        cdef _Fields T = self.txn_fields, M = self.member_fields
        cdef bint t_exact = T.exact(txn)
        cdef bint m_exact = M.exact(member)
        cdef bint no_member = member is None
        # The values in both objects' slots are read in turn below; asked for together up
        # front, their cache misses overlap instead of each waiting for the one before.
        if t_exact:
            tessera_prefetch_slots(<PyObject*>txn, T.offsets, T_BASKET + 1)
        if m_exact:
            tessera_prefetch_slots(<PyObject*>member, M.offsets, M_ATTRS + 1)
        now = _int_field(txn, t_exact, T, T_TIME)
        memset(vals, 0, self.n_slots * sizeof(int64_t))
        # The transaction.
        if self.s_amount >= 0:
            vals[self.s_amount] = _int_field(txn, t_exact, T, T_AMOUNT)
        if self.s_mcc >= 0:
            vals[self.s_mcc] = _int_field(txn, t_exact, T, T_MCC)
        if self.s_channel >= 0:
            vals[self.s_channel] = _text_field(txn, t_exact, T, T_CHANNEL, self.channels)
        if self.any_time:
            local = now + self._utc_offset(now)
            days = floor_div(local, DAY)
            secs = local - days * DAY
            if self.s_time >= 0:
                vals[self.s_time] = local
            if self.s_date >= 0:
                vals[self.s_date] = days
            if self.s_weekday >= 0:
                vals[self.s_weekday] = (days + 3) - floor_div(days + 3, 7) * 7
            if self.s_hour >= 0:
                vals[self.s_hour] = secs // 3600
            if self.s_minute >= 0:
                vals[self.s_minute] = (secs % 3600) // 60
        if self.s_text[2] >= 0 or self.s_groups >= 0:
            merchant_id = _text_field(txn, t_exact, T, T_MERCHANT,
                                      <_Ids>PyTuple_GET_ITEM(self.text_ids, 2))
        # OP_TEXT's argument indexes engine.layout.TEXT_FIELDS (currency, country, merchant,
        # terminal, card_bin); written out rather than looped, each with its own constants.
        if self.s_text[0] >= 0:
            vals[self.s_text[0]] = _text_field(txn, t_exact, T, T_CURRENCY,
                                               <_Ids>PyTuple_GET_ITEM(self.text_ids, 0))
        if self.s_text[1] >= 0:
            vals[self.s_text[1]] = _text_field(txn, t_exact, T, T_COUNTRY,
                                               <_Ids>PyTuple_GET_ITEM(self.text_ids, 1))
        if self.s_text[2] >= 0:
            vals[self.s_text[2]] = merchant_id
        if self.s_text[3] >= 0:
            vals[self.s_text[3]] = _text_field(txn, t_exact, T, T_TERMINAL,
                                               <_Ids>PyTuple_GET_ITEM(self.text_ids, 3))
        if self.s_text[4] >= 0:
            vals[self.s_text[4]] = _text_field(txn, t_exact, T, T_CARD_BIN,
                                               <_Ids>PyTuple_GET_ITEM(self.text_ids, 4))
        if self.s_groups >= 0 and merchant_id >= 0 and merchant_id < self.group_rows:
            for w in range(self.groups_words):
                vals[self.s_groups + w] = <int64_t>self.group_masks[merchant_id * self.group_words + w]
        # The member (``None``: a new member, whose values are the defaults).
        if no_member:
            if self.s_tier >= 0:
                vals[self.s_tier] = self.default_tier
            if self.s_days_last >= 0:
                vals[self.s_days_last] = NEVER_PURCHASED_DAYS
            for i in range(self.n_attr_texts):
                vals[self.attr_text_ops[2 * i]] = -1
            for i in range(self.n_attr_numbers):
                vals[self.attr_number_ops[2 * i]] = INT64_MIN
        else:
            self._encode_member(member, m_exact, now, vals)
        if self.any_basket:
            self._encode_basket(_read(txn, t_exact, T, T_BASKET), vals)
        return 0

    cdef int _encode_member(self, object member, bint m_exact, int64_t now,
                            int64_t* vals) except -1:
        cdef Py_ssize_t i, slot, arg
        cdef int64_t last, bit
        cdef object value, attrs
        cdef _Fields M = self.member_fields
        if self.s_tier >= 0:
            value = _read(member, m_exact, M, M_TIER)
            bit = -1 if value is None else _id_of(self.tier_ranks, value)
            vals[self.s_tier] = self.default_tier if bit < 0 else bit
        if self.s_txn_count >= 0:
            vals[self.s_txn_count] = _int_field(member, m_exact, M, M_TXN_COUNT)
        if self.s_spend_30d >= 0:
            vals[self.s_spend_30d] = _int_field(member, m_exact, M, M_SPEND_30D)
        if self.s_spend_12m >= 0:
            vals[self.s_spend_12m] = _int_field(member, m_exact, M, M_SPEND_12M)
        if self.s_days_last >= 0:
            value = _read(member, m_exact, M, M_LAST_PURCHASE)
            if value is None:
                vals[self.s_days_last] = NEVER_PURCHASED_DAYS
            else:
                last = now - _to_int64(value)
                vals[self.s_days_last] = 0 if last < 0 else last // DAY
        if self.s_days_enrolled >= 0:
            value = _read(member, m_exact, M, M_ENROLLED)
            if value is not None:
                last = now - _to_int64(value)
                vals[self.s_days_enrolled] = 0 if last < 0 else last // DAY
        if self.s_segments >= 0:
            value = _read(member, m_exact, M, M_SEGMENTS)
            slot = self.s_segments
            if type(value) is frozenset:
                _frozenset_bits(<PyObject*>value, self.segment_bits, &vals[slot])
            elif len(value):
                for name in value:
                    bit = _id_of(self.segment_bits, name)
                    if bit >= 0:
                        vals[slot + (bit >> 6)] |= <int64_t>((<uint64_t>1) << (bit & 63))
        if self.n_balances:
            value = _read(member, m_exact, M, M_BALANCES)
            for i in range(self.n_balances):
                slot = self.balance_ops[2 * i]
                arg = self.balance_ops[2 * i + 1]
                vals[slot] = _to_int64(_lookup(value, <object>PyTuple_GET_ITEM(self.wallets, arg), 0))
        if self.n_attr_texts or self.n_attr_numbers:
            attrs = _read(member, m_exact, M, M_ATTRS)
            for i in range(self.n_attr_texts):
                slot = self.attr_text_ops[2 * i]
                arg = self.attr_text_ops[2 * i + 1]
                value = _lookup(attrs, <object>PyTuple_GET_ITEM(self.attr_names, arg), None)
                vals[slot] = _id_of(<_Ids>PyTuple_GET_ITEM(self.attr_text_ids, arg), value) \
                    if isinstance(value, str) else -1
            for i in range(self.n_attr_numbers):
                slot = self.attr_number_ops[2 * i]
                arg = self.attr_number_ops[2 * i + 1]
                value = _lookup(attrs, <object>PyTuple_GET_ITEM(self.attr_names, arg), None)
                if type(value) is int and -MAX_WHOLE_ATTR <= <object>value <= MAX_WHOLE_ATTR:
                    vals[slot] = _to_int64(value) * 1000000
                else:
                    value = None if value is None else self.attr_number(value)
                    vals[slot] = INT64_MIN if value is None else value
        return 0

    cdef int _encode_basket(self, object basket, int64_t* vals) except -1:
        cdef int64_t line[4]
        cdef Py_ssize_t f, r, i, n
        cdef int64_t qty, price
        cdef bint exact
        cdef _Fields L = self.line_fields
        cdef const int64_t* slots = self.filter_slots
        cdef const int64_t* test
        cdef object line_obj
        line[0] = -1
        line[1] = -1
        if type(basket) is not tuple:
            basket = tuple(basket)
        n = len(<tuple>basket)
        for i in range(n):  # as in _encode: the lines' misses overlap
            __builtin_prefetch(PyTuple_GET_ITEM(basket, i))
        for i in range(n):
            line_obj = <object>PyTuple_GET_ITEM(basket, i)
            exact = L.exact(line_obj)
            if self.want_sku:
                line[0] = _text_field(line_obj, exact, L, L_SKU, self.sku_ids)
            if self.want_category:
                line[1] = _text_field(line_obj, exact, L, L_CATEGORY, self.category_ids)
            price = _int_field(line_obj, exact, L, L_UNIT_PRICE)
            qty = _int_field(line_obj, exact, L, L_QTY)
            line[2] = price
            line[3] = qty
            self._line_ops(self.category_op_start, self.category_ops, line[1], line, vals)
            self._line_ops(self.sku_op_start, self.sku_ops, line[0], line, vals)
            test = self.range_filters
            for r in range(self.n_range_filters):
                if test[2] <= line[test[1]] <= test[3]:
                    _add_line(vals, slots, test[0], qty, price)
                test += 4
            for r in range(self.n_row_filters):
                self._filter_line(self.row_filters[r], line, vals)
        return 0

    cdef inline void _line_ops(self, const int64_t* start, const int64_t* ops, int64_t text_id,
                               const int64_t* line, int64_t* vals) noexcept nogil:
        """The filters one basket line's category (or sku) id settles: ``f`` counts the line
        for filter f outright, ``-1 - f`` checks f's rows against the line."""
        cdef Py_ssize_t r
        cdef int64_t op
        for r in range(start[text_id + 1], start[text_id + 2]):
            op = ops[r]
            if op >= 0:
                _add_line(vals, self.filter_slots, op, line[3], line[2])
            else:
                self._filter_line(-1 - op, line, vals)

    cdef inline void _filter_line(self, Py_ssize_t f, const int64_t* line, int64_t* vals) noexcept nogil:
        """Add the line to filter ``f``'s sums if one of the filter's rows holds for it."""
        cdef Py_ssize_t k
        for k in range(self.filter_row_span[f], self.filter_row_span[f + 1]):
            if self._filter_row_holds(k, line):
                _add_line(vals, self.filter_slots, f, line[3], line[2])
                return

    cdef inline bint _filter_row_holds(self, Py_ssize_t row, const int64_t* line) noexcept nogil:
        cdef Py_ssize_t i
        cdef const int64_t* test
        cdef const int64_t* data
        cdef int64_t value
        for i in range(self.f_row_start[row], self.f_row_start[row + 1]):
            test = &self.f_pack[3 * i]
            data = &self.pool[test[1]]
            value = line[test[0]]
            if test[2] == 1:  # one range: no search
                if value < data[0] or value > data[1]:
                    return False
            elif not in_intervals(data, test[2], value):
                return False
        return True

    # ---- matching ------------------------------------------------------------------------

    cdef inline bint _row_holds(self, Py_ssize_t row, const int64_t* vals) noexcept nogil:
        cdef Py_ssize_t i, w, n
        cdef int64_t kind, slot
        cdef const int64_t* data
        cdef bint hit
        cdef const int64_t* lit
        for i in range(self.row_start[row], self.row_start[row + 1]):
            lit = &self.lit_pack[4 * i]
            kind = lit[0]
            slot = lit[1]
            if kind == LIT_RANGE:
                if vals[slot] < lit[2] or vals[slot] > lit[3]:
                    return False
                continue
            data = &self.pool[lit[2]]
            n = lit[3]
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
        cdef Py_ssize_t count = 0, c, w, idx, a, k, r, b, bit_index, words, start, n
        cdef Py_ssize_t g_words = self.g_words
        cdef const uint64_t* table
        cdef const int64_t* bps
        cdef const int64_t* guard
        cdef uint64_t word, nonzero, plain, low, offset
        cdef int64_t value, other, slot, row, span
        # General block: AND one bitset per indexed slot.
        if self.n_general > 0:
            if g_words == 1:
                word = self.g_all[0]
                bps = self.p_pack
                n = self.g_n_pairs
                c = 0
                while c + 1 < n:  # two slots a step: independent loads, half the loop tests
                    value = vals[bps[0]]
                    other = vals[bps[6]]
                    word &= (<uint64_t>bps[3 + (value >= bps[1]) + (value >= bps[2])]
                             & <uint64_t>bps[9 + (other >= bps[7]) + (other >= bps[8])])
                    bps += 12
                    c += 2
                if c < n:
                    value = vals[bps[0]]
                    word &= <uint64_t>bps[3 + (value >= bps[1]) + (value >= bps[2])]
                bps = self.q_pack
                for c in range(self.g_n_quads):
                    value = vals[bps[0]]
                    idx = (value >= bps[1]) + (value >= bps[2]) + (value >= bps[3]) + (value >= bps[4])
                    word &= <uint64_t>bps[5 + idx]
                    bps += 10
                bps = self.d_pack
                for c in range(self.g_n_dense):
                    value = vals[bps[0]]
                    span = bps[2]
                    # Unsigned: the distance from low always fits, whatever the value.
                    offset = <uint64_t>value - <uint64_t>bps[1]
                    if value <= bps[1]:
                        offset = 0
                    if offset > <uint64_t>span:
                        offset = span
                    word &= <uint64_t>bps[3 + offset]
                    bps += 4 + span
                for c in range(self.g_n_slots):
                    start = self.g_bp_start[c]
                    idx = count_at_most(&self.g_bps[start], self.g_bp_start[c + 1] - start,
                                        vals[self.g_slot[c]])
                    word &= self.g_tables[self.g_table_start[c] + idx]
                    if word == 0:
                        break
                acc[0] = word
            else:
                for w in range(g_words):
                    acc[w] = self.g_all[w]
                for c in range(self.g_n_pairs):
                    value = vals[self.p_slot[c]]
                    bps = &self.p_bps[2 * c]
                    idx = (value >= bps[0]) + (value >= bps[1])
                    table = &self.p_tables[(3 * c + idx) * g_words]
                    for w in range(g_words):
                        acc[w] &= table[w]
                for c in range(self.g_n_quads):
                    value = vals[self.q_slot[c]]
                    bps = &self.q_bps[4 * c]
                    idx = (value >= bps[0]) + (value >= bps[1]) + (value >= bps[2]) + (value >= bps[3])
                    table = &self.q_tables[(5 * c + idx) * g_words]
                    for w in range(g_words):
                        acc[w] &= table[w]
                for c in range(self.g_n_slots):
                    start = self.g_bp_start[c]
                    idx = count_at_most(&self.g_bps[start], self.g_bp_start[c + 1] - start,
                                        vals[self.g_slot[c]])
                    table = &self.g_tables[self.g_table_start[c] + idx * g_words]
                    nonzero = 0
                    for w in range(g_words):
                        acc[w] &= table[w]
                        nonzero |= acc[w]
                    if nonzero == 0:
                        break
            # Rows with nothing left to check match outright; the rest check their residual.
            for w in range(g_words):
                word = acc[w]
                plain = self.g_plain[w]
                while word:
                    b = w * 64 + _ctz(word)
                    low = word & (~word + 1)
                    word ^= low
                    if (plain & low) or self._row_holds(self.general_rows[b], vals):
                        count = _insert(out, count, self.g_rule[b])
        # Anchored rows: look up the transaction's value of each anchor slot.
        for a in range(self.n_anchors):
            value = vals[self.a_slot[a]]
            k = self.a_key_start[a]
            if self.a_direct_start[a] >= 0:
                value -= self.a_direct_low[a]
                if value < 0 or value >= self.a_direct_len[a]:
                    continue
                k = self.a_direct[self.a_direct_start[a] + value]
                if k < 0:
                    continue
            else:
                idx = bisect_right(&self.keys[k], self.a_key_start[a + 1] - k, value) - 1
                if idx < 0 or self.keys[k + idx] != value:
                    continue
                k += idx
            guard = &self.key_guards[3 * self.key_row_start[k]]
            for r in range(self.key_row_start[k], self.key_row_start[k + 1]):
                value = vals[guard[0]]
                if guard[1] <= value <= guard[2]:
                    row = self.key_rows[r]
                    if self._row_holds(row, vals):
                        count = _insert(out, count, self.row_rule[row])
                guard += 3
        for a in range(self.n_mask_anchors):
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
                            count = _insert(out, count, self.row_rule[row])
        return count

    cpdef list match(self, object txn, object member):
        """Walk indices of the rules matching ``txn`` for ``member`` (``None``: a new member)."""
        cdef int64_t* out = self._out
        cdef Py_ssize_t count, i
        self._encode(txn, member, self._vals)
        count = self._match(self._vals, self._acc, out)
        return _as_list(out, count, self._ints)

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
        cdef int64_t* out = self._out
        cdef Py_ssize_t count
        if vals.shape[0] < self.n_slots:
            raise ValueError(f"expected {self.n_slots} slots, got {vals.shape[0]}")
        count = self._match(&vals[0], self._acc, out)
        return _as_list(out, count, self._ints)

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


cdef inline list _as_list(const int64_t* out, Py_ssize_t count, tuple ints):
    """The first ``count`` results as a list of ints, built at its final size from the
    matcher's own int objects for the walk indices (immutable, so shared safely); ``ints``
    holds one for every walk index a row names."""
    cdef list result = PyList_New(count)
    cdef Py_ssize_t i
    cdef PyObject* item
    for i in range(count):
        item = PyTuple_GET_ITEM(ints, out[i])
        Py_INCREF(<object>item)
        PyList_SET_ITEM(result, i, <object>item)
    return result
