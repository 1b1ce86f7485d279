"""Where each value a programme reads sits in the encoded transaction.

The compiled matcher sees a transaction as a vector of int64 *slots*.  The layout lists the
slots this programme needs, with the operation that fills each one, so that a programme
that never tests ``terminal`` never pays to read it.  Text becomes a dictionary id
(-1 for a value no rule names); many-valued attributes become bit masks over the names the
rules use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import program as P

# Encode operations, shared with ext/_match.pyx (keep the numbers in step).
OP_AMOUNT = 1
OP_MCC = 2
OP_CHANNEL = 3
OP_TIME = 4
OP_DATE = 5
OP_WEEKDAY = 6
OP_HOUR = 7
OP_MINUTE = 8
OP_TEXT = 9  # arg: index into TEXT_FIELDS
OP_MERCHANT_GROUPS = 10  # arg: number of mask words
OP_TIER = 11
OP_TXN_COUNT = 12
OP_SPEND_30D = 13
OP_SPEND_12M = 14
OP_DAYS_SINCE_LAST = 15
OP_DAYS_ENROLLED = 16
OP_SEGMENTS = 17  # arg: number of mask words
OP_BALANCE = 18  # arg: index into layout.wallets
OP_ATTR_TEXT = 19  # arg: index into layout.attr_names
OP_ATTR_NUMBER = 20  # arg: index into layout.attr_names
OP_BASKET_QTY = 21  # arg: filter index
OP_BASKET_AMOUNT = 22
OP_BASKET_HAS = 23

TEXT_FIELDS = ("currency", "country", "merchant", "terminal", "card_bin")
_SIMPLE_OPS = {
    "amount": OP_AMOUNT,
    "mcc": OP_MCC,
    "channel": OP_CHANNEL,
    "time": OP_TIME,
    "date": OP_DATE,
    "weekday": OP_WEEKDAY,
    "hour": OP_HOUR,
    "minute": OP_MINUTE,
    "tier": OP_TIER,
    "txn_count": OP_TXN_COUNT,
    "spend_30d": OP_SPEND_30D,
    "spend_12m": OP_SPEND_12M,
    "days_since_last": OP_DAYS_SINCE_LAST,
    "days_enrolled": OP_DAYS_ENROLLED,
}
_BASKET_OPS = {
    "basket_qty": OP_BASKET_QTY,
    "basket_amount": OP_BASKET_AMOUNT,
    "basket_has": OP_BASKET_HAS,
}

# Line slots used by basket filters.
LINE_SKU, LINE_CATEGORY, LINE_UNIT_PRICE, LINE_QTY = 0, 1, 2, 3
LINE_SLOTS = {
    "sku": LINE_SKU,
    "category": LINE_CATEGORY,
    "unit_price": LINE_UNIT_PRICE,
    "qty": LINE_QTY,
}


def mask_words(count: int) -> int:
    return max(1, (count + 63) // 64)


@dataclass(slots=True)
class Layout:
    ops: list[tuple[int, int, int]] = field(default_factory=list)  # (op, slot, arg)
    slots: dict[object, int] = field(default_factory=dict)
    size: int = 0
    text_ids: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> value -> id
    line_ids: dict[str, dict[str, int]] = field(default_factory=dict)  # sku/category -> id
    wallets: list[str] = field(default_factory=list)
    attr_names: list[str] = field(default_factory=list)
    merchant_groups: list[str] = field(default_factory=list)  # bit order
    segments: list[str] = field(default_factory=list)  # bit order
    attr_slots: dict[P.Attr, int] = field(default_factory=dict)  # slot_of's answers

    def _claim(self, key: object, op: int, arg: int = 0, width: int = 1) -> int:
        slot = self.slots.get(key)
        if slot is None:
            slot = self.size
            self.slots[key] = slot
            self.size += width
            self.ops.append((op, slot, arg))
        return slot

    def slot_of(self, attr: P.Attr) -> int:
        """The slot holding ``attr``, claimed on first use."""
        slot = self.attr_slots.get(attr)
        if slot is None:
            slot = self.attr_slots[attr] = self._slot_of(attr)
        return slot

    def _slot_of(self, attr: P.Attr) -> int:
        kind = attr.kind
        if kind in _SIMPLE_OPS:
            return self._claim(kind, _SIMPLE_OPS[kind])
        if kind in TEXT_FIELDS:
            self.text_ids.setdefault(kind, {})
            return self._claim(("text", kind), OP_TEXT, TEXT_FIELDS.index(kind))
        if kind == "balance":
            if attr.arg not in self.wallets:
                self.wallets.append(str(attr.arg))
            return self._claim(("balance", attr.arg), OP_BALANCE, self.wallets.index(str(attr.arg)))
        if kind == "attr":
            name = str(attr.arg)
            if name not in self.attr_names:
                self.attr_names.append(name)
            index = self.attr_names.index(name)
            if attr.type == "text":
                self.text_ids.setdefault(f"attr:{name}", {})
                return self._claim(("attr", name), OP_ATTR_TEXT, index)
            return self._claim(("attr", name), OP_ATTR_NUMBER, index)
        if kind in _BASKET_OPS:
            return self._claim((kind, attr.arg), _BASKET_OPS[kind], int(attr.arg or 0))
        raise KeyError(f"no slot for {attr}")  # pragma: no cover - checker prevents it

    def text_id(self, field_name: str, value: str) -> int:
        ids = self.text_ids.setdefault(field_name, {})
        return ids.setdefault(value, len(ids))

    def line_id(self, field_name: str, value: str) -> int:
        ids = self.line_ids.setdefault(field_name, {})
        return ids.setdefault(value, len(ids))

    def merchant_group_slot(self, total_groups: int) -> int:
        return self._claim(
            "merchant_groups",
            OP_MERCHANT_GROUPS,
            mask_words(total_groups),
            mask_words(total_groups),
        )

    def segments_slot(self, total: int) -> int:
        return self._claim("segments", OP_SEGMENTS, mask_words(total), mask_words(total))
