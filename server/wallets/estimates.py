"""What this process last saw of each campaign budget, so that a decision need not read it.

A budget is shared by every member, so the walk cannot take it from the member's snapshot:
reading it costs an authorisation a third round trip whenever a matched rule has one.  The
authorise script checks every budget again before it writes (and on Cluster the budget's
own script reserves it first), so the walk's figure need not be exact for the cap to hold;
it must only give the decision that a read would give.
:func:`~tessera.server.wallets.decide_on_snapshot` therefore decides first as if every
budget were unused, and keeps that decision when each budget it spends has room by the
estimate here (read or spent by this process within ``max_age`` seconds):

* a count budget with room for one more use gives the rule the same verdict at any use
  below its cap: the decision is the one a read would give, and at a use that leaves no
  room the script refuses the write (``budget_exhausted``), the estimates are dropped, and
  the caller reads and decides again;
* a value budget with room for the whole reward did not cut it, nor would it at any use
  that leaves that room; a use that does not leave it is refused by the script, as above.

A budget the estimate finds spent, or one this process has not seen lately, is read, as
before.  An estimate can be low (another process spent since: refused, as above) or high
(a reversal gave some back: a spent-looking budget is read).  What changes is only how old
the budget's figure may be when the walk uses it: a read was always one round trip older
than the write, and is now at most ``max_age`` seconds older (1 s by default; 0 reads for
every decision).  Where a value limit already cut a reward, its rounding may then differ
by a few minor units from a decision on a newer figure; every cap still holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from tessera.engine.decision import Decision

Budget = tuple[str, str]  # (rule, "count" | "value")


class BudgetEstimates:
    """Budget uses as last read or spent here, each with when it was read."""

    __slots__ = ("_seen", "max_age")

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._seen: dict[Budget, tuple[int, float]] = {}

    def read(self, values: Mapping[Budget, int]) -> None:
        """Budgets as just read from Redis."""
        now = time.monotonic()
        for budget, used in values.items():
            self._seen[budget] = (used, now)

    def spent(self, spends: Iterable[tuple[Budget, int]]) -> None:
        """Budgets this process has just spent (as old as the read they add to)."""
        seen = self._seen
        for budget, delta in spends:
            known = seen.get(budget)
            if known is not None:
                seen[budget] = (known[0] + delta, known[1])

    def forget(self) -> None:
        """After a write refused for a spent budget: read every budget afresh."""
        self._seen.clear()

    def room(self, budgets: Iterable[tuple[Budget, int]]) -> bool:
        """Whether each ``(budget, cap)`` is known lately and not spent by the estimate."""
        if self.max_age <= 0:
            return False
        oldest = time.monotonic() - self.max_age
        seen = self._seen
        for budget, cap in budgets:
            known = seen.get(budget)
            if known is None or known[1] < oldest or known[0] >= cap:
                return False
        return True

    def fits(self, decision: Decision) -> bool:
        """Whether every budget ``decision`` spends has room for it by the estimate."""
        seen = self._seen
        for usage in decision.usage:
            if usage.scope == "budget":
                known = seen.get((usage.rule, usage.kind))
                if known is None or known[0] + usage.delta > usage.cap:
                    return False
        return True
