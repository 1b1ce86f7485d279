"""``tessera bench``: run the suites, then write the results folder (bench/report.py).

Suites run one after another in this process (multi-core starts its own servers); one that
fails is reported in the results and the run goes on, and the command exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tessera.server.idle import IdlePollUnavailable, poll_idle

from bench.harness import ROOT, Results, RunOptions, machine_info

Suite = Callable[[Results, RunOptions], None]


def _suites() -> dict[str, Suite]:
    # Imported on use: a run of one suite does not pay for (or need) the others' imports.
    def lazy(module: str, name: str = "run") -> Suite:
        def run(results: Results, options: RunOptions) -> None:
            mod = __import__(f"bench.{module}", fromlist=[name])
            getattr(mod, name)(results, options)

        return run

    return {
        "matcher": lazy("suite_engine", "run_matcher"),
        "decision": lazy("suite_engine", "run_decision"),
        "peers": lazy("suite_peers"),
        "wallets": lazy("suite_wallets"),
        "e2e": lazy("suite_e2e"),
        "breakdown": lazy("suite_breakdown"),
        "activation": lazy("suite_activation"),
        "multicore": lazy("suite_multicore"),
    }


SUITES = tuple(_suites())
QUICK_SIZES = (100, 1_000, 10_000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tessera bench", description=__doc__)
    add_arguments(parser)
    return parser.parse_args(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR",
                        help="results folder (default bench/results/<UTC date-time>)")
    parser.add_argument("--suite", action="append", choices=SUITES, metavar="NAME",
                        help=f"run only these suites (repeatable): {', '.join(SUITES)}")
    parser.add_argument("--sizes", metavar="N,N,...",
                        help="programme sizes in rules (default 100,1000,10000,100000; "
                             "quick: 100,1000,10000)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds, shorter load steps, no 100,000-rule programme")
    parser.add_argument("--workers", metavar="N,N,...",
                        help="multi-core: server process counts (default 1..cores)")
    parser.add_argument("--poll-idle", action="store_true",
                        help="keep idle CPUs polling instead of halting for the run, so "
                             "that floors carry no wake-up of a sleeping CPU (root)")


def options_from(args: argparse.Namespace) -> tuple[RunOptions, list[str]]:
    if args.sizes:
        sizes = tuple(sorted({int(s) for s in args.sizes.split(",") if s.strip()}))
    else:
        sizes = QUICK_SIZES if args.quick else (100, 1_000, 10_000, 100_000)
    if not sizes or min(sizes) <= 0:
        raise ValueError("--sizes needs positive rule counts")
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / stamp
    workers = tuple(int(w) for w in args.workers.split(",")) if args.workers else ()
    options = RunOptions(out=out, sizes=sizes, quick=args.quick,
                         seconds=1.0 if args.quick else 2.0, workers=workers,
                         poll_idle=args.poll_idle)
    return options, list(args.suite or SUITES)


def run(options: RunOptions, suites: list[str], log=print) -> Results:
    results = Results(meta=machine_info())
    results.meta.update(
        {"suites": suites, "sizes": list(options.sizes), "quick": options.quick})
    if options.poll_idle:
        results.meta["idle"] += "; polling for this run (--poll-idle)"
    table = _suites()
    started = time.perf_counter()
    with poll_idle() if options.poll_idle else contextlib.nullcontext():
        for name in suites:
            log(f"tessera bench: {name} ...")
            results.suite = name
            t0 = time.perf_counter()
            try:
                table[name](results, options)
            except Exception as exc:  # one suite failing must not lose the others' figures
                traceback.print_exc()
                results.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            finally:
                gc.collect()
            results.record(f"suite {name} seconds", time.perf_counter() - t0, "s")
            log(f"tessera bench: {name} done in {time.perf_counter() - t0:.1f} s")
    results.suite = ""
    results.meta["seconds"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    """The command: run, write, summarise.  Exit 0, 1 if a suite failed, 2 on bad usage."""
    try:
        options, suites = options_from(args)
    except ValueError as exc:
        print(f"tessera bench: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        results = run(options, suites, log=lambda m: print(m, file=sys.stderr, flush=True))
    except IdlePollUnavailable as exc:
        print(f"tessera bench: {exc}", file=sys.stderr)
        return 2
    from bench.report import write

    written = write(results, options.out)
    for check in results.checks:
        mark = "ok  " if check.ok else "MISS"
        print(f"{mark} {check.label:<58} {check.value:>12,.2f} {check.relation} "
              f"{check.target:,.2f}")
    for failure in results.failures:
        print(f"FAILED {failure}")
    print(f"tessera bench: report {written['markdown']}, figures {written['json']}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
