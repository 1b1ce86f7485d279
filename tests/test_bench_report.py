"""The benchmark report writer: JSON, Markdown and PNG charts from a small set of figures."""

from __future__ import annotations

import orjson
import pytest

from bench.harness import Results
from bench.report import markdown, write

pytest.importorskip("matplotlib", reason="matplotlib comes with the test extra")

PNG = b"\x89PNG\r\n\x1a\n"


def _results() -> Results:
    r = Results(meta={"date": "2026-12-01T00:00:00+00:00", "git_commit": "abc123",
                      "cores": 2, "cpu": "test cpu", "suites": ["matcher", "breakdown"],
                      "sizes": [100, 1000], "seconds": 1.5})
    r.suite = "matcher"
    r.record("match µs/txn compiled 1000", 4.25, "µs/txn")
    r.record("match µs/txn reference 1000", 5500.0, "µs/txn", note="the oracle")
    r.chart("matcher:cost", "Cost against rules", "rules", "µs", log_x=True, log_y=True)
    for n, us in ((100, 3.0), (1000, 4.25)):
        r.point("matcher:cost", "compiled", n, us)
    r.point("matcher:cost", "reference", 1000, 5500.0)
    r.check("reference / compiled (x)", 5500 / 4.25, ">=", 100)
    r.check("match at 1,000 rules (µs)", 4.25, "<=", 2)
    r.suite = "breakdown"
    r.chart("breakdown:stages", "Stages", "stage", "µs", kind="bar")
    r.point("breakdown:stages", "median", "match", 10.0)
    r.point("breakdown:stages", "median", "Redis write", 300.0)
    r.chart("breakdown:empty", "Nothing measured", "x", "y")  # no points: no PNG
    return r


def test_write_produces_json_markdown_and_charts(tmp_path):
    written = write(_results(), tmp_path / "out")
    data = orjson.loads(written["json"].read_bytes())
    assert data["meta"]["git_commit"] == "abc123"
    assert data["figures"]["match µs/txn compiled 1000"] == {
        "value": 4.25, "unit": "µs/txn", "suite": "matcher"}
    assert data["figures"]["match µs/txn reference 1000"]["note"] == "the oracle"
    assert data["charts"]["matcher:cost"]["lines"]["compiled"] == [[100, 3.0], [1000, 4.25]]
    assert [(c["label"], c["ok"]) for c in data["checks"]] == [
        ("reference / compiled (x)", True), ("match at 1,000 rules (µs)", False)]

    charts = sorted(p.name for p in (tmp_path / "out" / "charts").iterdir())
    assert charts == ["breakdown-stages.png", "matcher-cost.png"]
    for name in charts:
        blob = (tmp_path / "out" / "charts" / name).read_bytes()
        assert blob.startswith(PNG) and len(blob) > 5_000

    text = written["markdown"].read_text()
    assert "commit: `abc123`" in text
    assert "| ok | reference / compiled (x) | 1,294 | >= 100.0 |" in text
    assert "| **MISS** | match at 1,000 rules (µs) | 4.25 | <= 2.00 |" in text
    assert "![Cost against rules](charts/matcher-cost.png)" in text
    assert "![Stages](charts/breakdown-stages.png)" in text
    assert "| match µs/txn reference 1000 | 5,500 | µs/txn |" in text
    assert "*match µs/txn reference 1000*: the oracle" in text
    # Each suite's section holds its own figures and charts.
    matcher = text.index("## Matcher")
    breakdown = text.index("## Where one authorisation")
    assert matcher < text.index("matcher-cost.png") < breakdown < text.index("stages.png")


def test_results_round_trip_through_json():
    r = _results()
    again = Results.from_dict(orjson.loads(orjson.dumps(r.as_dict())))
    assert again.figures == r.figures
    assert again.charts["matcher:cost"].lines == r.charts["matcher:cost"].lines
    assert [(c.label, c.value, c.ok) for c in again.checks] == [
        (c.label, c.value, c.ok) for c in r.checks]
    assert markdown(again) == markdown(r)


def test_failures_are_listed_first():
    r = _results()
    r.failures.append("peers: PeerMismatch: zen-engine differs")
    text = markdown(r)
    assert text.index("## Failures") < text.index("## Targets and ratios")
    assert "- peers: PeerMismatch: zen-engine differs" in text
