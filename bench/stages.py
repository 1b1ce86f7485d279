"""The stages of one authorisation, timed one by one on the service's own parts.

What the servicer does for an ``Authorize`` call, cut where the parts meet: the request's
bytes read into a transaction (``convert.authorize_request_in``: the compiled reader, or
protobuf and ``convert.transaction_in`` for what it leaves), the member read
(``WalletStore.snapshot``), ``match``, the budgets of the matched rules read (unless this
process's estimate has room: server/wallets/estimates.py), the walk
(``Walker.decide``, again after a read when the estimate did not hold), the write
(``WalletStore.authorize``) and the answer encoded (``wire.authorize_response``: the bytes
the servicer sends).  Each request gets a fresh transaction id, so the write is a real
first authorisation, not an idempotent replay.

Timed by the wall clock by default; with ``clock=time.thread_time`` the same cuts give each
stage's CPU, so that a stage's wall time less its CPU is what it waited (for Redis).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from tessera.engine.model import Transaction
from tessera.server.service import convert
from tessera.server.service.servicers import decision_id
from tessera.server.service.versions import Runtime
from tessera.server.service.wire import authorize_response

from bench.service_load import request_for

STAGES = (
    "decode (bytes → transaction)",
    "member read (snapshot)",
    "match",
    "budgets read",
    "walk (decide)",
    "Redis write (authorize)",
    "encode (decision → bytes)",
)


class NoDeadline:
    """The servicer's view of a call with no deadline: what calling its methods directly,
    without gRPC, needs of a context."""

    def time_remaining(self) -> None:
        return None


def wire_requests(txns: Sequence[Transaction], prefix: str, n: int) -> list[bytes]:
    """``n`` serialised AuthorizeRequests with transaction ids never used before."""
    return [
        request_for(txns[i % len(txns)], f"{prefix}-{i:07d}").SerializeToString()
        for i in range(n)
    ]


def time_stages(
    rt: Runtime, wires: Sequence[bytes], clock: Callable[[], float] = time.perf_counter
) -> dict[str, list[float]]:
    """Seconds of ``clock`` each stage took, per request, in the order of :data:`STAGES`."""
    program = rt.compiled.program
    store, walker, match = rt.store, rt.walker, rt.compiled.match
    out: dict[str, list[float]] = {name: [] for name in STAGES}
    lists = [out[name] for name in STAGES]
    reader = rt.requests
    for wire in wires:
        t1 = clock()
        txn, _capture = convert.authorize_request_in(wire, program, reader)
        t2 = clock()
        snapshot = store.snapshot(txn.member, txn.time)
        t3 = clock()
        matched = match(txn, snapshot.state)
        t4 = clock()
        # As decide_on_snapshot: budgets as unused while this process's estimate has room.
        unread = store.unread_counters(snapshot, matched)
        counters = unread if unread is not None else store.counters(snapshot, matched)
        t5 = clock()
        decision = walker.decide(txn, snapshot.state, matched, counters)
        if unread is not None and not store.budget_estimates.fits(decision):
            counters = store.counters(snapshot, matched)
            decision = walker.decide(txn, snapshot.state, matched, counters)
        t6 = clock()
        result = store.authorize(txn, decision, snapshot)
        t7 = clock()
        authorize_response(result, program, decision_id(txn.member, txn.txn_id))
        t8 = clock()
        marks = (t1, t2, t3, t4, t5, t6, t7, t8)
        for i, values in enumerate(lists):
            values.append(marks[i + 1] - marks[i])
    return out


def medians_us(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) * 1e6 for name, values in times.items()}
