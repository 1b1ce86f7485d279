"""Every exception a call can end with, mapped once to a gRPC status with details.

Servicers raise Tessera's own exceptions (an :class:`~tessera.engine.errors.InputError`
naming the field, a wallet store refusal, a :class:`ServiceError`); the error interceptor
turns them into a status code and a ``google.rpc.Status`` whose details say what was wrong
(``BadRequest`` field violations, ``ErrorInfo`` with a stable reason).  Nothing else knows
about status codes, and no library exception reaches a client untranslated.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from tessera.engine.errors import InputError, InternalError, RulesError, TesseraError
from tessera.server.wallets import errors as W

DOMAIN = "tessera.v1"


class ServiceError(TesseraError):
    """A refusal of the service itself; ``status`` is the gRPC code it answers with."""

    status: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION
    reason: str = "failed_precondition"

    def __init__(self, message: str, **metadata: str) -> None:
        self.message = message
        self.metadata = metadata
        super().__init__(message)


class NotFound(ServiceError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "not_found"


class AlreadyExists(ServiceError):
    status = grpc.StatusCode.ALREADY_EXISTS
    reason = "already_exists"


class DeadlineTooShort(ServiceError):
    """Less time is left than the write needs: answered before anything is written."""

    status = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "deadline_too_short"


class Unauthenticated(ServiceError):
    status = grpc.StatusCode.UNAUTHENTICATED
    reason = "unauthenticated"


class PermissionDenied(ServiceError):
    status = grpc.StatusCode.PERMISSION_DENIED
    reason = "permission_denied"


class Unavailable(ServiceError):
    status = grpc.StatusCode.UNAVAILABLE
    reason = "unavailable"


# Wallet store refusals by class, most specific first (the first isinstance wins).
_WALLET_CODES: tuple[tuple[type[W.WalletError], grpc.StatusCode], ...] = (
    (W.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (W.UnknownTransaction, grpc.StatusCode.NOT_FOUND),
    (W.MemberExists, grpc.StatusCode.ALREADY_EXISTS),
    (W.PayloadMismatch, grpc.StatusCode.ALREADY_EXISTS),
    (W.AmountExceedsRemaining, grpc.StatusCode.OUT_OF_RANGE),
    (W.StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
    (W.StateChanged, grpc.StatusCode.ABORTED),
    (W.InvalidStatus, grpc.StatusCode.FAILED_PRECONDITION),
    (W.ReversedBeforeAuthorization, grpc.StatusCode.FAILED_PRECONDITION),
)


def _pack(message: object) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)  # type: ignore[arg-type]
    return detail


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str, list[any_pb2.Any]]:
    """The code, message and details a failed call answers with."""
    if isinstance(exc, InputError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=exc.field, description=f"{exc.code}: {exc.message}"
        )
        return (
            grpc.StatusCode.INVALID_ARGUMENT,
            str(exc),
            [_pack(error_details_pb2.BadRequest(field_violations=[violation]))],
        )
    if isinstance(exc, RulesError):
        violations = [
            error_details_pb2.BadRequest.FieldViolation(
                field="rules.source", description=d.render().splitlines()[0]
            )
            for d in exc.diagnostics.errors[:20]
        ]
        return (
            grpc.StatusCode.INVALID_ARGUMENT,
            str(exc),
            [_pack(error_details_pb2.BadRequest(field_violations=violations))],
        )
    if isinstance(exc, ServiceError):
        info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=exc.metadata)
        return exc.status, exc.message, [_pack(info)]
    if isinstance(exc, W.WalletError):
        code = grpc.StatusCode.FAILED_PRECONDITION
        for cls, mapped in _WALLET_CODES:
            if isinstance(exc, cls):
                code = mapped
                break
        metadata = {k: str(v) for k, v in exc.details.items() if v is not None}
        info = error_details_pb2.ErrorInfo(reason=exc.code, domain=DOMAIN, metadata=metadata)
        details = [_pack(info)]
        field = exc.details.get("field")
        if code == grpc.StatusCode.INVALID_ARGUMENT and field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=str(field), description=exc.message
            )
            details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
        if exc.retryable:
            details.append(_pack(error_details_pb2.RetryInfo()))
        return code, exc.message, details
    if isinstance(exc, InternalError):
        return grpc.StatusCode.INTERNAL, f"internal error: {exc}", []
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}", []


def abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    """End the call with the status ``exc`` maps to (raises, as ``context.abort`` does)."""
    code, message, details = status_for(exc)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    status.details.extend(details)
    context.abort_with_status(rpc_status.to_status(status))


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) pairs of a failed call's BadRequest details (for clients, tests)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    out = []
    if status is None:
        return out
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out
