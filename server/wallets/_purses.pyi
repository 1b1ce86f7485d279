from collections.abc import Mapping, Sequence

from .buckets import Purse

def purses(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> dict[str, Purse]: ...
