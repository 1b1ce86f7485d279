"""The ``tessera`` command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

RULES = """program club
  currency EUR
  timezone Europe/Belgrade
wallet cash money
rule weekend
  when weekday in {sat, sun} and amount >= 5.00
  then discount 10% cap 3.00
rule big
  priority 5
  when amount >= 100.00
  then cashback 1% into cash
"""
GOOD = {
    "txn_id": "t-1",
    "time": "2026-12-05T09:30:00+01:00",
    "amount": "12.50",
    "member": "m-1",
    "merchant": "M1",
    "mcc": 5814,
    "basket": [{"sku": "A", "category": "coffee", "qty": 2, "unit_price": "3.50"}],
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera.server.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "club.rules"
    path.write_text(RULES)
    return path


def write_lines(path, rows):
    path.write_text(
        "".join((r if isinstance(r, str) else orjson.dumps(r).decode()) + "\n" for r in rows)
    )
    return path


def test_check_ok_prints_a_summary(rules):
    result = run("check", str(rules))
    assert result.returncode == 0
    assert result.stdout.startswith(
        f"{rules}: ok — 2 rules, 1 wallets, 0 tiers, 0 warnings, compiled in "
    )


def test_check_reports_errors_with_exit_1(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text(
        "program p\n  currency EUR\nrule r\n  when amount >= 5.001\n  then discount 1%\n"
    )
    result = run("check", str(bad))
    assert result.returncode == 1
    assert (
        f"{bad}:4:18: error[E417]: amount 5.001 has 3 decimals; at most 2 are allowed"
        in result.stderr
    )
    assert "^^^^^" in result.stderr


def test_check_usage_and_missing_file_exit_2(tmp_path):
    assert run("check").returncode == 2
    assert run("check", str(tmp_path / "missing.rules")).returncode == 2
    assert run("frobnicate").returncode == 2


def test_simulate_prints_decisions_and_a_summary(rules, tmp_path):
    txns = write_lines(tmp_path / "t.jsonl", [GOOD, {**GOOD, "txn_id": "t-2", "amount": "150.00"}])
    result = run("simulate", str(rules), "--transactions", str(txns))
    assert result.returncode == 0, result.stderr
    first, second = (orjson.loads(line) for line in result.stdout.splitlines())
    assert (first["discount"], first["charged"]) == ("1.25", "11.25")
    assert [a["rule"] for a in second["applied"]] == ["big", "weekend"]
    # big: 1% of the net 150.00 - 3.00 = 1.47; weekend: 10% of 150.00 capped at 3.00
    assert second["applied"][0]["effects"] == [
        {"type": "cashback", "wallet": "cash", "amount": "1.47"}
    ]
    assert second["balances"] == {"cash": "1.47"}
    assert "transactions: 2, rejected: 0, discount: 4.25, cashback: 1.47" in result.stderr
    assert "rewards by rule: big 1, weekend 2" in result.stderr


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"amount": "12.505"}, "amount", "too_many_decimals"),
        ({"amount": 12.5}, "amount", "invalid_type"),
        ({"amount": "-1.00"}, "amount", "negative_amount"),
        ({"currency": "XYZ"}, "currency", "unknown_currency"),
        (
            {"basket": [{"sku": "A", "qty": -2, "unit_price": "1.00"}]},
            "basket[0].qty",
            "negative_quantity",
        ),
        ({"time": "yesterday"}, "time", "invalid_value"),
        ({"mcc": "5814"}, "mcc", "invalid_type"),
        ({"channel": "fax"}, "channel", "invalid_value"),
        ({"redeem": {"wallet": "nothing"}}, "redeem.wallet", "unknown_wallet"),
    ],
)
def test_simulate_rejects_a_bad_line_and_goes_on(rules, tmp_path, change, field, code):
    bad = {**GOOD, "txn_id": "bad", **change}
    txns = write_lines(tmp_path / "t.jsonl", [bad, GOOD])
    result = run("simulate", str(rules), "--transactions", str(txns))
    assert result.returncode == 1
    assert f"t.jsonl:1: error[{code}]: {field}: " in result.stderr
    decisions = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [d["txn_id"] for d in decisions] == ["t-1"]
    assert decisions[0]["discount"] == "1.25"  # the rejected line changed nothing
    assert "rejected: 1" in result.stderr


def test_simulate_rejects_lines_that_are_not_json(rules, tmp_path):
    txns = write_lines(tmp_path / "t.jsonl", ["{not json", GOOD])
    result = run("simulate", str(rules), "--transactions", str(txns))
    assert result.returncode == 1
    assert "t.jsonl:1: error[invalid_json]" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_simulate_explain_names_the_failed_condition(rules, tmp_path):
    weekday = {**GOOD, "time": "2026-12-07T09:30:00+01:00"}  # a Monday
    txns = write_lines(tmp_path / "t.jsonl", [weekday])
    result = run("simulate", str(rules), "--transactions", str(txns), "--explain")
    explained = {e["rule"]: e for e in orjson.loads(result.stdout)["explain"]}
    assert explained["weekend"]["matched"] is False
    assert explained["weekend"]["at"] == f"{rules}:6:8"
    assert explained["weekend"]["failed"] == "weekday is mon"
    assert explained["weekend"]["source"] == "weekday in {sat, sun}"
    assert explained["big"]["failed"] == "amount is 12.50"


def test_simulate_members_file_sets_starting_state(rules, tmp_path):
    members = write_lines(tmp_path / "m.jsonl", [{"member": "m-1", "balances": {"cash": "3.10"}}])
    txns = write_lines(
        tmp_path / "t.jsonl", [{**GOOD, "redeem": {"wallet": "cash", "amount": "2.00"}}]
    )
    result = run("simulate", str(rules), "--transactions", str(txns), "--members", str(members))
    decision = orjson.loads(result.stdout)
    assert (decision["redeemed"], decision["charged"], decision["balances"]["cash"]) == (
        "2.00",
        "9.25",
        "1.10",
    )


def test_simulate_rejects_times_outside_the_time_zone_table(rules, tmp_path):
    txns = write_lines(tmp_path / "t.jsonl", [{**GOOD, "time": "2201-07-01T10:00:00+02:00"}])
    result = run("simulate", str(rules), "--transactions", str(txns))
    assert result.returncode == 1
    assert "t.jsonl:1: error[invalid_value]: time: must be between 1970 and 2199" in result.stderr


def test_serve_poll_idle_refused_stops_at_start_with_the_reason(tmp_path, monkeypatch, capsys):
    """Without the PM QoS device (or root) ``--poll-idle`` is a one-line error, exit 2,
    before the embedded Redis or any worker starts."""
    from tessera.server import idle
    from tessera.server.cli import main

    monkeypatch.setattr(idle, "QOS_DEVICE", str(tmp_path / "no-such-device"))
    code = main(["serve", "--poll-idle", "--data", str(tmp_path / "var"), "--port", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot keep idle CPUs polling" in err and "Traceback" not in err
    assert not (tmp_path / "var" / "redis").exists()
