# cython: language_level=3, boundscheck=False, wraparound=False
"""An ``AuthorizeRequest`` read straight from its bytes into the engine's ``Transaction``.

protobuf's path builds a message, then :func:`.convert.transaction_in` reads it a field at
a time (each attribute a lookup by name and a new Python object) and checks every value:
about 55,000 instructions a request, a tenth of an in-process authorisation.  Here the wire
bytes are walked once and the transaction built from them, for the requests a switch
sends: every value plainly valid, nothing unusual about the encoding.

Anything else gives None and the caller takes protobuf's path, which answers it as it
always has (its errors, with their fields, are ``convert``'s, never this module's): a
field this module does not know or met twice, a wire type other than the field's, a
number out of its range, a currency named (the programme's own or another), text longer
than the limit, a redemption that is not one of the programme's wallets or asks what the
wallet cannot give, or bytes that are not a message at all.  A hypothesis test holds the
two paths to the same transactions.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)

cdef enum:
    VARINT = 0
    LEN = 2
    MAX_TEXT = 256
    MAX_LINES = 1000
    MAX_QTY = 1000000

cdef long long MAX_VALUE = 9007199254740991  # 2**53 - 1: exact in Redis' Lua numbers


cdef class _Cursor:
    """Where the reading is in ``data`` (``at``), how far the message being read goes
    (``end``), and ``ok``, which falls to False at the first thing that is not plainly a
    field of it."""

    cdef const unsigned char* data
    cdef Py_ssize_t at
    cdef Py_ssize_t end
    cdef bint ok

    cdef inline unsigned long long varint(self):
        cdef unsigned long long value = 0
        cdef int shift = 0
        cdef unsigned char byte
        while self.at < self.end and shift < 64:
            byte = self.data[self.at]
            self.at += 1
            value |= (<unsigned long long>(byte & 0x7F)) << shift
            if not byte & 0x80:
                return value
            shift += 7
        self.ok = False
        return 0

    cdef inline long long number(self, long long low, long long high):
        """A varint that must lie in ``low..high`` (as int64: a negative one is ten bytes
        of two's complement, so above every ``high`` here)."""
        cdef unsigned long long raw = self.varint()
        if raw > <unsigned long long>high or <long long>raw < low:
            self.ok = False
            return 0
        return <long long>raw

    cdef inline Py_ssize_t length(self):
        """The length of a LEN field, checked against what is left."""
        cdef unsigned long long size = self.varint()
        if size > <unsigned long long>(self.end - self.at):
            self.ok = False
            return 0
        return <Py_ssize_t>size

    cdef inline Py_ssize_t enter(self):
        """Go into the sub-message of a LEN field: reads stop at its end until
        :meth:`leave` is given what this returns (the end to read to after it)."""
        cdef Py_ssize_t outer = self.end
        cdef Py_ssize_t size = self.length()
        if self.ok:
            self.end = self.at + size
        return outer

    cdef inline void leave(self, Py_ssize_t outer):
        self.end = outer

    cdef inline bint more(self):
        """Whether a field follows in the message being read (and all is well so far)."""
        return self.ok and self.at < self.end

    cdef inline object text(self):
        """A string field's value (valid UTF-8 of at most ``MAX_TEXT`` characters), or
        None with ``ok`` False."""
        cdef Py_ssize_t size = self.length()
        if not self.ok:
            return None
        try:
            value = PyUnicode_DecodeUTF8(<const char*>self.data + self.at, size, NULL)
        except UnicodeDecodeError:
            self.ok = False
            return None
        self.at += size
        if len(<str>value) > MAX_TEXT:
            self.ok = False
            return None
        return value


cdef inline bint _tag(_Cursor c, int* number, int* wire):
    cdef unsigned long long key = c.varint()
    if not c.ok or key >> 3 == 0 or key >> 3 > 63:
        c.ok = False
        return False
    number[0] = <int>(key >> 3)
    wire[0] = <int>(key & 7)
    return True


cdef inline bint _first(unsigned long long* seen, int number):
    """Whether field ``number`` comes for the first time (protobuf merges or takes the
    last of one met twice: that is left to it)."""
    cdef unsigned long long bit = 1ULL << number
    if seen[0] & bit:
        return False
    seen[0] |= bit
    return True


cdef void _numbers(
    _Cursor c, int count, const long long* low, const long long* high, long long* out
):
    """A sub-message of varint fields only: field ``n`` (1 to ``count``, each once) within
    ``low[n - 1]..high[n - 1]`` into ``out[n - 1]``; any other field clears ``ok``."""
    cdef Py_ssize_t outer = c.enter()
    cdef int number = 0, wire = 0
    cdef unsigned long long seen = 0
    while c.more():
        if (not _tag(c, &number, &wire) or wire != VARINT or number > count
                or not _first(&seen, number)):
            c.ok = False
        else:
            out[number - 1] = c.number(low[number - 1], high[number - 1])
    c.leave(outer)


cdef long long _money(_Cursor c):
    """A ``Money`` of the programme currency given as none (``minor_units`` only: a
    currency, even the programme's, is for ``convert.money_in`` to check), its minor units
    0 to 2**53 - 1."""
    cdef long long low = 0, high = MAX_VALUE, units = 0
    _numbers(c, 1, &low, &high, &units)
    return units


cdef long long _seconds(_Cursor c, long long low, long long high):
    """A ``Timestamp``'s seconds within ``low..high - 1`` (its nanos, if any, 0 to
    999,999,999: the engine counts whole seconds)."""
    cdef long long lows[2]
    cdef long long highs[2]
    cdef long long values[2]
    lows[0], highs[0], values[0] = low, high - 1, 0
    lows[1], highs[1], values[1] = 0, 999999999, 0
    _numbers(c, 2, lows, highs, values)
    return values[0]


cdef class RequestReader:
    """What a programme accepts of a request without protobuf: its currency, its wallets
    (those of points apart), whether it sets a points value, the window of times it
    knows, and the constructors of the engine's values."""

    cdef str currency
    cdef dict wallets  # name -> True for a points wallet
    cdef bint points_value
    cdef long long low
    cdef long long high
    cdef object transaction
    cdef object basket_line
    cdef object redeem

    def __init__(
        self, currency, wallets, points_value, low, high, transaction, basket_line, redeem
    ):
        self.currency = currency
        self.wallets = dict(wallets)
        self.points_value = points_value
        self.low = low
        self.high = high
        self.transaction = transaction
        self.basket_line = basket_line
        self.redeem = redeem

    def read(self, bytes raw):
        """``(transaction, capture)`` of a serialized ``AuthorizeRequest``, or None where
        protobuf's path must read it."""
        cdef _Cursor c = _Cursor()
        cdef int number = 0, wire = 0
        cdef unsigned long long seen = 0
        cdef bint capture = False
        c.data = <const unsigned char*>PyBytes_AS_STRING(raw)
        c.at = 0
        c.end = PyBytes_GET_SIZE(raw)
        c.ok = True
        txn = None
        while c.more():
            if not _tag(c, &number, &wire):
                break
            if number == 1 and wire == LEN and _first(&seen, 1):
                txn = self._transaction(c)
            elif number == 2 and wire == VARINT and _first(&seen, 2):
                capture = c.varint() != 0
            else:
                c.ok = False
        if not c.ok or txn is None:
            return None
        return txn, capture

    cdef object _transaction(self, _Cursor c):
        cdef Py_ssize_t outer = c.enter()
        cdef int number = 0, wire = 0
        cdef unsigned long long seen = 0
        cdef long long seconds = 0, amount = 0, mcc = 0
        cdef list lines = []
        txn_id = merchant = terminal = country = card = card_bin = member = ""
        channel = "pos"
        redeem = None
        while c.more():
            if not _tag(c, &number, &wire):
                break
            if number == 12 and wire == LEN:  # a basket line (repeated)
                if len(lines) == MAX_LINES:
                    c.ok = False
                    break
                lines.append(self._line(c))
                continue
            if not _first(&seen, number):
                c.ok = False
            elif number == 6:
                if wire != VARINT:
                    c.ok = False
                else:
                    mcc = c.number(0, 9999)
            elif wire != LEN:
                c.ok = False
            elif number == 1:
                txn_id = c.text()
            elif number == 2:
                seconds = _seconds(c, self.low, self.high)
            elif number == 3:
                amount = _money(c)
            elif number == 4:
                merchant = c.text()
            elif number == 5:
                terminal = c.text()
            elif number == 7:
                channel = c.text()
                if c.ok and channel not in ("pos", "ecom", "app"):
                    c.ok = False  # "" (pos) and anything else: convert says
            elif number == 8:
                country = c.text()
            elif number == 9:
                card = c.text()
            elif number == 10:
                card_bin = c.text()
            elif number == 11:
                member = c.text()
            elif number == 13:
                redeem = self._redeem(c)
            else:
                c.ok = False
        c.leave(outer)
        # Required: the id, the time and the amount; a member or a card.
        if (not c.ok or not txn_id or not (seen >> 2) & 1 or not (seen >> 3) & 1
                or not (member or card)):
            c.ok = False
            return None
        return self.transaction(
            txn_id, seconds, amount, member, self.currency, merchant, terminal, mcc, channel,
            country, card, card_bin, tuple(lines), redeem,
        )

    cdef object _line(self, _Cursor c):
        cdef Py_ssize_t outer = c.enter()
        cdef int number = 0, wire = 0
        cdef unsigned long long seen = 0
        cdef long long qty = 1, units = 0
        sku = category = ""
        while c.more():
            if not _tag(c, &number, &wire) or not _first(&seen, number):
                c.ok = False
            elif number == 3 and wire == VARINT:
                qty = c.number(0, MAX_QTY) or 1  # 0 (unset) means 1
            elif wire != LEN:
                c.ok = False
            elif number == 1:
                sku = c.text()
            elif number == 2:
                category = c.text()
            elif number == 4:
                units = _money(c)
            else:
                c.ok = False
        c.leave(outer)
        if not (seen >> 4) & 1:  # no unit price
            c.ok = False
        return self.basket_line(sku, category, qty, units)

    cdef object _redeem(self, _Cursor c):
        cdef Py_ssize_t outer = c.enter()
        cdef int number = 0, wire = 0
        cdef unsigned long long seen = 0
        cdef long long units = 0, points = 0
        cdef bint most = False
        wallet = ""
        while c.more():
            if not _tag(c, &number, &wire) or not _first(&seen, number):
                c.ok = False
            elif number == 1 and wire == LEN:
                wallet = c.text()
            elif number == 2 and wire == LEN:
                units = _money(c)
            elif number == 3 and wire == VARINT:
                points = c.number(0, MAX_VALUE)
            elif number == 4 and wire == VARINT:
                most = c.varint() != 0
            else:
                c.ok = False
        c.leave(outer)
        kind = self.wallets.get(wallet)
        if kind is None or (kind and not self.points_value) or (points and not kind):
            c.ok = False  # an unknown wallet, points it cannot value or give: convert says
            return None
        amount = units if (seen >> 2) & 1 and not most else None
        return self.redeem(wallet, amount, points or None)
