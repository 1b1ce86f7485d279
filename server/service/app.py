"""The server factory: ``create_server(addr) -> (server, port)``, tests bind to port 0.

One :class:`Service` holds what a process serves with: the gRPC server, health, the
programme registry following Redis, metrics.  :meth:`Service.shutdown` is the graceful stop:
health says NOT_SERVING (load balancers stop sending), calls in flight drain within the
grace period, then the server stops.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import redis
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tessera.server.wallets.maintenance import Maintenance

from tessera.v1 import authorization_pb2, members_pb2, rules_pb2
from tessera.v1 import authorization_pb2_grpc as A_grpc
from tessera.v1 import members_pb2_grpc as M_grpc
from tessera.v1 import rules_pb2_grpc as R_grpc

from .config import ConfigError, ServiceConfig
from .interceptors import AuthInterceptor, CallInterceptor, RequestLog
from .members import MemberDirectory
from .metrics import Metrics
from .redis_client import redis_client  # noqa: F401  (its home before redis_client.py)
from .servicers import AuthorizationServicer, Context, MembersServicer, RulesServicer
from .versions import ProgramRegistry, VersionStore
from .wire import serialize_response

log = logging.getLogger("tessera.service")

SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (authorization_pb2, "Authorization"), (members_pb2, "Members"), (rules_pb2, "Rules"))
)


@dataclass
class Service:
    """A running server and what it needs to stop gracefully."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    registry: ProgramRegistry
    context: Context
    metrics: Metrics
    requests: RequestLog
    maintenance: Maintenance | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)

    def shutdown(self, grace: float = 10.0, notice: float = 0.0) -> None:
        """NOT_SERVING, ``notice`` seconds for health checkers to see it (new calls are still
        served meanwhile), then drain the calls in flight (at most ``grace``), then stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        # The version follower first: calls in flight keep the runtime they took, and the
        # follower must not report Redis going away when the whole service is stopping.
        self.registry.stop_following()
        self.health.enter_graceful_shutdown()
        if notice > 0:
            time.sleep(notice)
        self.server.stop(grace).wait()
        if self.maintenance is not None:
            self.maintenance.stop()
        self.registry.stop()
        self.requests.close()

    def wait(self) -> None:
        self.server.wait_for_termination()


# The Authorization methods that answer with bytes (:mod:`.wire`) as well as messages.
BYTES_METHODS = ("Authorize", "AuthorizeStream", "Quote")


class _Handlers:
    """Stands in for the server while the generated code registers a servicer: keeps the
    method handlers it would have registered."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self.handlers = dict(handlers)


def add_authorization_servicer(servicer: AuthorizationServicer, server: grpc.Server) -> None:
    """Register Authorization as the generated code does, except that :data:`BYTES_METHODS`
    send their answers through :func:`.wire.serialize_response` and take their requests as
    bytes (read by ``convert.authorize_request_in``, without building the message where a
    request is plainly valid).  The handlers are the generated ones, so every other method
    is exactly as generated."""
    kept = _Handlers()
    A_grpc.add_AuthorizationServicer_to_server(servicer, kept)
    handlers = kept.handlers
    for name in BYTES_METHODS:
        handlers[name] = _bytes_handler(handlers[name])
    service = authorization_pb2.DESCRIPTOR.services_by_name["Authorization"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)


def _bytes_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    # No deserializer: grpc hands each request's bytes over as they came.
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(handler.unary_unary, None, serialize_response)
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            handler.stream_stream, None, serialize_response)
    raise TypeError("only unary and bidirectional methods answer with bytes here")


def _credentials(config: ServiceConfig) -> grpc.ServerCredentials | None:
    if not config.tls_cert:
        return None
    if not config.tls_key:
        raise ConfigError("TLS needs both a certificate and a key")
    try:
        with open(config.tls_cert, "rb") as cert, open(config.tls_key, "rb") as key:
            pair = (key.read(), cert.read())
        root = None
        if config.tls_client_ca:
            with open(config.tls_client_ca, "rb") as ca:
                root = ca.read()
    except OSError as exc:
        raise ConfigError(f"TLS files: {exc}") from None
    return grpc.ssl_server_credentials([pair], root, require_client_auth=root is not None)


def create_server(
    addr: str, *, client: redis.Redis, config: ServiceConfig | None = None,
    start: bool = True, follow: bool = True,
) -> tuple[Service, int]:
    """A server for ``addr`` (``127.0.0.1:0`` picks a port) on the Redis of ``client``.

    Returns the service and the port bound.  The active programme version is loaded from
    Redis before the server starts answering (none active: Authorization answers
    UNAVAILABLE until one is).
    """
    config = config or ServiceConfig()
    metrics = Metrics()
    versions = VersionStore(client, config.namespace)
    registry = ProgramRegistry(
        versions,
        client,
        config.namespace,
        store_options={
            "hold_seconds": config.hold_seconds,
            "budget_estimate_seconds": config.budget_estimate_seconds,
        },
    )
    registry.on_swap.append(lambda runtime: metrics.active(runtime.version))
    try:
        registry.refresh()
    except Exception as exc:  # Redis away at start: follow it when it comes back
        log.warning("no programme version loaded at start: %s", exc)
    auth = AuthInterceptor(config.tokens)
    requests = RequestLog()
    ctx = Context(config, registry, MemberDirectory(client, config.namespace), metrics, auth)
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", max(config.max_message_bytes, 4 << 20)),
        ("grpc.so_reuseport", 1),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="tessera-rpc"),
        interceptors=[CallInterceptor(metrics, auth, requests)],
        options=options,
        maximum_concurrent_rpcs=config.threads * 64,
    )
    add_authorization_servicer(AuthorizationServicer(ctx), server)
    M_grpc.add_MembersServicer_to_server(MembersServicer(ctx), server)
    R_grpc.add_RulesServicer_to_server(RulesServicer(ctx), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (*SERVICE_NAMES, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    credentials = _credentials(config)
    if credentials is None:
        port = server.add_insecure_port(addr)
    else:
        port = server.add_secure_port(addr, credentials)
    if port == 0:
        raise ConfigError(f"cannot listen on {addr}")
    service = Service(server, port, health_servicer, registry, ctx, metrics, requests)
    if follow:
        registry.start(config.poll_seconds)
    if config.housekeeping_seconds > 0:
        service.maintenance = Maintenance(
            lambda: registry.active.store if registry.active else None,
            config.housekeeping_seconds,
        ).start()
    if start:
        server.start()
    return service, port
