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

from bench.figures import CHECKS, FIGURES, Figures  # noqa: E402  (needs the root on sys.path)

RESULTS = ROOT / "bench" / "results"


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter) -> None:
    """After the run: derive the ratios, print them, and save every figure as JSON."""
    if not FIGURES.values:
        return
    for check in CHECKS:
        check(FIGURES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "figures": FIGURES.values,
        "checks": [
            {"label": c[0], "value": c[1], "relation": c[2], "target": c[3], "ok": c[4]}
            for c in FIGURES.checks
        ],
    }
    name = os.environ.get("TESSERA_BENCH_NAME", "bench")
    (RESULTS / f"{name}.json").write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    for line in FIGURES.report().splitlines():
        terminalreporter.write_line(line)
