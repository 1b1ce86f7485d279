"""Hot wallets in Redis: the wallet store and its errors (see docs/wallets.md)."""

from .errors import WalletError
from .store import (
    LedgerEntry,
    ReconcileReport,
    RedisCounters,
    Snapshot,
    VerifyReport,
    WalletStore,
    authorize_transaction,
    decide_on_snapshot,
)

__all__ = [
    "LedgerEntry",
    "ReconcileReport",
    "RedisCounters",
    "Snapshot",
    "VerifyReport",
    "WalletError",
    "WalletStore",
    "authorize_transaction",
    "decide_on_snapshot",
]
