"""Types of the member read's decoder (_read.pyx)."""

from collections.abc import Callable
from typing import Any

from tessera.engine.model import MemberState

class MemberReader:
    def __init__(
        self,
        wallet_names: tuple[str, ...],
        member_state: Callable[..., MemberState],
        snapshot: Callable[..., Any],
        rate_tier: Callable[[MemberState, int], str | None] | None,
    ) -> None: ...
    def read(
        self, member: str, now: int, reply: object, current: tuple[str, ...]
    ) -> Any | None: ...
