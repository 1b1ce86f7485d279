"""Figures measured in one benchmark run, and the checks that turn them into ratios."""

from __future__ import annotations

from collections.abc import Callable


class Figures:
    """Figures measured in this run, by name; ``report`` prints and saves them."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.checks: list[tuple[str, float, str, float, bool]] = []

    def record(self, name: str, value: float) -> None:
        self.values[name] = value

    def check(self, label: str, value: float, relation: str, target: float) -> None:
        ok = value <= target if relation == "<=" else value >= target
        self.checks.append((label, value, relation, target, ok))

    def report(self) -> str:
        lines = ["", "Tessera benchmark summary (same run)", "-" * 72]
        for name, value in sorted(self.values.items()):
            lines.append(f"{name:<52} {value:>14,.3f}")
        if self.checks:
            lines.append("-" * 72)
            for label, value, relation, target, ok in self.checks:
                mark = "ok  " if ok else "MISS"
                lines.append(f"{mark} {label:<46} {value:>10,.2f} {relation} {target:,.2f}")
        return "\n".join(lines)


FIGURES = Figures()
CHECKS: list[Callable[[Figures], None]] = []  # suites register how their figures become checks
