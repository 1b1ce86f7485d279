# cython: language_level=3, boundscheck=False, wraparound=False
"""A Redis command as RESP bytes, for the commands the store and the service send most.

hiredis packs a command with one ``sprintf`` per argument for its length header, and turns
every integer into a ``str`` object first: for the authorise script's fifty-odd arguments
that is about 100,000 instructions, a fifth of the client's whole work per authorisation.
Here each argument costs a type test, a copy and a few digits.  Only ``str``, ``bytes`` and
``int`` are packed here; a command with any other argument is handed to hiredis whole, so
that every other type is packed (or refused) exactly as hiredis does it.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcpy

import hiredis

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1

cdef enum:
    NUMBER_ROOM = 24  # a 64-bit integer in decimal, with its sign


cdef inline Py_ssize_t _digits(unsigned long long value) noexcept nogil:
    cdef Py_ssize_t count = 1
    while value >= 10:
        value //= 10
        count += 1
    return count


cdef inline char* _decimal(char* out, unsigned long long value, Py_ssize_t width) noexcept nogil:
    """Write ``value`` in ``width`` digits at ``out``; the end of what was written."""
    cdef char* end = out + width
    cdef char* at = end
    while True:
        at -= 1
        at[0] = <char>(48 + value % 10)
        value //= 10
        if at == out:
            return end


cdef inline char* _bulk(char* out, const char* data, Py_ssize_t size) noexcept nogil:
    """``$<size>\\r\\n<data>\\r\\n`` at ``out``."""
    out[0] = b'$'
    out = _decimal(out + 1, <unsigned long long>size, _digits(<unsigned long long>size))
    out[0] = b'\r'
    out[1] = b'\n'
    memcpy(out + 2, data, size)
    out += 2 + size
    out[0] = b'\r'
    out[1] = b'\n'
    return out + 2


def pack_command(tuple command) -> bytes:
    """The RESP array of bulk strings for ``command``, as hiredis would pack it."""
    cdef Py_ssize_t count = len(command), i, size, total
    cdef const char** data = <const char**>PyMem_Malloc(count * sizeof(char*) + 1)
    cdef Py_ssize_t* sizes = <Py_ssize_t*>PyMem_Malloc(count * sizeof(Py_ssize_t) + 1)
    cdef char* numbers = <char*>PyMem_Malloc(count * NUMBER_ROOM + 1)
    cdef char* at
    cdef long long value
    cdef unsigned long long magnitude
    cdef int overflow
    cdef object item
    cdef bytes packed
    if data is NULL or sizes is NULL or numbers is NULL:
        PyMem_Free(data)
        PyMem_Free(sizes)
        PyMem_Free(numbers)
        raise MemoryError()
    try:
        total = 1 + _digits(count) + 2
        for i in range(count):
            item = command[i]
            if type(item) is str:
                data[i] = PyUnicode_AsUTF8AndSize(item, &sizes[i])
            elif type(item) is bytes:
                data[i] = PyBytes_AS_STRING(item)
                sizes[i] = PyBytes_GET_SIZE(item)
            elif type(item) is int:
                value = PyLong_AsLongLongAndOverflow(item, &overflow)
                if overflow:
                    return hiredis.pack_command(command)
                at = numbers + i * NUMBER_ROOM
                data[i] = at
                if value < 0:
                    at[0] = b'-'
                    at += 1
                    magnitude = <unsigned long long>(-(value + 1)) + 1
                else:
                    magnitude = <unsigned long long>value
                size = _digits(magnitude)
                _decimal(at, magnitude, size)
                sizes[i] = size + (value < 0)
            else:  # float, bytearray, memoryview, None, ...: hiredis decides
                return hiredis.pack_command(command)
            size = sizes[i]
            total += 1 + _digits(<unsigned long long>size) + 2 + size + 2
        packed = PyBytes_FromStringAndSize(NULL, total)
        at = PyBytes_AS_STRING(packed)
        at[0] = b'*'
        at = _decimal(at + 1, <unsigned long long>count, _digits(count))
        at[0] = b'\r'
        at[1] = b'\n'
        at += 2
        for i in range(count):
            at = _bulk(at, data[i], sizes[i])
        return packed
    finally:
        PyMem_Free(data)
        PyMem_Free(sizes)
        PyMem_Free(numbers)
