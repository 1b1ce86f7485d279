"""What one ``tessera bench`` run records, and the timing primitives its suites share.

A run keeps three kinds of result, all saved as JSON and drawn by :mod:`bench.report`:

* *figures*: one number each, by name, with its unit and the suite that measured it;
* *charts*: series of points (latency against offered load, cost against rules, the stages
  of one authorisation), each line labelled;
* *checks*: a figure (usually a ratio within the run) against a target.

Timings on a shared machine drift by tens of percent between runs, so suites compare
things measured in the same run, interleaved where they can be, and report ratios.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.server.idle import idle_state

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Chart:
    """One chart: lines of (x, y) points; ``kind`` "line" (numeric x) or "bar" (named x)."""

    title: str
    x_label: str
    y_label: str
    kind: str = "line"
    log_x: bool = False
    log_y: bool = False
    lines: dict[str, list[tuple[Any, float]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "x_label": self.x_label, "y_label": self.y_label,
            "kind": self.kind, "log_x": self.log_x, "log_y": self.log_y,
            "lines": {k: [list(p) for p in v] for k, v in self.lines.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chart:
        lines = {k: [tuple(p) for p in v] for k, v in data.get("lines", {}).items()}
        return cls(data["title"], data["x_label"], data["y_label"], data.get("kind", "line"),
                   bool(data.get("log_x")), bool(data.get("log_y")), lines)


@dataclass
class Check:
    label: str
    value: float
    relation: str  # "<=" or ">="
    target: float
    suite: str = ""

    @property
    def ok(self) -> bool:
        return self.value <= self.target if self.relation == "<=" else self.value >= self.target


@dataclass
class Results:
    """Everything a run measured; suites add to it, :mod:`bench.report` writes it."""

    meta: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    charts: dict[str, Chart] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # a suite that could not measure
    suite: str = ""  # the suite recording now

    def record(self, name: str, value: float, unit: str = "", note: str = "") -> float:
        self.figures[name] = {"value": float(value), "unit": unit, "suite": self.suite}
        if note:
            self.figures[name]["note"] = note
        return float(value)

    def value(self, name: str) -> float | None:
        entry = self.figures.get(name)
        return None if entry is None else entry["value"]

    def chart(self, key: str, title: str, x_label: str, y_label: str, **options: Any) -> Chart:
        if key not in self.charts:
            self.charts[key] = Chart(title, x_label, y_label, **options)
        return self.charts[key]

    def point(self, key: str, line: str, x: Any, y: float) -> None:
        self.charts[key].lines.setdefault(line, []).append((x, float(y)))

    def check(self, label: str, value: float, relation: str, target: float) -> Check:
        check = Check(label, float(value), relation, float(target), self.suite)
        self.checks.append(check)
        return check

    def as_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "figures": self.figures,
            "charts": {k: c.as_dict() for k, c in self.charts.items()},
            "checks": [
                {"label": c.label, "value": c.value, "relation": c.relation,
                 "target": c.target, "ok": c.ok, "suite": c.suite}
                for c in self.checks
            ],
            "failures": self.failures,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        out = cls(dict(data.get("meta", {})), dict(data.get("figures", {})))
        out.charts = {k: Chart.from_dict(v) for k, v in data.get("charts", {}).items()}
        out.checks = [
            Check(c["label"], c["value"], c["relation"], c["target"], c.get("suite", ""))
            for c in data.get("checks", [])
        ]
        out.failures = list(data.get("failures", []))
        return out


@dataclass
class RunOptions:
    """What the command line asked for."""

    out: Path
    sizes: tuple[int, ...] = (100, 1_000, 10_000, 100_000)
    quick: bool = False
    seconds: float = 2.0  # each open-loop step
    workers: tuple[int, ...] = ()  # multi-core: server processes to try (default 1..cores)
    poll_idle: bool = False  # idle CPUs poll instead of halting for the run (server/idle.py)


# ---- machine and provenance ---------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the figures were measured on, and from which commit."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "memory_gb": _memory_gb(),
        "idle": idle_state(),
    }
    info.update(_git())
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1e6, 1)
    except OSError:
        pass
    return None


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
        return {"git_commit": commit or None, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


# ---- timing -------------------------------------------------------------------------------

Clock = Callable[[], float]


def calibrate(fn: Callable[[], object], target: float = 0.02) -> int:
    """How many calls of ``fn`` take about ``target`` seconds (at least one)."""
    n = 1
    while True:
        started = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - started
        if elapsed >= target or n >= 1 << 20:
            return max(1, int(n * target / max(elapsed, 1e-9)))
        n *= 4


def per_call(fn: Callable[[], object], *, rounds: int = 15, batch: int | None = None) -> float:
    """Median seconds per call of ``fn`` over ``rounds`` batches of calls."""
    batch = batch or calibrate(fn)
    samples = []
    clock = time.perf_counter
    for _ in range(rounds):
        started = clock()
        for _ in range(batch):
            fn()
        samples.append((clock() - started) / batch)
    return statistics.median(samples)


def interleaved(
    fns: Mapping[str, Callable[[], object]], *, rounds: int = 15, batch: int | None = None
) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternating batches so that
    all of them see the same machine (a burst of load hits every one alike)."""
    batches = {name: batch or calibrate(fn) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    clock = time.perf_counter
    for _ in range(rounds):
        for name, fn in fns.items():
            n = batches[name]
            started = clock()
            for _ in range(n):
                fn()
            samples[name].append((clock() - started) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


def each_call(fn: Callable[[], object], n: int) -> list[float]:
    """Seconds taken by each of ``n`` calls (for percentiles of slow operations)."""
    out = []
    clock = time.perf_counter
    for _ in range(n):
        started = clock()
        fn()
        out.append(clock() - started)
    return out


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank: no interpolation between samples."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered))))]
