"""Protobuf messages to the engine's values and back, with errors that name the field.

The checks mirror :mod:`tessera.engine.jsonio` (which reads the spec's JSON) so that a
transaction means the same over gRPC as in ``tessera simulate``; only the carriers differ:
money is ``Money`` (int64 minor units and an ISO 4217 currency), times are ``Timestamp``.
Every problem raises :class:`~tessera.engine.errors.InputError` with the full field path
(``transaction.basket[1].qty``), which the error interceptor maps to INVALID_ARGUMENT.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import timestamp_pb2
from tessera.engine import program as P
from tessera.engine.decision import Decision, EffectResult
from tessera.engine.errors import InputError
from tessera.engine.model import BasketLine, MemberState, Redeem, Transaction
from tessera.engine.timezone import FIRST_YEAR, LAST_YEAR

from tessera.v1 import common_pb2 as C

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


def transaction_in(
    msg: C.Transaction, program: P.Program, present: bool = True, path: str = "transaction"
) -> Transaction:
    """A transaction as the engine decides on it; ``member`` may still be empty (card only)."""
    if not present:
        raise InputError(path, "is required", "missing_field")
    txn_id = _text(msg.txn_id, f"{path}.txn_id", required=True)
    time = time_in(msg.time, f"{path}.time", msg.HasField("time"))
    amount = money_in(msg.amount, f"{path}.amount", program, msg.HasField("amount"), True)
    channel = msg.channel or "pos"
    if channel not in P.CHANNELS:
        raise InputError(
            f"{path}.channel", f"{channel!r} is not one of pos, ecom, app", "invalid_value"
        )
    if not 0 <= msg.mcc <= 9999:
        raise InputError(f"{path}.mcc", "must be between 0 and 9999", "invalid_value")
    member = _text(msg.member, f"{path}.member")
    card = _text(msg.card, f"{path}.card")
    if not member and not card:
        raise InputError(
            f"{path}.member", "a transaction names its member or card", "missing_field")
    if len(msg.basket) > MAX_BASKET_LINES:
        raise InputError(f"{path}.basket", f"more than {MAX_BASKET_LINES} lines", "invalid_value")
    basket = tuple(
        _line(line, program, f"{path}.basket[{i}]") for i, line in enumerate(msg.basket)
    )
    redeem = _redeem(msg.redeem, program, f"{path}.redeem") if msg.HasField("redeem") else None
    return Transaction(
        txn_id=txn_id,
        time=time,
        amount=amount,
        member=member,
        currency=program.currency,
        merchant=_text(msg.merchant, f"{path}.merchant"),
        terminal=_text(msg.terminal, f"{path}.terminal"),
        mcc=msg.mcc,
        channel=channel,
        country=_text(msg.country, f"{path}.country"),
        card=card,
        card_bin=_text(msg.card_bin, f"{path}.card_bin"),
        basket=basket,
        redeem=redeem,
    )


def _line(msg: C.BasketLine, program: P.Program, path: str) -> BasketLine:
    qty = msg.qty or 1
    if not 1 <= qty <= 1_000_000:
        raise InputError(f"{path}.qty", "must be between 1 and 1000000", "invalid_value")
    price = money_in(
        msg.unit_price, f"{path}.unit_price", program, msg.HasField("unit_price"), True)
    return BasketLine(
        sku=_text(msg.sku, f"{path}.sku"),
        category=_text(msg.category, f"{path}.category"),
        qty=qty,
        unit_price=price,
    )


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
    out = []
    for name, value in sorted(balances.items()):
        wallet = program.wallets.get(name)
        if wallet is not None and wallet.kind == "points":
            out.append(C.Balance(wallet=name, points=value))
        else:
            out.append(C.Balance(wallet=name, amount=money_out(value, program)))
    return out


def _effect_out(effect: Mapping[str, Any], program: P.Program) -> C.Effect:
    kind = effect["type"]
    msg = C.Effect(
        type=kind,
        wallet=effect.get("wallet") or "",
        draw=effect.get("draw") or "",
        segment=effect.get("segment") or "",
        points=effect.get("points") or 0,
    )
    if kind in ("discount", "cashback"):
        msg.amount.CopyFrom(money_out(effect.get("amount") or 0, program))
    if effect.get("available_at") is not None:
        msg.available_at.FromSeconds(effect["available_at"])
    if effect.get("expires_at") is not None:
        msg.expires_at.FromSeconds(effect["expires_at"])
    return msg


def decision_out(
    result: Mapping[str, Any], program: P.Program, decision_id: str, status: str | None = None
) -> C.Decision:
    """The wallet store's stored result (or a quote in the same shape) as a ``Decision``."""
    money = lambda units: money_out(units, program)  # noqa: E731
    out = C.Decision(
        txn_id=result["txn_id"],
        member=result["member"],
        ruleset_version=result.get("program_version", ""),
        decision_id=decision_id,
        amount=money(result["amount"]),
        discount=money(result["discount"]),
        redeemed=money(result["redeemed"]),
        charged=money(result["charged"]),
        status=status or result.get("status", ""),
    )
    for applied in result.get("applied", ()):
        out.applied.append(
            C.AppliedRule(
                rule=applied["rule"],
                effects=[_effect_out(e, program) for e in applied.get("effects", ())],
                funders=[
                    C.FunderLine(funder=f["funder"], amount=money(f["amount"]), points=f["points"])
                    for f in applied.get("funders", ())
                ],
            )
        )
    for skipped in result.get("skipped", ()):
        out.skipped.append(
            C.SkippedRule(rule=skipped["rule"], reason=skipped["reason"], detail=skipped["detail"])
        )
    redemption = result.get("redemption")
    if redemption:
        r = C.Redemption(
            wallet=redemption["wallet"], amount=money(redemption["amount"]),
            points=redemption["points"], reason=redemption.get("reason") or "",
        )
        if redemption.get("requested") is not None:
            r.requested.CopyFrom(money(redemption["requested"]))
        out.redemption.CopyFrom(r)
    out.balances.extend(balances_out(result.get("balances", {}), program))
    if result.get("hold_until"):
        out.hold_until.FromSeconds(result["hold_until"])
    return out


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
