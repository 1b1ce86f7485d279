"""Instructions per call, counted by callgrind: figures that repeat exactly on a shared machine.

Wall time on a loaded two-core machine swings by a factor of two between runs; the number
of instructions a call executes does not.  ``python -m bench.instructions KIND [N]`` runs
one workload under ``valgrind --tool=callgrind``, collecting only inside the measured
calls, and prints instructions per call:

* ``match N``: ``Matcher.match`` over the benchmark's 2,000 transactions at N rules (the
  warm-up goes through ``encode`` and ``match_encoded``, which are not counted);
* ``authorize``: the client's side of ``WalletStore.authorize`` of the wallet suite's
  decision (three wallet changes, a cap, a budget) against a private redis-server;
* ``bare``: the client's side of the bare ``EVALSHA`` floor, sent the same way;
* ``answer``: the Authorize answer's bytes of each of those authorisations' results, as
  the servicer makes them (``wire.authorize_response``, the compiled encoder);
  ``answer-protobuf``: the same bytes built with protobuf, as before the encoder;
* ``stages``: one authorisation as the servicer does it (bench/stages.py: request bytes to
  answer bytes, a real first write each) on the service suite's 1,000-rule programme, over
  200 requests after a warm-up of 100 (so half of the members already hold a purchase);
* ``servicer-authorize``, ``servicer-quote``: ``AuthorizationServicer.Authorize`` and
  ``Quote`` called directly with a request's bytes (no gRPC), the same programme and
  requests: the stages plus what the servicer does around them (deadlines, metrics).

Python functions are invisible to callgrind's toggles, so the wallet workloads run their
calls inside ``functools.reduce`` (a C function) and collect inside that.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from bench.test_bench_engine import TRANSACTIONS

CALLS = {"match": TRANSACTIONS, "authorize": 300, "bare": 300, "answer": 300,
         "answer-protobuf": 300, "stages": 200, "servicer-authorize": 200,
         "servicer-quote": 200}
TOGGLES = {
    "match": "__pyx_pw_6_match_7Matcher_5match",
    "authorize": "functools_reduce",
    "bare": "functools_reduce",
    "answer": "functools_reduce",
    "answer-protobuf": "functools_reduce",
    "stages": "functools_reduce",
    "servicer-authorize": "functools_reduce",
    "servicer-quote": "functools_reduce",
}


def run_match(rules: int) -> int:
    """Calls of ``Matcher.match`` at ``rules`` rules, over the matcher suite's programme
    and transactions; the number made."""
    from bench.test_bench_engine import compiled, workload

    pairs = workload()
    matcher = compiled(rules).matcher
    for txn, member in pairs:  # warm-up, outside the toggle
        matcher.match_encoded(matcher.encode(txn, member))
    match = matcher.match
    for txn, member in pairs:
        match(txn, member)
    return len(pairs)


def run_wallets(kind: str, calls: int | None = None) -> int:
    """Authorisations (or bare sends) of the wallet suite's decision; the number made."""
    from tessera.engine.compiler import compile_source
    from tessera.server.redis_runtime import RedisServer
    from tessera.server.wallets import WalletStore

    from bench.test_bench_wallets import PROGRAMME, Prepared, bare_evalsha

    count = calls or CALLS[kind]
    compiled = compile_source(PROGRAMME, "bench.rules")
    with tempfile.TemporaryDirectory(prefix="tessera-instr-") as folder, RedisServer(
        folder
    ) as server:
        client = server.client()
        store = WalletStore(client, compiled)
        bare = bare_evalsha(client)
        items = Prepared(store, compiled, "i", count + 50).items
        for item in items[:50]:  # warm-up, outside the toggle
            store.authorize(*item)
            bare()
        step: Callable[[object, tuple], object]
        if kind == "bare":
            step = lambda _, item: bare()  # noqa: E731
        elif kind.startswith("answer"):
            step = _answer_step(kind, compiled.program, [store.authorize(*i) for i in items])
        else:
            step = lambda _, item: store.authorize(*item)  # noqa: E731
        functools.reduce(step, items[50:], None)
        client.close()
    return count


def _answer_step(kind: str, program: Any, results: list[dict]) -> Callable[[object, tuple], object]:
    """A reduce step answering the result of each item (the answers warmed up first)."""
    from tessera.server.service import wire

    encode = wire.authorize_response if kind == "answer" else wire.build_authorize_response
    did = "0123456789abcdef0123"  # a decision id's length; worked out before either path
    for result in results[:50]:
        encode(result, program, did)
    answers = iter(results[50:])
    return lambda _, item: encode(next(answers), program, did)


def count(kind: str, rules: int = 1_000) -> float:
    """Instructions per call of ``kind``, run under callgrind in a child process."""
    with tempfile.TemporaryDirectory(prefix="tessera-callgrind-") as folder:
        out = os.path.join(folder, "callgrind.out")
        done = subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--toggle-collect={TOGGLES[kind]}",
                f"--callgrind-out-file={out}",
                sys.executable, "-m", "bench.instructions", "--run", kind, str(rules),
            ],
            env={**os.environ, "PYTHONHASHSEED": "0"},
            capture_output=True, text=True, check=True,
        )
    found = re.search(r"Collected\s*:\s*([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind gave no count:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")) / CALLS[kind]


def run_stages(calls: int | None = None) -> int:
    """Authorisations of the service suite's 1,000-rule programme, stage by stage as
    bench/stages.py times them (decode to encode, a real first write each); the number
    made."""
    from bench.stages import time_stages, wire_requests
    from bench.suite_e2e import stack
    from bench.workload import generate_transactions

    count = calls or CALLS["stages"]
    txns = generate_transactions(2_000)
    with stack() as s:
        rt = s.service.registry.active
        assert rt is not None, "no active programme"
        time_stages(rt, wire_requests(txns, "warm", 100))  # warm-up, outside the toggle
        wires = wire_requests(txns, "counted", count)
        functools.reduce(lambda _, wire: time_stages(rt, [wire]), wires, None)
    return count


def run_servicer(method: str, calls: int | None = None) -> int:
    """Calls of the servicer's ``Authorize`` or ``Quote`` with a request's bytes, after a
    warm-up of 100 of each (outside the toggle); the number made."""
    from tessera.server.service.servicers import AuthorizationServicer

    from bench.service_load import Requests
    from bench.stages import NoDeadline
    from bench.suite_e2e import stack
    from bench.workload import generate_transactions

    count = calls or CALLS[f"servicer-{method}"]
    txns = generate_transactions(2_000)
    with stack() as s:
        servicer = AuthorizationServicer(s.service.context)
        call = NoDeadline()
        warm = Requests(txns, "warm")
        for _ in range(100):
            servicer.Authorize(warm().SerializeToString(), call)
            servicer.Quote(warm().SerializeToString(), call)
        wires = [r.SerializeToString() for r in Requests(txns, "counted").batch(count)]
        send = servicer.Authorize if method == "authorize" else servicer.Quote
        functools.reduce(lambda _, wire: send(wire, call), wires, None)
    return count


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--run"]:  # the child, under valgrind
        kind, rules = args[1], int(args[2])
        if kind == "match":
            run_match(rules)
        elif kind == "stages":
            run_stages()
        elif kind.startswith("servicer-"):
            run_servicer(kind.removeprefix("servicer-"))
        else:
            run_wallets(kind)
        return 0
    if not args or args[0] not in CALLS:
        print("usage: python -m bench.instructions match N | authorize | bare | answer"
              " | answer-protobuf | stages | servicer-authorize | servicer-quote",
              file=sys.stderr)
        return 2
    rules = int(args[1]) if len(args) > 1 else 1_000
    print(f"{args[0]}: {count(args[0], rules):,.0f} instructions per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
