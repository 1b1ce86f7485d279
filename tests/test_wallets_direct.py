"""The short way a plain client sends the store's scripts and batches, who keeps the long
way, and the packer both ways share."""

from __future__ import annotations

from pathlib import Path

import hiredis
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import HiredisRespSerializer
from tessera.server import _resp
from tessera.server.resp import CommandPacker, pack_command
from tessera.server.service.redis_client import redis_client as service_client
from tessera.server.wallets import buckets, store
from tessera.server.wallets.direct import batch_sender, direct_capable, script_sender

pytest_plugins = ["tests.conftest_redis"]  # the redis-server fixtures


def test_only_a_plain_pooled_client_takes_the_short_way(redis_server, redis_client):
    assert direct_capable(redis_client)
    service = service_client(redis_server.url, 1.0)
    single = redis.Redis.from_url(redis_server.url, single_connection_client=True)
    try:
        assert not direct_capable(service)  # its own connection per thread
        assert not direct_capable(single)
    finally:
        service.close()
        single.close()


def test_a_sent_script_answers_as_redis_py_and_survives_a_flush_and_a_killed_connection(
    redis_client,
):
    script = redis_client.register_script("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}")
    send = script_sender(redis_client, script)
    assert send(["k"], ["a", 41]) == script(keys=["k"], args=["a", 41]) == [b"k", b"a", 42]
    redis_client.script_flush()  # the server forgot it: loaded again, sent again
    assert send(["k"], ["b", 1]) == [b"k", b"b", 2]
    redis_client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert send(["k"], ["c", 2]) == [b"k", b"c", 3]  # reconnected by the client's retry


def test_a_script_error_comes_through_as_redis_py_raises_it(redis_client):
    failing = redis_client.register_script("return redis.error_reply('no_way here')")
    send = script_sender(redis_client, failing)
    with pytest.raises(redis.ResponseError, match="no_way here"):
        send([], [])
    with pytest.raises(TypeError):  # hiredis packs no None: the store turns this into a bug
        send([], [None])


BATCH = [
    ("SET", "b:k", 41),
    ("INCR", "b:k"),
    ("HGET", "b:k", "f"),  # a string, not a hash: an error in its place
    ("EVALSHA", "0" * 40, 0),  # a script the server does not hold
    ("GET", "b:k"),
]


def check_batch(client, replies) -> None:
    assert replies[1] == 42 and replies[4] == b"42"
    assert isinstance(replies[2], redis.ResponseError) and "WRONGTYPE" in str(replies[2])
    assert isinstance(replies[3], redis.exceptions.NoScriptError)


def as_compared(reply):
    """A reply as two runs of one command compare: an error by its kind and message; OK as
    redis-py's SET callback gives it."""
    if isinstance(reply, Exception):
        return type(reply), str(reply)
    return True if reply == b"OK" else reply


def test_a_batch_answers_as_a_pipeline_in_every_kind_of_client(redis_server, redis_client):
    service = service_client(redis_server.url, 1.0)
    single = redis.Redis.from_url(redis_server.url, single_connection_client=True)
    try:
        for client in (redis_client, service, single):
            client.delete("b:k")
            check_batch(client, batch_sender(client)(BATCH))
        pipe = redis_client.pipeline(transaction=False)
        for command in BATCH:
            pipe.execute_command(*command)
        redis_client.delete("b:k")
        theirs = pipe.execute(raise_on_error=False)
        redis_client.delete("b:k")
        ours = batch_sender(redis_client)(BATCH)
        assert [as_compared(r) for r in ours] == [as_compared(r) for r in theirs]
    finally:
        service.close()
        single.close()


def test_a_batch_survives_a_killed_connection(redis_client):
    send = batch_sender(redis_client)
    send([("PING",)])
    redis_client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert send([("PING",), ("ECHO", "again")]) == [b"PONG", b"again"]  # the client's retry


PACKABLE = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80),
    st.integers(min_value=-(2**70), max_value=2**70),
)


@given(st.lists(PACKABLE, max_size=70))
def test_the_packer_writes_what_hiredis_writes(items):
    command = tuple(items)
    assert pack_command(command) == hiredis.pack_command(command)


@pytest.mark.parametrize(
    "odd", [1.5, float("inf"), True, None, bytearray(b"x"), memoryview(b"ab"), ["a"]]
)
def test_other_arguments_are_packed_or_refused_as_hiredis_does(odd):
    command = ("SET", "k", odd, 7)
    try:
        expected = hiredis.pack_command(command)
    except TypeError as exc:
        with pytest.raises(TypeError, match=str(exc)):
            pack_command(command)
    else:
        assert pack_command(command) == expected


def test_the_compiled_packer_is_the_one_in_use():
    assert pack_command is _resp.pack_command  # not the fallback to hiredis


def test_the_built_store_is_the_one_imported():
    for module in (store, buckets):
        here = Path(module.__file__).parent
        name = module.__name__.rsplit(".", 1)[1]
        assert list(here.glob(f"{name}.*.so")), f"{name} is not compiled in this checkout"
        assert module.__file__.endswith(".so")


@pytest.mark.parametrize(
    "command",
    [
        ("SET", "k", 7),
        ("CONFIG SET", "appendfsync", "everysec"),  # a name in words
        (b"CLIENT KILL", b"TYPE", "normal"),
        ("SET", bytearray(b"k"), memoryview(b"v")),  # taken as bytes
        ("EVALSHA", "abc", 2, "k1", "k2", b"x" * 300, -5),
    ],
)
def test_the_command_packer_writes_what_redis_py_writes(command):
    assert CommandPacker().pack(*command) == HiredisRespSerializer().pack(*command)


def test_the_command_packer_refuses_as_redis_py_does():
    for packer in (CommandPacker(), HiredisRespSerializer()):
        with pytest.raises(redis.DataError):
            packer.pack("SET", "k", None)


def test_the_service_client_packs_its_pipelines_so(redis_server):
    client = service_client(redis_server.url, 1.0)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.set("packed", 41).incr("packed").get("packed")
        assert pipe.execute() == [True, 42, b"42"]
        conn = client.connection_pool.get_connection()
        assert isinstance(conn._command_packer, CommandPacker)
        client.connection_pool.release(conn)
    finally:
        client.close()
