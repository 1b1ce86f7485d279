from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuthorizeRequest(_message.Message):
    __slots__ = ("transaction", "capture")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_FIELD_NUMBER: _ClassVar[int]
    transaction: _common_pb2.Transaction
    capture: bool
    def __init__(self, transaction: _Optional[_Union[_common_pb2.Transaction, _Mapping]] = ..., capture: _Optional[bool] = ...) -> None: ...

class AuthorizeResponse(_message.Message):
    __slots__ = ("decision", "txn_id", "error_code", "error_field", "error")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    decision: _common_pb2.Decision
    txn_id: str
    error_code: str
    error_field: str
    error: str
    def __init__(self, decision: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ..., txn_id: _Optional[str] = ..., error_code: _Optional[str] = ..., error_field: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class CaptureRequest(_message.Message):
    __slots__ = ("txn_id", "member", "card", "amount")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    member: str
    card: str
    amount: _common_pb2.Money
    def __init__(self, txn_id: _Optional[str] = ..., member: _Optional[str] = ..., card: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class CaptureResponse(_message.Message):
    __slots__ = ("txn_id", "status", "captured", "released", "balances")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    status: str
    captured: _common_pb2.Money
    released: _common_pb2.Money
    balances: _containers.RepeatedCompositeFieldContainer[_common_pb2.Balance]
    def __init__(self, txn_id: _Optional[str] = ..., status: _Optional[str] = ..., captured: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., released: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., balances: _Optional[_Iterable[_Union[_common_pb2.Balance, _Mapping]]] = ...) -> None: ...

class ReverseRequest(_message.Message):
    __slots__ = ("txn_id", "member", "card")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    member: str
    card: str
    def __init__(self, txn_id: _Optional[str] = ..., member: _Optional[str] = ..., card: _Optional[str] = ...) -> None: ...

class ReverseResponse(_message.Message):
    __slots__ = ("txn_id", "status", "early", "balances", "shortfall")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EARLY_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    status: str
    early: bool
    balances: _containers.RepeatedCompositeFieldContainer[_common_pb2.Balance]
    shortfall: _containers.RepeatedCompositeFieldContainer[_common_pb2.Balance]
    def __init__(self, txn_id: _Optional[str] = ..., status: _Optional[str] = ..., early: _Optional[bool] = ..., balances: _Optional[_Iterable[_Union[_common_pb2.Balance, _Mapping]]] = ..., shortfall: _Optional[_Iterable[_Union[_common_pb2.Balance, _Mapping]]] = ...) -> None: ...

class RefundRequest(_message.Message):
    __slots__ = ("txn_id", "member", "card", "refund_id", "amount")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    member: str
    card: str
    refund_id: str
    amount: _common_pb2.Money
    def __init__(self, txn_id: _Optional[str] = ..., member: _Optional[str] = ..., card: _Optional[str] = ..., refund_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class RefundResponse(_message.Message):
    __slots__ = ("txn_id", "refund_id", "status", "amount", "refunded", "remaining", "balances", "shortfall")
    TXN_ID_FIELD_NUMBER: _ClassVar[int]
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    txn_id: str
    refund_id: str
    status: str
    amount: _common_pb2.Money
    refunded: _common_pb2.Money
    remaining: _common_pb2.Money
    balances: _containers.RepeatedCompositeFieldContainer[_common_pb2.Balance]
    shortfall: _containers.RepeatedCompositeFieldContainer[_common_pb2.Balance]
    def __init__(self, txn_id: _Optional[str] = ..., refund_id: _Optional[str] = ..., status: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., refunded: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., remaining: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., balances: _Optional[_Iterable[_Union[_common_pb2.Balance, _Mapping]]] = ..., shortfall: _Optional[_Iterable[_Union[_common_pb2.Balance, _Mapping]]] = ...) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
