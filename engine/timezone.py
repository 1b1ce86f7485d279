"""Programme time zones as a table of UTC instants and offsets.

The compiled matcher turns a transaction's UTC time into local date, weekday, hour and
minute with one binary search in this table, in C, instead of a call into ``zoneinfo`` per
transaction.  The table is built by probing ``zoneinfo`` and is kept per zone name.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo
from bisect import bisect_right
from functools import cache

import numpy as np

FIRST_YEAR, LAST_YEAR = 1970, 2200
_STEP = 7 * 86_400
_UTC = _dt.UTC


def _offset(zone: zoneinfo.ZoneInfo, instant: int) -> int:
    moment = _dt.datetime.fromtimestamp(instant, _UTC).astimezone(zone)
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


@cache
def transitions(zone_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, offsets)``: from ``starts[i]`` (UTC seconds) local time is UTC + ``offsets[i]``.

    ``starts[0]`` is the smallest int64 so that every instant falls in some span.
    """
    zone = zoneinfo.ZoneInfo(zone_name)
    first = int(_dt.datetime(FIRST_YEAR, 1, 1, tzinfo=_UTC).timestamp())
    last = int(_dt.datetime(LAST_YEAR, 1, 1, tzinfo=_UTC).timestamp())
    starts = [-(2**63)]
    offsets = [_offset(zone, first)]
    previous = offsets[0]
    probe = first
    while probe < last:
        following = probe + _STEP
        current = _offset(zone, following)
        if current != previous:
            low, high = probe, following  # the change lies in (low, high]
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, middle) == previous:
                    low = middle
                else:
                    high = middle
            starts.append(high)
            offsets.append(current)
            previous = current
        probe = following
    return np.asarray(starts, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


@cache
def _spans(zone_name: str) -> tuple[list[int], list[int]]:
    starts, offsets = transitions(zone_name)
    return starts.tolist(), offsets.tolist()


def local_seconds(zone_name: str, instant: int) -> int:
    """Local wall-clock seconds since the epoch, the way the compiled matcher computes them
    (one bisect over the table; plain Python lists, so no numpy call per lookup)."""
    starts, offsets = _spans(zone_name)
    return instant + offsets[bisect_right(starts, instant) - 1]


def local_day(zone_name: str, instant: int) -> int:
    """The local date of ``instant`` as days since 1970-01-01."""
    return local_seconds(zone_name, instant) // 86_400
