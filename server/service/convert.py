"""Protobuf messages to the engine's values and back, with errors that name the field.

The checks mirror :mod:`tessera.engine.jsonio` (which reads the spec's JSON) so that a
transaction means the same over gRPC as in ``tessera simulate``; only the carriers differ:
money is ``Money`` (int64 minor units and an ISO 4217 currency), times are ``Timestamp``.
Every problem raises :class:`~tessera.engine.errors.InputError` with the full field path
(``transaction.basket[1].qty``), which the error interceptor maps to INVALID_ARGUMENT.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.message import DecodeError
from tessera.engine import program as P
from tessera.engine.decision import Decision, EffectResult
from tessera.engine.errors import InputError
from tessera.engine.fastclass import fast_constructor
from tessera.engine.model import BasketLine, MemberState, Redeem, Transaction
from tessera.engine.timezone import FIRST_YEAR, LAST_YEAR

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import common_pb2 as C

from ._request import RequestReader

MAX_TEXT = 256
MAX_BASKET_LINES = 1_000
MAX_VALUE = 2**53 - 1  # exact in Redis' Lua numbers
# A day inside the years the compiled time-zone table covers, so every zone's local time is known.
_SECONDS_LOW = int(_dt.datetime(FIRST_YEAR, 1, 2, tzinfo=_dt.UTC).timestamp())
_SECONDS_HIGH = int(_dt.datetime(LAST_YEAR - 1, 12, 31, tzinfo=_dt.UTC).timestamp())


def _text(value: str, path: str, required: bool = False) -> str:
    if required and not value:
        raise InputError(path, "is required", "missing_field")
    if len(value) > MAX_TEXT:
        raise InputError(path, f"longer than {MAX_TEXT} characters", "invalid_value")
    return value


def money_in(
    msg: C.Money, path: str, program: P.Program, present: bool = True, required: bool = False
) -> int:
    """Minor units of a ``Money`` in the programme currency."""
    if not present:
        if required:
            raise InputError(path, "is required", "missing_field")
        return 0
    if msg.currency and msg.currency != program.currency:
        raise InputError(
            f"{path}.currency",
            f"{msg.currency!r} is not the programme currency {program.currency}",
            "wrong_currency",
        )
    if msg.minor_units < 0:
        raise InputError(f"{path}.minor_units", "must not be negative", "negative_amount")
    if msg.minor_units > MAX_VALUE:
        raise InputError(f"{path}.minor_units", "exceeds 2**53 - 1", "invalid_value")
    return msg.minor_units


def money_out(units: int, program: P.Program) -> C.Money:
    return C.Money(minor_units=units, currency=program.currency)


def time_in(msg: timestamp_pb2.Timestamp, path: str, present: bool) -> int:
    if not present:
        raise InputError(path, "is required", "missing_field")
    if msg.nanos < 0 or msg.nanos >= 1_000_000_000:
        raise InputError(f"{path}.nanos", "must be in 0..999999999", "invalid_value")
    if not _SECONDS_LOW <= msg.seconds < _SECONDS_HIGH:
        raise InputError(
            path, f"must be between {FIRST_YEAR} and {LAST_YEAR - 1}", "invalid_value"
        )
    return msg.seconds


def time_out(seconds: int | None) -> timestamp_pb2.Timestamp | None:
    if seconds is None:
        return None
    return timestamp_pb2.Timestamp(seconds=seconds)


class _Paths:
    """The field paths of one transaction prefix, formatted once (errors name them; a valid
    request, the usual case, then formats nothing)."""

    def __init__(self, path: str) -> None:
        self.root = path
        for name in ("txn_id", "time", "amount", "channel", "mcc", "member", "card", "basket",
                     "redeem", "merchant", "terminal", "country", "card_bin"):
            setattr(self, name, f"{path}.{name}")


@functools.lru_cache(maxsize=64)
def _paths(path: str) -> _Paths:
    return _Paths(path)


def _long(path: str) -> InputError:
    return InputError(path, f"longer than {MAX_TEXT} characters", "invalid_value")


# Every request builds a Transaction and its basket lines: filled in slot by slot rather than
# through the frozen dataclasses' __init__ (an object.__setattr__ per field), positionally,
# in field order.
_transaction = fast_constructor(Transaction)
_basket_line = fast_constructor(BasketLine)


def transaction_in(
    msg: C.Transaction, program: P.Program, present: bool = True, path: str = "transaction"
) -> Transaction:
    """A transaction as the engine decides on it; ``member`` may still be empty (card only)."""
    if not present:
        raise InputError(path, "is required", "missing_field")
    at = _paths(path)
    txn_id = msg.txn_id
    if not txn_id:
        raise InputError(at.txn_id, "is required", "missing_field")
    if len(txn_id) > MAX_TEXT:
        raise _long(at.txn_id)
    time = time_in(msg.time, at.time, msg.HasField("time"))
    if not msg.HasField("amount"):
        raise InputError(at.amount, "is required", "missing_field")
    amount_msg = msg.amount
    amount = amount_msg.minor_units
    if amount_msg.currency or not 0 <= amount <= MAX_VALUE:
        amount = money_in(amount_msg, at.amount, program)
    channel = msg.channel or "pos"
    if channel not in P.CHANNELS:
        raise InputError(at.channel, f"{channel!r} is not one of pos, ecom, app", "invalid_value")
    mcc = msg.mcc
    if not 0 <= mcc <= 9999:
        raise InputError(at.mcc, "must be between 0 and 9999", "invalid_value")
    member, card = msg.member, msg.card
    merchant, terminal, country, card_bin = msg.merchant, msg.terminal, msg.country, msg.card_bin
    if (len(member) > MAX_TEXT or len(card) > MAX_TEXT or len(merchant) > MAX_TEXT
            or len(terminal) > MAX_TEXT or len(country) > MAX_TEXT or len(card_bin) > MAX_TEXT):
        for name, value in (("member", member), ("card", card), ("merchant", merchant),
                            ("terminal", terminal), ("country", country),
                            ("card_bin", card_bin)):
            if len(value) > MAX_TEXT:
                raise _long(getattr(at, name))
    if not member and not card:
        raise InputError(at.member, "a transaction names its member or card", "missing_field")
    lines = msg.basket
    if len(lines) > MAX_BASKET_LINES:
        raise InputError(at.basket, f"more than {MAX_BASKET_LINES} lines", "invalid_value")
    # By index: upb's repeated field has no iterator of its own, so iterating it ends on a
    # raised (and formatted) IndexError.
    basket = tuple([_line(lines[i], program, at.basket, i) for i in range(len(lines))])
    redeem = _redeem(msg.redeem, program, at.redeem) if msg.HasField("redeem") else None
    return _transaction(
        txn_id, time, amount, member, program.currency, merchant, terminal, mcc, channel,
        country, card, card_bin, basket, redeem,
    )


def request_reader(program: P.Program) -> RequestReader:
    """The compiled reader of ``program``'s Authorize requests (``_request.pyx``): the
    plainly valid ones straight from their bytes into a transaction."""
    return RequestReader(
        program.currency,
        {name: wallet.kind == "points" for name, wallet in program.wallets.items()},
        program.points_value is not None,
        _SECONDS_LOW,
        _SECONDS_HIGH,
        _transaction,
        _basket_line,
        Redeem,
    )


def authorize_request_in(
    raw: bytes, program: P.Program, reader: RequestReader
) -> tuple[Transaction, bool]:
    """The transaction and the capture flag of a serialized ``AuthorizeRequest``: read by
    ``reader`` where it is plainly valid, else through protobuf and :func:`transaction_in`,
    which say what is wrong with it."""
    read = reader.read(raw)
    if read is not None:
        return read  # type: ignore[no-any-return]
    try:
        msg = A.AuthorizeRequest.FromString(raw)
    except DecodeError:
        raise InputError(
            "request", "is not a serialized AuthorizeRequest", "invalid_value"
        ) from None
    return transaction_in(msg.transaction, program, msg.HasField("transaction")), msg.capture


def _line(msg: C.BasketLine, program: P.Program, basket_path: str, index: int) -> BasketLine:
    qty = msg.qty or 1
    sku, category = msg.sku, msg.category
    price = msg.unit_price
    units = price.minor_units
    if (not 1 <= qty <= 1_000_000 or len(sku) > MAX_TEXT or len(category) > MAX_TEXT
            or not msg.HasField("unit_price") or price.currency or not 0 <= units <= MAX_VALUE):
        path = f"{basket_path}[{index}]"
        if not 1 <= qty <= 1_000_000:
            raise InputError(f"{path}.qty", "must be between 1 and 1000000", "invalid_value")
        units = money_in(price, f"{path}.unit_price", program, msg.HasField("unit_price"), True)
        _text(sku, f"{path}.sku")
        _text(category, f"{path}.category")
    return _basket_line(sku, category, qty, units)


def _redeem(msg: C.Redeem, program: P.Program, path: str) -> Redeem:
    name = _text(msg.wallet, f"{path}.wallet", required=True)
    wallet = program.wallets.get(name)
    if wallet is None:
        raise InputError(f"{path}.wallet", f"unknown wallet {name!r}", "unknown_wallet")
    amount = None
    if msg.HasField("amount") and not msg.max:
        amount = money_in(msg.amount, f"{path}.amount", program)
    points = None
    if msg.points:
        if wallet.kind != "points":
            raise InputError(
                f"{path}.points", f"wallet {name!r} holds money; ask for an amount", "invalid_value"
            )
        if not 0 < msg.points <= MAX_VALUE:
            raise InputError(f"{path}.points", "must be between 1 and 2**53 - 1", "invalid_value")
        points = msg.points
    if wallet.kind == "points" and program.points_value is None:
        raise InputError(
            f"{path}.wallet", "the programme sets no points_value to redeem points at",
            "invalid_value",
        )
    return Redeem(name, amount, points)


def member_state_in(msg: C.MemberState, program: P.Program, path: str) -> MemberState:
    member = _text(msg.member, f"{path}.member", required=True)
    if msg.tier and msg.tier not in program.tier_rank:
        raise InputError(f"{path}.tier", f"unknown tier {msg.tier!r}", "invalid_value")
    if msg.txn_count < 0:
        raise InputError(f"{path}.txn_count", "must not be negative", "invalid_value")
    balances: dict[str, int] = {}
    for i, bal in enumerate(msg.balances):
        where = f"{path}.balances[{i}]"
        wallet = program.wallets.get(bal.wallet)
        if wallet is None:
            raise InputError(f"{where}.wallet", f"unknown wallet {bal.wallet!r}", "unknown_wallet")
        if wallet.kind == "points":
            if bal.points < 0:
                raise InputError(f"{where}.points", "must not be negative", "invalid_value")
            balances[bal.wallet] = bal.points
        else:
            balances[bal.wallet] = money_in(bal.amount, f"{where}.amount", program)
    return MemberState(
        member=member,
        tier=msg.tier or None,
        segments=frozenset(msg.segments),
        txn_count=msg.txn_count,
        spend_30d=money_in(msg.spend_30d, f"{path}.spend_30d", program, msg.HasField("spend_30d")),
        spend_12m=money_in(msg.spend_12m, f"{path}.spend_12m", program, msg.HasField("spend_12m")),
        attrs=dict(msg.attrs),
        balances=balances,
    )


# ---- out ---------------------------------------------------------------------------------


def balances_out(balances: Mapping[str, int], program: P.Program) -> list[C.Balance]:
    points = _points_wallets(program)
    currency = program.currency
    return [
        C.Balance(wallet=name, points=value) if name in points
        else C.Balance(wallet=name, amount={"minor_units": value, "currency": currency})
        for name, value in sorted(balances.items())
    ]


_POINTS: dict[int, tuple[P.Program, frozenset[str]]] = {}


def _points_wallets(program: P.Program) -> frozenset[str]:
    """The programme's points wallets, computed once a programme (programmes are never
    changed once compiled; the entry keeps its programme alive so the id is not reused)."""
    found = _POINTS.get(id(program))
    if found is None or found[0] is not program:
        if len(_POINTS) > 16:
            _POINTS.clear()
        names = frozenset(n for n, wallet in program.wallets.items() if wallet.kind == "points")
        found = _POINTS[id(program)] = (program, names)
    return found[1]


def _effect_out(effect: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """An effect as ``Effect`` constructor fields (set fields only: unset is the default)."""
    kind = effect["type"]
    out: dict[str, Any] = {"type": kind}
    for name in ("wallet", "draw", "segment"):
        value = effect.get(name)
        if value:
            out[name] = value
    if effect.get("points"):
        out["points"] = effect["points"]
    if kind == "discount" or kind == "cashback":
        out["amount"] = {"minor_units": effect.get("amount") or 0, "currency": currency}
    if effect.get("available_at") is not None:
        out["available_at"] = {"seconds": effect["available_at"]}
    if effect.get("expires_at") is not None:
        out["expires_at"] = {"seconds": effect["expires_at"]}
    return out


def decision_out(
    result: Mapping[str, Any], program: P.Program, decision_id: str, status: str | None = None
) -> C.Decision:
    """The wallet store's stored result (or a quote in the same shape) as a ``Decision``."""
    return C.Decision(**decision_fields(result, program, decision_id, status))


def decision_fields(
    result: Mapping[str, Any], program: P.Program, decision_id: str, status: str | None = None
) -> dict[str, Any]:
    """A ``Decision``'s constructor fields, sub-messages as dicts: protobuf fills them in
    place, so ``AuthorizeResponse(decision=fields)`` builds the answer with one call and no
    copy of a finished message (this runs once for every answer)."""
    cur = program.currency
    fields: dict[str, Any] = {
        "txn_id": result["txn_id"],
        "member": result["member"],
        "ruleset_version": result.get("program_version", ""),
        "decision_id": decision_id,
        "amount": {"minor_units": result["amount"], "currency": cur},
        "discount": {"minor_units": result["discount"], "currency": cur},
        "redeemed": {"minor_units": result["redeemed"], "currency": cur},
        "charged": {"minor_units": result["charged"], "currency": cur},
        "status": status or result.get("status", ""),
    }
    applied = result.get("applied")
    if applied:
        fields["applied"] = [
            {
                "rule": a["rule"],
                "effects": [_effect_out(e, cur) for e in a.get("effects", ())],
                "funders": [
                    {"funder": f["funder"], "amount": {"minor_units": f["amount"], "currency": cur},
                     "points": f["points"]}
                    for f in a.get("funders", ())
                ],
            }
            for a in applied
        ]
    skipped = result.get("skipped")
    if skipped:
        fields["skipped"] = [
            {"rule": k["rule"], "reason": k["reason"], "detail": k["detail"]} for k in skipped
        ]
    redemption = result.get("redemption")
    if redemption:
        r: dict[str, Any] = {
            "wallet": redemption["wallet"],
            "amount": {"minor_units": redemption["amount"], "currency": cur},
            "points": redemption["points"], "reason": redemption.get("reason") or "",
        }
        if redemption.get("requested") is not None:
            r["requested"] = {"minor_units": redemption["requested"], "currency": cur}
        fields["redemption"] = r
    balances = result.get("balances")
    if balances:
        points = _points_wallets(program)
        fields["balances"] = [
            {"wallet": name, "points": value} if name in points
            else {"wallet": name, "amount": {"minor_units": value, "currency": cur}}
            for name, value in sorted(balances.items())
        ]
    if result.get("hold_until"):
        fields["hold_until"] = {"seconds": result["hold_until"]}
    return fields


def decision_dict(decision: Decision) -> dict[str, Any]:
    """An engine decision in the store's result shape (for quotes and simulation)."""
    r = decision.redemption
    return {
        "txn_id": decision.txn_id,
        "member": decision.member,
        "program_version": decision.version,
        "amount": decision.amount,
        "discount": decision.discount,
        "redeemed": decision.redeemed,
        "charged": decision.charged,
        "applied": [
            {
                "rule": a.rule,
                "effects": [_effect_dict(e) for e in a.effects],
                "funders": [
                    {"funder": f.funder, "amount": f.amount, "points": f.points} for f in a.funders
                ],
            }
            for a in decision.applied
        ],
        "skipped": [
            {"rule": s.rule, "reason": s.reason, "detail": s.detail} for s in decision.skipped
        ],
        "redemption": None if r is None else {
            "wallet": r.wallet, "requested": r.requested, "amount": r.amount, "points": r.points,
            "reason": r.reason,
        },
        "balances": dict(decision.balances),
    }


def _effect_dict(effect: EffectResult) -> dict[str, Any]:
    return {
        "type": effect.type, "amount": effect.amount, "points": effect.points,
        "wallet": effect.wallet, "draw": effect.draw, "segment": effect.segment,
        "available_at": effect.available_at, "expires_at": effect.expires_at,
    }


def explanations_out(entries: Iterable[Mapping[str, Any]]) -> list[C.Explanation]:
    return [
        C.Explanation(
            rule=e["rule"], matched=e["matched"], applied=e["applied"],
            reason=e.get("reason") or "", detail=e.get("detail") or "",
            failed=e.get("failed") or "", at=e.get("at") or "", source=e.get("source") or "",
        )
        for e in entries
    ]
