"""The compiled reader of Authorize requests (server/service/_request.pyx) against
protobuf's path (``AuthorizeRequest.FromString`` and ``convert.transaction_in``), on
generated requests valid and not: where the reader gives a transaction it is the one
protobuf's path gives, and wherever that path refuses a request the reader gives none
(so that the refusal, with its field, is always protobuf's path's)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tessera.engine.errors import InputError
from tessera.server.service import convert

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import common_pb2 as C
from tests.wallets_support import program

PROGRAM = program().program  # EUR; points wallets `points` and `instant`, money `cash`, `gift`
NO_POINTS_VALUE = dataclasses.replace(PROGRAM, points_value=None)
LOW, HIGH = convert._SECONDS_LOW, convert._SECONDS_HIGH
MAX = 2**53 - 1

def mostly(valid: list[Any], odd: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value most of the time, now and then one of ``odd`` (so that most requests
    are plain and every odd value still comes, alone or with others)."""
    return st.sampled_from([False] * 12 + [True]).flatmap(
        lambda is_odd: st.sampled_from(odd if is_odd else valid)
    )


texts = mostly(["m1", "M1001", "café", "x" * 256, "é" * 200, ""], ["x" * 257, "\x00z", "é" * 257])
units = mostly([0, 1, 1250, MAX], [MAX + 1, -1, -(2**63)])
currencies = mostly([""], ["EUR", "USD"])


@st.composite
def money(draw: st.DrawFn) -> C.Money:
    return C.Money(minor_units=draw(units), currency=draw(currencies))


@st.composite
def lines(draw: st.DrawFn) -> C.BasketLine:
    line = C.BasketLine(
        sku=draw(texts), category=draw(texts),
        qty=draw(mostly([0, 1, 3, 1_000_000], [1_000_001, -1])),
    )
    if draw(mostly([True], [False])):
        line.unit_price.CopyFrom(draw(money()))
    return line


@st.composite
def redeems(draw: st.DrawFn) -> C.Redeem:
    redeem = C.Redeem(
        wallet=draw(mostly(["cash", "gift", "points", "instant"], ["nope", ""])),
        points=draw(mostly([0, 0, 5, MAX], [MAX + 1, -1])),
        max=draw(st.booleans()),
    )
    if draw(st.booleans()):
        redeem.amount.CopyFrom(draw(money()))
    return redeem


@st.composite
def requests(draw: st.DrawFn) -> A.AuthorizeRequest:
    request = A.AuthorizeRequest(capture=draw(st.booleans()))
    if not draw(st.integers(0, 19)):
        return request  # no transaction
    txn = request.transaction
    txn.txn_id = draw(mostly(["t1", "t-2", "x" * 256], ["", "x" * 257]))
    if draw(mostly([True], [False])):
        txn.time.seconds = draw(mostly([LOW, 1_796_459_400, HIGH - 1], [LOW - 1, HIGH, -5]))
        txn.time.nanos = draw(mostly([0, 7, 999_999_999], [1_000_000_000, -1]))
    if draw(mostly([True], [False])):
        txn.amount.CopyFrom(draw(money()))
    txn.merchant, txn.terminal, txn.country = draw(texts), draw(texts), draw(texts)
    txn.card, txn.card_bin = draw(texts), draw(texts)
    txn.member = draw(mostly(["m1", "m-2", "", "é" * 3], ["x" * 257]))
    txn.mcc = draw(mostly([0, 5411, 9999], [10_000, -1, 2**31 - 1]))
    txn.channel = draw(mostly(["pos", "ecom", "app"], ["", "atm"]))
    for _ in range(draw(st.integers(0, 3))):
        txn.basket.append(draw(lines()))
    if draw(st.booleans()):
        txn.redeem.CopyFrom(draw(redeems()))
    return request


def protobufs_path(raw: bytes, prog: Any) -> tuple[Any, bool] | InputError:
    msg = A.AuthorizeRequest.FromString(raw)
    try:
        txn = convert.transaction_in(msg.transaction, prog, msg.HasField("transaction"))
    except InputError as exc:
        return exc
    return txn, msg.capture


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.sampled_from([PROGRAM, NO_POINTS_VALUE]))
def test_the_reader_gives_what_protobufs_path_gives_or_leaves_it_to_that_path(request, prog):
    raw = request.SerializeToString()
    got = convert.request_reader(prog).read(raw)
    want = protobufs_path(raw, prog)
    if isinstance(want, InputError):
        assert got is None
    elif got is not None:
        assert got == want
        assert type(got[0].redeem) is type(want[0].redeem)
    # Whichever path reads it, the servicer's entry gives protobuf's path's result.
    if isinstance(want, InputError):
        with pytest.raises(InputError) as caught:
            convert.authorize_request_in(raw, prog, convert.request_reader(prog))
        assert (caught.value.field, caught.value.code) == (want.field, want.code)
    else:
        assert convert.authorize_request_in(raw, prog, convert.request_reader(prog)) == want


def test_a_plain_request_is_read_without_protobuf():
    request = A.AuthorizeRequest(capture=True)
    txn = request.transaction
    txn.txn_id, txn.member, txn.merchant, txn.mcc, txn.channel = "t1", "m1", "M1001", 5411, "ecom"
    txn.time.seconds = 1_796_459_400
    txn.amount.minor_units = 1250
    txn.basket.add(sku="COF-1", category="coffee", qty=2).unit_price.minor_units = 300
    txn.basket.add(sku="TEA-1", category="tea").unit_price.minor_units = 0
    txn.redeem.wallet, txn.redeem.amount.minor_units = "cash", 200
    raw = request.SerializeToString()
    got = convert.request_reader(PROGRAM).read(raw)
    assert got is not None and got == protobufs_path(raw, PROGRAM)
    read, capture = got
    assert capture is True and read.currency == "EUR" and read.amount == 1250
    assert [(line.sku, line.qty, line.unit_price) for line in read.basket] == [
        ("COF-1", 2, 300), ("TEA-1", 1, 0)
    ]
    assert (read.redeem.wallet, read.redeem.amount, read.redeem.points) == ("cash", 200, None)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x0a", b"\x0a\x05abc", b"\xff\xff\xff", b"\x0a\x02\x0a\x80", b"\x12\x00" * 3],
)
def test_bytes_that_are_no_plain_request_are_left_to_protobuf(raw):
    assert convert.request_reader(PROGRAM).read(raw) is None


def test_bytes_that_are_no_request_at_all_are_an_invalid_argument_naming_the_request():
    with pytest.raises(InputError) as caught:
        convert.authorize_request_in(b"\x0a\x05abc", PROGRAM, convert.request_reader(PROGRAM))
    assert caught.value.field == "request"


@given(st.binary(max_size=80))
@settings(max_examples=500, deadline=None)
def test_any_bytes_read_or_left_never_crash(raw):
    got = convert.request_reader(PROGRAM).read(raw)
    if got is not None:  # then protobuf reads the same transaction from them
        assert got == protobufs_path(raw, PROGRAM)
