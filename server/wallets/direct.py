"""Sending a registered script, or a batch of commands, the short way: one pool
connection, packed at once.

``Script.__call__`` goes through ``redis.Redis``, which looks at every argument in Python
before hiredis packs them (about half a microsecond each, and authorise sends some fifty)
and wraps each call in per-command observability hooks (some 40 µs a call on a loaded
two-core machine).  :func:`script_sender` gives the store, and the benchmarks' bare floor,
one way to send a script that skips both where the client allows it.  The command is
packed by :func:`~tessera.server.resp.pack_command` (as hiredis packs it, in a fraction of
the time) and sent and read by :func:`~tessera.server.exchange.exchange` (the connection's
socket and hiredis reader without its layers of Python).  :func:`batch_sender` does the same
for a pipeline of commands, which redis-py's ``Pipeline`` sends with those layers, and its
own, around every command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.cluster
from redis.commands.core import Script

from ..exchange import exchange, exchange_many
from ..resp import pack_command

Sender = Callable[[Sequence[object], Sequence[object]], Any]
Batch = Callable[[Sequence[tuple[object, ...]]], list[Any]]


def direct_capable(client: Any) -> bool:
    """Only a plain pooled ``redis.Redis``: a client with its own way to pick connections
    (a subclass that overrides ``_execute_command``, such as the service's, a single
    connection client, a Cluster client) keeps going through its own path."""
    return (
        isinstance(client, redis.Redis)
        and getattr(type(client), "_execute_command", None) is redis.Redis._execute_command
        and getattr(client, "connection", None) is None
    )


def script_sender(client: Any, script: Script) -> Sender:
    """``send(keys, args)``: the script's reply, reloading the script once after
    ``NOSCRIPT`` (a restarted or failed-over server); redis-py's errors as they come.

    * A plain pooled ``redis.Redis``: one pool connection, the command exchanged on it the
      short way (:func:`~tessera.server.exchange.exchange`); should that fail, the client's
      retry policy takes over, as for any of its commands.
    * Another ``redis.Redis`` (the service's own, which keeps a connection per thread):
      ``execute_command`` itself, without ``Script``'s and ``evalsha``'s wrappers.
    * Anything else (a Cluster client): ``Script`` as redis-py runs it.
    """
    if direct_capable(client):
        return _pooled_sender(client, script)
    if isinstance(client, redis.Redis) and not isinstance(client, redis.cluster.RedisCluster):
        execute = client.execute_command

        def send_on_client(keys: Sequence[object], args: Sequence[object]) -> Any:
            try:
                return execute("EVALSHA", script.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                script.sha = client.script_load(script.script)
                return execute("EVALSHA", script.sha, len(keys), *keys, *args)

        return send_on_client
    return lambda keys, args: script(keys=keys, args=args)


def _pooled_sender(client: redis.Redis, script: Script) -> Sender:
    pool = client.connection_pool

    def send(keys: Sequence[object], args: Sequence[object]) -> Any:
        conn = pool.get_connection()
        try:
            for attempt in range(2):
                packed = pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))

                def once(packed: bytes = packed) -> Any:
                    return exchange(conn, packed)

                try:
                    try:
                        return once()
                    except (redis.ConnectionError, redis.TimeoutError):
                        return conn.retry.call_with_retry(once, lambda _error: conn.disconnect())
                except redis.exceptions.NoScriptError:
                    if attempt:
                        raise
                    script.sha = client.script_load(script.script)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if conn.should_reconnect():  # the server announced maintenance: reconnect next time
                conn.disconnect()
            pool.release(conn)

    return send


def batch_sender(client: Any) -> Batch:
    """``send(commands)``: the replies of ``commands`` (each a command's words) sent in one
    round trip, in order, each error reply in its command's place as redis-py's exception
    (as ``Pipeline.execute(raise_on_error=False)`` gives them); a failed connection raised.

    * A client with its own ``exchange_many`` (the service's, which keeps a connection per
      thread): that.
    * A plain pooled ``redis.Redis``: one pool connection, the commands exchanged on it the
      short way; should that fail, the client's retry policy sends them again, as it does
      a pipeline.
    * Anything else: a pipeline.
    """
    own = getattr(client, "exchange_many", None)
    if own is not None:
        return own  # type: ignore[no-any-return]
    if direct_capable(client):
        return _pooled_batch(client)

    def send_pipelined(commands: Sequence[tuple[object, ...]]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

    return send_pipelined


def _pooled_batch(client: redis.Redis) -> Batch:
    pool = client.connection_pool

    def send(commands: Sequence[tuple[object, ...]]) -> list[Any]:
        packed = b"".join([pack_command(command) for command in commands])
        conn = pool.get_connection()
        try:

            def once() -> list[Any]:
                return exchange_many(conn, packed, len(commands))

            try:
                return once()
            except (redis.ConnectionError, redis.TimeoutError):
                return conn.retry.call_with_retry(once, lambda _error: conn.disconnect())
        finally:
            if conn.should_reconnect():
                conn.disconnect()
            pool.release(conn)

    return send
