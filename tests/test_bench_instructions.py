"""The callgrind workloads of bench/instructions.py: they run, and their counts repeat."""

from __future__ import annotations

import shutil

import pytest

from bench import instructions


def test_the_workloads_make_the_calls_they_count():
    assert instructions.run_match(100) == instructions.CALLS["match"]
    assert instructions.run_wallets("bare", 5) == 5
    assert instructions.run_wallets("authorize", 5) == 5
    assert instructions.run_wallets("answer", 5) == 5
    assert instructions.run_wallets("answer-protobuf", 5) == 5
    assert instructions.run_stages(5) == 5
    assert instructions.run_servicer("quote", 5) == 5  # its warm-up calls Authorize too


def test_a_usage_error_says_how():
    assert instructions.main([]) == 2
    assert instructions.main(["nothing"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instruction_counts_repeat_exactly():
    first = instructions.count("match", 100)
    assert first > 0
    assert instructions.count("match", 100) == first
