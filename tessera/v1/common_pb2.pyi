import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Money(_message.Message):
    __slots__ = ("minor_units", "currency")
    MINOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    minor_units: int
    currency: str
    def __init__(self, minor_units: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class BasketLine(_message.Message):
    __slots__ = ("sku", "category", "qty", "unit_price")
    SKU_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    category: str
    qty: int
    unit_price: Money
    def __init__(self, sku: _Optional[str] = ..., category: _Optional[str] = ..., qty: _Optional[int] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Redeem(_message.Message):
    __slots__ = ("wallet", "amount", "points", "max")
    WALLET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    wallet: str
    amount: Money
    points: int
    max: bool
    def __init__(self, wallet: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., points: _Optional[int] = ..., max: _Optional[bool] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("txn_id", "time", "amount", "merchant", "terminal", "mcc", "channel", "country", "card", "card_bin", "member", "basket", "redeem")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    MCC_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    CARD_BIN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    BASKET_FIELD_NUMBER: _ClassVar[int]
    REDEEM_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    time: _timestamp_pb2.Timestamp
    amount: Money
    merchant: str
    terminal: str
    mcc: int
    channel: str
    country: str
    card: str
    card_bin: str
    member: str
    basket: _containers.RepeatedCompositeFieldContainer[BasketLine]
    redeem: Redeem
    def __init__(self, txn_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., merchant: _Optional[str] = ..., terminal: _Optional[str] = ..., mcc: _Optional[int] = ..., channel: _Optional[str] = ..., country: _Optional[str] = ..., card: _Optional[str] = ..., card_bin: _Optional[str] = ..., member: _Optional[str] = ..., basket: _Optional[_Iterable[_Union[BasketLine, _Mapping]]] = ..., redeem: _Optional[_Union[Redeem, _Mapping]] = ...) -> None: ...

class Effect(_message.Message):
    __slots__ = ("type", "wallet", "amount", "points", "draw", "segment", "available_at", "expires_at")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    DRAW_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    type: str
    wallet: str
    amount: Money
    points: int
    draw: str
    segment: str
    available_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[str] = ..., wallet: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., points: _Optional[int] = ..., draw: _Optional[str] = ..., segment: _Optional[str] = ..., available_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FunderLine(_message.Message):
    __slots__ = ("funder", "amount", "points")
    FUNDER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    funder: str
    amount: Money
    points: int
    def __init__(self, funder: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., points: _Optional[int] = ...) -> None: ...

class AppliedRule(_message.Message):
    __slots__ = ("rule", "effects", "funders")
    RULE_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    FUNDERS_FIELD_NUMBER: _ClassVar[int]
    rule: str
    effects: _containers.RepeatedCompositeFieldContainer[Effect]
    funders: _containers.RepeatedCompositeFieldContainer[FunderLine]
    def __init__(self, rule: _Optional[str] = ..., effects: _Optional[_Iterable[_Union[Effect, _Mapping]]] = ..., funders: _Optional[_Iterable[_Union[FunderLine, _Mapping]]] = ...) -> None: ...

class SkippedRule(_message.Message):
    __slots__ = ("rule", "reason", "detail")
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    rule: str
    reason: str
    detail: str
    def __init__(self, rule: _Optional[str] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class Redemption(_message.Message):
    __slots__ = ("wallet", "requested", "amount", "points", "reason")
    WALLET_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    wallet: str
    requested: Money
    amount: Money
    points: int
    reason: str
    def __init__(self, wallet: _Optional[str] = ..., requested: _Optional[_Union[Money, _Mapping]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("wallet", "amount", "points")
    WALLET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    wallet: str
    amount: Money
    points: int
    def __init__(self, wallet: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., points: _Optional[int] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("txn_id", "member", "ruleset_version", "decision_id", "amount", "discount", "redeemed", "charged", "applied", "skipped", "redemption", "balances", "status", "hold_until", "stand_in")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    RULESET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_FIELD_NUMBER: _ClassVar[int]
    CHARGED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HOLD_UNTIL_FIELD_NUMBER: _ClassVar[int]
    STAND_IN_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    member: str
    ruleset_version: str
    decision_id: str
    amount: Money
    discount: Money
    redeemed: Money
    charged: Money
    applied: _containers.RepeatedCompositeFieldContainer[AppliedRule]
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedRule]
    redemption: Redemption
    balances: _containers.RepeatedCompositeFieldContainer[Balance]
    status: str
    hold_until: _timestamp_pb2.Timestamp
    stand_in: bool
    def __init__(self, txn_id: _Optional[str] = ..., member: _Optional[str] = ..., ruleset_version: _Optional[str] = ..., decision_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., discount: _Optional[_Union[Money, _Mapping]] = ..., redeemed: _Optional[_Union[Money, _Mapping]] = ..., charged: _Optional[_Union[Money, _Mapping]] = ..., applied: _Optional[_Iterable[_Union[AppliedRule, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[SkippedRule, _Mapping]]] = ..., redemption: _Optional[_Union[Redemption, _Mapping]] = ..., balances: _Optional[_Iterable[_Union[Balance, _Mapping]]] = ..., status: _Optional[str] = ..., hold_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stand_in: _Optional[bool] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("rule", "matched", "applied", "reason", "detail", "failed", "at", "source")
    RULE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    rule: str
    matched: bool
    applied: bool
    reason: str
    detail: str
    failed: str
    at: str
    source: str
    def __init__(self, rule: _Optional[str] = ..., matched: _Optional[bool] = ..., applied: _Optional[bool] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., failed: _Optional[str] = ..., at: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class MemberState(_message.Message):
    __slots__ = ("member", "tier", "segments", "txn_count", "spend_30d", "spend_12m", "attrs", "balances")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    TXN_COUNT_FIELD_NUMBER: _ClassVar[int]
    SPEND_30D_FIELD_NUMBER: _ClassVar[int]
    SPEND_12M_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    member: str
    tier: str
    segments: _containers.RepeatedScalarFieldContainer[str]
    txn_count: int
    spend_30d: Money
    spend_12m: Money
    attrs: _containers.ScalarMap[str, str]
    balances: _containers.RepeatedCompositeFieldContainer[Balance]
    def __init__(self, member: _Optional[str] = ..., tier: _Optional[str] = ..., segments: _Optional[_Iterable[str]] = ..., txn_count: _Optional[int] = ..., spend_30d: _Optional[_Union[Money, _Mapping]] = ..., spend_12m: _Optional[_Union[Money, _Mapping]] = ..., attrs: _Optional[_Mapping[str, str]] = ..., balances: _Optional[_Iterable[_Union[Balance, _Mapping]]] = ...) -> None: ...
