"""The Authorize answer's hand-written wire bytes equal protobuf's, byte for byte.

The compiled encoder (server/service/_wire.pyx) is run on hypothesis-generated results in
the wallet store's shape and on the store's own answers; each must give the bytes that
``AuthorizeResponse(decision=decision_fields(...)).SerializeToString()`` gives, and parse
back to the same message.  Results the encoder does not take go to protobuf's path, which
must answer (or refuse) exactly as before.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tessera.engine.model import Redeem
from tessera.server.service import app, wire
from tessera.server.service.convert import decision_dict, decision_fields

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import authorization_pb2_grpc as A_grpc
from tessera.v1 import common_pb2 as C
from tests.wallets_support import NOW, Harness, program, txn

try:
    from tessera.server.service import _wire
except ImportError:  # pragma: no cover - the extension is part of every build
    _wire = None

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures

compiled_only = pytest.mark.skipif(_wire is None, reason="extension not built")

PROGRAM = program().program  # EUR; points wallets `points` and `instant`, money `cash`, `gift`
WALLETS = sorted(PROGRAM.wallets)


@dataclasses.dataclass(frozen=True)
class Wallet:
    kind: str


@dataclasses.dataclass(frozen=True, eq=False)
class Programme:
    """What the answer reads of a programme: its currency and which wallets hold points."""

    currency: str
    wallets: dict[str, Wallet]


def reference(result: dict[str, Any], program: Any = PROGRAM, did: str = "d-1") -> bytes:
    return A.AuthorizeResponse(decision=decision_fields(result, program, did)).SerializeToString()


def encoded(result: dict[str, Any], program: Any = PROGRAM, did: str = "d-1") -> bytes:
    """The compiled encoder's bytes, called directly: a fallback cannot hide a mistake."""
    points = frozenset(n for n, w in program.wallets.items() if w.kind == "points")
    return _wire.authorize_response(result, program.currency, points, did)


def assert_same(result: dict[str, Any], program: Any = PROGRAM, did: str = "d-1") -> None:
    expected = reference(result, program, did)
    got = encoded(result, program, did)
    assert got == expected
    assert A.AuthorizeResponse.FromString(got) == A.AuthorizeResponse(
        decision=decision_fields(result, program, did))
    assert wire.authorize_response(result, program, did) == expected


# ---- results in the store's shape -----------------------------------------------------------

INT64 = st.one_of(
    st.just(0),
    st.sampled_from([1, -1, 127, 128, 16_383, 16_384, 2**31, -(2**31), 2**53 - 1,
                     2**63 - 1, -(2**63)]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
TEXT = st.one_of(st.just(""), st.text(max_size=12), st.text(min_size=120, max_size=300))
NAME = st.one_of(st.sampled_from(WALLETS), st.text(max_size=10))
OPTIONAL_TEXT = st.one_of(st.none(), st.just(""), st.text(max_size=10))
OPTIONAL_INT = st.one_of(st.none(), INT64)
KIND = st.one_of(
    st.sampled_from(["discount", "cashback", "earn", "entries", "tag", "redeem"]), TEXT)


def _maybe(draw: st.DrawFn, out: dict[str, Any], key: str, values: st.SearchStrategy) -> None:
    """``out[key]`` set to a drawn value, or left out (the result's ``.get`` reads it so)."""
    if draw(st.booleans()):
        out[key] = draw(values)


@st.composite
def effects(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"type": draw(KIND)}
    _maybe(draw, out, "amount", OPTIONAL_INT)
    _maybe(draw, out, "points", OPTIONAL_INT)
    for key in ("wallet", "draw", "segment"):
        _maybe(draw, out, key, OPTIONAL_TEXT)
    for key in ("available_at", "expires_at"):
        _maybe(draw, out, key, OPTIONAL_INT)
    return out


FUNDERS = st.fixed_dictionaries({"funder": TEXT, "amount": INT64, "points": INT64})


@st.composite
def applied_rules(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"rule": draw(TEXT)}
    _maybe(draw, out, "effects", st.lists(effects(), max_size=4))
    _maybe(draw, out, "funders", st.lists(FUNDERS, max_size=3))
    _maybe(draw, out, "value", INT64)  # the store keeps it; the answer does not carry it
    return out


SKIPPED = st.fixed_dictionaries({"rule": TEXT, "reason": TEXT, "detail": TEXT})


@st.composite
def redemptions(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([None, {}]))
    out: dict[str, Any] = {"wallet": draw(NAME), "amount": draw(INT64), "points": draw(INT64)}
    _maybe(draw, out, "requested", OPTIONAL_INT)
    _maybe(draw, out, "reason", OPTIONAL_TEXT)
    return out


@st.composite
def results(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {
        "op": "authorize",
        "txn_id": draw(TEXT),
        "member": draw(TEXT),
        "amount": draw(INT64),
        "discount": draw(INT64),
        "redeemed": draw(INT64),
        "charged": draw(INT64),
    }
    _maybe(draw, out, "program_version", TEXT)
    _maybe(draw, out, "status", st.one_of(st.sampled_from(["held", "captured"]), TEXT))
    _maybe(draw, out, "applied", st.one_of(st.none(), st.lists(applied_rules(), max_size=6)))
    _maybe(draw, out, "skipped", st.one_of(st.none(), st.lists(SKIPPED, max_size=4)))
    _maybe(draw, out, "redemption", redemptions())
    _maybe(draw, out, "balances", st.one_of(
        st.none(), st.dictionaries(NAME, INT64, max_size=8)))
    _maybe(draw, out, "hold_until", st.one_of(st.none(), INT64))
    return out


@compiled_only
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(result=results(), did=TEXT)
def test_encoded_bytes_are_protobufs(result: dict[str, Any], did: str) -> None:
    assert_same(result, PROGRAM, did)


@compiled_only
@settings(max_examples=60, deadline=None)
@given(result=results(), currency=st.one_of(st.just(""), st.sampled_from(["EUR", "RSD"]),
                                            st.text(max_size=8)),
       points=st.sets(st.sampled_from(WALLETS)))
def test_any_currency_and_points_wallets(
    result: dict[str, Any], currency: str, points: set[str]
) -> None:
    programme = Programme(currency, {
        name: Wallet("points" if name in points else "money") for name in WALLETS})
    assert_same(result, programme)


def _big_result(rules: int, text: int) -> dict[str, Any]:
    effect = {"type": "cashback", "amount": -5, "points": 2**62, "wallet": "cash",
              "draw": "é" * text, "segment": "", "available_at": 0, "expires_at": None}
    return {
        "txn_id": "t" * text, "member": "ünï", "program_version": "v1", "amount": 2**63 - 1,
        "discount": -(2**63), "redeemed": 0, "charged": 1,
        "applied": [{"rule": f"r{i}", "effects": [effect] * 3,
                     "funders": [{"funder": "program", "amount": i, "points": -i}]}
                    for i in range(rules)],
        "skipped": [{"rule": "s", "reason": "limit", "detail": "x" * text}] * rules,
        "redemption": {"wallet": "points", "requested": None, "amount": 0, "points": 0,
                       "reason": None},
        "balances": {f"w{i}": i - rules for i in range(rules)} | {"points": 7, "cash": 0},
        "hold_until": NOW, "status": "held",
    }


@compiled_only
@pytest.mark.parametrize(("rules", "text"), [(0, 0), (1, 200), (300, 3), (40, 20_000)])
def test_long_answers_lengths_of_several_bytes(rules: int, text: int) -> None:
    """Sub-messages longer than 127 and 16,383 bytes, answers past the encoder's first
    buffer (a length of one byte kept is then moved up)."""
    assert_same(_big_result(rules, text))


@compiled_only
def test_sub_messages_set_are_present_even_when_empty() -> None:
    result = {"txn_id": "", "member": "", "amount": 0, "discount": 0, "redeemed": 0,
              "charged": 0, "applied": [{"rule": "", "effects": [
                  {"type": "discount", "available_at": 0}], "funders": [
                  {"funder": "", "amount": 0, "points": 0}]}],
              "redemption": {"wallet": "", "requested": 0, "amount": 0, "points": 0},
              "balances": {"": 0, "points": 0}}
    programme = Programme("", {"points": Wallet("points")})
    assert_same(result, programme)
    decision = A.AuthorizeResponse.FromString(encoded(result, programme)).decision
    assert decision.HasField("amount") and decision.redemption.HasField("requested")
    assert decision.applied[0].effects[0].HasField("available_at")
    assert not decision.balances[1].HasField("amount")  # the points wallet


# ---- what the encoder does not take, and the fallback ---------------------------------------


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:  # the error is the point: compared with protobuf's
        return "raised", type(exc)


BASE = {"txn_id": "t", "member": "m", "amount": 1, "discount": 0, "redeemed": 0, "charged": 1}


@compiled_only
@pytest.mark.parametrize("change", [
    {"amount": True},  # a bool, not an int
    {"amount": 2**63},  # past int64
    {"amount": 1.0},
    {"member": None},
    {"member": b"m"},
    {"member": "\ud800"},  # a lone surrogate
    {"applied": ({"rule": "r", "effects": None},)},
    {"applied": [collections.OrderedDict(rule="r")]},
    {"skipped": [{"rule": "r"}]},
    {"balances": {"a": 1, 2: 3}},
    {"redemption": {"wallet": "points"}},
    {"hold_until": "soon"},
])
def test_other_shapes_answer_as_protobuf_does(change: dict[str, Any]) -> None:
    result = BASE | change
    with pytest.raises(_wire.Unsupported):
        encoded(result)
    expected = _outcome(lambda: reference(result, did="d"))
    assert _outcome(lambda: wire.authorize_response(result, PROGRAM, "d")) == expected


@compiled_only
def test_a_mapping_not_a_dict_goes_to_protobuf() -> None:
    result = collections.OrderedDict(BASE)
    with pytest.raises(_wire.Unsupported):
        encoded(result)
    assert wire.authorize_response(result, PROGRAM, "d") == reference(result, did="d")


@settings(max_examples=60, deadline=None)
@given(result=results())
def test_the_fallback_gives_the_same_bytes(result: dict[str, Any]) -> None:
    expected = reference(result)
    assert wire.build_authorize_response(result, PROGRAM, "d-1") == expected
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wire, "_encode", None)
        assert wire.authorize_response(result, PROGRAM, "d-1") == expected


def test_serialize_response_passes_bytes_and_serializes_messages() -> None:
    message = A.AuthorizeResponse(txn_id="t", error_code="INVALID_ARGUMENT", error="no")
    assert wire.serialize_response(b"\x0a\x00") == b"\x0a\x00"
    assert wire.serialize_response(message) == message.SerializeToString()
    stand_in = A.AuthorizeResponse(decision=C.Decision(txn_id="t", stand_in=True))
    assert wire.serialize_response(stand_in) == stand_in.SerializeToString()


# ---- the store's own answers ----------------------------------------------------------------


@compiled_only
def test_the_stores_answers_and_stored_answers(harness: Harness) -> None:
    harness.load("m1", points=5_000, cash=900, gift=0)
    answers = [
        harness.authorize(txn("w1", 12_345, merchant="M1")),  # points, cashback with funders
        harness.authorize(txn("w2", 25_000, mcc=5999), capture=True),  # big: entries, a tag
        harness.authorize(txn("w3", 800, redeem=Redeem("points", None, 300))),
        harness.authorize(txn("w4", 5_000, merchant="M2", redeem=Redeem("cash", 400, None))),
        harness.authorize(txn("w5", 0, member="m-new")),
    ]
    answers.append(harness.authorize(txn("w1", 12_345, merchant="M1")))  # read back stored
    assert any(a.get("applied") for a in answers) and any(a.get("redemption") for a in answers)
    for answer in answers:
        assert_same(answer)


@compiled_only
def test_quotes_are_written_by_the_encoder(harness: Harness) -> None:
    """A quote's result (``decision_dict`` of a decision, as Quote answers it) is of the
    shape the encoder takes: written directly, the same bytes as protobuf's."""
    harness.load("q1", points=5_000, cash=900, gift=0)
    quotes = [
        txn("q-1", 12_345, member="q1", merchant="M1"),
        txn("q-2", 25_000, member="q1", mcc=5999),
        txn("q-3", 800, member="q1", redeem=Redeem("points", None, 300)),
        txn("q-4", 5_000, member="q1", merchant="M2", redeem=Redeem("cash", 400, None)),
    ]
    results = []
    for quote in quotes:
        decision, snapshot = harness.decide(quote)
        result = decision_dict(decision)
        result["balances"] = dict(snapshot.state.balances)
        result["status"] = "quoted"
        results.append(result)
    assert any(r["applied"] for r in results) and any(r["redemption"] for r in results)
    for result in results:
        assert_same(result)


# ---- registration ---------------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.generic: list[Any] = []
        self.registered: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.registered[service] = handlers


def test_only_the_two_authorize_methods_send_and_take_bytes() -> None:
    servicer = A_grpc.AuthorizationServicer()
    ours, generated = _Server(), _Server()
    app.add_authorization_servicer(servicer, ours)  # type: ignore[arg-type]
    A_grpc.add_AuthorizationServicer_to_server(servicer, generated)
    name = "tessera.v1.Authorization"
    mine, theirs = ours.registered[name], generated.registered[name]
    assert mine.keys() == theirs.keys()
    for method, handler in mine.items():
        if method in app.BYTES_METHODS:
            assert handler.response_serializer is wire.serialize_response
            assert handler.request_deserializer is None  # bytes: convert.authorize_request_in
            assert handler.request_streaming == theirs[method].request_streaming
            assert handler.response_streaming == theirs[method].response_streaming
        else:  # the generated handler (a fresh one of each registration: equal fields)
            assert handler == theirs[method]
    assert len(ours.generic) == 1
