"""The service's Redis client: one connection per thread, no retries, deadline-aware waits.

An Authorize makes two Redis round trips (three when a budget must be read).  Through
``redis.Redis`` each costs about four times the round trip itself in client work: a
connection checked out of the pool and back (a lock, and a ``poll`` of the socket to see
that it is clean), a retry wrapper and per-command observability hooks.  The service's
threads are a fixed pool, so :class:`ServiceRedis` lets each thread keep one connection of
the pool for itself and send commands on it directly; pipelines, pub/sub and scripts work
as with ``redis.Redis``.

Every command of these connections, pipelines too, is packed by
:class:`~tessera.server.resp.CommandPacker` (byte for byte as hiredis packs it, without a
``sprintf`` per argument).  A plain command (no per-call options but the routing ``keys``)
is moreover packed and exchanged here in one call (:func:`~tessera.server.exchange.exchange`,
which honours the connection's deadline-aware reads), skipping the per-command dispatch of
``redis.Redis`` (its command-specific checks and the option handling of ``parse_response``)
and the layers of the connection's own send and read.  The reply goes through the
command's response callback, as before.

A connection that fails is disconnected by redis-py itself (reads and sends disconnect on
any error), so the next command on it reconnects and never reads a stale reply.  When a
thread ends, its connection goes back to the pool.

:meth:`ServiceRedis.prefetch` sends the first command of several calls in one pipeline
before the calls run (AuthorizeStream reads a batch's member snapshots so: one round trip
instead of one a member).
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..exchange import exchange, exchange_many
from ..resp import CommandPacker
from ..resp import pack_command as _pack
from .deadlines import connection_class

# RESP2: the largest reply the service reads is a member's wallets hash (HGETALL, hundreds
# of fields for a member who buys often), which hiredis reads as an array several times
# faster than as a RESP3 map (docs/wallets.md, "Reading a member").
PROTOCOL = 2

# The one per-call option of a plain command: the keys redis-py's client-side cache reads.
_KEYS_ONLY = frozenset(("keys",))


def _plain(name: str, options: dict[str, Any]) -> bool:
    """Whether a command can be packed and exchanged the short way: one word, and no option
    that redis-py's own path would act on."""
    return (not options or options.keys() == _KEYS_ONLY) and " " not in name


class _Held:
    """A thread's own connection; returned to the pool when the thread is gone."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: redis.ConnectionPool, conn: Any) -> None:
        self.pool = pool
        self.conn = conn

    def __del__(self) -> None:
        # At interpreter shutdown, or with the pool closed, there is nothing to give back to.
        with contextlib.suppress(Exception):
            self.pool.release(self.conn)


_BATCH = "<batch>"  # the first word of a batch recorded by prefetch: no command's name


class _Recorded(BaseException):
    """Stops a call at its first command while :meth:`ServiceRedis.prefetch` records it (a
    BaseException, so that no handler of Redis errors on the way takes it for one)."""


class _Mine(threading.local):
    """A thread's own connection and prefetch state.  The defaults are the class's, so that a
    thread that never set one reads None: a plain ``threading.local`` raises (and formats)
    an AttributeError for each, which ``getattr(..., None)`` then swallows, several times
    a command."""

    held: _Held | None = None
    recording: list[Any] | None = None
    ready: dict[Any, Any] | None = None


class ServiceRedis(redis.Redis):
    """``redis.Redis`` whose commands run on the calling thread's own connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mine = _Mine()
        # Response callbacks by command name as sent: redis-py's table is case-insensitive
        # through a Python method (an upper() a lookup); the few names sent repeat.
        self._callbacks: dict[Any, Any] = {}

    def set_response_callback(self, command: str, callback: Any) -> None:
        super().set_response_callback(command, callback)
        self._callbacks.clear()

    def _callback(self, name: Any) -> Any:
        try:
            return self._callbacks[name]
        except KeyError:
            found = self._callbacks[name] = self.response_callbacks.get(name)
            return found

    def execute_command(self, *args: Any, **options: Any) -> Any:
        # redis-py's is this same delegation, run as interpreted Python for every command;
        # here it is compiled with the rest of the module.
        return self._execute_command(*args, **options)

    def _execute_command(self, *args: Any, **options: Any) -> Any:
        mine = self._mine
        recording = mine.recording
        if recording is not None:
            recording.append((args, options))
            raise _Recorded
        ready = mine.ready
        if ready:
            try:
                replies = ready.get(args)
            except TypeError:  # an argument that is no plain value was never recorded
                replies = None
            if replies:
                reply = replies.popleft()
                if isinstance(reply, Exception):
                    raise reply
                return reply
        conn = self._connection()
        name = args[0]
        if _plain(name, options):
            try:
                packed = _pack(args)
            except TypeError:  # a value that cannot be packed: redis-py's path says why
                pass
            else:
                response = exchange(conn, packed)
                callback = self._callback(name)
                return response if callback is None else callback(response)
        return self._send_command_parse_response(conn, name, *args, **options)

    def _connection(self) -> Any:
        """This thread's own connection (taken from the pool on first use)."""
        mine = self._mine
        held = mine.held
        if held is None:
            pool = self.connection_pool
            held = mine.held = _Held(pool, pool.get_connection())
        return held.conn

    def exchange_many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies of ``commands`` (plain ones: no per-call options) sent in one round
        trip on this thread's connection, in order, each through its response callback
        (none between ``MULTI`` and ``EXEC``, whose own reply is the raw replies);
        an error reply in its command's place (as ``Pipeline.execute(raise_on_error=False)``
        gives it), a failed connection raised (a pipeline without redis-py's layers).
        Within :meth:`prefetch`, a batch is a call's first command as a single one is."""
        mine = self._mine
        if mine.recording is not None or mine.ready:
            batch = (_BATCH, *map(tuple, commands))
            if mine.recording is not None:
                mine.recording.append((batch, {}))
                raise _Recorded
            try:
                replies = mine.ready.get(batch)
            except TypeError:  # an argument that is no plain value was never recorded
                replies = None
            if replies:
                return replies.popleft()  # type: ignore[no-any-return]
        return self._exchange_many(commands)

    def _exchange_many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        replies = exchange_many(
            self._connection(), b"".join([_pack(command) for command in commands]), len(commands)
        )
        queued = False  # between MULTI and EXEC a reply is QUEUED: no callback applies
        for i, (command, reply) in enumerate(zip(commands, replies, strict=True)):
            name = command[0]
            if name == "MULTI" or name == "EXEC":
                queued = name == "MULTI"
                continue
            callback = None if queued else self._callback(name)
            if callback is not None and not isinstance(reply, Exception):
                replies[i] = callback(reply)
        return replies

    @contextlib.contextmanager
    def prefetch(self, calls: Sequence[Callable[[], object]]) -> Iterator[None]:
        """Within the block, each of ``calls``' first Redis command is answered from one
        pipeline sent on entry.

        On entry each call runs up to its first command, which is recorded instead of sent
        (so a call must do nothing before its first command that it cannot do twice: a
        read such as a member snapshot).  The recorded commands go in one pipeline; in the
        block, a command equal to a recorded one gets its reply (or its error) once, from
        this thread only; anything else goes to Redis as usual.  Leftovers are dropped on
        exit.  Should the pipeline fail, the calls meet Redis themselves."""
        mine = self._mine
        recorded: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        mine.recording = recorded
        try:
            for call in calls:
                with contextlib.suppress(Exception, _Recorded):
                    call()
        finally:
            mine.recording = None
        ready: dict[tuple[Any, ...], collections.deque[Any]] = {}
        if recorded:
            try:
                replies = self._send_recorded(recorded)
            except redis.RedisError:
                replies = []
            for (args, _options), reply in zip(recorded, replies, strict=False):
                ready.setdefault(args, collections.deque()).append(reply)
        mine.ready = ready
        try:
            yield
        finally:
            mine.ready = None

    def _send_recorded(
        self, recorded: Sequence[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> list[Any]:
        """The recorded commands' replies (a batch's: the list of its replies): exchanged the
        short way when every one is plain, else through a pipeline (a batch on its own)."""
        if all(args[0] == _BATCH or _plain(args[0], options) for args, options in recorded):
            flat: list[tuple[Any, ...]] = []
            for args, _options in recorded:
                flat.extend(args[1:] if args[0] == _BATCH else (args,))
            with contextlib.suppress(TypeError):  # a value that cannot be packed: a pipeline
                replies = iter(self._exchange_many(flat))
                return [
                    [next(replies) for _ in args[1:]] if args[0] == _BATCH else next(replies)
                    for args, _options in recorded
                ]
        pipe = self.pipeline(transaction=False)
        singles = [(args, options) for args, options in recorded if args[0] != _BATCH]
        for args, options in singles:
            pipe.execute_command(*args, **options)
        piped = iter(pipe.execute(raise_on_error=False) if singles else ())
        return [
            self._exchange_many(args[1:]) if args[0] == _BATCH else next(piped)
            for args, _options in recorded
        ]

    def close(self) -> None:
        held = self._mine.held
        if held is not None:
            self._mine.held = None
        super().close()


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A client for the service: bytes replies, short timeouts (stand-in depends on them).

    ``timeout`` caps every Redis wait; a call's own deadline shortens it (:mod:`.deadlines`).
    No retries: a call that could not reach Redis stands in at once, and the switch's retry
    (idempotent by transaction id) gets the real decision."""
    return ServiceRedis.from_url(
        url,
        protocol=PROTOCOL,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=0,
        max_connections=256,
        connection_class=connection_class(url),
        retry=Retry(NoBackoff(), 0),
        command_packer=CommandPacker(),
    )
