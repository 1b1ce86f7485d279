# cython: language_level=3
"""Build the decision's dataclass instances without running their ``__init__``, and write
slotted dataclasses out for ``orjson`` without its attribute lookups (:func:`plain`).

A decision is a dozen or more small objects (:mod:`engine.decision`), and calling a
dataclass runs its generated ``__init__`` as a Python frame: on the walk's path that costs
more than the walk's arithmetic.  These functions allocate an instance of the very same
class and store each field into its slot directly, which gives a genuine, equal instance
(``orjson``, ``dataclasses.replace`` and ``==`` see no difference) for a fraction of the
work.  :func:`_layout` checks at import that each class is laid out as assumed: slots named
exactly as its fields, in order, and nothing run by ``__init__`` besides storing them.  If
a class ever changes shape the import fails and the walk calls the classes themselves.
"""

import dataclasses

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF

from tessera.engine.decision import Applied, Decision, EffectResult, FunderLine, Skipped, Usage

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    PyObject* PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems) except NULL
    int T_OBJECT_EX


cdef enum:
    MAX_FIELDS = 12


cdef class _Layout:
    """Where each field of one dataclass lives inside its instances."""

    cdef PyTypeObject* type
    cdef object cls
    cdef tuple names
    cdef Py_ssize_t count
    cdef Py_ssize_t offsets[MAX_FIELDS]


cdef _Layout _slot_layout(object cls):
    """The layout of a dataclass whose slots are exactly its fields, in order; else None."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    if cls.__dict__.get("__slots__") != names or len(names) > MAX_FIELDS:
        return None
    cdef _Layout layout = _Layout()
    layout.cls = cls
    layout.type = <PyTypeObject*>cls
    layout.names = names
    layout.count = len(names)
    cdef PyMemberDef* member
    for i, name in enumerate(names):
        descriptor = cls.__dict__[name]
        if type(descriptor).__name__ != "member_descriptor":
            return None
        member = (<PyMemberDescrObject*><PyObject*>descriptor).d_member
        if member.type != T_OBJECT_EX or member.offset <= 0:
            return None
        layout.offsets[i] = member.offset
    return layout


cdef _Layout _layout(object cls):
    cdef _Layout layout = _slot_layout(cls)
    if (
        layout is None
        or hasattr(cls, "__post_init__")
        or any(f.init is False for f in dataclasses.fields(cls))
    ):
        raise ImportError(f"{cls.__name__} is not a plain slotted dataclass")
    return layout


cdef inline void _put(PyObject* obj, Py_ssize_t offset, object value) noexcept:
    # The fresh instance's slots are NULL: store a new reference, nothing to release.
    Py_INCREF(value)
    (<PyObject**>((<char*>obj) + offset))[0] = <PyObject*>value


cdef inline object _new(_Layout layout):
    cdef PyObject* raw = PyType_GenericAlloc(layout.type, 0)
    obj = <object>raw  # takes a second reference ...
    Py_DECREF(obj)  # ... so give back the one the allocation returned
    return obj


cdef object _build(_Layout layout, tuple values):
    obj = _new(layout)
    for i in range(layout.count):
        _put(<PyObject*>obj, layout.offsets[i], values[i])
    return obj


cdef _Layout _checked(object cls):
    """The layout of ``cls``, once an instance built from it equals one ``cls`` builds."""
    cdef _Layout layout = _layout(cls)
    probe = tuple(object() for _ in range(layout.count))
    if _build(layout, probe) != cls(*probe):
        raise ImportError(f"{cls.__name__} does more than store its fields")
    return layout


cdef _Layout _EFFECT = _checked(EffectResult)
cdef _Layout _FUNDER = _checked(FunderLine)
cdef _Layout _APPLIED = _checked(Applied)
cdef _Layout _SKIPPED = _checked(Skipped)
cdef _Layout _USAGE = _checked(Usage)
cdef _Layout _DECISION = _checked(Decision)


def effect(type, amount, points, wallet, draw, segment, available_at, expires_at):
    """``EffectResult(type, amount, points, wallet, draw, segment, available_at, expires_at)``"""
    obj = _new(_EFFECT)
    cdef PyObject* p = <PyObject*>obj
    cdef Py_ssize_t* at = _EFFECT.offsets
    _put(p, at[0], type)
    _put(p, at[1], amount)
    _put(p, at[2], points)
    _put(p, at[3], wallet)
    _put(p, at[4], draw)
    _put(p, at[5], segment)
    _put(p, at[6], available_at)
    _put(p, at[7], expires_at)
    return obj


cdef inline object _funder(funder, amount, points):
    obj = _new(_FUNDER)
    cdef PyObject* p = <PyObject*>obj
    cdef Py_ssize_t* at = _FUNDER.offsets
    _put(p, at[0], funder)
    _put(p, at[1], amount)
    _put(p, at[2], points)
    return obj


cdef inline object _applied(rule, effects, value, funders):
    obj = _new(_APPLIED)
    cdef PyObject* p = <PyObject*>obj
    cdef Py_ssize_t* at = _APPLIED.offsets
    _put(p, at[0], rule)
    _put(p, at[1], effects)
    _put(p, at[2], value)
    _put(p, at[3], funders)
    return obj


def funder_line(funder, amount, points):
    """``FunderLine(funder, amount, points)``"""
    return _funder(funder, amount, points)


def applied(rule, effects, value, funders):
    """``Applied(rule, effects, value, funders)``"""
    return _applied(rule, effects, value, funders)


def applied_one(rule, effect, value, funder, amount, points):
    """``Applied(rule, [effect], value, [FunderLine(funder, amount, points)])``"""
    return _applied(rule, [effect], value, [_funder(funder, amount, points)])


def applied_unfunded(rule, effect):
    """``Applied(rule, [effect], 0, [])``"""
    return _applied(rule, [effect], 0, [])


def skipped(rule, reason, detail):
    """``Skipped(rule, reason, detail)``"""
    obj = _new(_SKIPPED)
    cdef PyObject* p = <PyObject*>obj
    cdef Py_ssize_t* at = _SKIPPED.offsets
    _put(p, at[0], rule)
    _put(p, at[1], reason)
    _put(p, at[2], detail)
    return obj


def usage(scope, rule, kind, period, key, delta, cap):
    """``Usage(scope, rule, kind, period, key, delta, cap)``"""
    obj = _new(_USAGE)
    cdef PyObject* p = <PyObject*>obj
    cdef Py_ssize_t* at = _USAGE.offsets
    _put(p, at[0], scope)
    _put(p, at[1], rule)
    _put(p, at[2], kind)
    _put(p, at[3], period)
    _put(p, at[4], key)
    _put(p, at[5], delta)
    _put(p, at[6], cap)
    return obj


def decision(
    txn_id, member, version, amount, discount, redeemed, applied, skipped, usage, redemption,
    balances, time,
):
    """``Decision(...)`` with every field given, in order."""
    obj = _new(_DECISION)
    cdef PyObject* p = <PyObject*>obj
    cdef Py_ssize_t* at = _DECISION.offsets
    _put(p, at[0], txn_id)
    _put(p, at[1], member)
    _put(p, at[2], version)
    _put(p, at[3], amount)
    _put(p, at[4], discount)
    _put(p, at[5], redeemed)
    _put(p, at[6], applied)
    _put(p, at[7], skipped)
    _put(p, at[8], usage)
    _put(p, at[9], redemption)
    _put(p, at[10], balances)
    _put(p, at[11], time)
    return obj


# ---- writing them out ----------------------------------------------------------------------

cdef dict _WRITTEN = {}  # dataclass -> its layout, for plain()


def plain(obj):
    """``orjson``'s ``default`` (with ``OPT_PASSTHROUGH_DATACLASS``): a dataclass instance as
    the dict of its fields, in order, which orjson writes exactly as it writes the instance.

    For a slotted dataclass orjson looks for ``__dict__`` first (raising and clearing an
    AttributeError each time) and then reads every field through ``__dataclass_fields__``:
    several thousand instructions an instance, while reading the slots is a few hundred.
    """
    cdef _Layout layout = _WRITTEN.get(type(obj))
    if layout is None:
        return _plain_first(obj)
    return _fields(layout, obj)


cdef dict _fields(_Layout layout, object obj, bint deep=False):
    """The fields of ``obj`` as a dict; with ``deep`` each value made plain too."""
    cdef dict out = {}
    cdef char* base = <char*><PyObject*>obj
    cdef PyObject* value
    for i in range(layout.count):
        value = (<PyObject**>(base + layout.offsets[i]))[0]
        if value is NULL:
            raise AttributeError(f"{layout.cls.__name__}.{layout.names[i]} is not set")
        out[layout.names[i]] = _jsonable(<object>value) if deep else <object>value
    return out


cdef object _plain_first(object obj):
    cls = type(obj)
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"Type is not JSON serializable: {cls.__name__}")
    cdef _Layout layout = _slot_layout(cls)
    if layout is None:  # not laid out in slots: its fields, read as attributes
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)}
    _WRITTEN[cls] = layout
    return _fields(layout, obj)


def jsonable(obj):
    """``orjson.loads(orjson.dumps(obj))`` without the text in between, for the values a
    decision is made of: dicts with str keys, lists and tuples (as lists), dataclasses (as
    dicts of their fields), str, int, float, bool and None."""
    return _jsonable(obj)


cdef object _jsonable(object obj):
    cls = type(obj)
    if cls is str or cls is int or obj is None or cls is bool or cls is float:
        return obj
    if cls is list or cls is tuple:
        return [_jsonable(item) for item in obj]
    cdef dict out
    if cls is dict:
        out = {}
        for key, value in (<dict>obj).items():
            if type(key) is not str:
                raise TypeError("Dict key must be str")
            out[key] = _jsonable(value)
        return out
    cdef _Layout layout = _WRITTEN.get(cls)
    if layout is not None:
        return _fields(layout, obj, True)
    out = _plain_first(obj)  # a dataclass, or TypeError
    for key, value in out.items():
        out[key] = _jsonable(value)
    return out
