"""Transactions and member records from JSON, decisions to JSON.

Money travels as decimal strings in the programme currency (``"12.50"``), never as JSON
numbers, so that no binary float stands for value.  Every problem raises
:class:`~engine.errors.InputError` naming the field, e.g. ``basket[1].qty``.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo
from typing import Any

from . import program as P
from .currencies import is_currency
from .decision import Decision, EffectResult
from .errors import InputError
from .model import BasketLine, MemberState, Redeem, Transaction
from .timezone import FIRST_YEAR, LAST_YEAR
from .values import ValueFormatError, decimal_to_scaled, format_scaled

MAX_BASKET_LINES = 1_000
MAX_TEXT = 256
MAX_QTY = 1_000_000


class _Reader:
    def __init__(self, obj: object, program: P.Program, where: str = "") -> None:
        if not isinstance(obj, dict):
            raise InputError(where or "$", "expected a JSON object", "invalid_type")
        self.obj = obj
        self.program = program
        self.where = where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def text(self, key: str, required: bool = False, default: str = "") -> str:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise InputError(self.path(key), "is required", "missing_field")
            return default
        if not isinstance(value, str):
            raise InputError(self.path(key), "expected a string", "invalid_type")
        if len(value) > MAX_TEXT:
            raise InputError(self.path(key), f"longer than {MAX_TEXT} characters", "invalid_value")
        if required and not value:
            raise InputError(self.path(key), "must not be empty", "invalid_value")
        return value

    def integer(self, key: str, default: int = 0, low: int = 0, high: int = 2**62) -> int:
        value = self.obj.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(self.path(key), "expected a whole number", "invalid_type")
        if not low <= value <= high:
            raise InputError(self.path(key), f"must be between {low} and {high}", "invalid_value")
        return value

    def money(self, key: str, required: bool = False, default: int = 0) -> int:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise InputError(self.path(key), "is required", "missing_field")
            return default
        return money_value(value, self.program, self.path(key))


def money_value(value: object, program: P.Program, path: str, allow_negative: bool = False) -> int:
    if not isinstance(value, str):
        raise InputError(
            path,
            f'money is a decimal string like "12.50", not {type(value).__name__}',
            "invalid_type",
        )
    try:
        minor = decimal_to_scaled(value, program.digits, "amount")
    except ValueFormatError as exc:
        code = "too_many_decimals" if "decimals" in str(exc) else "invalid_value"
        raise InputError(path, f"{exc} ({program.currency})", code) from None
    if minor < 0 and not allow_negative:
        raise InputError(path, "must not be negative", "negative_amount")
    return minor


def parse_time(value: object, program: P.Program, path: str) -> int:
    if not isinstance(value, str):
        raise InputError(path, "expected an ISO 8601 time string", "invalid_type")
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(path, f"{value!r} is not an ISO 8601 time", "invalid_value") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(program.timezone))
    if not FIRST_YEAR <= moment.year < LAST_YEAR:
        # The compiled time-zone table covers these years; outside them local time is unknown.
        raise InputError(path, f"must be between {FIRST_YEAR} and {LAST_YEAR - 1}", "invalid_value")
    return int(moment.timestamp())


def decode_transaction(obj: Any, program: P.Program) -> Transaction:
    r = _Reader(obj, program)
    txn_id = r.text("txn_id", required=True)
    if "time" not in r.obj:
        raise InputError("time", "is required", "missing_field")
    time = parse_time(r.obj["time"], program, "time")
    amount = r.money("amount", required=True)
    currency = r.text("currency", default=program.currency)
    if not is_currency(currency):
        raise InputError("currency", f"unknown currency {currency!r}", "unknown_currency")
    channel = r.text("channel", default="pos")
    if channel not in P.CHANNELS:
        raise InputError("channel", f"{channel!r} is not one of pos, ecom, app", "invalid_value")
    member = r.text("member")
    card = r.text("card")
    if not member and not card:
        raise InputError("member", "a transaction names its member or card", "missing_field")
    basket_raw = r.obj.get("basket", [])
    if not isinstance(basket_raw, list):
        raise InputError("basket", "expected a list of lines", "invalid_type")
    if len(basket_raw) > MAX_BASKET_LINES:
        raise InputError("basket", f"more than {MAX_BASKET_LINES} lines", "invalid_value")
    basket = tuple(_line(line, program, f"basket[{i}]") for i, line in enumerate(basket_raw))
    redeem = None
    if r.obj.get("redeem") is not None:
        redeem = _redeem(r.obj["redeem"], program)
    return Transaction(
        txn_id=txn_id,
        time=time,
        amount=amount,
        member=member or f"card:{card}",
        currency=currency,
        merchant=r.text("merchant"),
        terminal=r.text("terminal"),
        mcc=r.integer("mcc", high=9999),
        channel=channel,
        country=r.text("country"),
        card=card,
        card_bin=r.text("card_bin"),
        basket=basket,
        redeem=redeem,
    )


def _line(obj: object, program: P.Program, where: str) -> BasketLine:
    r = _Reader(obj, program, where)
    qty = r.obj.get("qty", 1)
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise InputError(r.path("qty"), "expected a whole number", "invalid_type")
    if qty <= 0:
        raise InputError(r.path("qty"), "must be positive", "negative_quantity")
    if qty > MAX_QTY:
        raise InputError(r.path("qty"), f"must be between 1 and {MAX_QTY}", "invalid_value")
    return BasketLine(
        sku=r.text("sku"),
        category=r.text("category"),
        qty=qty,
        unit_price=r.money("unit_price", required=True),
    )


def _redeem(obj: object, program: P.Program) -> Redeem:
    r = _Reader(obj, program, "redeem")
    name = r.text("wallet", required=True)
    wallet = program.wallets.get(name)
    if wallet is None:
        raise InputError("redeem.wallet", f"unknown wallet {name!r}", "unknown_wallet")
    amount = None
    raw = r.obj.get("amount")
    if raw is not None and raw != "max":
        amount = money_value(raw, program, "redeem.amount")
    points = None
    if r.obj.get("points") is not None:
        if wallet.kind != "points":
            raise InputError(
                "redeem.points", f"wallet {name!r} holds money; ask for an amount", "invalid_value"
            )
        points = r.integer("points", high=2**53)
    if wallet.kind == "points" and program.points_value is None:
        raise InputError(
            "redeem.wallet",
            "the programme sets no points_value to redeem points at",
            "invalid_value",
        )
    return Redeem(name, amount, points)


def decode_member(obj: Any, program: P.Program) -> MemberState:
    r = _Reader(obj, program)
    member = r.text("member", required=True)
    tier = r.obj.get("tier")
    if tier is not None and tier not in program.tier_rank:
        raise InputError("tier", f"unknown tier {tier!r}", "invalid_value")
    segments = r.obj.get("segments", [])
    if not isinstance(segments, list) or not all(isinstance(s, str) for s in segments):
        raise InputError("segments", "expected a list of strings", "invalid_type")
    attrs = r.obj.get("attrs", {})
    if not isinstance(attrs, dict):
        raise InputError("attrs", "expected an object", "invalid_type")
    for key, value in attrs.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InputError(f"attrs.{key}", "expected a string or a number", "invalid_type")
    balances_raw = r.obj.get("balances", {})
    if not isinstance(balances_raw, dict):
        raise InputError("balances", "expected an object", "invalid_type")
    balances = {}
    for name, value in balances_raw.items():
        wallet = program.wallets.get(name)
        path = f"balances.{name}"
        if wallet is None:
            raise InputError(path, f"unknown wallet {name!r}", "unknown_wallet")
        if wallet.kind == "points":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(path, "points are a whole number, not negative", "invalid_value")
            balances[name] = value
        else:
            balances[name] = money_value(value, program, path)
    return MemberState(
        member=member,
        tier=tier,
        segments=frozenset(segments),
        txn_count=r.integer("txn_count"),
        spend_30d=r.money("spend_30d"),
        spend_12m=r.money("spend_12m"),
        last_purchase=parse_time(r.obj["last_purchase"], program, "last_purchase")
        if r.obj.get("last_purchase")
        else None,
        enrolled=parse_time(r.obj["enrolled"], program, "enrolled")
        if r.obj.get("enrolled")
        else None,
        attrs=dict(attrs),
        balances=balances,
    )


# ---- decisions to JSON ----------------------------------------------------------------------


def _iso(instant: int | None, program: P.Program) -> str | None:
    if instant is None:
        return None
    zone = zoneinfo.ZoneInfo(program.timezone)
    return _dt.datetime.fromtimestamp(instant, zone).isoformat()


def effect_json(effect: EffectResult, program: P.Program) -> dict[str, Any]:
    out: dict[str, Any] = {"type": effect.type}
    if effect.wallet is not None:
        out["wallet"] = effect.wallet
    if effect.type in ("discount", "cashback"):
        out["amount"] = format_scaled(effect.amount, program.digits)
    elif effect.type == "earn":
        out["points"] = effect.points
    elif effect.type == "entries":
        out["draw"] = effect.draw
        out["entries"] = effect.points
    elif effect.type == "tag":
        out["segment"] = effect.segment
    if effect.available_at is not None:
        out["available_at"] = _iso(effect.available_at, program)
    if effect.expires_at is not None:
        out["expires_at"] = _iso(effect.expires_at, program)
    return out


def balance_json(name: str, value: int, program: P.Program) -> int | str:
    wallet = program.wallets.get(name)
    if wallet is not None and wallet.kind == "points":
        return value
    return format_scaled(value, program.digits)


def decision_json(decision: Decision, program: P.Program) -> dict[str, Any]:
    money = program.digits
    out: dict[str, Any] = {
        "txn_id": decision.txn_id,
        "member": decision.member,
        "version": decision.version,
        "amount": format_scaled(decision.amount, money),
        "discount": format_scaled(decision.discount, money),
        "redeemed": format_scaled(decision.redeemed, money),
        "charged": format_scaled(decision.charged, money),
        "applied": [
            {
                "rule": a.rule,
                "effects": [effect_json(e, program) for e in a.effects],
                "funders": [
                    {
                        "funder": f.funder,
                        "amount": format_scaled(f.amount, money),
                        "points": f.points,
                    }
                    for f in a.funders
                ],
            }
            for a in decision.applied
        ],
        "skipped": [
            {"rule": s.rule, "reason": s.reason, **({"detail": s.detail} if s.detail else {})}
            for s in decision.skipped
        ],
        "balances": {k: balance_json(k, v, program) for k, v in sorted(decision.balances.items())},
    }
    if decision.redemption is not None:
        r = decision.redemption
        out["redemption"] = {
            "wallet": r.wallet,
            "requested": None if r.requested is None else format_scaled(r.requested, money),
            "amount": format_scaled(r.amount, money),
            "points": r.points,
            "reason": r.reason,
        }
    return out
