"""The compiled core of Tessera. Only ``tessera.engine.compiler`` constructs a Matcher."""

from ._match import Matcher

__all__ = ["Matcher"]
