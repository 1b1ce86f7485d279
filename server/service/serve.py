"""``tessera serve``: the embedded Redis (or a URL), the rules file, workers, signals.

The parent process starts the private redis-server (without ``--redis``), uploads and
activates ``--rules`` when it differs from the active version, then forks ``--workers``
processes that each run a gRPC server on the same port (``SO_REUSEPORT``: the kernel spreads
connections over them).  gRPC must not be initialised before ``fork``, so the parent never
creates a channel or server itself.  SIGTERM/SIGINT reach every worker, which marks health
NOT_SERVING, drains calls in flight and stops; the parent then stops Redis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from tessera.engine.compiler import default_base_dir
from tessera.engine.errors import RulesError, TesseraError
from tessera.server.idle import poll_idle
from tessera.server.redis_runtime import RedisServer

from .config import ServiceConfig, development_tokens, tokens_from_file

log = logging.getLogger("tessera.serve")


@dataclass
class ServeOptions:
    rules: str | None = None
    port: int = 50051
    host: str = "0.0.0.0"
    redis: str | None = None
    data: str = "./var"
    workers: int = 0  # 0: one per core
    tokens: str | None = None
    metrics_port: int | None = None
    grace: float = 10.0
    notice: float = 1.0  # seconds NOT_SERVING is shown before the drain starts
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    poll_idle: bool = False  # idle CPUs poll instead of halting while serving (server/idle.py)
    # ServiceConfig fields given on the command line (hold_seconds, ...); the rest keep
    # ServiceConfig's defaults, which it checks.
    settings: dict[str, Any] = field(default_factory=dict)


def _rules_data_files(path: str, source: str) -> dict[str, str]:
    """The data files a rules file loads: the files beside it that its source names."""
    folder = default_base_dir(path)
    files = {}
    for name in sorted(os.listdir(folder)):
        if f'"{name}"' in source and os.path.isfile(os.path.join(folder, name)):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                files[name] = handle.read()
    return files


def publish_rules(url: str, path: str, who: str = "tessera serve") -> str:
    """Upload and activate ``path`` unless it is the active version already; its version."""
    from .redis_client import redis_client
    from .versions import VersionStore, compile_with_files

    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    files = _rules_data_files(path, source)
    compiled = compile_with_files(source, os.path.basename(path), files)
    client = redis_client(url, 5.0)
    try:
        versions = VersionStore(client)
        if versions.active() != compiled.version:
            versions.upload(compiled, source, os.path.basename(path), files, who)
            versions.activate(compiled.version)
            log.info("activated %s as version %s", path, compiled.version)
        return compiled.version
    finally:
        client.close()


def _worker(options: ServeOptions, config: ServiceConfig, url: str, index: int) -> int:
    from .app import create_server
    from .redis_client import redis_client

    if options.metrics_port is not None:
        config.metrics_port = options.metrics_port + index
    client = redis_client(url, config.redis_timeout)
    service, port = create_server(f"{options.host}:{options.port}", client=client, config=config)
    if config.metrics_port is not None:
        service.metrics.serve(config.metrics_port)
    done = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        # Before anything else: on ^C the embedded redis-server (same process group) stops
        # at the same moment, and the follower must not take that for an outage.
        service.registry.stop_following()

        def drain() -> None:
            service.shutdown(options.grace, options.notice)
            done.set()

        threading.Thread(target=drain, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker %d (pid %d) serving on port %d", index, os.getpid(), port)
    done.wait()
    client.close()
    return 0


def _config(options: ServeOptions) -> ServiceConfig:
    if options.tokens:
        tokens = tokens_from_file(options.tokens)
    else:
        path = os.path.join(options.data, "tokens.json")
        tokens = development_tokens(path)
        log.info("no --tokens given: using development tokens from %s", path)
    return ServiceConfig(
        tokens=tokens,
        tls_cert=options.tls_cert,
        tls_key=options.tls_key,
        tls_client_ca=options.tls_client_ca,
        **options.settings,
    )


def serve(options: ServeOptions) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    os.makedirs(options.data, exist_ok=True)
    redis_server = None
    held = contextlib.ExitStack()  # what the process holds until it stops serving
    try:
        config = _config(options)
        if options.poll_idle:  # before anything starts: refused, nothing was started
            held.enter_context(poll_idle())
            log.info("idle CPUs poll while serving (a zero-latency PM QoS request)")
        url = options.redis
        if url is None:
            redis_server = RedisServer(os.path.join(options.data, "redis")).start()
            url = redis_server.url
            log.info("embedded redis-server at %s (data in %s)", url, options.data)
        if options.rules:
            try:
                publish_rules(url, options.rules)
            except RulesError as exc:
                print(exc.render(), file=sys.stderr)
                return 1
        if options.port == 0:
            # Every worker must bind the same port: choose it here.
            with socket.socket() as probe:
                probe.bind((options.host, 0))
                options.port = probe.getsockname()[1]
        workers = options.workers or os.cpu_count() or 1
        if workers == 1:
            print(f"tessera: serving on {options.host}:{options.port}", file=sys.stderr,
                  flush=True)
            return _worker(options, config, url, 0)
        children: list[int] = []
        for index in range(workers):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                code = 1
                try:
                    code = _worker(options, config, url, index)
                finally:
                    os._exit(code)
            children.append(pid)
        print(f"tessera: serving on {options.host}:{options.port} with {workers} workers",
              file=sys.stderr, flush=True)

        def forward(signum: int, _frame: object) -> None:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        status = 0
        for pid in children:
            while True:
                try:
                    _, code = os.waitpid(pid, 0)
                    break
                except InterruptedError:
                    continue
            status = max(status, os.waitstatus_to_exitcode(code))
        return status
    except TesseraError as exc:
        print(f"tessera: {exc}", file=sys.stderr)
        return 2
    finally:
        if redis_server is not None:
            redis_server.stop()
        held.close()
