"""The Rules service: check, upload, activate under load, rollback, diff, simulate."""

from __future__ import annotations

import threading

import grpc
import pytest
from service_helpers import MK, SW, Running, rules_files, running, wait_until
from test_service_api import eur, txn

from tessera.v1 import authorization_pb2 as A
from tessera.v1 import common_pb2 as C
from tessera.v1 import rules_pb2 as R

SOURCE, FILES = rules_files()
BONUS = SOURCE + """
rule big_spender
  when amount >= 10.00
  then cashback 1.00 into giftcard
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Running:
    with running(str(tmp_path_factory.mktemp("rules"))) as r:
        yield r


def rules(source: str, filename: str = "coffee.rules") -> R.RulesSource:
    return R.RulesSource(filename=filename, source=source, files=FILES)


def test_check_reports_diagnostics_with_positions(svc: Running) -> None:
    broken = SOURCE + (
        "\nrule oops\n  when amount >= 5.00 and tier >= platinum\n  then discount 5%\n")
    reply = svc.rules.Check(R.CheckRequest(rules=rules(broken)), metadata=MK)
    assert not reply.ok
    errors = [d for d in reply.diagnostics if d.severity == "error"]
    assert errors and errors[0].file == "coffee.rules" and errors[0].line > 70
    assert errors[0].column > 0 and errors[0].code and "platinum" in errors[0].message
    assert svc.rules.Check(R.CheckRequest(rules=rules(SOURCE)), metadata=MK).ok
    with pytest.raises(grpc.RpcError) as err:  # Upload refuses what does not compile
        svc.rules.Upload(R.UploadRequest(rules=rules(broken)), metadata=MK)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_upload_activate_under_load_then_rollback(svc: Running) -> None:
    before = svc.rules.ListVersions(R.ListVersionsRequest(), metadata=MK).active
    uploaded = svc.rules.Upload(R.UploadRequest(rules=rules(BONUS), comment="bonus"), metadata=MK)
    new = uploaded.version.version
    assert uploaded.created and uploaded.version.uploaded_by == "alice"
    assert not uploaded.version.active
    again = svc.rules.Upload(R.UploadRequest(rules=rules(BONUS)), metadata=MK)
    assert not again.created and again.version.version == new  # immutable, by content

    diff = svc.rules.Diff(R.DiffRequest(from_version=before, to_version=new), metadata=MK)
    assert list(diff.added) == ["big_spender"] and not diff.removed and not diff.changed

    # A load runs while the version is swapped: no call fails; each names its version.
    failures: list[Exception] = []
    seen: list[str] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            request = A.AuthorizeRequest(transaction=txn(f"load-{worker}-{n}",
                                                         member=f"load-{worker}"))
            try:
                seen.append(svc.auth.Authorize(request, metadata=SW, timeout=10)
                            .decision.ruleset_version)
            except grpc.RpcError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(seen) >= 20, what="load before the swap")
        activated = svc.rules.Activate(R.ActivateRequest(version=new), metadata=MK)
        assert activated.previous == before and activated.active.active
        wait_until(lambda: seen[-1] == new and seen.count(new) >= 20, what="load on the new one")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures
    assert set(seen) == {before, new}
    first_new = seen.index(new)
    assert before not in seen[first_new + 8:]  # only calls already in flight finish on the old

    back = svc.rules.Rollback(R.RollbackRequest(), metadata=MK)
    assert back.active.version == before and back.previous == new
    listed = svc.rules.ListVersions(R.ListVersionsRequest(), metadata=MK)
    assert listed.active == before and {v.version for v in listed.versions} >= {before, new}
    wait_until(lambda: svc.service.registry.active.version == before, what="rollback applied")


def test_simulate_with_explain_against_an_inactive_version_writes_nothing(svc: Running) -> None:
    version = svc.rules.Upload(R.UploadRequest(rules=rules(BONUS)), metadata=MK).version.version
    member = C.MemberState(member="sim-1", tier="silver", txn_count=4, spend_12m=eur(60000))
    stream = [
        R.SimulateRequest(version=version, explain=True, members=[member],
                          transaction=txn("sim-t1", member="sim-1")),
        R.SimulateRequest(transaction=txn("sim-t2", member="sim-1", channel="fax")),
        R.SimulateRequest(transaction=txn("sim-t3", member="sim-1", amount=eur(500))),
    ]
    replies = list(svc.rules.Simulate(iter(stream), metadata=MK))
    assert len(replies) == 3
    first = replies[0]
    assert first.decision.ruleset_version == version
    assert {a.rule for a in first.decision.applied} >= {"big_spender"}
    why = {e.rule: e for e in first.explain}
    assert why["big_spender"].applied
    assert not why["welcome"].matched and "txn_count" in why["welcome"].failed
    assert why["welcome"].at.startswith("coffee.rules:")
    assert replies[1].error_field == "transaction.channel"
    assert not any(a.rule == "big_spender" for a in replies[2].decision.applied)
    assert svc.client.exists(b"{m:sim-1}:p") == 0  # nothing written


def test_activate_unknown_version_is_not_found(svc: Running) -> None:
    with pytest.raises(grpc.RpcError) as err:
        svc.rules.Activate(R.ActivateRequest(version="0123456789abcdef"), metadata=MK)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        svc.rules.Activate(R.ActivateRequest(), metadata=MK)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
