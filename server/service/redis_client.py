"""The service's Redis client: one connection per thread, no retries, deadline-aware waits.

An Authorize makes two or three Redis round trips.  Through ``redis.Redis`` each costs
about four times the round trip itself in client work: a connection checked out of the
pool and back (a lock, and a ``poll`` of the socket to see that it is clean), a retry
wrapper and per-command observability hooks.  The service's threads are a fixed pool, so
:class:`ServiceRedis` lets each thread keep one connection of the pool for itself and send
commands on it directly; pipelines, pub/sub and scripts work as with ``redis.Redis``.

A connection that fails is disconnected by redis-py itself (reads and sends disconnect on
any error), so the next command on it reconnects and never reads a stale reply.  When a
thread ends, its connection goes back to the pool.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .deadlines import connection_class


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


class ServiceRedis(redis.Redis):
    """``redis.Redis`` whose commands run on the calling thread's own connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mine = threading.local()

    def _execute_command(self, *args: Any, **options: Any) -> Any:
        held = getattr(self._mine, "held", None)
        if held is None:
            pool = self.connection_pool
            held = self._mine.held = _Held(pool, pool.get_connection())
        return self._send_command_parse_response(held.conn, args[0], *args, **options)

    def close(self) -> None:
        held = getattr(self._mine, "held", None)
        if held is not None:
            self._mine.held = None
        super().close()


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A client for the service: bytes replies, short timeouts (stand-in depends on them).

    ``timeout`` caps every Redis wait; a call's own deadline shortens it (:mod:`.deadlines`).
    No retries: a call that could not reach Redis stands in at once, and the switch's retry
    (idempotent by transaction id) gets the real decision."""
    return ServiceRedis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=0,
        max_connections=256, connection_class=connection_class(url),
        retry=Retry(NoBackoff(), 0),
    )
