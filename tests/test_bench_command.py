"""``tessera bench``: usage errors, and a small real run through the runner to its report."""

from __future__ import annotations

import struct

import orjson
import pytest
from tessera.server import idle
from tessera.server.cli import main

from bench.harness import RunOptions
from bench.runner import options_from, parse_args, run


def test_bad_sizes_are_a_usage_error(capsys, tmp_path):
    assert main(["bench", "--sizes", "0,100", "--out", str(tmp_path)]) == 2
    assert "positive rule counts" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--suite", "nonesuch"])
    assert exit_info.value.code == 2


def test_options_follow_the_command_line(tmp_path):
    options, suites = options_from(parse_args(
        ["--quick", "--suite", "matcher", "--suite", "peers", "--sizes", "1000,100",
         "--out", str(tmp_path), "--workers", "1,2"]))
    assert suites == ["matcher", "peers"]
    assert options.sizes == (100, 1000) and options.quick and options.workers == (1, 2)
    assert options.out == tmp_path and not options.poll_idle
    options, suites = options_from(parse_args([]))
    assert options.sizes == (100, 1_000, 10_000, 100_000) and len(suites) == 8
    options, _ = options_from(parse_args(["--poll-idle"]))
    assert options.poll_idle


def test_poll_idle_holds_a_zero_latency_request_while_the_block_runs(tmp_path):
    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    with idle.poll_idle(str(device)):
        assert device.read_bytes() == struct.pack("i", 0)
    missing = idle.poll_idle(str(tmp_path / "missing"))
    with pytest.raises(idle.IdlePollUnavailable, match="as root"), missing:
        pass
    assert idle.idle_state().startswith("cpuidle driver ")


def test_poll_idle_that_cannot_be_had_is_a_usage_error_before_any_suite(
    capsys, tmp_path, monkeypatch
):
    from bench import runner

    missing = str(tmp_path / "missing")
    monkeypatch.setattr(runner, "poll_idle", lambda: idle.poll_idle(missing))
    ran = {"decision": lambda results, options: pytest.fail("a suite ran")}
    monkeypatch.setattr(runner, "_suites", lambda: ran)
    assert main(["bench", "--poll-idle", "--suite", "decision", "--out", str(tmp_path)]) == 2
    assert "cannot keep idle CPUs polling" in capsys.readouterr().err


def test_a_suite_runs_and_a_failing_one_is_reported(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from bench import runner

    def broken(results, options):
        raise RuntimeError("no server")

    table = runner._suites()
    table["broken"] = broken
    monkeypatch.setattr(runner, "_suites", lambda: table)
    results = run(RunOptions(out=tmp_path, sizes=(100,), quick=True), ["decision", "broken"],
                  log=lambda _m: None)
    assert results.failures == ["broken: RuntimeError: no server"]
    assert results.value("decision µs/txn     100") > 0
    assert results.meta["suites"] == ["decision", "broken"] and results.meta["cores"]
    assert results.meta["idle"].startswith("cpuidle driver ")
    from bench.report import write

    written = write(results, tmp_path)
    data = orjson.loads(written["json"].read_bytes())
    assert data["charts"]["decision:cost"]["lines"]["match + walk"][0][0] == 100
    assert (tmp_path / "charts" / "decision-cost.png").stat().st_size > 0
