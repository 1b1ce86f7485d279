"""Types of the compiled matcher's Python surface."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

class Matcher:
    n_slots: int
    n_rules: int
    n_rows: int
    def __init__(self, tables: dict[str, Any]) -> None: ...
    @property
    def nbytes(self) -> int: ...
    def match(self, txn: Any, member: Any | None) -> list[int]: ...
    def encode(self, txn: Any, member: Any | None) -> npt.NDArray[np.int64]: ...
    def encode_batch(
        self, transactions: Sequence[Any], members: Sequence[Any | None]
    ) -> npt.NDArray[np.int64]: ...
    def match_encoded(self, vals: npt.NDArray[np.int64]) -> list[int]: ...
    def match_batch(
        self, vals: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
