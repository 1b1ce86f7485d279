"""The compiled member-read decoder (server/wallets/_read.pyx) against its Python reference,
``WalletStore.snapshot_of``: the same snapshot from real reads of members with histories
and from generated replies (limit counters of both layouts, spend days kept in the profile),
and no answer (the reference's turn) for a reply that is not plain bytes."""

from __future__ import annotations

import orjson
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.engine.model import Redeem
from tessera.server.wallets import WalletStore

from tests.wallets_support import DAY, NOW, Harness, program, txn

pytest_plugins = ["tests.conftest_redis"]


def read_reply(store: WalletStore, member: str, now: int) -> list:
    keys = [store.keys.profile(member), store.keys.wallets(member), store.keys.spend(member)]
    return store._read(keys, now)


def test_real_reads_decode_as_the_reference_decodes(harness: Harness) -> None:
    store = harness.store
    harness.load("r1", points=5_000, cash=900, gift=0)
    harness.authorize(txn("r-1", 12_345, member="r1", merchant="M1"))
    harness.authorize(txn("r-2", 25_000, member="r1", mcc=5999), capture=True)  # a tag, entries
    harness.authorize(txn("r-3", 800, member="r1", redeem=Redeem("points", None, 300)))
    harness.authorize(txn("r-4", 150_000, member="r1", mcc=5996))  # a value limit, a new tier
    harness.authorize(txn("r-5", 500, member="r2", merchant="M2"))  # a member with no tier
    store.reverse("r1", "r-1", now=NOW + 60)
    seen = 0
    for member in ("r1", "r2", "never-seen"):
        for now in (NOW, NOW + 3_600, NOW + 20 * DAY, NOW + 400 * DAY):
            reply = read_reply(store, member, now)
            current = store.period_keys(now)
            compiled = store._member_reader.read(member, now, reply, current)
            assert compiled is not None
            assert compiled == store.snapshot_of(member, now, reply, current)
            assert store.snapshot(member, now) == compiled
            seen += bool(compiled.state.segments) + bool(compiled.limits) + bool(compiled.purses)
    assert seen  # the members read hold segments, limits and buckets


text = st.text(max_size=8)
numbers = st.integers(-(2**53), 2**53).map(lambda n: str(n).encode())
profile_fields = st.one_of(
    st.tuples(st.sampled_from([b"ver", b"txns", b"last", b"enrolled"]), numbers),
    st.tuples(st.sampled_from([b"lastx", b"spend"]), text.map(str.encode)),
    st.tuples(st.just(b"tier"), st.sampled_from([b"", b"bronze", b"silver", b"gold"])),
    st.tuples(st.just(b"segs"), st.lists(text, max_size=3).map(orjson.dumps)),
    st.tuples(st.just(b"attrs"),
              st.dictionaries(text, st.one_of(text, st.integers(-99, 99)), max_size=3)
              .map(orjson.dumps)),
    st.tuples(text.map(lambda t: b"tg:" + t.encode()), numbers),
    st.tuples(st.sampled_from([b"tiers", b"x", b"tg", b"ve"]), text.map(str.encode)),
)
PERIODS = ("ever", "2026-12-05", "2026-W49")  # the periods current in the generated reads
period = st.sampled_from([*PERIODS, "2026-12-04", "2026-W48"])
counter = st.sampled_from(["capped|count", "value_limited|value", "a|b|c"])
used = st.integers(0, 10**6).map(lambda n: str(n).encode())
counter_fields = st.one_of(
    st.tuples(  # named: "c:<period>|<rule>|<kind>" -> "<period key>|<used>"
        st.builds(lambda p, c: f"c:{p}|{c}".encode(), st.sampled_from(["day", "week", "ever"]),
                  counter),
        st.builds(lambda p, u: p.encode() + b"|" + u, period, used),
    ),
    st.tuples(  # the layout before: "l:<period key>|<rule>|<kind>" -> used
        st.builds(lambda p, c: f"l:{p}|{c}".encode(), period, counter), used),
    st.tuples(st.sampled_from([b"c:day", b"l:ever"]), st.sampled_from([b"ever", b"1"])),
)
day_fields = st.tuples(  # spend days of the layout before the spend hash, around NOW's day
    st.integers(NOW // DAY - 400, NOW // DAY + 40).map(lambda d: f"d:{d}".encode()), used
)
wallet_rows = st.tuples(
    st.sampled_from([b"points", b"instant", b"cash", b"gift", b"draw:raffle", b"other"]),
    st.sampled_from([b"|debt", b"|99999999999:0", b"|1800000000:1796000000",
                     b"|1796459400:0"]),
    st.integers(-500, 5_000).map(lambda n: str(n).encode()),
)


def flat(rows: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [part for row in dict(rows).items() for part in row]


replies = st.tuples(
    st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**6),
    st.lists(st.one_of(profile_fields, counter_fields, day_fields), max_size=16).map(flat),
    st.lists(wallet_rows, max_size=8).map(
        lambda rows: flat([(name + bucket, amount) for name, bucket, amount in rows])),
).map(list)


# Decoding sends nothing: a store on a client that never connects decodes the replies.
STORE = WalletStore(redis.Redis(), program())


@settings(max_examples=300, deadline=None)
@given(reply=replies, now=st.sampled_from([NOW, NOW + 30 * DAY]))
def test_generated_replies_decode_as_the_reference_decodes(reply: list, now: int) -> None:
    compiled = STORE._member_reader.read("m", now, reply, PERIODS)
    assert compiled == STORE.snapshot_of("m", now, reply, PERIODS)


def test_replies_not_of_bytes_are_left_to_the_reference() -> None:
    store = STORE
    plain = [0, 0, 0, [b"ver", b"3"], []]
    assert store._member_reader.read("m", NOW, plain, PERIODS) is not None
    for odd in (
        [0, 0, 0, ["ver", "3"], []],  # text, as a client that decodes replies gives
        [0, 0, 0, [b"ver"], []],  # a field without its value
        [b"0", 0, 0, [b"ver", b"3"], []],  # a sum that is not an integer reply
        [0, 0, 0, [b"ver", b"3"]],  # short
        (0, 0, 0, [b"ver", b"3"], []),
    ):
        assert store._member_reader.read("m", NOW, odd, PERIODS) is None


def test_a_profile_read_as_a_map_decodes_as_the_flat_one(harness: Harness) -> None:
    # A client that reads RESP3, or whose pipeline applies redis-py's callbacks, gives
    # HGETALL as a map: the reference decodes it to the same snapshot.
    store = harness.store
    harness.load("r1", points=5_000, cash=900, gift=0)
    harness.authorize(txn("r-1", 150_000, member="r1", mcc=5996))
    current = store.period_keys(NOW + 60)
    reply = read_reply(store, "r1", NOW + 60)
    profile = reply[3]
    as_map = [*reply[:3], dict(zip(profile[::2], profile[1::2], strict=True)), reply[4]]
    assert store._member_reader.read("r1", NOW + 60, as_map, current) is None
    expected = store._member_reader.read("r1", NOW + 60, reply, current)
    assert expected is not None and expected.limits
    assert store.snapshot_of("r1", NOW + 60, as_map, current) == expected
