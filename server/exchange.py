"""Packed commands sent on a redis-py connection and their replies read, the short way.

``Connection.send_packed_command`` and ``read_response`` pass through five layers of
Python for every command (the connection's health and error handling, the parser's reply
loop, its socket read with timeout juggling, push-notification checks): some 7k
instructions a round trip, twice per authorisation.  :func:`exchange` does the same work
on the same socket, hiredis reader and buffer in one function: send, then feed the reader
until it holds a reply.  :func:`exchange_many` does it for a pipeline (redis-py's
``Pipeline`` puts those layers, and its own, around each of its commands).  Errors are
redis-py's, and the connection is disconnected on any of them, as redis-py does, so the
next command reconnects and never reads a stale reply.

A push message (RESP3) met on the way goes to the parser's handler, as redis-py does, and
the reply is read after it.  A connection this cannot speak for (no hiredis parser, a
health-check interval) goes through redis-py's own methods instead, so every connection
works and only the usual one is short.  A connection class that shortens reads to a call's
deadline says how long through ``read_budget()`` (see ``server.service.deadlines``).
"""

from __future__ import annotations

from typing import Any

import redis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
from redis.connection import Connection, UnixDomainSocketConnection

_PLAIN_SOCKETS = (Connection, UnixDomainSocketConnection)


def _short_capable(conn: Any) -> bool:
    return (
        isinstance(conn, _PLAIN_SOCKETS)
        and type(conn._parser) is _HiredisParser
        and not conn.health_check_interval
    )


def exchange(conn: Any, packed: bytes) -> Any:
    """Send ``packed`` (one RESP command) on ``conn`` and return its reply; an error reply
    is raised as redis-py's exception for it (``ResponseError``, ``NoScriptError``...)."""
    if not _short_capable(conn):
        conn.send_packed_command((packed,), False)
        return conn.read_response()
    reply = _exchange(conn, packed, 1)[0]
    if isinstance(reply, redis.ResponseError):
        raise reply
    return reply


def exchange_many(conn: Any, packed: bytes, count: int) -> list[Any]:
    """Send ``packed`` (``count`` RESP commands, one after another) on ``conn`` and return
    their ``count`` replies in order: a pipeline without redis-py's per-command layers.

    An error reply takes its command's place as redis-py's exception for it (as
    ``Pipeline.execute(raise_on_error=False)`` gives it), so that one command's error leaves
    the others' replies readable; a failure of the connection itself is raised."""
    if not count:
        return []
    if not _short_capable(conn):
        conn.send_packed_command((packed,), False)
        replies = []
        for _ in range(count):
            try:
                replies.append(conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
        return replies
    return _exchange(conn, packed, count)


def _exchange(conn: Any, packed: bytes, count: int) -> list[Any]:
    """Send ``packed`` and read ``count`` replies (error replies as values) on a connection
    that :func:`_short_capable` accepts."""
    if conn._sock is None:
        conn.connect()
    sock = conn._sock
    parser = conn._parser
    reader, buffer = parser._reader, parser._buffer
    budget = conn.read_budget() if hasattr(conn, "read_budget") else None
    replies: list[Any] = []
    try:
        sock.sendall(packed)
        if budget is not None:
            sock.settimeout(budget)
        push = parser._hiredis_PushNotificationType
        while len(replies) < count:
            reply = reader.gets()
            while reply is NOT_ENOUGH_DATA:
                size = sock.recv_into(buffer)
                if not size:
                    raise redis.ConnectionError("Connection closed by server.")
                reader.feed(buffer, 0, size)
                reply = reader.gets()
            if push is not None and isinstance(reply, push):
                parser.handle_push_response(reply)
                continue
            if isinstance(reply, redis.ConnectionError):
                raise reply
            replies.append(reply)
    except TimeoutError:  # the socket timed out (socket.timeout)
        conn.disconnect()
        raise redis.TimeoutError("Timeout talking to the server") from None
    except redis.ConnectionError:
        conn.disconnect()
        raise
    except OSError as exc:
        conn.disconnect()
        raise redis.ConnectionError(f"Error {exc.errno} talking to the server: {exc}") from None
    except BaseException:
        conn.disconnect()
        raise
    if budget is not None:
        sock.settimeout(conn.socket_timeout)
    return replies
