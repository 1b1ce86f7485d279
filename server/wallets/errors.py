"""What the wallet store refuses, each with a stable code.

Every refusal is raised before anything is written.  :class:`StateChanged` and its kinds
mean "decide again on a fresh read" (``retryable``); the others are final answers for the
request as sent.  Redis errors never leave the store untranslated: an unreachable server
is :class:`StoreUnavailable`, anything unexpected from a script is an
:class:`~tessera.engine.errors.InternalError`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tessera.engine.errors import InternalError, TesseraError


class WalletError(TesseraError):
    """Root of the wallet store's refusals; ``code`` is stable, ``details`` says what."""

    code: ClassVar[str] = "wallet_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        self.message = message
        self.details = details
        super().__init__(f"{self.code}: {message}")


class InvalidRequest(WalletError):
    """A request or decision that cannot be applied as given."""

    code = "invalid_request"


class UnknownWallet(InvalidRequest):
    code = "unknown_wallet"


class UnknownRule(InvalidRequest):
    code = "unknown_rule"


class NegativeAmount(InvalidRequest):
    code = "negative_amount"


class InvalidAmount(InvalidRequest):
    """Not a whole number, or too large to be exact in Redis' Lua (2**53)."""

    code = "invalid_amount"


class UnknownTransaction(WalletError):
    code = "unknown_transaction"


class AmountExceedsRemaining(WalletError):
    code = "amount_exceeds_remaining"


class MemberMismatch(WalletError):
    code = "member_mismatch"


class PayloadMismatch(WalletError):
    """The same transaction (or refund) id was sent before with a different payload."""

    code = "payload_mismatch"


class InvalidStatus(WalletError):
    """The operation does not apply to the transaction as it is (e.g. capture after reversal)."""

    code = "invalid_status"


class ReversedBeforeAuthorization(WalletError):
    """A reversal arrived first; the late authorisation is declined."""

    code = "reversed_before_authorization"


class MemberExists(WalletError):
    code = "member_exists"


class StoreUnavailable(WalletError):
    """Redis could not be reached; whether the last operation applied is unknown: retry it."""

    code = "store_unavailable"
    retryable = True


class StateChanged(WalletError):
    """The member's state moved since the decision was made: read again and decide again."""

    code = "state_changed"
    retryable = True


class LimitExceeded(StateChanged):
    code = "limit_exceeded"


class BudgetExhausted(StateChanged):
    code = "budget_exhausted"


class InsufficientBalance(StateChanged):
    code = "insufficient_balance"


class ReservationReleased(StateChanged):
    """Cluster: budget reconciliation released this attempt's reservation as an orphan
    before the member's script ran; the attempt is refused and a new one reserves again."""

    code = "reservation_released"


class RecordChanged(StateChanged):
    """A capture, reversal or refund raced another operation on the same transaction."""

    code = "record_changed"


def _codes() -> dict[str, type[WalletError]]:
    found: dict[str, type[WalletError]] = {}
    pending: list[type[WalletError]] = [WalletError]
    while pending:
        cls = pending.pop()
        found[cls.code] = cls
        pending.extend(cls.__subclasses__())
    return found


CODES = _codes()


def error_for(code: str, message: str) -> TesseraError:
    """The exception a script's ``TSR <code> <message>`` error stands for."""
    cls = CODES.get(code)
    if cls is None:
        return InternalError(f"wallet script failed: {code} {message}")
    return cls(message)
