"""Programme versions in Redis, shared by every server process, and the one each process runs.

An upload stores an immutable version (its id is the compiler's hash of the source and its
data files) with who uploaded it and when, and announces it: every process's
:class:`ProgramRegistry` compiles it ahead, into its small cache of versions.  Activation
sets the active version and announces it on a pub/sub channel; every process swaps its
:class:`Runtime` with one attribute assignment (compiling the version first if it has not
yet), so a request that took the runtime at its start finishes on that version.  A poll of
the active key every second backs up the channel (a lost message, a reconnect), which
bounds how long a process lags.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from tessera.engine.compiler import CompiledProgram, compile_source
from tessera.engine.fastclass import giving_way
from tessera.engine.reference import Reference
from tessera.engine.walk import Walker
from tessera.server.wallets import WalletStore

from ._request import RequestReader
from .convert import request_reader
from .errors import NotFound, Unavailable

log = logging.getLogger("tessera.service.versions")

# One hash tag: the version keys live in one Cluster slot so the scripts below are atomic.
_TAG = "{tessera:rules}"

_ACTIVATE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {'missing', ''} end
local current = redis.call('GET', KEYS[1]) or ''
if current == ARGV[1] then return {'same', current} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, 999)
redis.call('PUBLISH', ARGV[2], ARGV[1])
return {'ok', current}
"""

_ROLLBACK = """
local current = redis.call('GET', KEYS[1]) or ''
local previous = redis.call('LINDEX', KEYS[2], 1)
if not previous then return {'none', current} end
redis.call('LPOP', KEYS[2])
redis.call('SET', KEYS[1], previous)
redis.call('PUBLISH', ARGV[1], previous)
return {previous, current}
"""


@dataclass(frozen=True, slots=True)
class VersionRecord:
    version: str
    program: str
    filename: str
    source: str
    files: Mapping[str, str]
    uploaded_by: str
    uploaded_at: int
    rule_count: int
    comment: str


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a request needs of one programme version, built once per process."""

    compiled: CompiledProgram
    walker: Walker
    store: WalletStore
    reference: Reference
    requests: RequestReader  # Authorize requests straight from their bytes

    @property
    def version(self) -> str:
        return self.compiled.version


class _WhileAnyOpen:
    """A process-wide setting held while any of its blocks is open, in any thread: the
    first block to open applies it, the last to close restores what was there before
    (compiles may overlap: an upload beside an activation)."""

    def __init__(self, apply: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        self._apply, self._restore = apply, restore
        self._lock = threading.Lock()
        self._open = 0
        self._before: Any = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._open == 0:
                self._before = self._apply()
            self._open += 1
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1
                if self._open == 0:
                    self._restore(self._before)


# While a programme compiles in a serving process, the GIL changes hands this often (seconds).
# Each Authorize gives the GIL up at every Redis round trip and waits for it on the way back;
# at the interpreter's default of 5 ms a second-long compile beside the calls made each of
# them wait 5 ms several times over, and at a hundred calls a second the queue behind them
# reached a second and more.  A shorter interval costs the compile a few per cent.
COMPILE_SWITCH_INTERVAL = 0.0002


def _short_switch() -> tuple[float, bool]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, COMPILE_SWITCH_INTERVAL))
    # The compiler is compiled by Cython and would otherwise never hand the GIL over.
    return before, giving_way(True)


def _restore_switch(before: tuple[float, bool]) -> None:
    sys.setswitchinterval(before[0])
    giving_way(before[1])


def _collector_off() -> bool:
    before = gc.isenabled()
    gc.disable()
    return before


# Threads waiting for the GIL get it within COMPILE_SWITCH_INTERVAL inside the block.
calls_first = _WhileAnyOpen(_short_switch, _restore_switch)
# The cyclic collector off inside the block (a new programme is not walked before it is
# frozen out of the collector's sight).
_collector_paused = _WhileAnyOpen(_collector_off, lambda was: gc.enable() if was else None)


def compile_with_files(
    source: str, filename: str, files: Mapping[str, str]
) -> CompiledProgram:
    """Compile ``source`` with its data files laid out beside it in a private folder, giving
    way to the calls served beside it (:func:`calls_first`)."""
    with calls_first(), tempfile.TemporaryDirectory(prefix="tessera-rules-") as folder:
        for name, text in files.items():
            if os.path.basename(name) != name or name in ("", ".", ".."):
                from tessera.engine.errors import InputError

                raise InputError(f"rules.files[{name}]", "a data file is a plain file name")
            with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
                handle.write(text)
        return compile_source(source, filename or "<rules>", base_dir=folder)


class VersionStore:
    """The versions in Redis: upload, activate, roll back, list."""

    def __init__(self, client: redis.Redis, namespace: str = "") -> None:
        self.client = client
        self.ns = namespace
        self.active_key = f"{namespace}{_TAG}:active"
        self.history_key = f"{namespace}{_TAG}:history"
        self.index_key = f"{namespace}{_TAG}:versions"
        self.channel = f"{namespace}tessera:rules:activated"
        self.uploads = f"{namespace}tessera:rules:uploaded"
        self._activate = client.register_script(_ACTIVATE)
        self._rollback = client.register_script(_ROLLBACK)

    def _key(self, version: str) -> str:
        return f"{self.ns}{_TAG}:v:{version}"

    def _redis(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None

    def upload(
        self, compiled: CompiledProgram, source: str, filename: str, files: Mapping[str, str],
        uploaded_by: str, comment: str = "", now: int | None = None,
    ) -> tuple[VersionRecord, bool]:
        """Store a compiled programme's version; ``False`` when it was stored already."""
        existing = self.get(compiled.version, missing_ok=True)
        if existing is not None:
            return existing, False
        record = VersionRecord(
            compiled.version, compiled.program.name, filename, source, dict(files), uploaded_by,
            int(now if now is not None else time.time()), len(compiled.program.rules), comment,
        )
        fields = {
            "program": record.program, "filename": filename, "source": source,
            "files": orjson.dumps(record.files), "uploaded_by": uploaded_by,
            "uploaded_at": record.uploaded_at, "rules": record.rule_count, "comment": comment,
        }
        self._redis(self.client.hset, self._key(record.version), mapping=fields)
        self._redis(self.client.zadd, self.index_key, {record.version: record.uploaded_at},
                    nx=True)
        # Serving processes compile what is uploaded ahead of its activation (see
        # ProgramRegistry), so that activating it is a swap, not a compile.
        self._redis(self.client.publish, self.uploads, record.version)
        return record, True

    def get(self, version: str, missing_ok: bool = False) -> VersionRecord | None:
        raw = self._redis(self.client.hgetall, self._key(version))
        if not raw or b"program" not in raw:
            if missing_ok:
                return None
            raise NotFound(f"no programme version {version!r}", version=version)
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return VersionRecord(
            version, f["program"], f["filename"], f["source"], orjson.loads(f["files"]),
            f["uploaded_by"], int(f["uploaded_at"]), int(f["rules"]), f.get("comment", ""),
        )

    def active(self) -> str | None:
        value = self._redis(self.client.get, self.active_key)
        return value.decode() if value else None

    def activate(self, version: str) -> str:
        """Make ``version`` active everywhere; the version active before (or "")."""
        outcome, previous = self._redis(
            self._activate, keys=[self.active_key, self.history_key, self._key(version)],
            args=[version, self.channel],
        )
        if outcome == b"missing":
            raise NotFound(f"no programme version {version!r}", version=version)
        return previous.decode()

    def rollback(self) -> tuple[str, str]:
        """Back to the version active before this one: (now active, was active)."""
        now, was = self._redis(
            self._rollback, keys=[self.active_key, self.history_key], args=[self.channel]
        )
        if now == b"none":
            raise NotFound("no earlier version to roll back to")
        return now.decode(), was.decode()

    def list(self) -> list[VersionRecord]:
        versions = self._redis(self.client.zrevrange, self.index_key, 0, -1)
        out = []
        for raw in versions:
            record = self.get(raw.decode(), missing_ok=True)
            if record is not None:
                out.append(record)
        return out


class ProgramRegistry:
    """This process's compiled versions and the active one, kept in step with Redis."""

    def __init__(
        self,
        versions: VersionStore,
        client: redis.Redis,
        namespace: str = "",
        cache: int = 4,
        prepare_uploads: bool = True,
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.versions = versions
        # WalletStore's settings for every programme's store (hold_seconds, ...).
        self.store_options = dict(store_options or {})
        self.prepare_uploads = prepare_uploads
        self.client = client
        self.namespace = namespace
        self._cache: OrderedDict[str, Runtime] = OrderedDict()
        self._cache_size = cache
        self._lock = threading.Lock()
        self._compile_lock = threading.Lock()
        self.active: Runtime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_swap: list[Any] = []

    def runtime(self, version: str) -> Runtime:
        """A version's runtime: from the cache, else read from Redis and compiled."""
        with self._lock:
            found = self._cache.get(version)
            if found is not None:
                self._cache.move_to_end(version)
                return found
        with self._compile_lock:  # one compile at a time; others wait and then hit the cache
            with self._lock:
                found = self._cache.get(version)
            if found is not None:
                return found
            record = self.versions.get(version)
            assert record is not None
            with _collector_paused():
                compiled = compile_with_files(record.source, record.filename, record.files)
                return self.add(compiled)

    def add(self, compiled: CompiledProgram) -> Runtime:
        with calls_first(), _collector_paused():
            runtime = Runtime(
                compiled,
                Walker(compiled.program, compiled.version),
                WalletStore(self.client, compiled, namespace=self.namespace, **self.store_options),
                Reference(compiled.program),
                request_reader(compiled.program),
            )
            # A programme lives as long as its version is in use: move its millions of
            # objects out of the cyclic collector's sight, or every full collection walks
            # them all (a pause on the request path).  No collect first: that pause is what
            # this avoids.  The collector stays off from the compile to here, or its first
            # young collection would walk the whole new programme in one go.
            gc.freeze()
        with self._lock:
            self._cache[compiled.version] = runtime
            while len(self._cache) > self._cache_size:
                oldest = next(iter(self._cache))
                if self.active is not None and oldest == self.active.version:
                    self._cache.move_to_end(oldest)
                    if len(self._cache) <= 1:
                        break
                    oldest = next(iter(self._cache))
                self._cache.pop(oldest)
        return runtime

    def refresh(self) -> Runtime | None:
        """Follow the active version in Redis; swap if it changed."""
        version = self.versions.active()
        if version is None:
            return self.active
        current = self.active
        if current is None or current.version != version:
            runtime = self.runtime(version)
            self.active = runtime  # one assignment: requests in flight keep their runtime
            log.info("programme version %s active (%s)", version, runtime.compiled.program.name)
            for callback in self.on_swap:
                callback(runtime)
        return self.active

    # ---- following activations
    def start(self, poll_seconds: float = 1.0) -> None:
        self._thread = threading.Thread(
            target=self._follow, args=(poll_seconds,), name="tessera-versions", daemon=True
        )
        self._thread.start()

    def stop_following(self) -> None:
        """Ask the follower to stop (at once, from a signal handler); :meth:`stop` waits."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def prepared(self, version: str) -> bool:
        """Whether ``version`` is compiled in this process (activating it is a swap)."""
        with self._lock:
            return version in self._cache

    def prepare(self, version: str) -> None:
        """Compile an uploaded version into the cache before anyone activates it, so that
        its activation is an atomic swap within milliseconds, not a compile of seconds.  A
        version that cannot be prepared (gone, or its compile fails) is left to activation,
        which reports it."""
        if not self.prepare_uploads:
            return
        try:
            self.runtime(version)
        except Exception as exc:  # the follower goes on; activation will say what is wrong
            log.warning("preparing uploaded programme version %s: %s", version, exc)

    def _follow(self, poll_seconds: float) -> None:
        uploads = self.versions.uploads.encode()
        pubsub = None
        failing = False
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.versions.channel, self.versions.uploads)
                    self.refresh()  # whatever was announced while not subscribed
                message = pubsub.get_message(timeout=poll_seconds)
                if message is not None and message.get("channel") == uploads:
                    self.prepare(message["data"].decode())
                # A message or a quiet second: read the active key either way.
                self.refresh()
                failing = False
            except Exception as exc:  # keep following: Redis may come back
                # Stopping (Redis may be stopping too, e.g. on ^C): no outage to report.
                if self._stop.wait(0.1):
                    break
                if not failing:  # once an outage, not once a poll
                    log.warning("following programme versions: %s", exc)
                failing = True
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
                pubsub = None
                self._stop.wait(min(poll_seconds, 0.5))
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()
