"""Quick construction of frozen, slotted dataclasses.

The compiler builds a few hundred thousand small frozen dataclasses (syntax nodes,
locations, checked leaves).  Their generated ``__init__`` goes through
``object.__setattr__`` for every field, which costs about three times what filling in the
slots directly does.  :func:`fast_constructor` makes a function that fills in an instance
of a plain class with the same slots and then sets its ``__class__`` to the dataclass: a
genuine, equal instance, built at a third of the cost.

Where the extension is built, :class:`engine._untrack.SlotConstructor` does the same in C:
it writes each value straight into its slot, half the cost again.

With ``untracked=True`` the instance is also taken out of the cyclic collector's sight
(:mod:`engine._untrack`), for classes whose instances can never be part of a cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

try:
    from ._untrack import Locations, SlotConstructor, give_way, giving_way, untrack
except ImportError:  # the extension is not built: instances stay tracked
    Locations = SlotConstructor = None
    untrack = None

    # Nothing to do: interpreted code gives the GIL up at every switch interval.
    def give_way() -> None:
        pass

    def giving_way(on: bool) -> bool:
        return False


__all__ = [
    "Locations", "SlotConstructor", "fast_constructor", "give_way", "giving_way", "untrack"
]


def fast_constructor(cls: type, untracked: bool = False) -> Callable[..., Any]:
    """A function that builds ``cls`` instances from every field value, positionally.

    ``untracked``: the instances hold only immutable values built before them, so they can
    never be in a reference cycle and the cyclic collector need not track them.

    Returns ``cls`` itself when the trick does not apply (slots that are not exactly the
    fields, a ``__post_init__``, or a layout that refuses the ``__class__`` assignment), so
    the result is always a correct constructor.
    """
    names = tuple(f.name for f in dataclasses.fields(cls))
    if cls.__dict__.get("__slots__") != names or hasattr(cls, "__post_init__"):
        return cls
    make = _in_c(cls, names, untracked) or _in_python(cls, names, untracked)
    try:
        probe = make(*range(len(names)))
        if type(probe) is not cls or probe != cls(*range(len(names))):
            return cls
    except TypeError:
        return cls
    return make


def _in_c(cls: type, names: tuple[str, ...], untracked: bool) -> Callable[..., Any] | None:
    """The C constructor of :mod:`engine._untrack`, where it is built and takes ``cls``."""
    if SlotConstructor is None:
        return None
    try:
        return SlotConstructor(cls, names, untracked)
    except TypeError:  # not slots it can fill in: the Python trick decides
        return None


def _in_python(cls: type, names: tuple[str, ...], untracked: bool) -> Callable[..., Any]:
    """A plain class with the same slots, filled in, then given ``cls`` as its class."""
    body = "".join(f"    obj.{name} = {name}\n" for name in names)
    result = "_untrack(obj)" if untracked and untrack is not None else "obj"
    code = (
        f"def make_{cls.__name__}({', '.join(names)}):\n"
        f"    obj = _bare()\n{body}    obj.__class__ = _cls\n    return {result}\n"
    )
    bare = type(f"_Bare{cls.__name__}", (), {"__slots__": names})
    namespace: dict[str, Any] = {"_cls": cls, "_bare": bare, "_untrack": untrack}
    exec(code, namespace)
    make = namespace[f"make_{cls.__name__}"]
    make.cls = cls  # what it builds, as SlotConstructor.cls says
    return make
