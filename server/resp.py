"""``pack_command``: a Redis command as RESP bytes, packed by the compiled ``_resp``
(see server/_resp.pyx for why), or by hiredis where the extension is not built; and
:class:`CommandPacker`, the same for everything a redis-py connection sends."""

from __future__ import annotations

from typing import Any

from redis.exceptions import DataError

try:
    from ._resp import pack_command
except ImportError:  # pragma: no cover - the extension is part of every build
    from hiredis import pack_command

__all__ = ["CommandPacker", "pack_command"]


class CommandPacker:
    """A redis-py connection's ``command_packer`` that packs with :func:`pack_command`: the
    bytes of redis-py's hiredis packer (a command name with spaces split in words,
    ``bytearray`` and ``memoryview`` taken as bytes, ``DataError`` for what cannot be
    packed), for pipelines and every other command of a connection."""

    def pack(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [pack_command(args)]
        except TypeError:
            pass
        args = tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args)
        try:
            return [pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from None
