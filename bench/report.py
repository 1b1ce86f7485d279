"""Write a run's results folder: ``results.json``, ``report.md`` and one PNG per chart.

The JSON holds every figure, chart point and check with the machine and commit they were
measured on, so that two runs can be compared later; the Markdown is the same run for a
reader, with the charts beside the tables.  matplotlib draws off-screen (Agg backend).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import orjson

from bench.harness import Chart, Results

SUITE_TITLES = {
    "matcher": "Matcher: compiled against the reference evaluator",
    "decision": "Decision: match + walk",
    "wallets": "Wallet store: authorise against the bare EVALSHA floor",
    "e2e": "End to end over gRPC",
    "activation": "Compile and activation",
    "multicore": "Multi-core: `tessera serve --workers N`",
    "peers": "Peers: zen-engine and rule-engine on the same programmes",
    "breakdown": "Where one authorisation spends its time",
}


def write(results: Results, out: Path) -> dict[str, Path]:
    """Write the folder; returns the paths written by kind (json, markdown, chart keys)."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    json_path = out / "results.json"
    json_path.write_bytes(orjson.dumps(results.as_dict(), option=orjson.OPT_INDENT_2))
    written["json"] = json_path
    images = draw_charts(results.charts, out / "charts")
    written.update({f"chart:{k}": p for k, p in images.items()})
    md_path = out / "report.md"
    md_path.write_text(markdown(results, {k: p.relative_to(out) for k, p in images.items()}))
    written["markdown"] = md_path
    return written


def _slug(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-") or "chart"


def draw_charts(charts: dict[str, Chart], folder: Path) -> dict[str, Path]:
    """One PNG per chart that has points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, chart in charts.items():
        if not any(chart.lines.values()):
            continue
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
        try:
            if chart.kind == "bar":
                _bars(ax, chart)
            else:
                _lines(ax, chart)
            ax.set_title(chart.title)
            ax.set_xlabel(chart.x_label)
            ax.set_ylabel(chart.y_label)
            ax.grid(True, which="both", alpha=0.3)
            if len(chart.lines) > 1 or chart.kind != "bar":
                ax.legend(fontsize="small")
            fig.tight_layout()
            path = folder / f"{_slug(key)}.png"
            fig.savefig(path)
            out[key] = path
        finally:
            plt.close(fig)
    return out


def _lines(ax, chart: Chart) -> None:
    for label, points in chart.lines.items():
        points = sorted(p for p in points if _finite(p[1]))
        if not points:
            continue
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    if chart.log_x:
        ax.set_xscale("log")
    if chart.log_y:
        ax.set_yscale("log")


def _bars(ax, chart: Chart) -> None:
    names: list[str] = []
    for points in chart.lines.values():
        for x, _ in points:
            if str(x) not in names:
                names.append(str(x))
    width = 0.8 / max(1, len(chart.lines))
    for i, (label, points) in enumerate(chart.lines.items()):
        values = dict((str(x), y) for x, y in points)
        xs = [j + i * width for j in range(len(names))]
        ax.bar(xs, [values.get(n, 0.0) for n in names], width, label=label)
    ax.set_xticks([j + width * (len(chart.lines) - 1) / 2 for j in range(len(names))])
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize="small")
    if chart.log_y:
        ax.set_yscale("log")


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _number(value: float) -> str:
    if not _finite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:,.1f}"
    if magnitude >= 0.1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(results: Results, images: dict[str, Path] | None = None) -> str:
    """The report: provenance, the checks, then each suite's figures and charts."""
    images = images or {}
    meta = results.meta
    lines = ["# Tessera benchmark report", ""]
    lines += [
        f"- date: {meta.get('date', '?')}",
        f"- commit: `{meta.get('git_commit') or 'unknown'}`"
        + (" (uncommitted changes)" if meta.get("git_dirty") else ""),
        f"- machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, "
        f"{meta.get('memory_gb', '?')} GB; {meta.get('platform', '?')}; "
        f"Python {meta.get('python', '?')}",
        f"- load average at start: {meta.get('load_average')}",
        f"- idle CPUs: {meta.get('idle', '?')}",
        f"- suites: {', '.join(meta.get('suites', [])) or '?'}; sizes: {meta.get('sizes')}"
        + ("; quick" if meta.get("quick") else ""),
        f"- wall time: {_number(meta.get('seconds', float('nan')))} s",
        "",
        "Every ratio compares figures measured in the same run; absolute times on a shared "
        "machine drift between runs.",
        "",
    ]
    if results.failures:
        lines += ["## Failures", ""] + [f"- {f}" for f in results.failures] + [""]
    if results.checks:
        lines += ["## Targets and ratios", ""]
        lines += _table(
            ["", "check", "measured", "target"],
            (
                ["ok" if c.ok else "**MISS**", c.label, _number(c.value),
                 f"{c.relation} {_number(c.target)}"]
                for c in results.checks
            ),
        )
        lines.append("")
    suites = list(dict.fromkeys(
        [*meta.get("suites", []), *(f.get("suite", "") for f in results.figures.values())]
    ))
    chart_suites = {key: key.split(":", 1)[0] for key in results.charts}
    for suite in suites:
        names = [n for n, f in results.figures.items() if f.get("suite", "") == suite]
        charts = [k for k, s in chart_suites.items() if s == suite and k in images]
        if not names and not charts:
            continue
        lines += [f"## {SUITE_TITLES.get(suite, suite or 'other')}", ""]
        for key in charts:
            lines += [f"![{results.charts[key].title}]({images[key].as_posix()})", ""]
        if names:
            lines += _table(
                ["figure", "value", "unit"],
                (
                    [n, _number(results.figures[n]["value"]), results.figures[n].get("unit", "")]
                    for n in names
                ),
            )
            notes = [(n, results.figures[n]["note"]) for n in names
                     if results.figures[n].get("note")]
            if notes:
                lines.append("")
                lines += [f"- *{n}*: {note}" for n, note in notes]
            lines.append("")
    return "\n".join(lines) + "\n"
