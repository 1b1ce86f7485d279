"""The ``tessera`` command.

``tessera check FILE...``      compile programmes and report every diagnostic
``tessera simulate FILE ...``  decide a JSON-lines stream of transactions in memory
``tessera serve [...]``        run the gRPC service (server/service, docs/service.md)
``tessera bench [...]``        run the benchmark suites of a source checkout (bench/,
                               docs/benchmarks.md) and write a results folder

Exit codes: 0 success, 1 errors in the input (rules or transactions), 2 usage or I/O.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from typing import TextIO

import orjson
from tessera.engine.compiler import CompiledProgram, compile_file
from tessera.engine.errors import InputError, RulesError
from tessera.engine.explain import explain
from tessera.engine.jsonio import decision_json, decode_member, decode_transaction
from tessera.engine.simulate import Simulation
from tessera.engine.values import DURATION_UNITS, duration_seconds, format_scaled

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors already
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _duration(text: str) -> int:
    """A ``--hold`` value: a duration as the rules language writes one (``7d``, ``36h``,
    ``90m``) or whole seconds."""
    digits = text[:-1] if text[-1:] in DURATION_UNITS else text
    if not digits.isdigit() or not digits.isascii():
        units = ", ".join(DURATION_UNITS)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (whole seconds, or a number and one of {units})"
        )
    return int(text) if digits == text else duration_seconds(text)


def _given(**options: object) -> dict[str, object]:
    return {name: value for name, value in options.items() if value is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tessera", description="Tessera loyalty and rewards decision engine")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser("check", help="compile rules files and report diagnostics")
    check.add_argument("files", nargs="+", metavar="FILE")
    simulate = commands.add_parser("simulate", help="decide transactions against a programme")
    simulate.add_argument("file", metavar="FILE")
    simulate.add_argument("--transactions", "-t", required=True, metavar="T.jsonl")
    simulate.add_argument("--members", "-m", metavar="M.jsonl")
    simulate.add_argument(
        "--explain", action="store_true", help="say why each rule did or did not apply"
    )
    serve = commands.add_parser("serve", help="run the gRPC service")
    serve.add_argument("--rules", metavar="FILE", help="upload and activate at start if new")
    serve.add_argument("--port", type=int, default=50051)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--redis", metavar="URL", help="default: an embedded redis-server")
    serve.add_argument("--data", default="./var", metavar="DIR", help="embedded Redis files")
    serve.add_argument("--workers", type=int, default=0, help="processes (default: cores)")
    serve.add_argument("--tokens", metavar="FILE", help='JSON {"TOKEN": {"name", "roles"}}')
    serve.add_argument("--metrics-port", type=int, help="Prometheus /metrics (+ worker index)")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds to drain on SIGTERM")
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--tls-client-ca")
    serve.add_argument("--poll-idle", action="store_true",
                       help="idle CPUs poll instead of halting while serving: lower latency "
                            "on a VM, a busy core each (a machine that serves Tessera alone; "
                            "Linux, root)")
    # Unset, these keep ServiceConfig's defaults (not imported here: `check` and `simulate`
    # need no Redis client).
    serve.add_argument("--hold", type=_duration, metavar="DURATION",
                       help="release an uncaptured authorisation after this (default 7d)")
    serve.add_argument("--budget-estimate", type=float, metavar="S",
                       help="decide on a budget figure up to S old (default 1; 0: read it)")
    serve.add_argument("--max-message-bytes", type=int, metavar="N",
                       help="refuse requests larger than this (default 1 MiB)")
    bench = commands.add_parser("bench", help="run the benchmark suites, write a report")
    _bench_arguments(bench)
    return parser


def _bench_root() -> str | None:
    """The source checkout whose bench/ the installed package comes from, if any."""
    import os

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return here if os.path.isfile(os.path.join(here, "bench", "runner.py")) else None


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    root = _bench_root()
    if root is None:
        return  # an installed copy without bench/: the command says so when run
    if root not in sys.path:
        sys.path.append(root)  # appended: the installed ``tessera`` must win over the folder
    from bench.runner import add_arguments

    add_arguments(parser)


def cmd_bench(args: argparse.Namespace) -> int:
    if _bench_root() is None:
        print("tessera bench: the benchmarks run from a source checkout (bench/ not found)",
              file=sys.stderr)
        return EXIT_USAGE
    from bench.runner import run_command

    return run_command(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            from tessera.server.service.serve import ServeOptions, serve

            return serve(
                ServeOptions(
                    rules=args.rules,
                    port=args.port,
                    host=args.host,
                    redis=args.redis,
                    data=args.data,
                    workers=args.workers,
                    tokens=args.tokens,
                    metrics_port=args.metrics_port,
                    grace=args.grace,
                    tls_cert=args.tls_cert,
                    tls_key=args.tls_key,
                    tls_client_ca=args.tls_client_ca,
                    poll_idle=args.poll_idle,
                    settings=_given(
                        hold_seconds=args.hold,
                        budget_estimate_seconds=args.budget_estimate,
                        max_message_bytes=args.max_message_bytes,
                    ),
                )
            )
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "check":
            return cmd_check(args.files, sys.stdout, sys.stderr)
        return cmd_simulate(
            args.file, args.transactions, args.members, args.explain, sys.stdout, sys.stderr
        )
    except BrokenPipeError:
        return EXIT_OK


def _compile(path: str, err: TextIO) -> CompiledProgram | int:
    try:
        return compile_file(path)
    except RulesError as exc:
        print(exc.render(), file=err)
        return EXIT_INPUT
    except OSError as exc:
        print(f"tessera: cannot read {path}: {exc.strerror or exc}", file=err)
        return EXIT_USAGE


def cmd_check(paths: list[str], out: TextIO, err: TextIO) -> int:
    status = EXIT_OK
    for path in paths:
        result = _compile(path, err)
        if isinstance(result, int):
            status = max(status, result)
            if result == EXIT_INPUT:
                print(f"{path}: failed", file=out)
            continue
        if result.diagnostics.items:
            print(result.diagnostics.render(), file=err)
        program = result.program
        warnings = len(result.diagnostics.warnings)
        print(
            f"{path}: ok — {len(program.rules)} rules, {len(program.wallets)} wallets, "
            f"{len(program.tiers)} tiers, {warnings} warnings, compiled in "
            f"{result.compile_seconds * 1000:.1f} ms",
            file=out,
        )
    return status


def _jsonl(path: str) -> Iterator[tuple[int, object | Exception]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield number, exc


def cmd_simulate(
    path: str, transactions: str, members: str | None, with_explain: bool, out: TextIO, err: TextIO
) -> int:
    compiled = _compile(path, err)
    if isinstance(compiled, int):
        return compiled
    program = compiled.program
    simulation = Simulation(compiled)
    rejected = 0
    try:
        if members:
            for number, obj in _jsonl(members):
                try:
                    if isinstance(obj, Exception):
                        raise InputError("", f"not JSON: {obj}", "invalid_json")
                    simulation.wallets.load(decode_member(obj, program))
                except InputError as exc:
                    rejected += 1
                    print(f"{members}:{number}: error[{exc.code}]: {exc}", file=err)
        totals: Counter[str] = Counter()
        by_rule: Counter[str] = Counter()
        funders: Counter[str] = Counter()
        funder_points: Counter[str] = Counter()
        count = 0
        for number, obj in _jsonl(transactions):
            try:
                if isinstance(obj, Exception):
                    raise InputError("", f"not JSON: {obj}", "invalid_json")
                txn = decode_transaction(obj, program)
            except InputError as exc:
                rejected += 1
                print(f"{transactions}:{number}: error[{exc.code}]: {exc}", file=err)
                continue
            decision, member = simulation.decide(txn)
            simulation.counters.consume(decision)
            simulation.wallets.apply(decision, txn)
            count += 1
            payload = decision_json(decision, program)
            if with_explain:
                payload["explain"] = explain(program, simulation.reference, txn, member, decision)
            out.write(orjson.dumps(payload).decode() + "\n")
            totals["discount"] += decision.discount
            totals["redeemed"] += decision.redeemed
            for applied in decision.applied:
                by_rule[applied.rule] += 1
                for effect in applied.effects:
                    if effect.type == "cashback":
                        totals["cashback"] += effect.amount
                    elif effect.type == "earn":
                        totals["points"] += effect.points
                for line in applied.funders:
                    funders[line.funder] += line.amount
                    funder_points[line.funder] += line.points
    except OSError as exc:
        print(f"tessera: {exc.filename}: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    digits = program.digits
    print(
        f"transactions: {count}, rejected: {rejected}, "
        f"discount: {format_scaled(totals['discount'], digits)}, "
        f"cashback: {format_scaled(totals['cashback'], digits)}, points: {totals['points']}, "
        f"redeemed: {format_scaled(totals['redeemed'], digits)}",
        file=err,
    )
    if by_rule:
        print(
            "rewards by rule: " + ", ".join(f"{r} {n}" for r, n in sorted(by_rule.items())),
            file=err,
        )
    if funders:
        shares = ", ".join(
            f"{f} {format_scaled(a, digits)}"
            + (f" + {funder_points[f]} points" if funder_points[f] else "")
            for f, a in sorted(funders.items())
        )
        print(f"funders' shares: {shares}", file=err)
    return EXIT_INPUT if rejected else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
