"""The Authorization and Members services through gRPC, on a real server and redis-server."""

from __future__ import annotations

import datetime as dt
import threading

import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from service_helpers import MK, SW, Running, metadata, running
from tessera.server.service.errors import field_violations

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import common_pb2 as C
from tessera.v1 import members_pb2 as M


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Running:
    with running(str(tmp_path_factory.mktemp("svc"))) as r:
        yield r


def when(day: int = 5, hour: int = 8) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt.datetime(2026, 12, day, hour, 30, tzinfo=dt.UTC))
    return ts


def eur(units: int) -> C.Money:
    return C.Money(minor_units=units, currency="EUR")


def txn(txn_id: str, **fields: object) -> C.Transaction:
    base: dict[str, object] = dict(
        txn_id=txn_id, time=when(), amount=eur(1250), merchant="M1001", mcc=5814,
        channel="pos", basket=[C.BasketLine(sku="CAP", category="coffee", qty=2,
                                            unit_price=eur(350))],
    )
    base.update(fields)
    return C.Transaction(**base)  # type: ignore[arg-type]


def balances(items: object) -> dict[str, int]:
    return {b.wallet: b.points or b.amount.minor_units for b in items}  # type: ignore[attr-defined]


def test_lifecycle_enrol_link_authorise_retry_capture_refund_reverse(svc: Running) -> None:
    member = svc.members.Enrol(
        M.EnrolRequest(member="life-1", tier="silver", cards=["card-life-1"],
                       consents={"marketing": True}), metadata=SW)
    assert member.cards == ["card-life-1"] and member.consents["marketing"]
    request = A.AuthorizeRequest(transaction=txn("life-t1", card="card-life-1"))
    first = svc.auth.Authorize(request, metadata=SW).decision
    assert first.member == "life-1" and first.status == "held"
    assert first.ruleset_version and first.decision_id
    assert [a.rule for a in first.applied] == ["welcome"]  # first purchase: 500 points, stop
    assert first.charged.minor_units == 1250
    # A retry gets the stored decision, not a second reward.
    again = svc.auth.Authorize(request, metadata=SW).decision
    assert again == first
    captured = svc.auth.Capture(A.CaptureRequest(txn_id="life-t1", member="life-1"), metadata=SW)
    assert captured.captured.minor_units == 1250
    refund = svc.auth.Refund(A.RefundRequest(txn_id="life-t1", card="card-life-1",
                                             refund_id="r1", amount=eur(625)), metadata=SW)
    assert refund.remaining.minor_units == 625
    assert balances(refund.balances)["points"] == 0  # pending points: clawed back in proportion
    reverse = svc.auth.Reverse(A.ReverseRequest(txn_id="life-t1", member="life-1"), metadata=SW)
    assert reverse.status == "reversed"
    ledger = svc.members.ListLedger(M.ListLedgerRequest(member="life-1", page_size=2), metadata=SW)
    assert len(ledger.entries) == 2 and ledger.next_page_token
    rest = svc.members.ListLedger(M.ListLedgerRequest(
        member="life-1", page_size=50, page_token=ledger.next_page_token), metadata=SW)
    ops = [e.op for e in [*ledger.entries, *rest.entries]]
    assert ops == ["reverse", "refund", "authorize"]
    assert sum(e.delta for e in [*ledger.entries, *rest.entries]) == 0


def test_quote_writes_nothing_and_matches_authorize(svc: Running) -> None:
    svc.members.Enrol(M.EnrolRequest(member="quote-1"), metadata=SW)
    request = A.AuthorizeRequest(transaction=txn("quote-t1", member="quote-1"))
    quote = svc.auth.Quote(request, metadata=SW).decision
    assert quote.status == "quoted"
    assert not svc.members.ListLedger(M.ListLedgerRequest(member="quote-1"), metadata=SW).entries
    real = svc.auth.Authorize(request, metadata=SW).decision
    assert [a.rule for a in real.applied] == [a.rule for a in quote.applied]
    assert real.charged == quote.charged


def test_unknown_card_enrols_on_first_purchase_and_card_replacement(svc: Running) -> None:
    decision = svc.auth.Authorize(
        A.AuthorizeRequest(transaction=txn("auto-t1", card="card-new")), metadata=SW).decision
    assert decision.member == "card:card-new"
    member = svc.members.GetMember(M.GetMemberRequest(card="card-new"), metadata=SW)
    assert member.member == "card:card-new" and member.txn_count == 1
    # A lost card replaced: the member and its history stay.
    svc.members.LinkCard(M.LinkCardRequest(member="card:card-new", card="card-repl",
                                           replaces="card-new"), metadata=SW)
    again = svc.auth.Authorize(
        A.AuthorizeRequest(transaction=txn("auto-t2", card="card-repl")), metadata=SW).decision
    assert again.member == "card:card-new"
    member = svc.members.GetMember(M.GetMemberRequest(member="card:card-new"), metadata=SW)
    assert member.cards == ["card-repl"] and member.txn_count == 2
    with pytest.raises(grpc.RpcError) as err:  # a card belongs to one member
        svc.members.Enrol(M.EnrolRequest(member="thief", cards=["card-repl"]), metadata=SW)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_consents_and_erase(svc: Running) -> None:
    svc.members.Enrol(M.EnrolRequest(member="gdpr-1", attrs={"city": "Novi Sad"},
                                     cards=["card-gdpr"]), metadata=SW)
    svc.auth.Authorize(A.AuthorizeRequest(transaction=txn("gdpr-t1", member="gdpr-1")),
                       metadata=SW)
    got = svc.members.SetConsents(M.SetConsentsRequest(member="gdpr-1",
                                                       consents={"email": False}), metadata=SW)
    assert got.consents == {"email": False}
    opaque = svc.members.Erase(M.EraseRequest(member="gdpr-1"), metadata=SW).opaque_id
    after = svc.members.GetMember(M.GetMemberRequest(member="gdpr-1"), metadata=SW)
    assert after.erased and after.member == opaque and opaque.startswith("anon-")
    assert not after.attrs and not after.cards and not after.consents
    assert after.txn_count == 1  # totals stay
    ledger = svc.members.ListLedger(M.ListLedgerRequest(member="gdpr-1"), metadata=SW)
    assert ledger.entries
    with pytest.raises(grpc.RpcError) as err:
        svc.members.GetMember(M.GetMemberRequest(card="card-gdpr"), metadata=SW)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_and_reflection(svc: Running) -> None:
    health = health_pb2_grpc.HealthStub(svc.channel)
    for name in ("", "tessera.v1.Authorization", "tessera.v1.Rules", "tessera.v1.Members"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(svc.channel)
    replies = list(stub.ServerReflectionInfo(iter([
        reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"tessera.v1.Authorization", "tessera.v1.Members", "tessera.v1.Rules"} <= names


@pytest.mark.parametrize(
    ("call", "token", "code"),
    [
        ("auth", None, grpc.StatusCode.UNAUTHENTICATED),
        ("auth", "nonsense", grpc.StatusCode.UNAUTHENTICATED),
        ("auth", "marketer", grpc.StatusCode.PERMISSION_DENIED),
        ("rules", "switch", grpc.StatusCode.PERMISSION_DENIED),
        ("rules", None, grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_auth_failures(svc: Running, call: str, token: str | None, code: grpc.StatusCode) -> None:
    from tessera.v1 import rules_pb2 as R

    md = {None: (), "nonsense": metadata("nonsense"), "marketer": MK, "switch": SW}[token]
    with pytest.raises(grpc.RpcError) as err:
        if call == "auth":
            svc.auth.Authorize(A.AuthorizeRequest(transaction=txn("auth-x", member="a")),
                               metadata=md)
        else:
            svc.rules.ListVersions(R.ListVersionsRequest(), metadata=md)
    assert err.value.code() == code


def _bad(**fields: object) -> A.AuthorizeRequest:
    fields = {"txn_id": "bad-1", "member": "bad-m", **fields}
    return A.AuthorizeRequest(transaction=txn(**fields))  # type: ignore[arg-type]


BAD_INPUTS = [
    (A.AuthorizeRequest(), "transaction"),
    (_bad(txn_id=""), "transaction.txn_id"),
    (_bad(txn_id="x" * 300), "transaction.txn_id"),
    (A.AuthorizeRequest(transaction=C.Transaction(txn_id="b", amount=eur(1), member="m")),
     "transaction.time"),
    (_bad(time=timestamp_pb2.Timestamp(seconds=-5)), "transaction.time"),
    (_bad(time=timestamp_pb2.Timestamp(seconds=10**11)), "transaction.time"),
    (A.AuthorizeRequest(transaction=C.Transaction(txn_id="b", time=when(), member="m")),
     "transaction.amount"),
    (_bad(amount=C.Money(minor_units=-1, currency="EUR")), "transaction.amount.minor_units"),
    (_bad(amount=C.Money(minor_units=2**60, currency="EUR")), "transaction.amount.minor_units"),
    (_bad(amount=C.Money(minor_units=100, currency="USD")), "transaction.amount.currency"),
    (_bad(merchant="m" * 300), "transaction.merchant"),
    (_bad(terminal="t" * 300), "transaction.terminal"),
    (_bad(mcc=10_000), "transaction.mcc"),
    (_bad(mcc=-1), "transaction.mcc"),
    (_bad(channel="fax"), "transaction.channel"),
    (_bad(country="c" * 300), "transaction.country"),
    (_bad(card_bin="1" * 300), "transaction.card_bin"),
    (A.AuthorizeRequest(transaction=C.Transaction(txn_id="b", time=when(), amount=eur(1))),
     "transaction.member"),
    (_bad(card="c" * 300), "transaction.card"),
    (_bad(basket=[C.BasketLine(sku="s", qty=-2, unit_price=eur(1))]), "transaction.basket[0].qty"),
    (_bad(basket=[C.BasketLine(sku="s", qty=1)]), "transaction.basket[0].unit_price"),
    (_bad(basket=[C.BasketLine(sku="s" * 300, unit_price=eur(1))]), "transaction.basket[0].sku"),
    (_bad(basket=[C.BasketLine(category="c" * 300, unit_price=eur(1))]),
     "transaction.basket[0].category"),
    (_bad(basket=[C.BasketLine(unit_price=C.Money(minor_units=1, currency="GBP"))]),
     "transaction.basket[0].unit_price.currency"),
    (_bad(redeem=C.Redeem(wallet="nope")), "transaction.redeem.wallet"),
    (_bad(redeem=C.Redeem()), "transaction.redeem.wallet"),
    (_bad(redeem=C.Redeem(wallet="cashback", points=5)), "transaction.redeem.points"),
    (_bad(redeem=C.Redeem(wallet="cashback", amount=C.Money(minor_units=-3))),
     "transaction.redeem.amount.minor_units"),
]


@pytest.mark.parametrize(("request_", "field"), BAD_INPUTS, ids=[f for _, f in BAD_INPUTS])
def test_bad_inputs_name_the_field(svc: Running, request_: A.AuthorizeRequest, field: str) -> None:
    for method in (svc.auth.Authorize, svc.auth.Quote):
        with pytest.raises(grpc.RpcError) as err:
            method(request_, metadata=SW)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        assert [f for f, _ in field_violations(err.value)] == [field]


@pytest.mark.parametrize(("method", "status"), [("Authorize", "held"), ("Quote", "quoted")])
def test_bytes_that_are_no_request_are_an_invalid_argument_naming_the_request(
    svc: Running, method: str, status: str
) -> None:
    # Authorize and Quote read their request's bytes themselves (server/service/_request.pyx):
    # bytes that protobuf cannot read either are the caller's error, not the server's.
    send = svc.channel.unary_unary(f"/tessera.v1.Authorization/{method}")
    with pytest.raises(grpc.RpcError) as err:
        send(b"\x0a\x05abc", metadata=SW)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert [f for f, _ in field_violations(err.value)] == ["request"]
    # A plain request sent as bytes the same way is decided.
    request = A.AuthorizeRequest(transaction=txn(f"raw-{method}", member="raw-m"))
    answer = A.AuthorizeResponse.FromString(send(request.SerializeToString(), metadata=SW))
    assert answer.decision.txn_id == f"raw-{method}" and answer.decision.member == "raw-m"
    assert answer.decision.status == status


def test_stream_answers_bytes_that_are_no_request_and_goes_on(svc: Running) -> None:
    send = svc.channel.stream_stream("/tessera.v1.Authorization/AuthorizeStream")
    good = [A.AuthorizeRequest(transaction=txn(f"sb-{i}", member="stream-b")).SerializeToString()
            for i in range(3)]
    replies = [A.AuthorizeResponse.FromString(raw)
               for raw in send(iter([good[0], b"\x0a\x05abc", *good[1:]]), metadata=SW)]
    assert len(replies) == 4
    assert (replies[1].error_code, replies[1].error_field) == ("INVALID_ARGUMENT", "request")
    assert [r.decision.txn_id for r in replies if not r.error] == ["sb-0", "sb-1", "sb-2"]


def test_stream_reports_bad_transactions_and_goes_on(svc: Running) -> None:
    requests = [A.AuthorizeRequest(transaction=txn(f"s-{i}", member="stream-1")) for i in range(5)]
    requests.insert(2, _bad(channel="fax"))
    replies = list(svc.auth.AuthorizeStream(iter(requests), metadata=SW))
    assert len(replies) == 6
    assert replies[2].error_code == "INVALID_ARGUMENT"
    assert replies[2].error_field == "transaction.channel"
    assert [r.decision.txn_id for r in replies if not r.error] == [f"s-{i}" for i in range(5)]


def test_deadline_too_short_is_refused_without_writing(tmp_path: object) -> None:
    with running(str(tmp_path), min_write_seconds=0.5) as r:
        request = A.AuthorizeRequest(transaction=txn("dl-1", member="dl-m"))
        with pytest.raises(grpc.RpcError) as err:
            r.auth.Authorize(request, metadata=SW, timeout=0.3)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "nothing was written" in (err.value.details() or "")
        assert r.client.exists(b"{m:dl-m}:p") == 0
        # With time enough the same transaction goes through as new.
        decision = r.auth.Authorize(request, metadata=SW, timeout=5).decision
        assert decision.status == "held"


def test_messages_over_the_limit_are_refused(tmp_path: object) -> None:
    with running(str(tmp_path), max_message_bytes=4096) as r:
        lines = [C.BasketLine(sku=f"s{i}", category="coffee", unit_price=eur(1))
                 for i in range(400)]
        with pytest.raises(grpc.RpcError) as err:
            r.auth.Authorize(A.AuthorizeRequest(transaction=txn("big", member="b", basket=lines)),
                             metadata=SW)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_stand_in_when_redis_is_stopped(tmp_path: object) -> None:
    with running(str(tmp_path)) as r:
        r.members.Enrol(M.EnrolRequest(member="si-1"), metadata=SW)
        r.redis.kill()
        request = A.AuthorizeRequest(transaction=txn("si-t1", member="si-1"))
        decision = r.auth.Authorize(request, metadata=SW, timeout=5).decision
        assert decision.stand_in and decision.status == "stand_in"
        assert not decision.applied and decision.charged.minor_units == 1250
        card = r.auth.Authorize(A.AuthorizeRequest(transaction=txn("si-t2", card="si-card")),
                                metadata=SW, timeout=5).decision
        assert card.stand_in
        # Redis back (its AOF kept the member): the retry gets the real decision.
        # Started from a helper thread: redis_runtime forks with a preexec_fn only from the
        # main thread, which is unsafe once gRPC's threads run in this process.
        starter = threading.Thread(target=r.redis.start)
        starter.start()
        starter.join()
        assert r.redis.running
        real = r.auth.Authorize(request, metadata=SW, timeout=5).decision
        assert not real.stand_in and real.status == "held"
        assert [a.rule for a in real.applied] == ["welcome"]
