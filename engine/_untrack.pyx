# cython: language_level=3, always_allow_keywords=False
"""Take an immutable, acyclic object out of the cyclic garbage collector's sight.

A compiled programme is a few hundred thousand frozen slotted dataclasses (syntax nodes,
locations, checked leaves) that only ever hold numbers, strings, tuples, frozensets and
other such objects, built bottom-up: none of them can be part of a reference cycle, so the
collector can never free one of them.  Yet each is tracked, and the first young collection
after a compile walks all of them (about as long as the parse takes); every full
collection of a long-running process walks them again.  CPython itself untracks tuples and
dicts that hold only atomic values for the same reason.  Reference counting still frees
these objects as before; a tuple that holds only untracked objects is then untracked by the
collector's own first pass.
"""

cdef extern from "Python.h":
    int PyObject_IS_GC(object op)
    int PyObject_GC_IsTracked(object op)
    void PyObject_GC_UnTrack(void *op)


def untrack(obj):
    """``obj``, no longer tracked by the cyclic collector (it must never be in a cycle)."""
    if PyObject_IS_GC(obj) and PyObject_GC_IsTracked(obj):
        PyObject_GC_UnTrack(<void *>obj)
    return obj
