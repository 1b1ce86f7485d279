"""The Authorize answer as wire bytes, and the response serializer that sends them.

:func:`authorize_response` writes the serialized ``AuthorizeResponse`` of the wallet
store's result with the compiled encoder (server/service/_wire.pyx says why), or builds it
with protobuf where the extension is not built or the result is not of a shape the encoder
takes; the bytes are the same either way.  The Authorize handlers return those bytes, so
their methods are registered with :func:`serialize_response`, which passes bytes through
and serializes a message (an error reply, a stand-in answer) as protobuf always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message
from tessera.engine import program as P

from tessera.v1 import authorization_pb2 as A

from .convert import _points_wallets, decision_fields

try:
    from ._wire import Unsupported
    from ._wire import authorize_response as _encode
except ImportError:  # pragma: no cover - the extension is part of every build
    _encode = None

    class Unsupported(Exception):  # type: ignore[no-redef]
        """Never raised: without the extension every answer is built by protobuf."""

__all__ = ["authorize_response", "build_authorize_response", "serialize_response"]


def authorize_response(result: Mapping[str, Any], program: P.Program, decision_id: str) -> bytes:
    """The bytes of ``AuthorizeResponse(decision=decision_fields(result, program,
    decision_id))``, written directly when the compiled encoder is built."""
    if _encode is not None:
        try:
            return _encode(result, program.currency, _points_wallets(program), decision_id)
        except Unsupported:
            pass
    return build_authorize_response(result, program, decision_id)


def build_authorize_response(
    result: Mapping[str, Any], program: P.Program, decision_id: str
) -> bytes:
    """The same bytes built with protobuf: the reference the encoder is tested against, and
    the path for what the encoder does not take."""
    fields = decision_fields(result, program, decision_id)
    return A.AuthorizeResponse(decision=fields).SerializeToString()


def serialize_response(response: bytes | Message) -> bytes:
    """A response serializer for methods that answer with bytes or with a message."""
    if type(response) is bytes:
        return response
    return response.SerializeToString()  # type: ignore[union-attr]
