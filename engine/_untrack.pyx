# cython: language_level=3, always_allow_keywords=False
"""Take an immutable, acyclic object out of the cyclic garbage collector's sight, and build
frozen slotted instances without going through ``__setattr__``.

A compiled programme is a few hundred thousand frozen slotted dataclasses (syntax nodes,
locations, checked leaves) that only ever hold numbers, strings, tuples, frozensets and
other such objects, built bottom-up: none of them can be part of a reference cycle, so the
collector can never free one of them.  Yet each is tracked, and the first young collection
after a compile walks all of them (about as long as the parse takes); every full
collection of a long-running process walks them again.  CPython itself untracks tuples and
dicts that hold only atomic values for the same reason.  Reference counting still frees
these objects as before; a tuple that holds only untracked objects is then untracked by the
collector's own first pass.

Code that Cython compiles never passes through the interpreter's eval loop, which is where
a thread's request for the GIL is granted at the switch interval.  A serving process
compiles a new programme beside its calls; so that the compiled compiler still gives way
to them, the constructors here let a waiting thread have the interpreter every few hundred
objects, and the compiler's other long loops call :func:`give_way`, while the server has
turned :func:`giving_way` on.

:class:`SlotConstructor` fills the slots of a new instance directly, at the offsets that
the class's own member descriptors name: what ``object.__setattr__`` ends up doing for each
field, without the attribute lookup, the descriptor call and the frozen ``__setattr__``
in between (a sixth of the cost of the generated ``__init__``, half that of
:func:`engine.fastclass.fast_constructor`'s plain-Python trick).  :class:`Locations` does
the same for the fast parser's locations, reading the token lists in C.
"""

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE

cdef extern from "Python.h":
    int PyObject_IS_GC(object op)
    int PyObject_GC_IsTracked(object op)
    void PyObject_GC_UnTrack(void *op)
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    object new_instance "PyType_GenericAlloc"(PyTypeObject *cls, Py_ssize_t nitems)
    PyObject *generic_alloc "PyType_GenericAlloc"(PyTypeObject *cls, Py_ssize_t nitems)
    ctypedef struct TypeAlloc "PyTypeObject":
        void *tp_alloc

cdef extern from "structmember.h":
    int T_OBJECT_EX
    int READONLY

import types

cdef enum:
    MAX_FIELDS = 16
    GIVE_WAY_EVERY = 256  # objects built between two chances for a waiting thread

cdef unsigned int _built = 0
cdef bint _giving = False  # only while a compile is to put other threads first


cdef inline void _maybe_give_way() noexcept:
    global _built
    if _giving:
        _built += 1
        if _built % GIVE_WAY_EVERY == 0:
            with nogil:
                pass


def give_way():
    """While :func:`giving_way` is on, let a thread that is waiting for the GIL have it, as
    the eval loop would at the end of a switch interval: release it and take it back (a
    few atomic operations when no thread waits).  Otherwise nothing: a compile alone in
    its process (a check, a benchmark) hands the GIL to nobody's background work."""
    if _giving:
        with nogil:
            pass


def giving_way(bint on):
    """Turn :func:`give_way` and the constructors' hand-overs on or off; what was before."""
    global _giving
    before = _giving
    _giving = on
    return before


def untrack(obj):
    """``obj``, no longer tracked by the cyclic collector (it must never be in a cycle)."""
    if PyObject_IS_GC(obj) and PyObject_GC_IsTracked(obj):
        PyObject_GC_UnTrack(<void *>obj)
    return obj


cdef class SlotConstructor:
    """``SlotConstructor(cls, names, untracked)(*values)``: a ``cls`` whose slots ``names``
    hold ``values``, built without calling ``__init__`` or ``__setattr__``.

    ``cls`` must declare exactly these slots itself (every one an object slot that can be
    written) and take its memory from the generic allocator; anything else is refused with
    a TypeError, and the caller keeps the ordinary constructor.  With ``untracked`` the new
    instance is taken out of the collector's sight (see :func:`untrack`).
    """

    cdef readonly type cls
    cdef Py_ssize_t count
    cdef Py_ssize_t offsets[MAX_FIELDS]
    cdef bint untracked

    def __init__(self, type cls not None, tuple names not None, bint untracked=False):
        cdef PyMemberDef *member
        if len(names) > MAX_FIELDS:
            raise TypeError(f"{cls.__name__}: more than {MAX_FIELDS} fields")
        if (<TypeAlloc *>cls).tp_alloc != <void *>generic_alloc:
            raise TypeError(f"{cls.__name__}: not allocated generically")
        for index, name in enumerate(names):
            descriptor = cls.__dict__.get(name)
            if type(descriptor) is not types.MemberDescriptorType:
                raise TypeError(f"{cls.__name__}.{name} is not a slot of its own")
            member = (<PyMemberDescrObject *>descriptor).d_member
            if member.type != T_OBJECT_EX or member.flags & READONLY:
                raise TypeError(f"{cls.__name__}.{name} is not a writable object slot")
            self.offsets[index] = member.offset
        self.cls = cls
        self.count = len(names)
        self.untracked = untracked

    def __call__(self, *values):
        cdef Py_ssize_t index
        if PyTuple_GET_SIZE(values) != self.count:
            raise TypeError(
                f"{self.cls.__name__} takes {self.count} values ({len(values)} given)"
            )
        obj = new_instance(<PyTypeObject *>self.cls, 0)
        for index in range(self.count):
            _fill(obj, self.offsets[index], <object>PyTuple_GET_ITEM(values, index))
        if self.untracked:
            PyObject_GC_UnTrack(<void *>obj)
        _maybe_give_way()
        return obj


cdef class Locations:
    """``Locations(make, file, lines, columns, ends).at(s, e)``: the location from the start
    of token ``s`` to the end of token ``e``, for the fast parser (engine/_fastparse.py).

    ``make`` is the :class:`SlotConstructor` of the location class, whose fields are
    ``file, line, column, end_line, end_column``; the token lists are read in C, and the
    method takes its two indices without a tuple, which is most of what a location costs.
    """

    cdef SlotConstructor make
    cdef object file
    cdef list lines, columns, ends

    def __init__(
        self, SlotConstructor make not None, file, list lines not None,
        list columns not None, list ends not None,
    ):
        if make.count != 5:
            raise TypeError(f"{make.cls.__name__} does not have the five fields of a location")
        if not len(lines) == len(columns) == len(ends):
            raise ValueError("the token lists differ in length")
        self.make = make
        self.file = file
        self.lines = lines
        self.columns = columns
        self.ends = ends

    def at(self, Py_ssize_t s, Py_ssize_t e):
        cdef Py_ssize_t count = len(self.lines)
        if not (0 <= s < count and 0 <= e < count):
            raise IndexError("token index out of range")
        if len(self.columns) != count or len(self.ends) != count:
            raise ValueError("the token lists differ in length")
        cdef SlotConstructor make = self.make
        obj = new_instance(<PyTypeObject *>make.cls, 0)
        _fill(obj, make.offsets[0], self.file)
        _fill(obj, make.offsets[1], self.lines[s])
        _fill(obj, make.offsets[2], self.columns[s])
        _fill(obj, make.offsets[3], self.lines[e])
        _fill(obj, make.offsets[4], self.ends[e])
        if make.untracked:
            PyObject_GC_UnTrack(<void *>obj)
        _maybe_give_way()
        return obj


cdef inline void _fill(object obj, Py_ssize_t offset, object value):
    Py_INCREF(value)
    (<PyObject **>(<char *><PyObject *>obj + offset))[0] = <PyObject *>value
