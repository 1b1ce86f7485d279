"""Exact readings of the literal kinds of the language and of JSON money.

Every value here is an integer: money in minor units, percent in basis points, durations in
seconds, dates in days since 1970-01-01 and local times in seconds since then.  Parsing works
on the decimal text itself so that no binary float ever touches a value.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation

_DECIMAL = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")
_EPOCH = _dt.date(1970, 1, 1)
DAY = 86_400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DURATION_UNITS = {"d": DAY, "h": 3_600, "m": 60}


class ValueFormatError(ValueError):
    """A literal whose text does not fit its kind; the message says why."""


def decimal_to_scaled(text: str, digits: int, what: str = "amount") -> int:
    """``"12.5"`` with 2 digits is 1250; more decimals than ``digits`` is an error."""
    match = _DECIMAL.match(text.strip())
    if match is None:
        raise ValueFormatError(f"{what} {text!r} is not a decimal number")
    sign, whole, frac = match.groups()
    frac = frac or ""
    if len(frac) > digits:
        raise ValueFormatError(
            f"{what} {text} has {len(frac)} decimals; at most {digits} "
            f"{'is' if digits == 1 else 'are'} allowed"
        )
    value = int(whole) * 10**digits + (int(frac.ljust(digits, "0")) if digits else 0)
    return -value if sign else value


def format_scaled(value: int, digits: int) -> str:
    """The inverse of :func:`decimal_to_scaled`: ``1250`` with 2 digits is ``"12.50"``."""
    if digits == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


def percent_to_bp(text: str) -> int:
    """``"2.5%"`` is 250 basis points."""
    return decimal_to_scaled(text.rstrip("%"), 2, "percent")


def duration_seconds(text: str) -> int:
    """``"30d"``, ``"12h"``, ``"15m"``."""
    return int(text[:-1]) * DURATION_UNITS[text[-1]]


def date_days(text: str) -> int:
    """An ISO date as days since 1970-01-01."""
    try:
        return (_dt.date.fromisoformat(text) - _EPOCH).days
    except ValueError as exc:
        raise ValueFormatError(f"{text!r} is not a valid date") from exc


def datetime_local_seconds(text: str) -> int:
    """A ``YYYY-MM-DDTHH:MM`` wall-clock time as local seconds since the epoch."""
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueFormatError(f"{text!r} is not a valid date-time") from exc
    if moment.tzinfo is not None:
        raise ValueFormatError(f"{text!r}: write date-times in the programme time zone")
    days = (moment.date() - _EPOCH).days
    return days * DAY + moment.hour * 3_600 + moment.minute * 60 + moment.second


def days_to_iso(days: int) -> str:
    return (_EPOCH + _dt.timedelta(days=days)).isoformat()


def micro_units(value: object) -> int | None:
    """A custom numeric attribute at the micro precision conditions compare it at.

    Whole numbers and decimal text are exact; anything else (a word, a boolean) is not a
    number and reads as missing.  Extra digits are cut toward minus infinity.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _clamp(value * 1_000_000)
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, Decimal):
        value = str(value)
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value.strip()) * 1_000_000
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return _clamp(int(number.to_integral_value(rounding="ROUND_FLOOR")))


_MICRO_LOW, _MICRO_HIGH = -(2**63) + 1, 2**63 - 1


def _clamp(micro: int) -> int:
    """Beyond what int64 holds, a number compares like the largest (or smallest) one.

    The smallest int64 itself is reserved for a missing value, so the floor is one above.
    """
    return _MICRO_LOW if micro < _MICRO_LOW else _MICRO_HIGH if micro > _MICRO_HIGH else micro
