"""``dumps``: ``orjson.dumps`` for values that hold the engine's slotted dataclasses
(decisions and their parts, transactions), the same bytes in a fraction of the time where
``engine/_records`` is built (see :func:`engine._records.plain`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

dumps: Callable[[Any], bytes]
try:
    from ._records import plain
except ImportError:  # pragma: no cover - the extension is part of every build
    dumps = orjson.dumps
else:
    dumps = partial(orjson.dumps, default=plain, option=orjson.OPT_PASSTHROUGH_DATACLASS)

__all__ = ["dumps"]
