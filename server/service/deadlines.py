"""How long a call has left, and how much of it Redis may take.

Two things follow from a call's deadline:

* **Is there time to write?**  :class:`LatencyEstimate` keeps a moving estimate of how long
  the authorise write takes here (an exponentially weighted mean and mean deviation of the
  recent writes, as TCP estimates its retransmission timeout).  A call with less time left
  than the estimate says is answered DEADLINE_EXCEEDED before anything is written.
* **How long to wait for Redis before standing in?**  Each Redis read of a call may wait at
  most what is left of the call's deadline less a reserve to send the stand-in answer (a
  fifth of what is left, at least 3 ms), capped by the client's own socket timeout.  The
  servicer names the call's deadline with :func:`redis_deadline`; the connection classes
  below apply it to every read and connect made from that thread.  Without a deadline the
  socket timeout applies unchanged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from redis.connection import Connection, UnixDomainSocketConnection

# Of what is left of a call when it waits for Redis, this share (and at least the minimum
# reserve) is kept back to answer in stand-in if Redis does not reply in time.
STAND_IN_SHARE = 0.2
STAND_IN_RESERVE = 0.003
# A Redis read never waits less than this (a deadline this close is refused before it).
MIN_WAIT = 0.001


class _Call(threading.local):
    """The calling thread's deadline; None (the class's) where it never set one, so that
    reading it raises nothing (a plain ``threading.local`` raises and formats an
    AttributeError for each read of an unset name)."""

    deadline: float | None = None


_call = _Call()


class LatencyEstimate:
    """A moving estimate of an operation's latency: mean + ``k`` mean deviations.

    Updates are a few float operations under the GIL; a lost update between two threads
    only delays the estimate by one sample."""

    def __init__(self, initial: float = 0.002, alpha: float = 0.1, k: float = 4.0,
                 floor: float = 0.0, cap: float = 1.0) -> None:
        self.mean = initial
        self.deviation = initial / 2
        self.alpha = alpha
        self.k = k
        self.floor = floor
        self.cap = cap
        self.samples = 0

    def observe(self, seconds: float) -> None:
        if self.samples == 0:
            self.mean, self.deviation = seconds, seconds / 2
        else:
            error = seconds - self.mean
            self.mean += self.alpha * error
            self.deviation += self.alpha * (abs(error) - self.deviation)
        self.samples += 1

    def needed(self) -> float:
        """Seconds a call should have left to start the operation."""
        value = self.mean + self.k * self.deviation
        return max(self.floor, min(self.cap, value))


def redis_deadline(deadline: float | None) -> float | None:
    """Name this thread's call deadline (``time.monotonic()`` seconds, or None); returns the
    one before, to restore with ``redis_deadline(previous)``."""
    previous = _call.deadline
    _call.deadline = deadline
    return previous


def _budget(cap: float | None) -> float | None:
    """How long the current call may wait for Redis now, when shorter than ``cap``."""
    deadline = _call.deadline
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    left = max(MIN_WAIT, left - max(STAND_IN_RESERVE, STAND_IN_SHARE * left))
    if cap is not None and left >= cap:
        return None
    return left


class _DeadlineAware:
    """Reads and connects wait no longer than the calling thread's call has left."""

    socket_timeout: float | None
    socket_connect_timeout: float | None

    def read_budget(self) -> float | None:
        """How long the next read may wait, when shorter than the socket timeout (the
        short path of ``server.exchange`` asks this)."""
        return _budget(self.socket_timeout)

    def read_response(self, disable_decoding: bool = False, **kwargs: Any) -> Any:
        if "timeout" not in kwargs:
            budget = self.read_budget()
            if budget is not None:
                kwargs["timeout"] = budget
        return super().read_response(disable_decoding, **kwargs)  # type: ignore[misc]

    def _connect(self) -> Any:
        budget = _budget(self.socket_connect_timeout)
        if budget is None:
            return super()._connect()  # type: ignore[misc]
        configured = self.socket_connect_timeout
        self.socket_connect_timeout = budget
        try:
            return super()._connect()  # type: ignore[misc]
        finally:
            self.socket_connect_timeout = configured


class DeadlineConnection(_DeadlineAware, Connection):
    """A TCP connection that respects the calling thread's deadline."""


class DeadlineUnixConnection(_DeadlineAware, UnixDomainSocketConnection):
    """A Unix-socket connection that respects the calling thread's deadline."""


def connection_class(url: str) -> type[redis.connection.AbstractConnection]:
    return DeadlineUnixConnection if url.startswith("unix:") else DeadlineConnection
