"""Limits per member and budgets per campaign, as the decision walk consults them.

The walk only reads counters; it lists what it would consume as :class:`Usage` in the
decision, and whoever records the decision consumes it atomically (the Redis wallet store
in production, :class:`MemoryCounters` in simulation).
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from typing import Protocol

from .decision import Decision


class Counters(Protocol):
    def limit_used(self, member: str, rule: str, kind: str, period: str, key: str) -> int:
        """How much of a member's limit is used in the period ``key``."""
        ...

    def budget_used(self, rule: str, kind: str) -> int:
        """How much of a campaign's budget is spent."""
        ...


@lru_cache(maxsize=4096)
def period_key(period: str, local_days: int) -> str:
    """The bucket a limit counts in: a local day, an ISO week, a month, or ever."""
    if period == "ever":
        return "ever"
    day = _dt.date(1970, 1, 1) + _dt.timedelta(days=local_days)
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


class MemoryCounters:
    """Counters held in dictionaries, for simulation and tests."""

    def __init__(self) -> None:
        self.limits: dict[tuple[str, str, str, str, str], int] = {}
        self.budgets: dict[tuple[str, str], int] = {}

    def limit_used(self, member: str, rule: str, kind: str, period: str, key: str) -> int:
        return self.limits.get((member, rule, kind, period, key), 0)

    def budget_used(self, rule: str, kind: str) -> int:
        return self.budgets.get((rule, kind), 0)

    def consume(self, decision: Decision) -> None:
        for usage in decision.usage:
            if usage.scope == "limit":
                key = (decision.member, usage.rule, usage.kind, usage.period, usage.key)
                self.limits[key] = self.limits.get(key, 0) + usage.delta
            else:
                budget_key = (usage.rule, usage.kind)
                self.budgets[budget_key] = self.budgets.get(budget_key, 0) + usage.delta
