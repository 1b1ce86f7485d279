"""``make profile``: where an authorisation spends its time, written to a results folder.

Three views of the same path, each on the generated 1,000-rule programme:

* ``cprofile.txt`` / ``authorize.pstats``: cProfile of the servicer's ``Authorize`` called
  in this process on a real server's runtime (real redis-server), i.e. everything the
  server does for a call except gRPC's transport and the interceptors;
* ``stages.json``: the per-stage timers of bench/stages.py (decode, member read, match,
  budgets, walk, Redis write, encode);
* ``client.json``: a bare EVALSHA through redis-py against the same command sent raw on
  the same connection, and the one-time cost of the hold index's slot tags;
* ``pyspy.txt`` (collapsed stacks) and ``pyspy-top.txt``: py-spy sampling a
  ``tessera serve --workers 1`` process under a saturating load, transport included (when
  py-spy is installed and may attach: it needs ptrace).

``profile.md`` sums them up.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import orjson

from bench.harness import ROOT, machine_info
from bench.service_load import Requests
from bench.stages import STAGES, NoDeadline, medians_us, time_stages, wire_requests
from bench.suite_e2e import stack
from bench.workload import generate_transactions

CALLS = 1_500


def profile_servicer(out: Path, txns: list) -> list[str]:
    from tessera.server.service.servicers import AuthorizationServicer

    with stack() as s:
        servicer = AuthorizationServicer(s.service.context)
        call = NoDeadline()
        warm = Requests(txns, "prof-warm")
        for _ in range(200):
            servicer.Authorize(warm(), call)
        requests = Requests(txns, "prof").batch(CALLS)
        profiler = cProfile.Profile()
        profiler.enable()
        for request in requests:
            servicer.Authorize(request, call)
        profiler.disable()
        rt = s.service.registry.active
        assert rt is not None
        time_stages(rt, wire_requests(txns, "prof-stage-warm", 100))
        stages = medians_us(time_stages(rt, wire_requests(txns, "prof-stage", CALLS)))
    profiler.dump_stats(out / "authorize.pstats")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    total = stats.total_tt  # type: ignore[attr-defined]
    text.write(f"cProfile of {CALLS} AuthorizationServicer.Authorize calls "
               f"({total / CALLS * 1e6:.0f} µs a call under the profiler)\n\n")
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(35)
    (out / "cprofile.txt").write_text(text.getvalue())
    (out / "stages.json").write_bytes(orjson.dumps(stages, option=orjson.OPT_INDENT_2))
    total_us = sum(stages.values())
    lines = ["## Stages (median µs, timed directly)", "", "| stage | µs | share |", "|---|---|---|"]
    lines += [f"| {name} | {stages[name]:.1f} | {stages[name] / total_us:.0%} |"
              for name in STAGES]
    lines += [f"| total | {total_us:.1f} | |", ""]
    lines += ["## cProfile: most time in the function itself", "", "```"]
    lines += _top_tottime(stats, 15)
    lines += ["```", ""]
    return lines


def _top_tottime(stats: pstats.Stats, n: int) -> list[str]:
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]  # type: ignore[attr-defined]
    out = []
    for (path, line, func), (_cc, calls, tottime, cumtime, _callers) in rows:
        where = f"{Path(path).name}:{line}" if line else path
        out.append(f"{tottime / CALLS * 1e6:8.1f} µs/call self {cumtime / CALLS * 1e6:8.1f} "
                   f"µs/call cumulative  {calls / CALLS:6.1f} calls  {func} ({where})")
    return out


def client_overhead(out: Path) -> list[str]:
    """What the Redis client library adds to one command, and one-time costs on the path:
    the same ``EVALSHA`` of ``return 1`` through ``redis.Redis`` and as raw
    ``send_command``/``read_response`` on the same connection, alternately."""
    from tessera.server.redis_runtime import RedisServer
    from tessera.server.wallets import keys

    from bench.harness import interleaved

    with tempfile.TemporaryDirectory(prefix="tessera-profile-redis-") as folder, \
            RedisServer(folder) as server:
        client = server.client()
        sha = client.script_load("return 1")
        connection = client.connection_pool.get_connection()

        def raw() -> object:
            connection.send_command("EVALSHA", sha, 0)
            return connection.read_response()

        timed = interleaved({"client": lambda: client.evalsha(sha, 0), "raw": raw}, rounds=15)
        client.connection_pool.release(connection)
        client.close()
    started = time.perf_counter()
    keys.slot_tags.__wrapped__()  # the uncached body: what the first caller in a process pays
    slot_tags_ms = (time.perf_counter() - started) * 1e3
    figures = {
        "evalsha via redis.Redis µs": timed["client"] * 1e6,
        "evalsha raw on the same connection µs": timed["raw"] * 1e6,
        "client library overhead per command µs": (timed["client"] - timed["raw"]) * 1e6,
        "keys.slot_tags() first call ms": slot_tags_ms,
    }
    (out / "client.json").write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    lines = ["## Redis client path and one-time costs", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v:,.1f} |" for k, v in figures.items()]
    lines += ["", "Each authorisation makes two Redis commands (the member read and the write; a "
              "third when a matched rule has a budget), each paying the client overhead; "
              "`slot_tags` runs on the first authorisation of each process.", ""]
    return lines


def profile_pyspy(out: Path, txns: list, seconds: float = 6.0) -> list[str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return ["## py-spy", "", "py-spy is not installed (`pip install -e '.[bench]'`).", ""]
    from bench.suite_multicore import saturate, serving

    with tempfile.TemporaryDirectory(prefix="tessera-profile-") as folder, \
            serving(folder, 1) as (address, proc, _pids):
        load = threading.Thread(target=saturate, args=(address, 1, seconds + 2, txns))
        load.start()
        result = subprocess.run(
            [spy, "record", "--pid", str(proc.pid), "--duration", str(int(seconds)),
             "--rate", "200", "--format", "raw", "--nonblocking", "-o",
             str(out / "pyspy.txt")],
            capture_output=True, text=True, timeout=seconds + 60, check=False)
        load.join()
    if result.returncode != 0 or not (out / "pyspy.txt").exists():
        return ["## py-spy", "", "py-spy could not sample the server:", "",
                "```", (result.stderr or result.stdout).strip()[-2000:], "```", ""]
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in (out / "pyspy.txt").read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack_text.split(";")
        samples += n
        self_counts[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    top = ["py-spy of `tessera serve --workers 1` under a saturating Authorize load "
           f"({samples} samples, all threads, idle threads included)", "", "self:"]
    top += [f"{n / samples:6.1%}  {frame}" for frame, n in self_counts.most_common(25)]
    top += ["", "inclusive:"]
    top += [f"{n / samples:6.1%}  {frame}" for frame, n in inclusive.most_common(40)]
    (out / "pyspy-top.txt").write_text("\n".join(top) + "\n")
    busy = [(f, n) for f, n in self_counts.most_common() if "wait" not in f.lower()][:12]
    lines = ["## py-spy: server process under load (self samples, waits left out)", "", "```"]
    lines += [f"{n / samples:6.1%}  {frame}" for frame, n in busy]
    lines += ["```", "", "Full lists: `pyspy-top.txt`; collapsed stacks: `pyspy.txt`.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-profile", description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "profile"))
    parser.add_argument("--no-pyspy", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    txns = generate_transactions(2_000)
    meta = machine_info()
    lines = ["# Where an authorisation spends its time", "",
             f"- date {meta['date']}, commit `{meta.get('git_commit')}`, {meta['cores']} cores, "
             f"load average {meta['load_average']}", ""]
    lines += profile_servicer(out, txns)
    lines += client_overhead(out)
    if not args.no_pyspy:
        lines += profile_pyspy(out, txns)
    (out / "profile.md").write_text("\n".join(lines) + "\n")
    print(f"profile written to {out}/profile.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
