"""One packed command sent on a redis-py connection and its reply read, the short way.

``Connection.send_packed_command`` and ``read_response`` pass through five layers of
Python for every command (the connection's health and error handling, the parser's reply
loop, its socket read with timeout juggling, push-notification checks): some 7k
instructions a round trip, twice per authorisation.  :func:`exchange` does the same work
on the same socket, hiredis reader and buffer in one function: send, then feed the reader
until it holds a reply.  Errors are redis-py's, and the connection is disconnected on any
of them, as redis-py does, so the next command reconnects and never reads a stale reply.

A push message (RESP3) met on the way goes to the parser's handler, as redis-py does, and
the reply is read after it.  A connection this cannot speak for (no hiredis parser, a
health-check interval) goes through redis-py's own methods instead, so every connection
works and only the usual one is short.  A connection class that shortens reads to a call's deadline
says how long through ``read_budget()`` (see ``server.service.deadlines``).
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
    if conn._sock is None:
        conn.connect()
    sock = conn._sock
    parser = conn._parser
    reader, buffer = parser._reader, parser._buffer
    budget = conn.read_budget() if hasattr(conn, "read_budget") else None
    try:
        sock.sendall(packed)
        if budget is not None:
            sock.settimeout(budget)
        push = parser._hiredis_PushNotificationType
        while True:
            reply = reader.gets()
            while reply is NOT_ENOUGH_DATA:
                size = sock.recv_into(buffer)
                if not size:
                    raise redis.ConnectionError("Connection closed by server.")
                reader.feed(buffer, 0, size)
                reply = reader.gets()
            if push is None or not isinstance(reply, push):
                break
            parser.handle_push_response(reply)
    except TimeoutError:  # the socket timed out (socket.timeout)
        conn.disconnect()
        raise redis.TimeoutError("Timeout talking to the server") from None
    except OSError as exc:
        conn.disconnect()
        raise redis.ConnectionError(f"Error {exc.errno} talking to the server: {exc}") from None
    except BaseException:
        conn.disconnect()
        raise
    if budget is not None:
        sock.settimeout(conn.socket_timeout)
    if isinstance(reply, redis.ResponseError):
        raise reply
    if isinstance(reply, redis.ConnectionError):
        conn.disconnect()
        raise reply
    return reply
