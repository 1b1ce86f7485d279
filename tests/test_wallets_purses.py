"""The compiled wallets-hash parser (server/wallets/_purses.pyx) against its Python
reference, ``buckets.purses_from_reply``, on generated replies: the same purses, buckets,
debts and names, and the same errors; and its sum of live buckets against the loop
``Purse.spendable`` runs in Python."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.server.wallets import _purses
from tessera.server.wallets.buckets import Purse, bucket_times, purses_from_reply

names = st.sampled_from(["points", "cash", "draw:raffle", "gift", "café", ""])
buckets = st.one_of(
    st.just("debt"),
    st.builds(
        lambda e, a: f"{e}:{a}",
        st.integers(0, 99_999_999_999),
        st.integers(0, 99_999_999_999),
    ),
    st.text(st.sampled_from("0123456789:|é"), max_size=6),
)
amounts = st.one_of(
    st.integers(-(2**53), 2**53),
    st.integers(-(10**30), 10**30),  # past the digits read by hand: int() reads them
).map(lambda n: str(n).encode())
odd_amounts = st.sampled_from([b"007", b"-0", b" 12", b"1_000", b"+5"])


def field(name: str, bucket: str | None) -> bytes:
    return (name if bucket is None else f"{name}|{bucket}").encode()


replies = st.lists(
    st.tuples(names, st.one_of(st.none(), buckets), st.one_of(amounts, odd_amounts)),
    max_size=40,
).map(lambda rows: [part for n, b, a in rows for part in (field(n, b), a)])


def view(purses: dict[str, Purse]) -> list[tuple[str, dict[str, int], int]]:
    return [(k, (p.name, dict(p.buckets), p.debt, set(p.changed))) for k, p in purses.items()]


@settings(max_examples=400, deadline=None)
@given(replies)
def test_the_compiled_parser_gives_what_the_reference_gives(flat):
    got, want = _purses.purses(flat), purses_from_reply(flat)
    assert view(got) == view(want)
    assert all(type(a) is int for p in got.values() for a in (p.debt, *p.buckets.values()))
    # The same hash as HGETALL gives it in RESP3: a map (a field once).
    as_map = dict(zip(flat[::2], flat[1::2], strict=True))
    assert view(_purses.purses(as_map)) == view(purses_from_reply(as_map))


def test_it_reads_a_real_wallets_hash_shape():
    flat = [
        b"points|1796459400:0",
        b"120",
        b"cash|99999999999:0",
        b"5",
        b"points|debt",
        b"-30",
        b"points|1796545800:1796459400",
        b"7",
    ]
    got = _purses.purses(flat)
    assert list(got) == ["points", "cash"]
    assert got["points"].buckets == {"1796459400:0": 120, "1796545800:1796459400": 7}
    assert got["points"].debt == -30 and got["cash"].buckets == {"99999999999:0": 5}


def test_what_is_not_bytes_goes_to_the_reference():
    # A client that decodes replies gives str: the same purses.
    flat = ["points|1:0", "3", "points|debt", "-1"]
    assert view(_purses.purses(flat)) == view(purses_from_reply(flat))


@pytest.mark.parametrize(
    "bad", [[b"points|1:0", b"x"], [b"points|1:0", b""], [b"points|1:0", b"-"]]
)
def test_an_amount_that_is_not_a_number_fails_as_int_does(bad):
    with pytest.raises(ValueError):
        purses_from_reply(bad)
    with pytest.raises(ValueError):
        _purses.purses(bad)


def python_live(buckets: dict[str, int], now: int) -> int:
    total = 0
    for name, amount in buckets.items():
        expires, available = bucket_times(name)
        if available <= now < expires:
            total += amount
    return total


times = st.integers(0, 99_999_999_999)
canonical = st.builds(lambda e, a: f"{e}:{a}", times, times)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.one_of(canonical, buckets), st.integers(-(2**66), 2**66), max_size=30),
    times,
    st.integers(-(2**53), 0),
)
def test_the_live_total_is_what_spendable_sums_in_python(held, now, debt):
    got = _purses.live_total(held, now)
    try:
        want = python_live(held, now)
    except ValueError:  # a name bucket_times refuses: the compiled sum leaves it to Python
        assert got is None
        with pytest.raises(ValueError):
            Purse("w", dict(held), debt).spendable(now)
        return
    assert got is None or got == want
    if all(abs(v) < 2**53 for v in held.values()) and len(held) < 1_000:
        assert got == want  # names as the store writes them and amounts it can hold
    assert Purse("w", dict(held), debt).spendable(now) == debt + want


def test_the_live_total_of_many_buckets():
    held = {f"{1_796_459_400 + i * 60}:{1_796_459_400 + i}": i for i in range(1_000)}
    for now in (1_796_459_399, 1_796_459_700, 1_796_519_400, 1_796_600_000):
        assert _purses.live_total(held, now) == python_live(held, now)


def test_purses_compare_by_value_and_copies_start_unchanged():
    held = Purse("w", {"1:0": 5}, -2, {"1:0"})
    assert held == Purse("w", {"1:0": 5}, -2, {"1:0"})
    assert held != Purse("w", {"1:0": 5}, -2) and held != Purse("v", {"1:0": 5}, -2, {"1:0"})
    assert held.copy() == Purse("w", {"1:0": 5}, -2) and held.copy().buckets is not held.buckets

