# The types Cython compiles engine/walk.py with; the .py stays plain Python.
#
# Money and points stay Python integers (``object``): they are exact at any size, and the
# walk's divisions must round exactly as the pure-Python module does.  What is typed is
# the walk's own bookkeeping: the plans' fields, flags, shapes and loop indices.

cimport cython

cdef int _GENERAL, _CASHBACK, _EARN, _MARKS


cdef class _Plan:
    cdef readonly object name
    cdef readonly bint stop
    cdef readonly bint exclusive
    cdef readonly object group
    cdef readonly str stop_detail
    cdef readonly str group_detail
    cdef readonly bint counted
    cdef readonly tuple limits
    cdef readonly object budget
    cdef readonly tuple discounts
    cdef readonly tuple cashbacks
    cdef readonly tuple earns
    cdef readonly tuple others
    cdef readonly tuple funders
    cdef readonly Py_ssize_t target
    cdef readonly object funder
    cdef readonly int shape


cdef class _Txn:
    cdef object txn
    cdef object amount
    cdef object now
    cdef object net
    cdef object ceiling
    cdef object merchant
    cdef dict baskets


cdef class Walker:
    cdef public object program
    cdef public object rules
    cdef public object version
    cdef readonly object _reference
    cdef readonly tuple _plans
    cdef readonly object _points_value
    cdef readonly bint _earn_on_net
    cdef readonly list _tz_starts
    cdef readonly list _tz_offsets
    cdef readonly tuple _filters

    @cython.locals(
        plan=_Plan,
        ctx=_Txn,
        skipped=list,
        usage=list,
        chosen=list,
        applied=list,
        basket_cache=dict,
        plans=tuple,
        i=Py_ssize_t,
        shape=int,
    )
    cpdef object decide(self, object txn, object member, object matched, object counters=*)

    cdef object _basket_amount(self, object txn, object index, dict baskets)
    cdef object _discount(self, _Plan plan, object txn, object left, dict baskets)
    cdef object _earn_base(self, _Txn ctx, object base)
    cdef object _funder_name(self, object name, _Txn ctx)
    cdef object _cashback_only(self, _Plan plan, _Txn ctx)
    cdef object _earn_only(self, _Plan plan, _Txn ctx, object points_value)
    @cython.locals(effects=list)
    cdef object _rewards(self, _Plan plan, _Txn ctx, object discount, object room,
                         object points_value)
    @cython.locals(shares=tuple, lines=list)
    cdef object _split(self, _Plan plan, _Txn ctx, object money, object points)


cdef int _EVERY, _TEXT, _NUMBER, _ALL_OF, _ANY_OF, _NONE_OF
@cython.locals(tag=int)
cdef bint _line_holds(tuple test, object line) except -1
cpdef object _filter_amount(tuple test, object basket)

@cython.locals(effects=list)
cdef object _marks_only(_Plan plan)
cdef object _room(_Plan plan, object member, object counters, object local_days)
cdef object _usage(_Plan plan, object value, object local_days, list out)
cdef object _points_money(object points_value, object points)
cdef tuple _cut(list effects, object whole, object left)
