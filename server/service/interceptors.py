"""Cross-cutting work around every call: request ids, logs, latency, metrics, auth, errors.

Each interceptor wraps the method handler's behaviour once per method (handlers are cached),
so the per-call cost is one Python frame per concern.  Order (outermost first): requests
(id, log line, latency, metrics), auth (bearer token and role), errors (Tessera exceptions
to status codes, :mod:`.errors`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import orjson
from tessera.engine.errors import TesseraError

from .config import MARKETER, SWITCH, Principal
from .errors import PermissionDenied, Unauthenticated, abort
from .metrics import Metrics

request_log = logging.getLogger("tessera.requests")

Behaviour = Callable[[Any, grpc.ServicerContext], Any]

# The role each service requires; services not listed (health, reflection) are open.
ROLES = {"tessera.v1.Authorization": SWITCH, "tessera.v1.Members": SWITCH,
         "tessera.v1.Rules": MARKETER}


def _rewrap(handler: grpc.RpcMethodHandler, wrap: Callable[[Behaviour, bool], Behaviour]) -> Any:
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary, False), handler.request_deserializer,
            handler.response_serializer)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap(handler.unary_stream, True), handler.request_deserializer,
            handler.response_serializer)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary, False), handler.request_deserializer,
            handler.response_serializer)
    return grpc.stream_stream_rpc_method_handler(
        wrap(handler.stream_stream, True), handler.request_deserializer,
        handler.response_serializer)


class _Wrapping(grpc.ServerInterceptor):
    """Wraps each method's behaviour once; subclasses say how."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        method = details.method
        cached = self._cache.get(method)
        if cached is not None:
            return cached
        handler = continuation(details)
        if handler is None:
            return None
        wrapped = _rewrap(handler, lambda behaviour, streaming: self.wrap(
            method, behaviour, streaming))
        self._cache[method] = wrapped
        return wrapped

    def wrap(self, method: str, behaviour: Behaviour, streaming: bool) -> Behaviour:
        raise NotImplementedError


def _metadata(context: grpc.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return item.value if isinstance(item.value, str) else item.value.decode()
    return None


class RequestInterceptor(_Wrapping):
    """A request id (``x-request-id``, made when absent, echoed in trailers), one structured
    log line per call with its latency and status, and the Prometheus counters."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def wrap(self, method: str, behaviour: Behaviour, streaming: bool) -> Behaviour:
        short = method.rsplit(".", 1)[-1].replace("/", ".")
        metrics = self.metrics

        def finish(context: grpc.ServicerContext, rid: str, started: float, failed: bool) -> None:
            seconds = time.perf_counter() - started
            code = context.code() if hasattr(context, "code") else None
            name = code.name if isinstance(code, grpc.StatusCode) else (
                "UNKNOWN" if failed else "OK")
            metrics.observe(short, name, seconds)
            if request_log.isEnabledFor(logging.INFO):
                request_log.info(orjson.dumps({
                    "method": short, "code": name, "ms": round(seconds * 1000, 3),
                    "request_id": rid, "peer": context.peer(),
                }).decode())

        def start(context: grpc.ServicerContext) -> str:
            rid = _metadata(context, "x-request-id") or uuid.uuid4().hex
            context.set_trailing_metadata((("x-request-id", rid),))
            return rid

        if not streaming:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                started = time.perf_counter()
                rid = start(context)
                failed = True
                try:
                    response = behaviour(request, context)
                    failed = False
                    return response
                finally:
                    finish(context, rid, started, failed)
            return unary

        def stream(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            rid = start(context)
            failed = True
            try:
                yield from behaviour(request, context)
                failed = False
            finally:
                finish(context, rid, started, failed)
        return stream


class AuthInterceptor(_Wrapping):
    """``authorization: Bearer <token>`` must name a principal with the service's role."""

    def __init__(self, tokens: dict[str, Principal]) -> None:
        super().__init__()
        self.tokens = tokens

    def principal(self, context: grpc.ServicerContext) -> Principal:
        header = _metadata(context, "authorization")
        if not header or not header.startswith("Bearer "):
            raise Unauthenticated("a bearer token is required (authorization: Bearer TOKEN)")
        principal = self.tokens.get(header[7:].strip())
        if principal is None:
            raise Unauthenticated("unknown bearer token")
        return principal

    def wrap(self, method: str, behaviour: Behaviour, streaming: bool) -> Behaviour:
        service = method.lstrip("/").split("/", 1)[0]
        role = ROLES.get(service)
        if role is None:
            return behaviour

        def check(context: grpc.ServicerContext) -> None:
            try:
                principal = self.principal(context)
                if role not in principal.roles:
                    raise PermissionDenied(f"{service} needs the {role} role", role=role)
            except TesseraError as exc:
                abort(context, exc)

        if not streaming:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                check(context)
                return behaviour(request, context)
            return unary

        def stream(request: Any, context: grpc.ServicerContext) -> Any:
            check(context)
            yield from behaviour(request, context)
        return stream


class ErrorInterceptor(_Wrapping):
    """Tessera's exceptions to status codes, once for every method (:func:`.errors.abort`).

    Anything else is a bug: logged with its traceback and answered INTERNAL without detail.
    """

    def wrap(self, method: str, behaviour: Behaviour, streaming: bool) -> Behaviour:
        log = logging.getLogger("tessera.service")

        def handle(context: grpc.ServicerContext, exc: Exception) -> None:
            if not isinstance(exc, TesseraError):
                log.exception("%s failed", method)
            abort(context, exc)

        if not streaming:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    return behaviour(request, context)
                except Exception as exc:
                    if _aborted(context):
                        raise
                    handle(context, exc)
            return unary

        def stream(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                yield from behaviour(request, context)
            except Exception as exc:
                if _aborted(context):
                    raise
                handle(context, exc)
        return stream


def _aborted(context: grpc.ServicerContext) -> bool:
    """``context.abort`` raised: the status is set already and must pass through."""
    code = context.code() if hasattr(context, "code") else None
    return code is not None and code != grpc.StatusCode.OK
