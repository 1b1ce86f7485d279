import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Member(_message.Message):
    __slots__ = ("member", "tier", "segments", "attrs", "cards", "consents", "txn_count", "spend_30d", "spend_12m", "balances", "enrolled", "erased", "opaque_id")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ConsentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    CARDS_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    TXN_COUNT_FIELD_NUMBER: _ClassVar[int]
    SPEND_30D_FIELD_NUMBER: _ClassVar[int]
    SPEND_12M_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    OPAQUE_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    tier: str
    segments: _containers.RepeatedScalarFieldContainer[str]
    attrs: _containers.ScalarMap[str, str]
    cards: _containers.RepeatedScalarFieldContainer[str]
    consents: _containers.ScalarMap[str, bool]
    txn_count: int
    spend_30d: _common_pb2.Money
    spend_12m: _common_pb2.Money
    balances: _containers.RepeatedCompositeFieldContainer[_common_pb2.Balance]
    enrolled: _timestamp_pb2.Timestamp
    erased: bool
    opaque_id: str
    def __init__(self, member: _Optional[str] = ..., tier: _Optional[str] = ..., segments: _Optional[_Iterable[str]] = ..., attrs: _Optional[_Mapping[str, str]] = ..., cards: _Optional[_Iterable[str]] = ..., consents: _Optional[_Mapping[str, bool]] = ..., txn_count: _Optional[int] = ..., spend_30d: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., spend_12m: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., balances: _Optional[_Iterable[_Union[_common_pb2.Balance, _Mapping]]] = ..., enrolled: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erased: _Optional[bool] = ..., opaque_id: _Optional[str] = ...) -> None: ...

class EnrolRequest(_message.Message):
    __slots__ = ("member", "tier", "segments", "attrs", "cards", "consents")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ConsentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    CARDS_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    member: str
    tier: str
    segments: _containers.RepeatedScalarFieldContainer[str]
    attrs: _containers.ScalarMap[str, str]
    cards: _containers.RepeatedScalarFieldContainer[str]
    consents: _containers.ScalarMap[str, bool]
    def __init__(self, member: _Optional[str] = ..., tier: _Optional[str] = ..., segments: _Optional[_Iterable[str]] = ..., attrs: _Optional[_Mapping[str, str]] = ..., cards: _Optional[_Iterable[str]] = ..., consents: _Optional[_Mapping[str, bool]] = ...) -> None: ...

class GetMemberRequest(_message.Message):
    __slots__ = ("member", "card")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("member", "page_size", "page_token")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member: str
    page_size: int
    page_token: str
    def __init__(self, member: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("id", "time", "txn_id", "op", "kind", "rule", "wallet", "delta", "balance", "funders")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    FUNDERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    time: _timestamp_pb2.Timestamp
    txn_id: str
    op: str
    kind: str
    rule: str
    wallet: str
    delta: int
    balance: int
    funders: _containers.RepeatedCompositeFieldContainer[_common_pb2.FunderLine]
    def __init__(self, id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., txn_id: _Optional[str] = ..., op: _Optional[str] = ..., kind: _Optional[str] = ..., rule: _Optional[str] = ..., wallet: _Optional[str] = ..., delta: _Optional[int] = ..., balance: _Optional[int] = ..., funders: _Optional[_Iterable[_Union[_common_pb2.FunderLine, _Mapping]]] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LinkCardRequest(_message.Message):
    __slots__ = ("member", "card", "replaces")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    REPLACES_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    replaces: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ..., replaces: _Optional[str] = ...) -> None: ...

class UnlinkCardRequest(_message.Message):
    __slots__ = ("member", "card")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ...) -> None: ...

class SetConsentsRequest(_message.Message):
    __slots__ = ("member", "consents")
    class ConsentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    member: str
    consents: _containers.ScalarMap[str, bool]
    def __init__(self, member: _Optional[str] = ..., consents: _Optional[_Mapping[str, bool]] = ...) -> None: ...

class EraseRequest(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    def __init__(self, member: _Optional[str] = ...) -> None: ...

class EraseResponse(_message.Message):
    __slots__ = ("opaque_id",)
    OPAQUE_ID_FIELD_NUMBER: _ClassVar[int]
    opaque_id: str
    def __init__(self, opaque_id: _Optional[str] = ...) -> None: ...
