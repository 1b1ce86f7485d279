"""Cross-cutting work around every call: request ids, logs, latency, metrics, auth, errors.

One interceptor does all of it in one Python frame per call, with everything that does not
depend on the call worked out once per method (handlers are cached): the metric children,
the role the service needs, the method's short name.  Per call it reads the metadata once
(bearer token and request id together), checks the token (a dict lookup), runs the method,
maps a Tessera exception to its status (:mod:`.errors`), and counts and logs the call.

The log line (one JSON object a call) is queued and written by a background thread in
batches (:class:`RequestLog`), so a call costs a formatted line, not a write to stderr.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import orjson
from tessera.engine.errors import TesseraError

from .config import MARKETER, SWITCH, Principal
from .errors import PermissionDenied, Unauthenticated, abort, status_for
from .metrics import Metrics

request_log = logging.getLogger("tessera.requests")
log = logging.getLogger("tessera.service")

Behaviour = Callable[[Any, grpc.ServicerContext], Any]

# The role each service requires; services not listed (health, reflection) are open.
ROLES = {"tessera.v1.Authorization": SWITCH, "tessera.v1.Members": SWITCH,
         "tessera.v1.Rules": MARKETER}

# Request ids made here: a per-process random prefix and a counter (unique, and cheap).
_ID_PREFIX = os.urandom(6).hex() + "-"
_ids = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):x}"


def _metadata(context: grpc.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return item.value if isinstance(item.value, str) else item.value.decode()
    return None


class AuthInterceptor:
    """``authorization: Bearer <token>`` must name a principal with the service's role.

    Not a gRPC interceptor of its own any more (:class:`CallInterceptor` calls it); the
    servicers ask it who the caller is (``Upload`` records the uploader)."""

    def __init__(self, tokens: dict[str, Principal]) -> None:
        self.tokens = tokens

    def principal_for(self, header: str | None) -> Principal:
        if not header or not header.startswith("Bearer "):
            raise Unauthenticated("a bearer token is required (authorization: Bearer TOKEN)")
        principal = self.tokens.get(header[7:].strip())
        if principal is None:
            raise Unauthenticated("unknown bearer token")
        return principal

    def principal(self, context: grpc.ServicerContext) -> Principal:
        return self.principal_for(_metadata(context, "authorization"))

    def check(self, header: str | None, service: str, role: str) -> None:
        if role not in self.principal_for(header).roles:
            raise PermissionDenied(f"{service} needs the {role} role", role=role)


class RequestLog:
    """Request log lines, queued by the calls and written in batches every ``interval``.

    Each batch is one record of ``tessera.requests`` holding one JSON line per call, so
    the handlers (stderr under ``tessera serve``) see whole lines; a call costs a deque
    append.  :meth:`flush` writes what is queued (at shutdown, or when a test wants it)."""

    def __init__(self, logger: logging.Logger = request_log, interval: float = 0.2) -> None:
        self.logger = logger
        self.interval = interval
        self._queue: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def write(self, line: str) -> None:
        self._queue.append(line)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="tessera-request-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        """Write what is queued and stop the writer (lines queued later are written by the
        next :meth:`flush`, if any)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=5)
        self.flush()

    def flush(self) -> None:
        lines = []
        queue = self._queue
        while queue:
            lines.append(queue.popleft())
        if lines:
            self.logger.info("\n".join(lines))


class CallInterceptor(grpc.ServerInterceptor):
    """Request id (``x-request-id``, made when absent, echoed in trailers), auth, errors to
    status codes, the Prometheus counters and one log line — per call, one frame."""

    def __init__(self, metrics: Metrics, auth: AuthInterceptor, requests: RequestLog) -> None:
        self.metrics = metrics
        self.auth = auth
        self.requests = requests
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
        short = method.rsplit(".", 1)[-1].replace("/", ".")
        service = method.lstrip("/").split("/", 1)[0]
        role = ROLES.get(service)
        auth = self.auth
        requests = self.requests
        count, latency = self.metrics.children(short)
        perf_counter = time.perf_counter

        def begin(context: grpc.ServicerContext) -> str:
            """Read the metadata once; echo the request id; check the caller."""
            rid = header = None
            for key, value in context.invocation_metadata() or ():
                if key == "x-request-id":
                    rid = value if isinstance(value, str) else value.decode()
                elif key == "authorization":
                    header = value
            if rid is None:
                rid = new_request_id()
            context.set_trailing_metadata((("x-request-id", rid),))
            if role is not None:
                auth.check(header, service, role)
            return rid

        def failed(context: grpc.ServicerContext, exc: Exception) -> tuple[str, bool]:
            """The status of a call that raised, and whether it is set already (the call
            was aborted: the status must pass through)."""
            code = context.code() if hasattr(context, "code") else None
            if code is not None and code != grpc.StatusCode.OK:
                return code.name, True
            if not isinstance(exc, TesseraError):
                log.exception("%s failed", method)
            return status_for(exc)[0].name, False

        def finish(context: grpc.ServicerContext, rid: str, started: float, code: str) -> None:
            seconds = perf_counter() - started
            count(code).inc()
            latency.observe(seconds)
            if requests.enabled():
                requests.write(orjson.dumps({
                    "method": short, "code": code, "ms": round(seconds * 1000, 3),
                    "request_id": rid, "peer": context.peer(),
                }).decode())

        if not streaming:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                started = perf_counter()
                rid = ""
                code = "OK"
                try:
                    rid = begin(context)
                    return behaviour(request, context)
                except Exception as exc:
                    code, aborted = failed(context, exc)
                    if aborted:
                        raise
                    abort(context, exc)  # raises
                finally:
                    finish(context, rid, started, code)
            return unary

        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = perf_counter()
            rid = ""
            code = "OK"
            try:
                rid = begin(context)
                yield from behaviour(request, context)
            except Exception as exc:
                code, aborted = failed(context, exc)
                if aborted:
                    raise
                abort(context, exc)  # raises
            finally:
                finish(context, rid, started, code)
        return stream


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

