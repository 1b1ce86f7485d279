"""Types of engine/_untrack.pyx: untracking, slot constructors, giving way to other threads."""

from typing import Any

def untrack(obj: Any) -> Any: ...
def give_way() -> None: ...

class SlotConstructor:
    cls: type
    def __init__(self, cls: type, names: tuple[str, ...], untracked: bool = False) -> None: ...
    def __call__(self, *values: Any) -> Any: ...

class Locations:
    def __init__(
        self,
        make: SlotConstructor,
        file: str,
        lines: list[int],
        columns: list[int],
        ends: list[int],
    ) -> None: ...
    def at(self, s: int, e: int) -> Any: ...
