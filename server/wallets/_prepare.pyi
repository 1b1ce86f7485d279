"""Types of the authorise script's arguments worked out from a decision (_prepare.pyx)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tessera.engine import program as P
from tessera.engine.decision import Decision
from tessera.engine.model import Transaction

def whole(value: object, what: str) -> int: ...
def check_member(member: object) -> str: ...
def check_txn_id(txn_id: object) -> str: ...
def payload_hash(txn: Transaction, capture: bool) -> str: ...
def shares(value: int, funders: Sequence[tuple[str, int]]) -> list[tuple[str, int]]: ...

class Preparer:
    def __init__(
        self,
        program: P.Program,
        version: str,
        rules: Mapping[str, P.Rule],
        hold_seconds: int,
        inline: str,
        tier_after: Callable[..., list[str] | None] | None,
    ) -> None: ...
    def prepare(
        self, txn: Transaction, decision: Decision, snapshot: Any, capture: bool
    ) -> tuple[list[object], list[dict[str, Any]], dict[str, Any]]: ...
