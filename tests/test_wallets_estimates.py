"""Budgets decided on this process's estimate instead of a read, against a real redis-server:
no read while the estimate is fresh and has room, the cap held when another process spent
meanwhile, a budget given back by a reversal not missed, value budgets cut as a read would
cut them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tessera.server.wallets import WalletStore, decide_on_snapshot

from tests.wallets_support import NOW, Harness, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server fixtures


def budget_reads(redis_client, call: Callable[..., Any], *args: Any) -> tuple[int, Any]:
    """How many budget reads ``call(*args)`` sends (HGETs of a budget's key from a client,
    not from a script, as MONITOR sees them), and what it returns."""
    end = "tessera-test-end-of-reads"
    with redis_client.monitor() as monitor:
        returned = call(*args)
        redis_client.echo(end)
        reads = 0
        while (seen := monitor.next_command())["command"] != f"ECHO {end}":
            words = seen["command"].split()
            reads += seen["client_type"] != "lua" and words[:1] == ["HGET"] and "{b:" in words[1]
        return reads, returned


@pytest.fixture
def other(redis_client, compiled) -> Harness:
    """A second server process: its own store (and estimates) on the same Redis."""
    return Harness(WalletStore(redis_client, compiled))


def decide(harness: Harness, t):
    return decide_on_snapshot(harness.compiled, harness.walker, harness.store, t)


def applied_rules(result) -> list[str]:
    return [a["rule"] for a in result["applied"]]


def test_a_fresh_estimate_with_room_saves_the_read(harness, redis_client):
    reads, _ = budget_reads(redis_client, harness.authorize, txn("t0", 500, mcc=5998, member="a"))
    assert reads == 1  # no estimate yet
    reads, (decision, _snapshot) = budget_reads(
        redis_client, decide, harness, txn("t1", 500, mcc=5998, member="b")
    )
    assert reads == 0  # decided without reading it
    assert [a.rule for a in decision.applied if a.rule == "budgeted"] == ["budgeted"]
    assert harness.store.budget_estimates.fits(decision)


def test_no_estimate_or_a_stale_one_reads(harness, redis_client):
    reads, _ = budget_reads(redis_client, decide, harness, txn("t1", 500, mcc=5998, member="a"))
    assert reads == 1
    harness.store.budget_estimates.max_age = 0  # estimates switched off: a read each time
    reads, _ = budget_reads(redis_client, decide, harness, txn("t2", 500, mcc=5998, member="a"))
    assert reads == 1


def refusals(redis_client) -> int:
    """Error replies of Tessera's scripts (``TSR <code> ...``) so far."""
    return int(redis_client.info("errorstats").get("errorstat_TSR", {}).get("count", 0))


def test_another_process_spending_meanwhile_never_breaks_the_cap(harness, other, redis_client):
    # The budget is 10 uses.  This process spends 2 and believes 8 are left ...
    for i in range(2):
        assert "budgeted" in applied_rules(harness.authorize(txn(f"h{i}", 500, mcc=5998,
                                                                  member=f"h{i}")))
    # ... while another process spends the other 8.
    for i in range(8):
        assert "budgeted" in applied_rules(other.authorize(txn(f"o{i}", 500, mcc=5998,
                                                                member=f"o{i}")))
    # This process decides on its estimate, the script refuses, it reads and decides again.
    before = refusals(redis_client)
    result = harness.authorize(txn("late", 500, mcc=5998, member="late"))
    assert refusals(redis_client) == before + 1  # the one write on the stale estimate
    assert "budgeted" not in applied_rules(result)
    assert any(s["rule"] == "budgeted" and s["reason"] == "budget" for s in result["skipped"])
    assert harness.store.budgets_used(["budgeted"]) == {("budgeted", "count"): 10}
    assert harness.store.verify().ok


def test_a_budget_a_reversal_gave_back_is_not_missed(harness):
    for i in range(10):
        harness.authorize(txn(f"t{i}", 500, mcc=5998, member=f"m{i}"))
    spent = harness.authorize(txn("t10", 500, mcc=5998, member="m10"))
    assert "budgeted" not in applied_rules(spent)  # all 10 uses gone
    harness.store.reverse("m3", "t3", now=NOW + 1)  # gives one back
    # The estimate still says spent: the decision reads the budget and finds the use.
    again = harness.authorize(txn("t11", 500, mcc=5998, member="m11", time=NOW + 2))
    assert "budgeted" in applied_rules(again)
    assert harness.store.budgets_used(["budgeted"]) == {("budgeted", "count"): 10}


def test_a_value_budget_is_cut_as_a_read_would_cut_it(harness, other):
    # 50.00 of cashback at 10%: 40.00 spent elsewhere, then a purchase worth 15.00 of it.
    for i in range(4):
        other.authorize(txn(f"o{i}", 10_000, mcc=5997, member=f"o{i}"))
    harness.authorize(txn("h0", 100, mcc=5997, member="h0"))  # this process reads 40.10
    before = harness.store.budgets_used(["value_budget"])[("value_budget", "value")]
    assert before == 4_010
    result = harness.authorize(txn("h1", 15_000, mcc=5997, member="h1"))
    cashback = [a for a in result["applied"] if a["rule"] == "value_budget"]
    assert cashback and cashback[0]["value"] == 5_000 - before  # cut to what is left
    assert harness.store.budgets_used(["value_budget"]) == {("value_budget", "value"): 5_000}
    # Spent: the next one reads, finds nothing left, and skips the rule.
    late = harness.authorize(txn("h2", 15_000, mcc=5997, member="h2"))
    assert "value_budget" not in applied_rules(late)
    assert harness.store.verify().ok
