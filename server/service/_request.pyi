"""Types of the compiled reader of Authorize requests (_request.pyx)."""

from collections.abc import Callable, Mapping
from typing import Any

from tessera.engine.model import Transaction

class RequestReader:
    def __init__(
        self,
        currency: str,
        wallets: Mapping[str, bool],
        points_value: bool,
        low: int,
        high: int,
        transaction: Callable[..., Transaction],
        basket_line: Callable[..., Any],
        redeem: Callable[..., Any],
    ) -> None: ...
    def read(self, raw: bytes) -> tuple[Transaction, bool] | None: ...
