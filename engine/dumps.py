"""JSON of values that hold the engine's slotted dataclasses (decisions and their parts,
transactions): :func:`dumps` is ``orjson.dumps`` and :func:`jsonable` is
``orjson.loads(orjson.dumps(value))``, each the same result in a fraction of the time where
``engine/_records`` is built (see :func:`engine._records.plain`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

dumps: Callable[[Any], bytes]
jsonable: Callable[[Any], Any]
try:
    from ._records import jsonable, plain
except ImportError:  # pragma: no cover - the extension is part of every build
    dumps = orjson.dumps

    def jsonable(value: Any) -> Any:
        return orjson.loads(orjson.dumps(value))
else:
    dumps = partial(orjson.dumps, default=plain, option=orjson.OPT_PASSTHROUGH_DATACLASS)

__all__ = ["dumps", "jsonable"]
