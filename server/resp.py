"""``pack_command``: a Redis command as RESP bytes, packed by the compiled ``_resp``
(see server/_resp.pyx for why), or by hiredis where the extension is not built."""

from __future__ import annotations

try:
    from ._resp import pack_command
except ImportError:  # pragma: no cover - the extension is part of every build
    from hiredis import pack_command

__all__ = ["pack_command"]
