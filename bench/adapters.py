"""Run the pytest-benchmark suites' own test functions inside ``tessera bench``.

``bench/test_bench_*.py`` measure through pytest-benchmark's ``benchmark`` fixture and a
shared ``figures`` object.  Rather than copy their measurements, the runner calls those
test functions with the two stand-ins below: :class:`Benchmark` times what the test hands
it, and :class:`FiguresBridge` passes every figure and check on to the run's
:class:`~bench.harness.Results`.  The tests' own assertions still run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from bench.harness import Results, calibrate


class Benchmark:
    """Enough of pytest-benchmark's fixture for the suites: ``benchmark(fn)`` and
    ``benchmark.pedantic(...)``, leaving the median in ``stats.stats.median`` (seconds)."""

    def __init__(self, rounds: int = 15, scale: float = 1.0) -> None:
        self.rounds = rounds
        self.scale = scale  # quick runs take a fraction of the rounds a test asks for
        self.stats = SimpleNamespace(stats=SimpleNamespace(median=float("nan")))

    def _set(self, samples: list[float]) -> None:
        self.stats = SimpleNamespace(stats=SimpleNamespace(median=statistics.median(samples)))

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        call = lambda: fn(*args, **kwargs)  # noqa: E731
        batch = calibrate(call)
        samples = []
        for _ in range(self.rounds):
            started = time.perf_counter()
            for _ in range(batch):
                call()
            samples.append((time.perf_counter() - started) / batch)
        self._set(samples)
        return call()

    def pedantic(
        self, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None,
        rounds: int = 1, iterations: int = 1, warmup_rounds: int = 0,
    ) -> Any:
        kwargs = kwargs or {}
        rounds = max(1, int(rounds * self.scale)) if rounds > 1 else rounds
        result = None
        for _ in range(warmup_rounds):
            fn(*args, **kwargs)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(iterations):
                result = fn(*args, **kwargs)
            samples.append((time.perf_counter() - started) / iterations)
        self._set(samples)
        return result


class FiguresBridge:
    """The suites' ``Figures`` interface (``values``, ``record``, ``check``) over Results."""

    def __init__(self, results: Results, unit: Callable[[str], str] | None = None) -> None:
        self.results = results
        self.values: dict[str, float] = {}
        self.unit = unit or guess_unit

    def record(self, name: str, value: float) -> None:
        self.values[name] = float(value)
        self.results.record(name.strip(), value, self.unit(name))

    def check(self, label: str, value: float, relation: str, target: float) -> None:
        self.results.check(label, value, relation, target)


def guess_unit(name: str) -> str:
    """The unit a suite's figure name carries (``match µs/txn ...``, ``... ms``)."""
    if name.rstrip().endswith(("errors", "answers (of sample)")):
        return "count"
    for unit in ("µs/txn", "µs/call", "txn/s", "ops/s", "answered /s", "µs", "ms", "MB"):
        if unit in name:
            return unit.replace("answered ", "")
    if name.rstrip().endswith(" s") or name.startswith("compile s"):
        return "s"
    if name.endswith("(x)") or "/" in name:
        return "x"
    return ""
