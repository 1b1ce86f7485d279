"""The wallet store's benchmarks: a full authorise against the floor of a bare EVALSHA.

Measured against a private redis-server (the embedded default: unix socket, AOF with
``appendfsync everysec``), or the server of ``TESSERA_BENCH_REDIS_URL``.  In one run:

* sequential p50/p99 of a bare ``EVALSHA`` (a script that returns 1: the round trip every
  operation pays) and of ``WalletStore.authorize`` of a decision with three wallet changes
  (a redemption, a cashback, points), a per-member cap and a campaign budget, measured
  alternately call by call so that both see the same machine;
* throughput of both with concurrency (threads, each with its own connection; three
  rounds of each, alternately, the median reported) and with pipelining
  (``authorize_many``);
* the server's own time per call of each (``INFO commandstats``, ``usec_per_call``);
* the member read (and its time in Redis) and the authorise of members with a
  past (a purchase a day for a year; 1,000 purchases in a day), as ratios to a new
  member's: how both grow with what a member holds (no target; docs/wallets.md, "Long
  histories").

Floor and subject always go through the same client, the same kind of connection and the
same concurrency: the bare call is a registered script sent the way the store sends its
own (:func:`~tessera.server.wallets.direct.script_sender`, or ``EVALSHA`` in the same kind
of pipeline).

Targets are ratios: authorise p50 <= 2x the bare floor; with concurrency, authorise
throughput >= 0.5x the bare throughput.  ``make bench`` runs them.
"""

from __future__ import annotations

import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

import pytest
import redis
from tessera.engine.compiler import compile_source
from tessera.engine.model import MemberState, Redeem, Transaction
from tessera.engine.walk import Walker
from tessera.server.redis_runtime import RedisServer
from tessera.server.wallets import WalletStore
from tessera.server.wallets.direct import script_sender

from bench.figures import CHECKS

NOW = 1_796_459_400
PROGRAMME = """program bench
  currency EUR
  timezone Europe/Belgrade
  points_value 100 points = 1.00
wallet points points expire 365d
wallet cashback money
wallet giftcard money
rule shop
  when amount >= 1.00
  then earn 1 points per 1.00 into points
   and cashback 1% into cashback
  limit 1000000 per member per day
  budget 100000000 uses
"""
SEQUENTIAL = 2_000
THREADS = 8
PER_THREAD = 250
ROUNDS = 3  # of each, alternately; the median of each is reported
PIPELINE = 50
# Members' pasts before the timed purchases: (label, purchases, seconds between them).
HISTORY = (
    ("new member", 0, 60),
    ("a purchase a day for a year", 365, 86_400),
    ("1,000 purchases in a day", 1_000, 60),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url = os.environ.get("TESSERA_BENCH_REDIS_URL")
    if url:
        yield lambda: redis.Redis.from_url(url, protocol=2)
        return
    with RedisServer(str(tmp_path_factory.mktemp("bench-redis"))) as running:
        yield running.client


@pytest.fixture(scope="module")
def compiled():
    return compile_source(PROGRAMME, "bench.rules")


class Prepared:
    """Decisions made ahead, one per fresh member, so that timing covers authorise alone."""

    def __init__(self, store: WalletStore, compiled, prefix: str, count: int) -> None:
        walker = Walker(compiled.program, compiled.version)
        self.items = []
        for i in range(count):
            member = f"{prefix}{i}"
            store.load_member(MemberState(member, balances={"giftcard": 10**9}), NOW - 100)
            txn = Transaction(
                f"{member}-t", NOW, 5_000, member, "EUR", "M1", redeem=Redeem("giftcard", 500)
            )
            snapshot = store.snapshot(member, NOW)
            matched = compiled.match(txn, snapshot.state)
            decision = walker.decide(
                txn, snapshot.state, matched, store.counters(snapshot, matched)
            )
            assert len(decision.usage) == 2  # the cap and the budget
            self.items.append((txn, decision, snapshot))


def bare_evalsha(client: redis.Redis) -> Callable[[], object]:
    """The floor: ``EVALSHA`` of a script that returns 1, sent as the store sends its own."""
    send = script_sender(client, client.register_script("return 1"))
    return lambda: send((), ())


def alternate_with_floor(
    store: WalletStore, bare: Callable[[], object], items: Sequence[tuple]
) -> tuple[list[float], list[float], dict]:
    """A bare EVALSHA and one full authorise, call by call, so that both see the same
    moments of the machine: seconds of each, and the last authorise's answer."""
    floor: list[float] = []
    full: list[float] = []
    result: dict = {}
    clock = time.perf_counter
    for txn, decision, snapshot in items:
        started = clock()
        bare()
        floor.append(clock() - started)
        started = clock()
        result = store.authorize(txn, decision, snapshot)
        full.append(clock() - started)
    return floor, full, result


def test_sequential_authorize_against_bare_evalsha(benchmark, figures, server, compiled):
    client = server()
    client.flushall()
    store = WalletStore(client, compiled)
    bare = bare_evalsha(client)
    bare()
    items = Prepared(store, compiled, "s", SEQUENTIAL + 200).items
    for txn, decision, snapshot in items[:200]:  # warm up
        store.authorize(txn, decision, snapshot)
    floor, full, result = alternate_with_floor(store, bare, items[200:])
    assert result["status"] == "held" and len(result["balances"]) == 3
    for name, values in (("bare EVALSHA", floor), ("authorize", full)):
        figures.record(f"wallets {name} p50 µs", percentile(values, 0.5) * 1e6)
        figures.record(f"wallets {name} p99 µs", percentile(values, 0.99) * 1e6)
    # pytest-benchmark's own table: the authorise of one more prepared decision per round;
    # and the server's time per script, alone on the server.
    extra = iter(Prepared(store, compiled, "p", 300).items)
    client.config_resetstat()
    benchmark.pedantic(lambda: store.authorize(*next(extra)), rounds=300, iterations=1)
    server_auth = client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
    client.config_resetstat()
    for _ in range(300):
        bare()
    server_bare = client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
    figures.record("wallets authorize server µs/call", server_auth)
    figures.record("wallets bare EVALSHA server µs/call", server_bare)
    assert store.verify().ok
    client.close()


def test_cost_against_member_history(benchmark, figures, server, compiled):
    benchmark.pedantic(_history, args=(figures, server, compiled), rounds=1, iterations=1)


def _history(figures, server, compiled) -> None:
    """The member read and the authorise of members with a past, against a new member's,
    in one run; and the read's own time in Redis.  Every purchase earned points, so each
    left a points bucket (points keep the second they were earned for their expiry), and
    each day of purchases a spend day and a day's limit counter: what a read takes grows
    with the buckets (docs/wallets.md, "Long histories")."""
    client = server()
    store = WalletStore(client, compiled)
    walker = Walker(compiled.program, compiled.version)

    def purchase(member: str, i: int, at: int) -> tuple[float, float]:
        txn = Transaction(f"{member}-h{i}", at, 5_000, member, "EUR", "M1")
        t0 = time.perf_counter()
        snapshot = store.snapshot(member, at)
        t1 = time.perf_counter()
        matched = compiled.match(txn, snapshot.state)
        decision = walker.decide(txn, snapshot.state, matched, store.counters(snapshot, matched))
        t2 = time.perf_counter()
        store.authorize(txn, decision, snapshot, capture=True)
        return t1 - t0, time.perf_counter() - t2

    fresh = None
    for label, count, every in HISTORY:
        member = f"hist-{count}-{every}"
        first = NOW - count * every - 3_600
        store.load_member(MemberState(member), first - 100)
        for i in range(count):
            purchase(member, i, first + i * every)
        client.config_resetstat()
        for k in range(50):
            store.snapshot(member, NOW + k)
        stats = client.info("commandstats")
        # A read is MULTI, the read script, HGETALL, EXEC: EXEC's time holds the other two.
        server_read = stats.get("cmdstat_exec", stats["cmdstat_evalsha"])["usec"] / 50
        timed = [purchase(member, count + k, NOW + k) for k in range(50)]
        read = percentile([t[0] for t in timed], 0.5) * 1e6
        auth = percentile([t[1] for t in timed], 0.5) * 1e6
        figures.record(f"wallets history {label}: member read p50 µs", read)
        figures.record(f"wallets history {label}: member read server µs/call", server_read)
        figures.record(f"wallets history {label}: authorize p50 µs", auth)
        if fresh is None:
            fresh = (read, server_read, auth)
            continue
        figures.record(f"wallets history {label}: member read / new member's (x)", read / fresh[0])
        figures.record(f"wallets history {label}: read server time / new member's (x)",
                       server_read / fresh[1])
        figures.record(f"wallets history {label}: authorize / new member's (x)", auth / fresh[2])
        assert store.verify(member).ok
    client.close()


def _threads(work, count: int) -> float:
    barrier = threading.Barrier(count + 1)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors
    return elapsed


def test_throughput_with_concurrency_and_pipelining(benchmark, figures, server, compiled):
    benchmark.pedantic(_throughput, args=(figures, server, compiled), rounds=1, iterations=1)


def _throughput(figures, server, compiled) -> None:
    with ExitStack() as stack:
        clients = [server() for _ in range(THREADS)]
        for client in clients:
            stack.callback(client.close)
        clients[0].flushall()
        stores = [WalletStore(c, compiled) for c in clients]
        bares = [bare_evalsha(c) for c in clients]
        bares[0]()
        # Each thread's decisions for every round; each round of authorise takes the next.
        work = [
            iter(Prepared(stores[i], compiled, f"c{i}-", ROUNDS * PER_THREAD).items)
            for i in range(THREADS)
        ]

        def bare(i: int) -> None:
            for _ in range(PER_THREAD):
                bares[i]()

        def authorize(i: int) -> None:
            store = stores[i]
            for txn, decision, snapshot in itertools.islice(work[i], PER_THREAD):
                store.authorize(txn, decision, snapshot)

        total = THREADS * PER_THREAD
        rates: dict[str, list[float]] = {"bare EVALSHA": [], "authorize": []}
        order = [("bare EVALSHA", bare), ("authorize", authorize)]
        for r in range(ROUNDS):  # alternately first, so that a drift of the machine is shared
            for name, run in order if r % 2 == 0 else order[::-1]:
                rates[name].append(total / _threads(run, THREADS))
        for name, values in rates.items():
            figures.record(f"wallets {name} ops/s, 8 threads", statistics.median(values))

        batch = Prepared(stores[0], compiled, "pipe-", 20 * PIPELINE).items
        pipe_bare = clients[0].pipeline(transaction=False)
        pipe_sha = clients[0].script_load("return 1")
        started = time.perf_counter()
        for _ in range(20):
            for _ in range(PIPELINE):
                pipe_bare.evalsha(pipe_sha, 0)
            pipe_bare.execute()
        figures.record(
            "wallets bare EVALSHA ops/s, pipelined", 20 * PIPELINE / (time.perf_counter() - started)
        )
        started = time.perf_counter()
        for start in range(0, len(batch), PIPELINE):
            results = stores[0].authorize_many(batch[start : start + PIPELINE])
            assert all(isinstance(r, dict) for r in results), results
        figures.record(
            "wallets authorize ops/s, pipelined", len(batch) / (time.perf_counter() - started)
        )
        assert stores[0].verify().ok


def wallet_checks(figures) -> None:
    v = figures.values
    floor, full = v.get("wallets bare EVALSHA p50 µs"), v.get("wallets authorize p50 µs")
    if floor and full:
        figures.check("authorize p50 / bare EVALSHA p50 (x)", full / floor, "<=", 2)
    if floor and v.get("wallets authorize p99 µs"):
        figures.record(
            "wallets authorize p99 / bare p50 (x)", v["wallets authorize p99 µs"] / floor
        )
    bare, auth = (
        v.get("wallets bare EVALSHA ops/s, 8 threads"),
        v.get("wallets authorize ops/s, 8 threads"),
    )
    if bare and auth:
        figures.check("authorize / bare throughput, 8 threads (x)", auth / bare, ">=", 0.5)
    bare, auth = (
        v.get("wallets bare EVALSHA ops/s, pipelined"),
        v.get("wallets authorize ops/s, pipelined"),
    )
    if bare and auth:
        figures.record("wallets authorize / bare throughput, pipelined (x)", auth / bare)


CHECKS.append(wallet_checks)
