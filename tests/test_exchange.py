"""The short exchange of one command, or of a pipeline of them, on a redis-py connection,
against a real redis-server: the same replies and errors as redis-py's own send and read
(and pipeline), the connection dropped on a failure and good again after it, reads held to
a deadline, push messages stepped over."""

from __future__ import annotations

import time

import pytest
import redis
from redis.connection import Connection, UnixDomainSocketConnection
from tessera.server.exchange import _short_capable, exchange, exchange_many
from tessera.server.resp import pack_command

pytest_plugins = ["tests.conftest_redis"]  # the redis-server fixtures

COMMANDS = [
    ("SET", "k", "v"),
    ("GET", "k"),
    ("GET", "missing"),
    ("INCRBY", "n", -7),
    ("RPUSH", "l", "a", "b", b"\x00\xff"),
    ("LRANGE", "l", 0, -1),
    ("HSET", "h", "f", "x" * 70_000),  # a reply the reader gets in several reads
    ("HGETALL", "h"),
    ("EVAL", "return {1, {'a', false}, 'z'}", 0),
]


@pytest.fixture
def conn(redis_client: redis.Redis):
    connection = redis_client.connection_pool.get_connection()
    yield connection
    redis_client.connection_pool.release(connection)


def redis_py(conn, args):
    conn.send_packed_command((pack_command(args),), False)
    return conn.read_response()


def test_the_usual_connection_takes_the_short_way(conn):
    assert _short_capable(conn)


def test_replies_are_redis_pys(redis_client, conn):
    other = redis_client.connection_pool.get_connection()
    try:
        for args in COMMANDS:
            redis_client.flushall()
            ours = exchange(conn, pack_command(args))
            redis_client.flushall()
            theirs = redis_py(other, args)
            assert ours == theirs, args
    finally:
        redis_client.connection_pool.release(other)


def test_an_error_reply_raises_redis_pys_error_and_keeps_the_connection(conn):
    with pytest.raises(redis.ResponseError, match="no_way here"):
        exchange(conn, pack_command(("EVAL", "return redis.error_reply('no_way here')", 0)))
    with pytest.raises(redis.exceptions.NoScriptError):
        exchange(conn, pack_command(("EVALSHA", "0" * 40, 0)))
    sock = conn._sock
    assert exchange(conn, pack_command(("PING",))) == b"PONG"
    assert conn._sock is sock  # the same connection: an error reply is a reply


def test_a_killed_connection_raises_is_dropped_and_reconnects(redis_client, conn):
    exchange(conn, pack_command(("PING",)))
    mine = exchange(conn, pack_command(("CLIENT", "ID")))
    redis_client.execute_command("CLIENT", "KILL", "ID", mine)
    with pytest.raises(redis.ConnectionError):
        exchange(conn, pack_command(("PING",)))
    assert conn._sock is None
    assert exchange(conn, pack_command(("PING",))) == b"PONG"


def test_a_read_past_the_socket_timeout_raises_and_drops_the_connection(redis_server):
    client = redis_server.client(socket_timeout=0.2)
    conn = client.connection_pool.get_connection()
    try:
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            exchange(conn, pack_command(("BLPOP", "never", 5)))
        assert time.monotonic() - started < 2
        assert conn._sock is None  # its reply may still come: never read it as the next one
        assert exchange(conn, pack_command(("PING",))) == b"PONG"
    finally:
        client.connection_pool.release(conn)
        client.close()


def budgeted(base: type) -> type:
    class Budgeted(base):  # type: ignore[misc, valid-type]
        """A connection whose reads wait at most what its call has left (as the service's)."""

        budget: float | None = None

        def read_budget(self) -> float | None:
            return self.budget

    return Budgeted


def test_a_read_budget_shortens_the_wait_and_the_timeout_comes_back(redis_server):
    base = UnixDomainSocketConnection if redis_server.url.startswith("unix:") else Connection
    pool = redis.ConnectionPool.from_url(
        redis_server.url, socket_timeout=10, connection_class=budgeted(base)
    )
    conn = pool.get_connection()
    try:
        conn.budget = 0.1
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            exchange(conn, pack_command(("BLPOP", "never", 5)))
        assert time.monotonic() - started < 2
        assert exchange(conn, pack_command(("PING",))) == b"PONG"
        assert conn._sock.gettimeout() == 10  # the socket's own timeout once the read is done
        conn.budget = None
        assert exchange(conn, pack_command(("ECHO", "x"))) == b"x"
    finally:
        pool.release(conn)
        pool.disconnect()


def test_a_push_message_on_the_way_is_handed_over_and_the_reply_read(redis_server):
    client = redis_server.client(protocol=3)
    writer = redis_server.client()
    conn = client.connection_pool.get_connection()
    seen = []
    try:
        conn._parser.set_invalidation_push_handler(seen.append)
        exchange(conn, pack_command(("CLIENT", "TRACKING", "ON")))
        exchange(conn, pack_command(("GET", "tracked")))
        writer.set("tracked", "1")  # invalidates the key this connection read
        time.sleep(0.05)
        assert exchange(conn, pack_command(("PING",))) == b"PONG"
        assert seen and b"tracked" in seen[0][1]
    finally:
        client.connection_pool.release(conn)
        client.close()
        writer.close()


def test_a_connection_with_health_checks_goes_through_redis_py(redis_server):
    client = redis_server.client(health_check_interval=30)
    conn = client.connection_pool.get_connection()
    try:
        assert not _short_capable(conn)
        assert exchange(conn, pack_command(("ECHO", "long way"))) == b"long way"
        with pytest.raises(redis.ResponseError):
            exchange(conn, pack_command(("NOSUCHCOMMAND",)))
    finally:
        client.connection_pool.release(conn)
        client.close()


def packed(commands) -> bytes:
    return b"".join(pack_command(args) for args in commands)


def test_many_replies_are_those_of_the_commands_one_by_one_in_order(redis_client, conn):
    redis_client.flushall()
    ours = exchange_many(conn, packed(COMMANDS), len(COMMANDS))
    redis_client.flushall()
    assert ours == [exchange(conn, pack_command(args)) for args in COMMANDS]
    assert exchange_many(conn, b"", 0) == []


def test_an_error_reply_takes_its_commands_place_and_the_rest_is_read(conn):
    commands = [
        ("SET", "before", "1"),
        ("EVAL", "return redis.error_reply('no_way here')", 0),
        ("EVALSHA", "0" * 40, 0),
        ("INCR", "before"),
    ]
    replies = exchange_many(conn, packed(commands), len(commands))
    assert replies[0] == b"OK"
    assert isinstance(replies[1], redis.ResponseError) and "no_way here" in str(replies[1])
    assert isinstance(replies[2], redis.exceptions.NoScriptError)
    assert replies[3] == 2
    sock = conn._sock
    assert exchange(conn, pack_command(("PING",))) == b"PONG"
    assert conn._sock is sock  # nothing left unread on the connection


def test_a_pipeline_on_a_killed_connection_raises_is_dropped_and_reconnects(redis_client, conn):
    mine = exchange(conn, pack_command(("CLIENT", "ID")))
    redis_client.execute_command("CLIENT", "KILL", "ID", mine)
    with pytest.raises(redis.ConnectionError):
        exchange_many(conn, packed([("PING",), ("PING",)]), 2)
    assert conn._sock is None
    assert exchange_many(conn, packed([("PING",), ("ECHO", "x")]), 2) == [b"PONG", b"x"]


def test_a_pipeline_past_the_socket_timeout_raises_and_drops_the_connection(redis_server):
    client = redis_server.client(socket_timeout=0.2)
    conn = client.connection_pool.get_connection()
    try:
        with pytest.raises(redis.TimeoutError):
            exchange_many(conn, packed([("PING",), ("BLPOP", "never", 5)]), 2)
        assert conn._sock is None  # the late reply is never read as another command's
        assert exchange_many(conn, packed([("ECHO", "y")]), 1) == [b"y"]
    finally:
        client.connection_pool.release(conn)
        client.close()


def test_a_pipeline_on_a_connection_with_health_checks_goes_through_redis_py(redis_server):
    client = redis_server.client(health_check_interval=30)
    conn = client.connection_pool.get_connection()
    try:
        replies = exchange_many(conn, packed([("ECHO", "a"), ("NOSUCHCOMMAND",)]), 2)
        assert replies[0] == b"a" and isinstance(replies[1], redis.ResponseError)
    finally:
        client.connection_pool.release(conn)
        client.close()
