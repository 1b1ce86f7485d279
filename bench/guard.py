"""``make bench-guard``: a short run of four ratios that must not regress, against the
committed thresholds of bench/guard.toml.

* matcher: the reference evaluator's time per transaction over the compiled matcher's, at
  1,000 rules (a slower matcher lowers it);
* wallet store: authorise p50 over the bare EVALSHA p50, measured call by call alternately;
* end to end: Authorize p50 over the empty call's p50 on one server, in alternating blocks;
* tail: Authorize p99 over the empty call's p99 at 100 calls/s, open loop, in alternating
  one-second windows so both see the same moments of the machine.

Every ratio compares two things measured side by side, so a busy machine moves both.  A
ratio past its threshold is measured again, and the guard fails only if every attempt
misses; it prints each figure and exits 1 on a regression, 2 if it could not measure.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Results, interleaved, machine_info, percentile

GUARD_FILE = ROOT / "bench" / "guard.toml"
MEASURES = ("matcher_speedup", "authorize_vs_evalsha", "e2e_p50_vs_empty", "e2e_p99_vs_empty")
"""The measurements :func:`run` knows, by the names bench/guard.toml gives thresholds."""


@dataclass(frozen=True)
class Threshold:
    name: str
    label: str
    relation: str  # "<=" or ">="
    threshold: float

    def holds(self, value: float) -> bool:
        if value != value:  # NaN: not measured
            return False
        return value <= self.threshold if self.relation == "<=" else value >= self.threshold


@dataclass
class Outcome:
    threshold: Threshold
    values: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and any(self.threshold.holds(v) for v in self.values)


def load(path: Path = GUARD_FILE) -> tuple[list[Threshold], int]:
    """The thresholds and the number of attempts of a guard file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return parse(data)


def parse(data: Mapping[str, Any]) -> tuple[list[Threshold], int]:
    attempts = int(data.get("attempts", 3))
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    out = []
    for name, spec in data.get("checks", {}).items():
        relation = spec.get("relation")
        if relation not in ("<=", ">="):
            raise ValueError(f"check {name}: relation must be <= or >=, not {relation!r}")
        out.append(Threshold(name, str(spec.get("label", name)), relation,
                             float(spec["threshold"])))
    if not out:
        raise ValueError("the guard file has no checks")
    return out, attempts


def evaluate(
    thresholds: list[Threshold], measures: Mapping[str, Callable[[], float]], attempts: int,
    log: Callable[[str], None] = lambda _m: None,
) -> list[Outcome]:
    """Measure each check, again while it misses, at most ``attempts`` times."""
    outcomes = []
    for threshold in thresholds:
        outcome = Outcome(threshold)
        measure = measures.get(threshold.name)
        if measure is None:
            outcome.error = "no measurement of this name"
        else:
            for attempt in range(attempts):
                try:
                    value = float(measure())
                except Exception as exc:  # report it; a guard that cannot measure says so
                    outcome.error = f"{type(exc).__name__}: {exc}"
                    break
                outcome.values.append(value)
                log(f"  {threshold.label}: {value:,.2f} (attempt {attempt + 1}, "
                    f"threshold {threshold.relation} {threshold.threshold:,.2f})")
                if threshold.holds(value):
                    break
        outcomes.append(outcome)
    return outcomes


def exit_code(outcomes: list[Outcome]) -> int:
    """0 all hold, 1 a ratio regressed on every attempt, 2 a check could not be measured."""
    if any(o.error for o in outcomes):
        return 2
    return 0 if all(o.ok for o in outcomes) else 1


def summary(outcomes: list[Outcome]) -> str:
    lines = ["", "Tessera bench guard (ratios within this run)", "-" * 78]
    for o in outcomes:
        t = o.threshold
        shown = ", ".join(f"{v:,.2f}" for v in o.values) or "-"
        mark = "PASS" if o.ok else ("ERROR" if o.error else "FAIL")
        lines.append(f"{mark:<5} {t.label:<52} {shown:>10}  {t.relation} {t.threshold:,.2f}")
        if o.error:
            lines.append(f"      {o.error}")
    return "\n".join(lines)


# ---- the measurements ---------------------------------------------------------------------


def matcher_speedup() -> float:
    from tessera.engine.reference import Reference

    from bench import test_bench_engine as engine

    compiled = engine.compiled(1_000)
    reference = Reference(compiled.program)
    pairs = engine.workload()[:400]
    fast, slow = itertools.cycle(pairs), itertools.cycle(pairs)

    def one_compiled():
        t, m = next(fast)
        return compiled.match(t, m)

    def one_reference():
        t, m = next(slow)
        return reference.match(t, m)

    timed = interleaved({"compiled": one_compiled, "reference": one_reference}, rounds=7,
                        batch=None)
    return timed["reference"] / timed["compiled"]


class _Wallets:
    """A private redis-server and the wallet suite's prepared decisions."""

    def __init__(self) -> None:
        from tessera.engine.compiler import compile_source
        from tessera.server.redis_runtime import RedisServer

        from bench import test_bench_wallets as wallets

        self.folder = tempfile.TemporaryDirectory(prefix="tessera-guard-redis-")
        self.server = RedisServer(self.folder.name).start()
        self.client = self.server.client()
        self.compiled = compile_source(wallets.PROGRAMME, "bench.rules")
        self.wallets = wallets
        self.round = 0

    def ratio(self) -> float:
        from tessera.server.wallets import WalletStore

        store = WalletStore(self.client, self.compiled)
        bare = self.wallets.bare_evalsha(self.client)
        bare()
        self.round += 1
        items = self.wallets.Prepared(store, self.compiled, f"g{self.round}-", 1_100).items
        for txn, decision, snapshot in items[:100]:
            store.authorize(txn, decision, snapshot)
        floor, full, _ = self.wallets.alternate_with_floor(store, bare, items[100:])
        return percentile(full, 0.5) / percentile(floor, 0.5)

    def close(self) -> None:
        self.client.close()
        self.server.stop()
        self.folder.cleanup()


def e2e_p50(stack, txns) -> float:
    from bench import test_bench_service as svc
    from bench.service_load import Requests, closed_loop, percentiles
    from tessera.v1 import authorization_pb2 as A

    stub, empty = stack.auth, A.PingRequest()
    requests = Requests(txns, f"guard-p50-{time.time_ns()}")
    ping = lambda: stub.Ping(empty, metadata=svc.METADATA)  # noqa: E731
    authorize = lambda: stub.Authorize(requests(), metadata=svc.METADATA)  # noqa: E731
    for _ in range(100):
        ping()
        authorize()
    pings, auths = [], []
    for _ in range(6):  # alternating blocks: both see the same stretch of the machine
        pings.append(closed_loop(ping, 150).hist)
        auths.append(closed_loop(authorize, 150).hist)
    p = _merged(pings)
    a = _merged(auths)
    return percentiles(a)["p50"] / percentiles(p)["p50"]


def e2e_p99(stack, txns, rate: int = 100, windows: int = 12, seconds: float = 0.6) -> float:
    from bench import test_bench_service as svc
    from bench.service_load import Requests, open_loop, percentiles
    from tessera.v1 import authorization_pb2 as A

    stub, empty = stack.auth, A.PingRequest()
    requests = Requests(txns, f"guard-p99-{time.time_ns()}")
    ping = lambda: stub.Ping(empty, metadata=svc.METADATA)  # noqa: E731
    authorize = lambda: stub.Authorize(requests(), metadata=svc.METADATA)  # noqa: E731
    pings, auths = [], []
    for _ in range(windows):
        pings.append(open_loop(ping, rate, seconds))
        auths.append(open_loop(authorize, rate, seconds))
    errors = sum(r.errors for r in pings + auths)
    if errors:
        raise RuntimeError(f"{errors} calls failed")
    p = _merged([r.hist for r in pings])
    a = _merged([r.hist for r in auths])
    return percentiles(a)["p99"] / percentiles(p)["p99"]


def _merged(hists):
    from bench.service_load import histogram

    out = histogram()
    for h in hists:
        out.add(h)
    return out


def run(out: Path | None, log: Callable[[str], None], path: Path = GUARD_FILE) -> int:
    import gc

    from bench.suite_e2e import stack
    from bench.workload import generate_transactions

    thresholds, attempts = load(path)
    started = time.perf_counter()
    wallets = None
    with stack() as s:
        txns = generate_transactions(2_000)
        wallets = _Wallets()
        try:
            measures = {
                "matcher_speedup": matcher_speedup,
                "authorize_vs_evalsha": wallets.ratio,
                "e2e_p50_vs_empty": lambda: e2e_p50(s, txns),
                "e2e_p99_vs_empty": lambda: e2e_p99(s, txns),
            }
            assert tuple(measures) == MEASURES
            gc.collect()
            outcomes = evaluate(thresholds, measures, attempts, log)
        finally:
            wallets.close()
    elapsed = time.perf_counter() - started
    log(summary(outcomes))
    log(f"guard took {elapsed:.0f} s")
    passed = sum(o.ok for o in outcomes)
    log(f"guard: {passed} passed, {len(outcomes) - passed} failed")
    if out is not None:
        from bench.report import write

        results = Results(meta=machine_info())
        results.meta.update({"suites": ["guard"], "seconds": elapsed})
        results.suite = "guard"
        for o in outcomes:
            for i, v in enumerate(o.values):
                results.record(f"{o.threshold.label} (attempt {i + 1})", v, "x")
            results.check(o.threshold.label, o.values[-1] if o.values else float("nan"),
                          o.threshold.relation, o.threshold.threshold)
            if o.error:
                results.failures.append(f"{o.threshold.name}: {o.error}")
        write(results, out)
        log(f"guard figures in {out}")
    return exit_code(outcomes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-guard", description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "guard"),
                        help="where to write the guard's figures (default bench/results/guard)")
    parser.add_argument("--thresholds", default=str(GUARD_FILE), metavar="FILE",
                        help="the thresholds (default bench/guard.toml)")
    args = parser.parse_args(argv)
    return run(Path(args.out), lambda m: print(m, flush=True), Path(args.thresholds))


if __name__ == "__main__":
    sys.exit(main())
