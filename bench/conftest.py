"""Shared fixtures of the benchmark suites and the summary of ratios printed at the end.

Absolute times drift on shared machines, so every suite records its figures here and the
summary reports them beside the baseline measured in the same run (the reference
evaluator, the smaller programme), as ratios.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

RESULTS = ROOT / "bench" / "results"
CHECKS: list = []  # suites register functions that turn figures into target checks


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


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest):
    collected = Figures()
    yield collected
    for check in CHECKS:
        check(collected)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "figures": collected.values,
        "checks": [
            {"label": c[0], "value": c[1], "relation": c[2], "target": c[3], "ok": c[4]}
            for c in collected.checks
        ],
    }
    (RESULTS / f"{os.environ.get('TESSERA_BENCH_NAME', 'bench')}.json").write_bytes(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2)
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    text = collected.report()
    if reporter is not None:
        reporter.write_line(text)
    else:  # pragma: no cover
        print(text)
