import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Diagnostic(_message.Message):
    __slots__ = ("severity", "code", "message", "file", "line", "column", "source_line")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LINE_FIELD_NUMBER: _ClassVar[int]
    severity: str
    code: str
    message: str
    file: str
    line: int
    column: int
    source_line: str
    def __init__(self, severity: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ..., column: _Optional[int] = ..., source_line: _Optional[str] = ...) -> None: ...

class RulesSource(_message.Message):
    __slots__ = ("filename", "source", "files")
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    filename: str
    source: str
    files: _containers.ScalarMap[str, str]
    def __init__(self, filename: _Optional[str] = ..., source: _Optional[str] = ..., files: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: RulesSource
    def __init__(self, rules: _Optional[_Union[RulesSource, _Mapping]] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("ok", "diagnostics", "version", "rule_count")
    OK_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    diagnostics: _containers.RepeatedCompositeFieldContainer[Diagnostic]
    version: str
    rule_count: int
    def __init__(self, ok: _Optional[bool] = ..., diagnostics: _Optional[_Iterable[_Union[Diagnostic, _Mapping]]] = ..., version: _Optional[str] = ..., rule_count: _Optional[int] = ...) -> None: ...

class VersionInfo(_message.Message):
    __slots__ = ("version", "program", "filename", "uploaded_by", "uploaded_at", "rule_count", "active", "comment")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_BY_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_AT_FIELD_NUMBER: _ClassVar[int]
    RULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    version: str
    program: str
    filename: str
    uploaded_by: str
    uploaded_at: _timestamp_pb2.Timestamp
    rule_count: int
    active: bool
    comment: str
    def __init__(self, version: _Optional[str] = ..., program: _Optional[str] = ..., filename: _Optional[str] = ..., uploaded_by: _Optional[str] = ..., uploaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rule_count: _Optional[int] = ..., active: _Optional[bool] = ..., comment: _Optional[str] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("rules", "comment", "activate")
    RULES_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_FIELD_NUMBER: _ClassVar[int]
    rules: RulesSource
    comment: str
    activate: bool
    def __init__(self, rules: _Optional[_Union[RulesSource, _Mapping]] = ..., comment: _Optional[str] = ..., activate: _Optional[bool] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("version", "diagnostics", "created")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    version: VersionInfo
    diagnostics: _containers.RepeatedCompositeFieldContainer[Diagnostic]
    created: bool
    def __init__(self, version: _Optional[_Union[VersionInfo, _Mapping]] = ..., diagnostics: _Optional[_Iterable[_Union[Diagnostic, _Mapping]]] = ..., created: _Optional[bool] = ...) -> None: ...

class ActivateRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class ActivateResponse(_message.Message):
    __slots__ = ("active", "previous")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    active: VersionInfo
    previous: str
    def __init__(self, active: _Optional[_Union[VersionInfo, _Mapping]] = ..., previous: _Optional[str] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions", "active")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[VersionInfo]
    active: str
    def __init__(self, versions: _Optional[_Iterable[_Union[VersionInfo, _Mapping]]] = ..., active: _Optional[str] = ...) -> None: ...

class DiffRequest(_message.Message):
    __slots__ = ("from_version", "to_version")
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    from_version: str
    to_version: str
    def __init__(self, from_version: _Optional[str] = ..., to_version: _Optional[str] = ...) -> None: ...

class DiffResponse(_message.Message):
    __slots__ = ("added", "removed", "changed")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    changed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., changed: _Optional[_Iterable[str]] = ...) -> None: ...

class SimulateRequest(_message.Message):
    __slots__ = ("version", "explain", "members", "transaction")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    version: str
    explain: bool
    members: _containers.RepeatedCompositeFieldContainer[_common_pb2.MemberState]
    transaction: _common_pb2.Transaction
    def __init__(self, version: _Optional[str] = ..., explain: _Optional[bool] = ..., members: _Optional[_Iterable[_Union[_common_pb2.MemberState, _Mapping]]] = ..., transaction: _Optional[_Union[_common_pb2.Transaction, _Mapping]] = ...) -> None: ...

class SimulateResponse(_message.Message):
    __slots__ = ("decision", "explain", "error_field", "error")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    decision: _common_pb2.Decision
    explain: _containers.RepeatedCompositeFieldContainer[_common_pb2.Explanation]
    error_field: str
    error: str
    def __init__(self, decision: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ..., explain: _Optional[_Iterable[_Union[_common_pb2.Explanation, _Mapping]]] = ..., error_field: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...
