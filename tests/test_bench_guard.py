"""The benchmark guard's threshold logic: parsing, retries, pass, fail and errors."""

from __future__ import annotations

import itertools

import pytest

from bench import guard
from bench.guard import Threshold, evaluate, exit_code, parse, summary

LOW = Threshold("latency", "latency ratio", "<=", 2.0)
HIGH = Threshold("speedup", "speed-up", ">=", 100.0)


def _seq(*values):
    it = iter(values)
    return lambda: next(it)


def test_committed_file_names_every_measurement_once():
    thresholds, attempts = guard.load()
    assert attempts >= 2
    assert [t.name for t in thresholds] == list(guard.MEASURES)
    for t in thresholds:
        assert t.relation in ("<=", ">=") and t.threshold > 0


def test_parse_rejects_bad_files():
    with pytest.raises(ValueError, match="relation"):
        parse({"checks": {"x": {"relation": "<", "threshold": 1}}})
    with pytest.raises(ValueError, match="no checks"):
        parse({"attempts": 2})
    with pytest.raises(ValueError, match="attempts"):
        parse({"attempts": 0, "checks": {"x": {"relation": "<=", "threshold": 1}}})
    thresholds, attempts = parse(
        {"attempts": 2, "checks": {"x": {"relation": ">=", "threshold": 3, "label": "X"}}})
    assert thresholds == [Threshold("x", "X", ">=", 3.0)] and attempts == 2


def test_holds_at_the_threshold_and_not_past_it():
    assert LOW.holds(2.0) and LOW.holds(1.0) and not LOW.holds(2.01)
    assert HIGH.holds(100.0) and not HIGH.holds(99.9)
    assert not LOW.holds(float("nan")) and not HIGH.holds(float("nan"))


def test_all_pass_on_the_first_attempt():
    calls = itertools.count()

    def measure():
        next(calls)
        return 1.5

    outcomes = evaluate([LOW, HIGH], {"latency": measure, "speedup": _seq(400.0)}, 3)
    assert [o.values for o in outcomes] == [[1.5], [400.0]]
    assert next(calls) == 1  # measured once: no retry when it holds
    assert exit_code(outcomes) == 0
    assert "PASS" in summary(outcomes) and "FAIL" not in summary(outcomes)


def test_a_miss_then_a_pass_is_noise_not_a_regression():
    outcomes = evaluate([LOW], {"latency": _seq(2.5, 3.0, 1.9)}, 3)
    assert outcomes[0].values == [2.5, 3.0, 1.9]
    assert outcomes[0].ok and exit_code(outcomes) == 0


def test_missing_on_every_attempt_fails():
    outcomes = evaluate([LOW, HIGH], {"latency": _seq(1.0), "speedup": _seq(50, 60, 70, 500)},
                        3)
    assert outcomes[1].values == [50, 60, 70]  # three attempts, not four
    assert not outcomes[1].ok and outcomes[0].ok
    assert exit_code(outcomes) == 1
    text = summary(outcomes)
    assert "FAIL  speed-up" in text and "50.00, 60.00, 70.00" in text


def test_a_measurement_that_raises_is_an_error_not_a_pass():
    def broken():
        raise RuntimeError("redis-server did not start")

    outcomes = evaluate([LOW, HIGH], {"latency": broken, "speedup": _seq(500.0)}, 3)
    assert outcomes[0].error == "RuntimeError: redis-server did not start"
    assert not outcomes[0].ok
    assert exit_code(outcomes) == 2
    assert "ERROR" in summary(outcomes)


def test_a_check_without_a_measurement_is_an_error():
    outcomes = evaluate([LOW], {}, 3)
    assert outcomes[0].error and exit_code(outcomes) == 2
