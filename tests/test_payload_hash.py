"""The idempotency fingerprint of an authorisation never changes between releases: every
stored authorisation's fingerprint was taken of it, and a retry after an upgrade must match
it or be refused as another payload."""

from __future__ import annotations

from tessera.engine.model import BasketLine, Redeem, Transaction
from tessera.server.wallets._prepare import payload_hash


def test_the_fingerprint_of_a_known_transaction_stays_what_it_was() -> None:
    txn = Transaction(
        "t-1", 1_796_130_195, 1_250, "m-1", "EUR", "M1001", "T9", 5814, "pos", "NL", "c-1",
        "411111", (BasketLine("SKU-1", "coffee", 2, 350), BasketLine("SKU-2", "tea", 1, 550)),
        Redeem("cashback", 200, None),
    )
    assert payload_hash(txn, False) == "483dc430738489cf15dc8d9a89e5c7f6"
    assert payload_hash(txn, True) != payload_hash(txn, False)
