"""Running the service: metrics, TLS, worker processes, deadlines, stand-in timing, ^C, Diff,
and AuthorizeStream's batches answering as Authorize does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from service_helpers import COFFEE, MK, SW, rules_files, running, wait_until
from tessera.server.service.deadlines import LatencyEstimate
from tessera.server.service.metrics import Metrics
from test_service_api import eur, txn

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import authorization_pb2_grpc, rules_pb2_grpc
from tessera.v1 import common_pb2 as C
from tessera.v1 import members_pb2 as M
from tessera.v1 import rules_pb2 as R


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics exposition: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return samples(reply.read().decode())


def test_rule_decisions_count_every_increment_across_threads() -> None:
    """The decisions metric is plain counts on the hot path: eight threads adding at once
    lose nothing, and the registry exposes them as the counter it replaced."""
    metrics = Metrics()
    start = threading.Barrier(8)

    def add() -> None:
        start.wait()
        for _ in range(5_000):
            metrics.decided(["welcome", "base_earn"])
            metrics.decided(["base_earn"])

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    exposed = samples(generate_latest(metrics.registry).decode())
    assert exposed[("tessera_decisions_total", (("rule", "welcome"),))] == 40_000
    assert exposed[("tessera_decisions_total", (("rule", "base_earn"),))] == 80_000


def free_ports(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + n > 65_000:
            continue
        try:
            sockets = []
            for port in range(first, first + n):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no free consecutive ports")


# ---- metrics ---------------------------------------------------------------------------------


def test_metrics_endpoint_counts_calls_latency_decisions_and_redis_errors(tmp_path) -> None:
    with running(str(tmp_path)) as r:
        port = free_ports(1)
        http = r.service.metrics.serve(port, addr="127.0.0.1")
        try:
            for _ in range(3):
                r.auth.Ping(A.PingRequest(), metadata=SW)
            answers = [
                r.auth.Authorize(A.AuthorizeRequest(transaction=txn(f"met-{i}", member="met-m")),
                                 metadata=SW).decision
                for i in range(3)
            ]
            with pytest.raises(grpc.RpcError):
                r.auth.Authorize(A.AuthorizeRequest(transaction=txn("met-bad", member="met-m",
                                                                    mcc=99_999)), metadata=SW)
            applied: dict[str, int] = {}
            for decision in answers:
                for rule in decision.applied:
                    applied[rule.rule] = applied.get(rule.rule, 0) + 1
            assert applied.get("welcome") == 1  # the first purchase

            m = scrape(port)
            ping = (("code", "OK"), ("method", "Authorization.Ping"))
            assert m[("tessera_requests_total", ping)] == 3
            assert m[("tessera_requests_total",
                      (("code", "OK"), ("method", "Authorization.Authorize")))] == 3
            assert m[("tessera_requests_total",
                      (("code", "INVALID_ARGUMENT"), ("method", "Authorization.Authorize")))] == 1
            authorize = (("method", "Authorization.Authorize"),)
            assert m[("tessera_request_seconds_count", authorize)] == 4
            assert 0 < m[("tessera_request_seconds_sum", authorize)] < 10
            assert m[("tessera_request_seconds_bucket", (("le", "+Inf"), *authorize))] == 4
            for rule, count in applied.items():
                assert m[("tessera_decisions_total", (("rule", rule),))] == count
            assert m[("tessera_redis_errors_total", ())] == 0
            version = r.service.registry.active.version
            assert m[("tessera_programme", (("version", version),))] == 1

            r.redis.kill()
            stand_in = r.auth.Authorize(A.AuthorizeRequest(transaction=txn("met-si",
                                                                           member="met-m")),
                                        metadata=SW, timeout=5).decision
            assert stand_in.stand_in
            m = scrape(port)
            assert m[("tessera_redis_errors_total", ())] == 1
            assert m[("tessera_stand_in_total", ())] == 1
        finally:
            http.shutdown()


# ---- TLS --------------------------------------------------------------------------------------


def test_tls_with_a_self_signed_certificate(tmp_path) -> None:
    cert, key = os.path.join(tmp_path, "cert.pem"), os.path.join(tmp_path, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
         cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    with open(cert, "rb") as handle:
        root = handle.read()
    with running(str(tmp_path), root_cert=root, tls_cert=cert, tls_key=key) as r:
        assert r.auth.Ping(A.PingRequest(), metadata=SW, timeout=5) == A.PingResponse()
        decision = r.auth.Authorize(A.AuthorizeRequest(transaction=txn("tls-1", member="tls")),
                                    metadata=SW, timeout=5).decision
        assert decision.status == "held"
        plain = grpc.insecure_channel(f"127.0.0.1:{r.port}")
        try:
            with pytest.raises(grpc.RpcError) as err:
                authorization_pb2_grpc.AuthorizationStub(plain).Ping(
                    A.PingRequest(), metadata=SW, timeout=3)
            assert err.value.code() in (grpc.StatusCode.UNAVAILABLE,
                                        grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            plain.close()
        # A client that trusts some other root does not get through either.
        other = os.path.join(tmp_path, "other.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             os.path.join(tmp_path, "other.key"), "-out", other, "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
            check=True, capture_output=True,
        )
        with open(other, "rb") as handle:
            wrong = grpc.secure_channel(f"localhost:{r.port}",
                                        grpc.ssl_channel_credentials(handle.read()))
        try:
            with pytest.raises(grpc.RpcError):
                authorization_pb2_grpc.AuthorizationStub(wrong).Ping(
                    A.PingRequest(), metadata=SW, timeout=3)
        finally:
            wrong.close()


# ---- worker processes -------------------------------------------------------------------------


def _serve(tmp_path, *args: str) -> tuple[subprocess.Popen, str, str]:
    data = os.path.join(str(tmp_path), "var")
    tokens = os.path.join(str(tmp_path), "tokens.json")
    with open(tokens, "w") as handle:
        json.dump({"switch-secret": {"name": "sw", "roles": ["switch"]},
                   "marketer-secret": {"name": "mk", "roles": ["marketer"]}}, handle)
    log = os.path.join(str(tmp_path), "serve.log")
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "tessera.server.cli", "serve", "--rules", COFFEE, "--host",
             "127.0.0.1", "--data", data, "--tokens", tokens, "--grace", "5", *args],
            stdout=subprocess.DEVNULL, stderr=handle, start_new_session=True,
        )
    return process, log, data


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_workers_share_the_port_and_each_follows_activation(tmp_path) -> None:
    port, metrics = free_ports(1), free_ports(2)
    process, log, _data = _serve(tmp_path, "--port", str(port), "--workers", "2",
                                 "--metrics-port", str(metrics))
    try:
        def up() -> bool:
            try:
                return all(scrape(metrics + i) is not None for i in range(2))
            except OSError:
                return False

        wait_until(up, timeout=60, what="both workers' metrics")

        def pings(worker: int) -> float:
            key = ("tessera_requests_total", (("code", "OK"), ("method", "Authorization.Ping")))
            return scrape(metrics + worker).get(key, 0)

        # Each new channel is a new connection; the kernel spreads them over the workers.
        for _ in range(200):
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            try:
                authorization_pb2_grpc.AuthorizationStub(channel).Ping(
                    A.PingRequest(), metadata=SW, timeout=5, wait_for_ready=True)
            finally:
                channel.close()
            if pings(0) and pings(1):
                break
        assert pings(0) > 0 and pings(1) > 0, "one worker answered every connection"

        def versions(worker: int) -> set[str]:
            return {dict(labels)["version"] for (name, labels), value
                    in scrape(metrics + worker).items()
                    if name == "tessera_programme" and value == 1}

        first = versions(0)
        assert len(first) == 1 and versions(1) == first
        source, files = rules_files()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            upload = rules_pb2_grpc.RulesStub(channel).Upload(R.UploadRequest(
                rules=R.RulesSource(filename="coffee.rules", files=files, source=source
                                    + "\nrule extra\n  when amount >= 99.00\n"
                                      "  then cashback 1.00 into giftcard\n"),
                activate=True), metadata=(("authorization", "Bearer marketer-secret"),),
                timeout=30)
        finally:
            channel.close()
        new = upload.version.version
        assert {new} != first
        # The worker that took the upload swapped at once; the other follows the announcement.
        wait_until(lambda: versions(0) == {new} and versions(1) == {new}, timeout=10,
                   what="both workers on the new version")
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        _stop(process)
    with open(log) as handle:
        text = handle.read()
    assert "with 2 workers" in text and text.count("serving on port") == 2


def test_interrupt_stops_cleanly_without_an_outage_message(tmp_path) -> None:
    port = free_ports(1)
    process, log, _data = _serve(tmp_path, "--port", str(port), "--workers", "1")
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = authorization_pb2_grpc.AuthorizationStub(channel)

        def ready() -> bool:
            try:
                stub.Authorize(A.AuthorizeRequest(transaction=txn("int-1", member="int")),
                               metadata=SW, timeout=5)
                return True
            except grpc.RpcError:
                return False

        wait_until(ready, timeout=60, what="the served programme")
        channel.close()
        time.sleep(0.3)  # the follower waiting on pub/sub, as it is most of the time
        os.killpg(process.pid, signal.SIGINT)  # ^C: the server and its redis-server at once
        assert process.wait(30) == 0
    finally:
        _stop(process)
    with open(log) as handle:
        text = handle.read()
    assert '"method":"Authorization.Authorize"' in text
    assert "following programme versions" not in text, text


def test_serve_applies_the_hold_and_message_size_given(tmp_path) -> None:
    """``--hold`` reaches every programme's wallet store (the hold ends that long after the
    purchase); ``--max-message-bytes`` refuses a request above it."""
    port = free_ports(1)
    process, _log, _data = _serve(tmp_path, "--port", str(port), "--workers", "1",
                                  "--hold", "36h", "--budget-estimate", "0",
                                  "--max-message-bytes", "4096")
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = authorization_pb2_grpc.AuthorizationStub(channel)
        answers = []

        def ready() -> bool:
            try:
                answers.append(stub.Authorize(
                    A.AuthorizeRequest(transaction=txn("hold-1", member="hold")),
                    metadata=SW, timeout=5))
                return True
            except grpc.RpcError:
                return False

        wait_until(ready, timeout=60, what="the served programme")
        decision = answers[-1].decision
        assert decision.status == "held"
        purchase = txn("hold-1").time.seconds
        assert decision.hold_until.seconds == purchase + 36 * 3_600
        lines = [C.BasketLine(sku=f"s{i}", category="coffee", unit_price=eur(1))
                 for i in range(400)]
        big = A.AuthorizeRequest(transaction=txn("hold-2", member="hold", basket=lines))
        assert big.ByteSize() > 4096
        with pytest.raises(grpc.RpcError) as err:
            stub.Authorize(big, metadata=SW, timeout=5)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        channel.close()
    finally:
        _stop(process)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--hold", "7x"), "argument --hold: '7x' is not a duration"),
        (("--hold=-1d",), "argument --hold: '-1d' is not a duration"),
        (("--hold", "0"), "hold_seconds: 0 is not a whole number of seconds above 0"),
        (("--hold", "400d"), "below 400 days"),
        (("--budget-estimate", "-1"), "budget_estimate_seconds: -1.0 is not between 0 and 60"),
        (("--tokens", "/nonexistent/tokens.json"), "tokens file /nonexistent/tokens.json:"),
        (("--max-message-bytes", "10"), "max_message_bytes: 10 is not between 1 KiB and 64 MiB"),
    ],
)
def test_serve_refuses_settings_it_cannot_keep(tmp_path, args, said) -> None:
    process, log, _data = _serve(tmp_path, "--port", "0", "--workers", "1", *args)
    try:
        assert process.wait(60) == 2
    finally:
        _stop(process)
    with open(log) as handle:
        text = handle.read()
    assert said in text, text
    assert "Traceback" not in text, text


# ---- deadlines and stand-in -----------------------------------------------------------------


def test_latency_estimate_follows_recent_writes() -> None:
    estimate = LatencyEstimate(initial=0.002, floor=0.0005, cap=0.25)
    for _ in range(50):
        estimate.observe(0.001)
    assert 0.001 <= estimate.needed() < 0.0015
    for _ in range(50):
        estimate.observe(0.020)  # Redis got slow: the estimate follows within tens of writes
    assert 0.018 < estimate.needed() <= 0.05
    estimate.observe(10.0)
    assert estimate.needed() == 0.25  # capped
    quiet = LatencyEstimate(floor=0.0005)
    for _ in range(200):
        quiet.observe(0.00001)
    assert quiet.needed() == 0.0005  # never below the floor


def test_deadline_shorter_than_the_estimated_write_is_refused(tmp_path) -> None:
    with running(str(tmp_path), redis_timeout=2.0) as r:
        estimate = r.service.context.write_estimate
        for _ in range(30):
            estimate.observe(0.6)  # writes have lately taken 0.6 s here
        request = A.AuthorizeRequest(transaction=txn("est-1", member="est-m"))
        with pytest.raises(grpc.RpcError) as err:
            r.auth.Authorize(request, metadata=SW, timeout=0.4)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "nothing was written" in (err.value.details() or "")
        assert r.client.exists(b"{m:est-m}:p") == 0
        for _ in range(100):
            estimate.observe(0.0003)  # fast again
        decision = r.auth.Authorize(request, metadata=SW, timeout=0.4).decision
        assert decision.status == "held"
        assert estimate.needed() < 0.1


def test_stand_in_answers_within_the_call_deadline(tmp_path) -> None:
    # Redis waits are capped at 3 s, but a call with 0.6 s must not wait that long.
    with running(str(tmp_path), redis_timeout=3.0) as r:
        r.members.Enrol(M.EnrolRequest(member="slow-1"), metadata=SW)
        r.redis.process.send_signal(signal.SIGSTOP)  # Redis hangs: connected, never answers
        try:
            started = time.monotonic()
            decision = r.auth.Authorize(
                A.AuthorizeRequest(transaction=txn("slow-t1", member="slow-1")),
                metadata=SW, timeout=0.6).decision
            took = time.monotonic() - started
        finally:
            r.redis.process.send_signal(signal.SIGCONT)
        assert decision.stand_in and decision.status == "stand_in" and not decision.applied
        assert took < 0.6
        # Redis back: the retry gets the real decision (the same transaction id).
        real = r.auth.Authorize(A.AuthorizeRequest(transaction=txn("slow-t1", member="slow-1")),
                                metadata=SW, timeout=5).decision
        assert not real.stand_in and real.status == "held"


# ---- AuthorizeStream batches --------------------------------------------------------------


def _same(a, b) -> bool:
    return (a.status, a.charged, a.discount, a.redeemed, [x.rule for x in a.applied],
            [(x.rule, x.reason) for x in a.skipped],
            sorted((x.wallet, x.points, x.amount.minor_units) for x in a.balances)) == (
        b.status, b.charged, b.discount, b.redeemed, [x.rule for x in b.applied],
        [(x.rule, x.reason) for x in b.skipped],
        sorted((x.wallet, x.points, x.amount.minor_units) for x in b.balances))


def test_stream_batches_answer_in_order_as_sequential_authorize(tmp_path) -> None:
    with running(str(tmp_path)) as r:
        def transactions(side: str) -> list[A.AuthorizeRequest]:
            out = []
            for i in range(12):  # three members, their purchases interleaved
                member = f"{side}-m{i % 3}"
                basket = [] if i % 4 == 3 else None
                fields: dict[str, object] = {"member": member}
                if basket is not None:
                    fields["basket"] = basket
                    fields["amount"] = eur(300 + i)
                out.append(A.AuthorizeRequest(transaction=txn(f"{side}-t{i}", **fields)))
            out.insert(5, A.AuthorizeRequest(transaction=txn(f"{side}-bad", member="x",
                                                             channel="fax")))
            out.insert(8, A.AuthorizeRequest(transaction=txn(f"{side}-t2", member=f"{side}-m2")))
            return out

        unary = []
        for request in transactions("u"):
            try:
                unary.append(r.auth.Authorize(request, metadata=SW, timeout=10))
            except grpc.RpcError as exc:
                unary.append(exc)
        stream = list(r.auth.AuthorizeStream(iter(transactions("s")), metadata=SW, timeout=30))
        assert len(stream) == len(unary)
        for u, s, request in zip(unary, stream, transactions("s"), strict=True):
            if isinstance(u, grpc.RpcError):
                assert s.error_code == u.code().name and s.error_field == "transaction.channel"
                continue
            assert s.decision.txn_id == request.transaction.txn_id  # in order
            assert _same(u.decision, s.decision), (u.decision, s.decision)
        welcomes = [s.decision.txn_id for s in stream
                    if any(a.rule == "welcome" for a in s.decision.applied)]
        # Each member's first purchase only (s-t2 twice: the repeat is its stored answer).
        assert welcomes == ["s-t0", "s-t1", "s-t2", "s-t2"]
        # The repeated transaction id is the stored answer again, in stream as in unary.
        repeat = [s for s in stream if s.decision.txn_id == "s-t2"]
        assert len(repeat) == 2 and repeat[0].decision == repeat[1].decision
        m2 = r.members.GetMember(M.GetMemberRequest(member="s-m2"), metadata=SW)
        assert m2.txn_count == 4


def test_diff_compares_what_rules_mean(tmp_path) -> None:
    source, files = rules_files()
    reformatted = source.replace(
        "rule welcome\n  priority 100\n  when member.txn_count = 0\n",
        "# a comment that was not there\nrule welcome\n    priority   100\n"
        "    when member.txn_count = 0   # still the first purchase\n",
    ).replace("  when basket.qty(category in hot_drinks) >= 2 and channel = pos",
              "  when basket.qty(category in hot_drinks) >= 3 and channel = pos")
    assert reformatted.count("txn_count = 0   #") == 1 and ">= 3 and channel" in reformatted
    reformatted += "\nrule late_extra\n  when amount >= 50.00\n  then cashback 2.00 into giftcard\n"
    with running(str(tmp_path)) as r:
        def upload(text: str) -> str:
            return r.rules.Upload(R.UploadRequest(rules=R.RulesSource(
                filename="coffee.rules", source=text, files=files)), metadata=MK).version.version

        old, new = upload(source), upload(reformatted)
        diff = r.rules.Diff(R.DiffRequest(from_version=old, to_version=new), metadata=MK)
        assert list(diff.added) == ["late_extra"]
        assert not diff.removed
        assert list(diff.changed) == ["tea_basket"]  # welcome was only reformatted
        back = r.rules.Diff(R.DiffRequest(from_version=new, to_version=old), metadata=MK)
        assert list(back.removed) == ["late_extra"] and list(back.changed) == ["tea_basket"]


def test_prefetch_answers_first_commands_from_one_pipeline(tmp_path) -> None:
    with running(str(tmp_path)) as r:
        client = r.service.context.directory.client
        client.set("pf:a", "1")
        client.set("pf:b", "22")
        client.set("pf:h", "x")

        def strlens() -> int:
            return int(r.client.info("commandstats").get("cmdstat_strlen", {}).get("calls", 0))

        calls = [lambda: client.strlen("pf:a"), lambda: client.strlen("pf:b"),
                 lambda: client.hget("pf:h", "f")]  # the last one fails: a string, not a hash
        before = strlens()
        with client.prefetch(calls):
            assert strlens() == before + 2  # sent on entry, in one pipeline
            client.set("pf:a", "changed")  # not recorded: goes to Redis now
            assert calls[0]() == 1 and calls[1]() == 2  # as the pipeline read them
            with pytest.raises(Exception, match="WRONGTYPE"):
                calls[2]()  # the recorded error, raised where the call meets it
            assert strlens() == before + 2  # replayed, not sent again
            assert calls[0]() == 7  # each reply serves once; then Redis as usual
        assert strlens() == before + 3
        assert calls[1]() == 2


def test_prefetch_answers_a_batch_as_a_calls_first_command(tmp_path) -> None:
    # A member read is a batch (MULTI, the read script, the wallets hash, EXEC): the
    # stream's prefetch sends the first batch of each call with the others in one round trip.
    with running(str(tmp_path)) as r:
        client = r.service.context.directory.client
        client.set("pb:a", "1")
        client.hset("pb:h", "f", "v")

        def execs() -> int:
            return int(r.client.info("commandstats").get("cmdstat_exec", {}).get("calls", 0))

        batch = [("MULTI",), ("STRLEN", "pb:a"), ("HGETALL", "pb:h"), ("EXEC",)]
        calls = [lambda: client.exchange_many(batch), lambda: client.strlen("pb:a"),
                 lambda: client.exchange_many([("GET", "pb:a"), ("HGET", "pb:a", "f")])]
        before = execs()
        with client.prefetch(calls):
            assert execs() == before + 1
            client.set("pb:a", "22")  # not recorded: goes to Redis now
            # As the pipeline read it; in a transaction the replies are EXEC's, raw.
            assert calls[0]() == [b"OK", b"QUEUED", b"QUEUED", [1, [b"f", b"v"]]]
            assert calls[1]() == 1
            got, error = calls[2]()
            assert got == b"1" and isinstance(error, redis.ResponseError)  # in its place
            assert calls[0]()[3] == [2, [b"f", b"v"]] and execs() == before + 2  # served once
        store = r.service.registry.active.store
        snapshots = [lambda m=m: store.snapshot(m, 1_796_459_400) for m in ("pb-1", "pb-2", "pb-3")]
        snapshots[0]()  # the read script loaded (a read after NOSCRIPT loads it and reads again)
        before = execs()
        with store.client.prefetch(snapshots):
            assert execs() == before + 3  # the three reads, sent on entry in one round trip
            assert [s().version for s in snapshots] == [0, 0, 0]
            assert execs() == before + 3


def test_plain_commands_are_packed_at_once_and_answer_as_redis_py_does(tmp_path) -> None:
    with running(str(tmp_path)) as r:
        client = r.service.context.directory.client
        assert client.set("fp:a", 7) is True  # the response callback still applies
        client.hset("fp:h", mapping={"x": "1", "y": b"2"})
        assert client.hgetall("fp:h") == {b"x": b"1", b"y": b"2"}
        sha = client.script_load("return {KEYS[1], ARGV[1], ARGV[2]}")  # "SCRIPT LOAD": split
        assert client.evalsha(sha, 1, "fp:k", 3, 2.5) == [b"fp:k", b"3", b"2.5"]
        with pytest.raises(redis.DataError):  # what hiredis cannot pack, redis-py explains
            client.set("fp:none", None)  # type: ignore[arg-type]
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.hget("fp:a", "f")
        assert client.get("fp:a") == b"7"  # the connection reads in step after an error


def test_request_log_lines_are_written_in_batches(tmp_path, caplog) -> None:
    caplog.set_level("INFO", logger="tessera.requests")
    with running(str(tmp_path)) as r:
        for i in range(3):
            r.auth.Ping(A.PingRequest(), metadata=(*SW, ("x-request-id", f"rid-{i}")))
        r.service.requests.flush()
        lines = [json.loads(line) for record in caplog.records
                 if record.name == "tessera.requests" for line in record.getMessage().split("\n")]
        assert [(x["method"], x["code"], x["request_id"]) for x in lines] == [
            ("Authorization.Ping", "OK", f"rid-{i}") for i in range(3)]
        assert all(x["ms"] >= 0 and x["peer"] for x in lines)
        # A call with no request id gets one made here, echoed in the trailers.
        _reply, call = r.auth.Ping.with_call(A.PingRequest(), metadata=SW)
        made = dict(call.trailing_metadata())["x-request-id"]
        assert made and not made.startswith("rid-")


def test_stream_without_an_active_version_answers_each_request_and_goes_on(tmp_path) -> None:
    with running(str(tmp_path)) as r:
        registry = r.service.registry
        registry.stop()  # the follower would load the active version again
        active = registry.active
        registry.active = None  # as a process that has not loaded a version yet
        try:
            requests = [A.AuthorizeRequest(transaction=txn(f"nv-{i}", member="nv"))
                        for i in range(3)]
            replies = list(r.auth.AuthorizeStream(iter(requests), metadata=SW, timeout=10))
        finally:
            registry.active = active
        assert [x.error_code for x in replies] == ["UNAVAILABLE"] * 3
        assert [x.txn_id for x in replies] == ["nv-0", "nv-1", "nv-2"]


def test_the_server_releases_holds_past_their_time(tmp_path: object) -> None:
    """The service runs the wallet store's housekeeping: a hold nobody captures is released
    (undone like a reversal) once its time has passed on the job's clock."""
    with running(str(tmp_path), housekeeping_seconds=0.05) as svc:
        job = svc.service.maintenance
        assert job is not None
        request = A.AuthorizeRequest(transaction=txn("hk-t1", member="hk-1"))
        assert svc.auth.Authorize(request, metadata=SW).decision.status == "held"
        store = svc.service.registry.active.store  # type: ignore[union-attr]
        assert store.authorization("hk-1", "hk-t1")["status"] == "held"
        job.clock = lambda: time.time() + 30 * 86_400  # past the hold of a txn of 2026-12-05
        deadline = time.monotonic() + 10
        while store.authorization("hk-1", "hk-t1")["status"] == "held":
            assert time.monotonic() < deadline, "the hold was never released"
            time.sleep(0.05)
        assert store.authorization("hk-1", "hk-t1")["status"] == "released"
        assert job.last is not None and store.verify("hk-1").ok
