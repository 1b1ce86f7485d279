"""The three services: Authorization (switches), Members, Rules (marketers).

Servicers translate messages (:mod:`.convert`), call the engine and the wallet store, and
raise Tessera exceptions; status codes are the error interceptor's business.  Every call takes
the active :class:`~.versions.Runtime` once, at its start, and uses only that one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from tessera.engine.errors import Diagnostic, InputError, RulesError, TesseraError
from tessera.engine.explain import explain
from tessera.engine.model import Transaction
from tessera.engine.simulate import Simulation
from tessera.server.wallets import authorize_transaction, decide_on_snapshot
from tessera.server.wallets import errors as W

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import authorization_pb2_grpc as A_grpc
from tessera.v1 import common_pb2 as C
from tessera.v1 import members_pb2 as M
from tessera.v1 import members_pb2_grpc as M_grpc
from tessera.v1 import rules_pb2 as R
from tessera.v1 import rules_pb2_grpc as R_grpc

from . import convert, wire
from ._request import RequestReader
from .config import ServiceConfig
from .deadlines import LatencyEstimate, redis_deadline
from .diff import diff_rules
from .errors import DeadlineTooShort, NotFound, Unavailable, status_for
from .interceptors import AuthInterceptor
from .members import MemberDirectory
from .metrics import Metrics
from .versions import ProgramRegistry, Runtime, VersionRecord, compile_with_files

log = logging.getLogger("tessera.service")


def decision_id(member: str, txn_id: str) -> str:
    """Stable for a transaction: a retry names the same decision."""
    return hashlib.blake2b(f"{member}\0{txn_id}".encode(), digest_size=10).hexdigest()


class Context:
    """What the servicers share: configuration, Redis-backed registries, metrics."""

    def __init__(
        self, config: ServiceConfig, registry: ProgramRegistry, directory: MemberDirectory,
        metrics: Metrics, auth: AuthInterceptor,
    ) -> None:
        self.config = config
        self.registry = registry
        self.versions = registry.versions
        self.directory = directory
        self.metrics = metrics
        self.auth = auth
        # How long an authorise write takes here lately: a call with less time left than
        # this is refused before it writes (never less than the configured minimum).
        self.write_estimate = LatencyEstimate(
            initial=max(config.min_write_seconds, 0.001), floor=config.min_write_seconds,
            cap=config.redis_timeout)

    def runtime(self) -> Runtime:
        runtime = self.registry.active
        if runtime is None:
            raise Unavailable("no programme version is active: upload and activate one")
        return runtime

    def check_deadline(self, context: grpc.ServicerContext) -> None:
        remaining = context.time_remaining()
        if remaining is not None:
            needed = self.write_estimate.needed()
            if remaining < needed:
                raise DeadlineTooShort(
                    f"{remaining * 1000:.1f} ms left is less than a write needs here "
                    f"({needed * 1000:.1f} ms); nothing was written")


def _deadline(context: grpc.ServicerContext) -> float | None:
    """The call's deadline on the ``time.monotonic()`` clock (None: it has none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _error_reply(txn_id: str, exc: TesseraError) -> A.AuthorizeResponse:
    """One transaction of a stream that failed: said in its answer, the stream goes on."""
    code, message, _details = status_for(exc)
    return A.AuthorizeResponse(
        txn_id=txn_id, error_code=code.name, error=message,
        error_field=getattr(exc, "field", "") or "",
    )


def _request_in(
    request: A.AuthorizeRequest | bytes, program: Any, reader: RequestReader
) -> tuple[Transaction, bool]:
    """The transaction and capture flag of an authorisation request, as the server receives
    it (its bytes: app.add_authorization_servicer) or as a caller in the process gives it
    (a message)."""
    if type(request) is bytes:
        return convert.authorize_request_in(request, program, reader)
    txn = convert.transaction_in(request.transaction, program, request.HasField("transaction"))
    return txn, request.capture


def _named_txn_id(request: A.AuthorizeRequest | bytes) -> str:
    """The transaction id a request names, for the answer that refuses it."""
    if type(request) is bytes:
        try:
            request = A.AuthorizeRequest.FromString(request)
        except DecodeError:
            return ""
    return request.transaction.txn_id


# ---- authorisation ------------------------------------------------------------------------

# At most this many stream requests are decided and written together (one pipeline).
STREAM_BATCH = 64
_END = object()


class AuthorizationServicer(A_grpc.AuthorizationServicer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _member(self, txn: Transaction, write: bool) -> Transaction:
        if txn.member:
            return txn
        owner = self.ctx.directory.member_for_card(txn.card)
        if owner is None:
            if not self.ctx.config.auto_enrol:
                raise NotFound(f"no member holds card {txn.card!r}", card=txn.card)
            # Activation on first purchase: the card's own member, linked when it is written.
            owner = f"card:{txn.card}"
            if write:
                self.ctx.directory.link(owner, txn.card)
        return dataclasses.replace(txn, member=owner)

    def _authorize(
        self, request: A.AuthorizeRequest | bytes, context: grpc.ServicerContext
    ) -> A.AuthorizeResponse | bytes:
        rt = self.ctx.runtime()
        program = rt.compiled.program
        txn, capture = _request_in(request, program, rt.requests)
        self.ctx.check_deadline(context)
        previous = redis_deadline(_deadline(context))
        try:
            txn = self._member(txn, write=True)
            result = self._apply(rt, txn, capture, context)
        except (W.StoreUnavailable, Unavailable):
            return A.AuthorizeResponse(decision=self._stand_in(rt, txn))
        finally:
            redis_deadline(previous)
        return self._answer(result, program, txn)

    def _answer(self, result: dict[str, Any], program: Any, txn: Transaction) -> bytes:
        """The serialized answer (:mod:`.wire`: these methods send bytes as they are)."""
        applied = result.get("applied")
        if applied:
            self.ctx.metrics.decided([rule["rule"] for rule in applied])
        return wire.authorize_response(result, program, decision_id(txn.member, txn.txn_id))

    def _apply(
        self, rt: Runtime, txn: Transaction, capture: bool, context: grpc.ServicerContext
    ) -> dict[str, Any]:
        """Read → match → walk → write, as :func:`authorize_transaction`, with the deadline
        checked before the write so that a call that cannot finish writes nothing; the
        write's latency feeds the estimate that check uses."""
        check = self.ctx.check_deadline
        started = [0.0]

        def before_write() -> None:
            check(context)
            started[0] = time.perf_counter()

        result = authorize_transaction(
            rt.compiled, rt.walker, rt.store, txn, capture=capture, before_write=before_write)
        self.ctx.write_estimate.observe(time.perf_counter() - started[0])
        return result

    def _stand_in(self, rt: Runtime, txn: Transaction) -> C.Decision:
        """Stand-in: the payment must not fail because Redis is away; nothing is recorded,
        and the switch's retry (or advice) later gets the real decision."""
        self.ctx.metrics.redis_errors.inc()
        self.ctx.metrics.stand_in.inc()
        program = rt.compiled.program
        money = lambda units: convert.money_out(units, program)  # noqa: E731
        return C.Decision(
            txn_id=txn.txn_id, member=txn.member, ruleset_version=rt.version,
            decision_id=decision_id(txn.member or f"card:{txn.card}", txn.txn_id),
            amount=money(txn.amount), discount=money(0), redeemed=money(0),
            charged=money(txn.amount), status="stand_in", stand_in=True,
        )

    def Authorize(
        self, request: A.AuthorizeRequest | bytes, context: grpc.ServicerContext
    ) -> A.AuthorizeResponse | bytes:
        """An answer as bytes, or a message where it is not a decision of the store (a
        stand-in): :func:`.wire.serialize_response` sends either.  The request comes as
        its bytes from the server (read by ``convert.authorize_request_in``), or as a
        message from a caller in the same process."""
        return self._authorize(request, context)

    def AuthorizeStream(
        self, request_iterator: Iterator[A.AuthorizeRequest | bytes],
        context: grpc.ServicerContext,
    ) -> Iterator[A.AuthorizeResponse | bytes]:
        """Answers in request order (bytes or messages, as :meth:`Authorize`).  A reader
        thread queues the requests as they arrive; each turn takes every request that has
        arrived (up to :data:`STREAM_BATCH`), decides them and writes them in one pipeline
        (:meth:`_authorize_batch`)."""
        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def read() -> None:
            try:
                for request in request_iterator:
                    inbox.put(request)
            except Exception:  # the client went away: the stream ends
                pass
            finally:
                inbox.put(_END)

        threading.Thread(target=read, name="tessera-stream-reader", daemon=True).start()
        while True:
            batch = [inbox.get()]
            while len(batch) < STREAM_BATCH:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            ended = batch[-1] is _END  # the reader puts nothing after it
            if ended:
                batch.pop()
            if batch:
                yield from self._authorize_batch(batch, context)
            if ended:
                return

    def _authorize_batch(
        self, requests: list[A.AuthorizeRequest | bytes], context: grpc.ServicerContext
    ) -> list[A.AuthorizeResponse | bytes]:
        """Decide and write several transactions; one answer each, in order.

        Each transaction is decided on its member's snapshot, and the writes go in one
        pipeline (:meth:`WalletStore.authorize_many`, each still its own atomic script).
        Transactions of the same member are decided in turn, one per round, so each sees
        the one before (as sequential Authorize calls would); a write refused because the
        state moved meanwhile (another process, a shared budget) is decided again alone."""
        try:
            rt = self.ctx.runtime()
        except TesseraError as exc:  # no version active yet: each request says so
            return [_error_reply(_named_txn_id(request), exc) for request in requests]
        program = rt.compiled.program
        out: list[A.AuthorizeResponse | bytes | None] = [None] * len(requests)
        captures = [False] * len(requests)
        pending: list[tuple[int, Transaction]] = []
        for i, request in enumerate(requests):
            try:
                txn, captures[i] = _request_in(request, program, rt.requests)
                pending.append((i, txn))
            except TesseraError as exc:
                out[i] = _error_reply(_named_txn_id(request), exc)
        previous = redis_deadline(_deadline(context))
        unavailable = False
        try:
            while pending:
                this_round: list[tuple[int, Transaction]] = []
                later: list[tuple[int, Transaction]] = []
                members: set[str] = set()
                for i, txn in pending:
                    if unavailable:
                        out[i] = A.AuthorizeResponse(decision=self._stand_in(rt, txn))
                        continue
                    try:
                        self.ctx.check_deadline(context)
                        txn = self._member(txn, write=True)
                    except (W.StoreUnavailable, Unavailable):
                        unavailable = True
                        out[i] = A.AuthorizeResponse(decision=self._stand_in(rt, txn))
                        continue
                    except TesseraError as exc:
                        out[i] = _error_reply(txn.txn_id, exc)
                        continue
                    if txn.member in members:
                        later.append((i, txn))
                    else:
                        members.add(txn.member)
                        this_round.append((i, txn))
                if this_round:
                    unavailable = self._write_round(rt, captures, this_round, out, context)
                pending = later
        finally:
            redis_deadline(previous)
        return out  # type: ignore[return-value]

    def _write_round(
        self, rt: Runtime, captures: list[bool],
        items: list[tuple[int, Transaction]], out: list[A.AuthorizeResponse | bytes | None],
        context: grpc.ServicerContext,
    ) -> bool:
        """Decide ``items`` (distinct members; ``captures[i]``: whether item ``i`` is a
        sale) and write them in one pipeline per capture mode; fills ``out``.  True when
        Redis could not be reached (the rest stand in)."""
        program = rt.compiled.program
        decided: dict[bool, list[tuple[int, Transaction, Any, Any]]] = {False: [], True: []}
        unavailable = False
        decide = [functools.partial(decide_on_snapshot, rt.compiled, rt.walker, rt.store, txn)
                  for _i, txn in items]
        prefetch = getattr(rt.store.client, "prefetch", None)
        # The members' snapshots in one round trip (each decision still reads its own).
        with prefetch(decide) if prefetch and len(items) > 1 else contextlib.nullcontext():
            for (i, txn), call in zip(items, decide, strict=True):
                if unavailable:
                    out[i] = A.AuthorizeResponse(decision=self._stand_in(rt, txn))
                    continue
                try:
                    decision, snapshot = call()
                except W.StoreUnavailable:
                    unavailable = True
                    out[i] = A.AuthorizeResponse(decision=self._stand_in(rt, txn))
                    continue
                except TesseraError as exc:
                    out[i] = _error_reply(txn.txn_id, exc)
                    continue
                decided[captures[i]].append((i, txn, decision, snapshot))
        for capture, group in decided.items():
            if not group:
                continue
            try:
                self.ctx.check_deadline(context)
            except TesseraError as exc:
                for i, txn, _d, _s in group:
                    out[i] = _error_reply(txn.txn_id, exc)
                continue
            if unavailable:
                for i, txn, _d, _s in group:
                    out[i] = A.AuthorizeResponse(decision=self._stand_in(rt, txn))
                continue
            started = time.perf_counter()
            try:
                results = rt.store.authorize_many(
                    [(txn, d, snap) for _i, txn, d, snap in group], capture=capture)
            except W.StoreUnavailable:
                results = [W.StoreUnavailable("redis unreachable")] * len(group)
            self.ctx.write_estimate.observe(time.perf_counter() - started)
            for (i, txn, _d, _s), result in zip(group, results, strict=True):
                if isinstance(result, W.StoreUnavailable):
                    unavailable = True
                    out[i] = A.AuthorizeResponse(decision=self._stand_in(rt, txn))
                elif isinstance(result, W.StateChanged):
                    out[i] = self._again(rt, txn, capture, context)
                elif isinstance(result, TesseraError):
                    out[i] = _error_reply(txn.txn_id, result)
                else:
                    out[i] = self._answer(result, program, txn)
        return unavailable

    def _again(
        self, rt: Runtime, txn: Transaction, capture: bool, context: grpc.ServicerContext
    ) -> A.AuthorizeResponse | bytes:
        """A stream transaction whose member moved under it: decided again on its own."""
        try:
            result = self._apply(rt, txn, capture, context)
        except (W.StoreUnavailable, Unavailable):
            return A.AuthorizeResponse(decision=self._stand_in(rt, txn))
        except TesseraError as exc:
            return _error_reply(txn.txn_id, exc)
        return self._answer(result, rt.compiled.program, txn)

    def Quote(
        self, request: A.AuthorizeRequest | bytes, context: grpc.ServicerContext
    ) -> bytes:
        """The decision an authorisation would get now, written nowhere; read and answered
        as :meth:`Authorize` reads and answers (bytes in from the server, bytes out)."""
        rt = self.ctx.runtime()
        program = rt.compiled.program
        txn, _capture = _request_in(request, program, rt.requests)
        txn = self._member(txn, write=False)
        decision, snapshot = decide_on_snapshot(rt.compiled, rt.walker, rt.store, txn)
        result = convert.decision_dict(decision)
        result["balances"] = dict(snapshot.state.balances)
        result["status"] = "quoted"
        return wire.authorize_response(result, program, decision_id(txn.member, txn.txn_id))

    def _subject(self, request: Any, rt: Runtime) -> tuple[str, str]:
        txn_id = convert._text(request.txn_id, "txn_id", required=True)
        member = convert._text(request.member, "member")
        if not member:
            card = convert._text(request.card, "card")
            if not card:
                raise InputError("member", "name the member or a card of it", "missing_field")
            member = self.ctx.directory.member_for_card(card) or f"card:{card}"
        return member, txn_id

    def Capture(
        self, request: A.CaptureRequest, context: grpc.ServicerContext
    ) -> A.CaptureResponse:
        rt = self.ctx.runtime()
        program = rt.compiled.program
        member, txn_id = self._subject(request, rt)
        amount = None
        if request.HasField("amount"):
            amount = convert.money_in(request.amount, "amount", program)
        self.ctx.check_deadline(context)
        out = rt.store.capture(member, txn_id, amount, now=int(time.time()))
        return A.CaptureResponse(
            txn_id=txn_id, status=out.get("status", "captured"),
            captured=convert.money_out(out["captured"], program),
            released=convert.money_out(out["released"], program),
            balances=convert.balances_out(out.get("balances", {}), program),
        )

    def Reverse(
        self, request: A.ReverseRequest, context: grpc.ServicerContext
    ) -> A.ReverseResponse:
        rt = self.ctx.runtime()
        program = rt.compiled.program
        member, txn_id = self._subject(request, rt)
        self.ctx.check_deadline(context)
        out = rt.store.reverse(member, txn_id, now=int(time.time()))
        return A.ReverseResponse(
            txn_id=txn_id, status=out.get("status", "reversed"), early=bool(out.get("early")),
            balances=convert.balances_out(out.get("balances", {}), program),
            shortfall=convert.balances_out(out.get("shortfall", {}), program),
        )

    def Refund(self, request: A.RefundRequest, context: grpc.ServicerContext) -> A.RefundResponse:
        rt = self.ctx.runtime()
        program = rt.compiled.program
        member, txn_id = self._subject(request, rt)
        refund_id = convert._text(request.refund_id, "refund_id", required=True)
        amount = convert.money_in(request.amount, "amount", program, request.HasField("amount"),
                                  required=True)
        self.ctx.check_deadline(context)
        out = rt.store.refund(member, txn_id, amount, refund_id=refund_id, now=int(time.time()))
        money = lambda units: convert.money_out(units, program)  # noqa: E731
        return A.RefundResponse(
            txn_id=txn_id, refund_id=refund_id, status=out.get("status", ""),
            amount=money(out["amount"]), refunded=money(out["refunded"]),
            remaining=money(out["remaining"]),
            balances=convert.balances_out(out.get("balances", {}), program),
            shortfall=convert.balances_out(out.get("shortfall", {}), program),
        )

    def Ping(self, request: A.PingRequest, context: grpc.ServicerContext) -> A.PingResponse:
        return A.PingResponse()


# ---- members --------------------------------------------------------------------------------


class MembersServicer(M_grpc.MembersServicer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _exists(self, rt: Runtime, member: str) -> bool:
        try:
            return bool(rt.store.client.exists(rt.store.keys.profile(member)))
        except Exception as exc:  # redis errors only
            raise Unavailable(f"redis: {exc}") from None

    def _member(self, rt: Runtime, member: str) -> M.Member:
        program = rt.compiled.program
        if not self._exists(rt, member):
            raise NotFound(f"no member {member!r}", member=member)
        directory = self.ctx.directory
        state, _version = rt.store.member_state(member, int(time.time()))
        opaque = directory.erased(member)
        out = M.Member(
            member=opaque or member, tier=state.tier or "", segments=sorted(state.segments),
            attrs={k: str(v) for k, v in state.attrs.items()}, cards=directory.cards(member),
            consents=directory.consents(member), txn_count=state.txn_count,
            spend_30d=convert.money_out(state.spend_30d, program),
            spend_12m=convert.money_out(state.spend_12m, program),
            balances=convert.balances_out(state.balances, program),
            erased=opaque is not None, opaque_id=opaque or "",
        )
        if state.enrolled is not None:
            out.enrolled.FromSeconds(state.enrolled)
        return out

    def Enrol(self, request: M.EnrolRequest, context: grpc.ServicerContext) -> M.Member:
        rt = self.ctx.runtime()
        member = MemberDirectory.check(request.member, "member")
        if request.tier and request.tier not in rt.compiled.program.tier_rank:
            raise InputError("tier", f"unknown tier {request.tier!r}", "invalid_value")
        for i, card in enumerate(request.cards):
            MemberDirectory.check(card, f"cards[{i}]")
        rt.store.enrol(member, int(time.time()), tier=request.tier or None,
                       segments=request.segments, attrs=dict(request.attrs))
        self.ctx.directory.link_all(member, request.cards)
        self.ctx.directory.set_consents(member, dict(request.consents))
        return self._member(rt, member)

    def GetMember(self, request: M.GetMemberRequest, context: grpc.ServicerContext) -> M.Member:
        rt = self.ctx.runtime()
        member = request.member
        if not member:
            card = MemberDirectory.check(request.card, "card")
            member = self.ctx.directory.member_for_card(card) or ""
            if not member:
                raise NotFound(f"no member holds card {card!r}", card=card)
        return self._member(rt, MemberDirectory.check(member, "member"))

    def ListLedger(
        self, request: M.ListLedgerRequest, context: grpc.ServicerContext
    ) -> M.ListLedgerResponse:
        rt = self.ctx.runtime()
        program = rt.compiled.program
        member = MemberDirectory.check(request.member, "member")
        size = request.page_size or 50
        if not 1 <= size <= 1000:
            raise InputError("page_size", "must be between 1 and 1000", "invalid_value")
        entries = rt.store.ledger(member, before=request.page_token or None, limit=size + 1)
        out = M.ListLedgerResponse()
        for entry in entries[:size]:
            wallet = program.wallets.get(entry.wallet)
            points = wallet is not None and wallet.kind == "points"
            item = M.LedgerEntry(
                id=entry.id, txn_id=entry.txn, op=entry.op, kind=entry.kind, rule=entry.rule,
                wallet=entry.wallet, delta=entry.delta, balance=entry.balance,
                funders=[
                    C.FunderLine(funder=name, points=share) if points
                    else C.FunderLine(funder=name, amount=convert.money_out(share, program))
                    for name, share in entry.funders
                ],
            )
            item.time.FromSeconds(entry.time)
            out.entries.append(item)
        if len(entries) > size:
            out.next_page_token = entries[size - 1].id
        return out

    def LinkCard(self, request: M.LinkCardRequest, context: grpc.ServicerContext) -> M.Member:
        rt = self.ctx.runtime()
        member = MemberDirectory.check(request.member, "member")
        card = MemberDirectory.check(request.card, "card")
        if not self._exists(rt, member):
            raise NotFound(f"no member {member!r}", member=member)
        self.ctx.directory.link(member, card)
        if request.replaces:
            self.ctx.directory.unlink(member, request.replaces)
        return self._member(rt, member)

    def UnlinkCard(self, request: M.UnlinkCardRequest, context: grpc.ServicerContext) -> M.Member:
        rt = self.ctx.runtime()
        member = MemberDirectory.check(request.member, "member")
        self.ctx.directory.unlink(member, MemberDirectory.check(request.card, "card"))
        return self._member(rt, member)

    def SetConsents(self, request: M.SetConsentsRequest, context: grpc.ServicerContext) -> M.Member:
        rt = self.ctx.runtime()
        member = MemberDirectory.check(request.member, "member")
        if not self._exists(rt, member):
            raise NotFound(f"no member {member!r}", member=member)
        self.ctx.directory.set_consents(member, dict(request.consents))
        return self._member(rt, member)

    def Erase(self, request: M.EraseRequest, context: grpc.ServicerContext) -> M.EraseResponse:
        rt = self.ctx.runtime()
        member = MemberDirectory.check(request.member, "member")
        if not self._exists(rt, member):
            raise NotFound(f"no member {member!r}", member=member)
        opaque = self.ctx.directory.erase(
            member, rt.store.keys.profile(member), self.ctx.config.erase_secret)
        return M.EraseResponse(opaque_id=opaque)


# ---- rules ------------------------------------------------------------------------------------


def _diagnostic(d: Diagnostic) -> R.Diagnostic:
    loc = d.location
    return R.Diagnostic(severity=d.severity, code=d.code, message=d.message, file=loc.file,
                        line=loc.line, column=loc.column, source_line=d.source_line.rstrip("\n"))


def _version_info(record: VersionRecord, active: str | None) -> R.VersionInfo:
    info = R.VersionInfo(
        version=record.version, program=record.program, filename=record.filename,
        uploaded_by=record.uploaded_by, rule_count=record.rule_count,
        active=record.version == active, comment=record.comment,
    )
    info.uploaded_at.FromSeconds(record.uploaded_at)
    return info


class RulesServicer(R_grpc.RulesServicer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @staticmethod
    def _source(request: Any) -> tuple[str, str, dict[str, str]]:
        if not request.HasField("rules") or not request.rules.source:
            raise InputError("rules.source", "is required", "missing_field")
        return request.rules.source, request.rules.filename or "<rules>", dict(request.rules.files)

    def Check(self, request: R.CheckRequest, context: grpc.ServicerContext) -> R.CheckResponse:
        source, filename, files = self._source(request)
        try:
            compiled = compile_with_files(source, filename, files)
        except RulesError as exc:
            return R.CheckResponse(
                ok=False, diagnostics=[_diagnostic(d) for d in exc.diagnostics.sorted()])
        return R.CheckResponse(
            ok=True, diagnostics=[_diagnostic(d) for d in compiled.diagnostics.sorted()],
            version=compiled.version, rule_count=len(compiled.program.rules))

    def Upload(self, request: R.UploadRequest, context: grpc.ServicerContext) -> R.UploadResponse:
        source, filename, files = self._source(request)
        principal = self.ctx.auth.principal(context)
        compiled = compile_with_files(source, filename, files)  # RulesError: INVALID_ARGUMENT
        record, created = self.ctx.versions.upload(
            compiled, source, filename, files, principal.name, request.comment)
        self.ctx.registry.add(compiled)  # this process need not compile it again
        if request.activate:
            self.ctx.versions.activate(record.version)
            self.ctx.registry.refresh()
        return R.UploadResponse(
            version=_version_info(record, self.ctx.versions.active()), created=created,
            diagnostics=[_diagnostic(d) for d in compiled.diagnostics.sorted()])

    def _activated(self, version: str, previous: str) -> R.ActivateResponse:
        self.ctx.registry.refresh()  # this process at once; the others on the announcement
        record = self.ctx.versions.get(version)
        assert record is not None
        return R.ActivateResponse(active=_version_info(record, version), previous=previous)

    def Activate(
        self, request: R.ActivateRequest, context: grpc.ServicerContext
    ) -> R.ActivateResponse:
        version = convert._text(request.version, "version", required=True)
        self.ctx.registry.runtime(version)  # compiles here first: a broken version fails now
        previous = self.ctx.versions.activate(version)
        return self._activated(version, previous)

    def Rollback(
        self, request: R.RollbackRequest, context: grpc.ServicerContext
    ) -> R.ActivateResponse:
        now, was = self.ctx.versions.rollback()
        return self._activated(now, was)

    def ListVersions(
        self, request: R.ListVersionsRequest, context: grpc.ServicerContext
    ) -> R.ListVersionsResponse:
        active = self.ctx.versions.active()
        return R.ListVersionsResponse(
            versions=[_version_info(r, active) for r in self.ctx.versions.list()],
            active=active or "")

    def Diff(self, request: R.DiffRequest, context: grpc.ServicerContext) -> R.DiffResponse:
        old = self.ctx.registry.runtime(convert._text(request.from_version, "from_version", True))
        new = self.ctx.registry.runtime(convert._text(request.to_version, "to_version", True))
        added, removed, changed = diff_rules(old.compiled.program, new.compiled.program)
        return R.DiffResponse(added=added, removed=removed, changed=changed)

    def Simulate(
        self, request_iterator: Iterator[R.SimulateRequest], context: grpc.ServicerContext
    ) -> Iterator[R.SimulateResponse]:
        simulation: Simulation | None = None
        rt: Runtime | None = None
        with_explain = False
        for index, request in enumerate(request_iterator):
            if simulation is None:
                rt = (self.ctx.registry.runtime(request.version) if request.version
                      else self.ctx.runtime())
                simulation = Simulation(rt.compiled)
                with_explain = request.explain
            assert rt is not None
            program = rt.compiled.program
            try:
                for i, member in enumerate(request.members):
                    simulation.wallets.load(
                        convert.member_state_in(member, program, f"members[{i}]"))
                if not request.HasField("transaction"):
                    continue
                txn = convert.transaction_in(request.transaction, program)
            except InputError as exc:
                yield R.SimulateResponse(error_field=exc.field, error=f"message {index}: {exc}")
                continue
            if not txn.member:
                txn = dataclasses.replace(txn, member=f"card:{txn.card}")
            decision, member = simulation.decide(txn)
            simulation.counters.consume(decision)
            simulation.wallets.apply(decision, txn)
            out = R.SimulateResponse(decision=convert.decision_out(
                convert.decision_dict(decision), program, decision_id(txn.member, txn.txn_id),
                status="simulated"))
            if with_explain:
                out.explain.extend(convert.explanations_out(
                    explain(program, rt.reference, txn, member, decision)))
            yield out

