"""report.html: one self-contained file (no script, no server, no network) built from the
same data as summary.json, so what it shows is what summary.json says.

A matrix of checks by spec and target, coloured by outcome; every internal error (with
its traceback), failure, warning and untestable case with its message (requirement,
expected, actual, where, wire excerpt); and per endpoint the time to the first event, the
whole duration and the gaps between events, drawn as inline SVG.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from streamconform.core.outcome import Outcome
from streamconform.report.summary import write_atomically

__all__ = ["render_html", "write_html"]

_COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "warn": "#ef6c00",
    "skip": "#9e9e9e",
    "untestable": "#6a1b9a",
    "error": "#212121",
}
_FINDINGS = ("error", "fail", "warn", "untestable")
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
td.cell{color:#fff;text-align:center;font-weight:600}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}
.totals span{margin-right:1em}
""" + "".join(f"td.{k}{{background:{v}}}" for k, v in _COLOURS.items())


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _matrix(summary: dict[str, Any]) -> list[str]:
    runs = summary["runs"]
    checks = sorted({(r["suite"], r["check"]) for run in runs for r in run["results"]})
    head = "".join(
        f"<th>{_esc(run['spec'])}<br><small>{_esc(run['target'])}</small></th>" for run in runs
    )
    rows = [f"<table id='matrix'><tr><th>suite</th><th>check</th>{head}</tr>"]
    for suite, check in checks:
        cells = []
        for run in runs:
            mine = [r for r in run["results"] if r["check"] == check]
            if not mine:
                cells.append("<td></td>")
                continue
            worst = max(mine, key=lambda r: Outcome(r["outcome"]).gravity)["outcome"]
            tip = "; ".join(f"{r['endpoint']}: {r['outcome']}" for r in mine)
            cells.append(
                f"<td class='cell {worst}' title='{_esc(tip)}' data-spec='{_esc(run['spec'])}' "
                f"data-check='{_esc(check)}' data-outcome='{worst}'>{worst}</td>"
            )
        rows.append(f"<tr><td>{_esc(suite)}</td><td>{_esc(check)}</td>{''.join(cells)}</tr>")
    rows.append("</table>")
    return rows


def _findings(summary: dict[str, Any]) -> list[str]:
    out = ["<h2>Internal errors, failures, warnings and untestable cases</h2>"]
    shown = [r for run in summary["runs"] for r in run["results"] if r["outcome"] in _FINDINGS]
    if not shown:
        out.append("<p>None.</p>")
    for r in sorted(shown, key=lambda r: (-Outcome(r["outcome"]).gravity, r["id"])):
        out.append(
            f"<h3 class='finding' data-id='{_esc(r['id'])}'>{_esc(r['outcome'].upper())} "
            f"{_esc(r['id'])}</h3><pre>{_esc(r['message'])}</pre>"
        )
    return out


def _gaps_svg(gaps: list[float]) -> str:
    if len(gaps) < 2:
        return ""
    top = max(gaps) or 1.0
    width, height = 300, 40
    step = width / (len(gaps) - 1)
    points = " ".join(f"{i * step:.1f},{height - g / top * height:.1f}" for i, g in enumerate(gaps))
    return (
        f"<svg width='{width}' height='{height}' role='img' aria-label='gaps between events'>"
        f"<polyline fill='none' stroke='#1565c0' points='{points}'/></svg>"
        f" <small>max gap {top:.3f} s</small>"
    )


def _timing(summary: dict[str, Any]) -> list[str]:
    out = [
        "<h2>Timing per endpoint</h2><table id='timing'>",
        "<tr><th>spec</th><th>endpoint</th><th>first event</th><th>duration</th>"
        "<th>gaps between events</th></tr>",
    ]
    longest = (
        max(
            (
                t.get("duration", 0.0)
                for run in summary["runs"]
                for t in run.get("timing", {}).values()
            ),
            default=0.0,
        )
        or 1.0
    )
    for run in summary["runs"]:
        for endpoint, t in run.get("timing", {}).items():
            first, whole = t.get("first_event"), t.get("duration", 0.0)
            bar = (
                f"<svg width='200' height='12'><rect width='{200 * whole / longest:.1f}' "
                f"height='12' fill='#90caf9'/>"
                + (
                    f"<rect width='{200 * first / longest:.1f}' height='12' fill='#1565c0'/>"
                    if first is not None
                    else ""
                )
                + "</svg>"
            )
            first_text = "-" if first is None else f"{first:.3f} s"
            out.append(
                f"<tr><td>{_esc(run['spec'])}</td><td>{_esc(endpoint)}</td>"
                f"<td>{first_text}</td><td>{whole:.3f} s {bar}</td>"
                f"<td>{_gaps_svg(list(t.get('gaps', [])))}</td></tr>"
            )
    out.append("</table>")
    return out


def render_html(summary: dict[str, Any]) -> str:
    totals = "".join(
        f"<span class='{k}'>{_esc(k)}: <b data-total='{_esc(k)}'>{v}</b></span>"
        for k, v in summary["totals"].items()
    )
    body = [
        "<h1>streamconform report</h1>",
        f"<p class='totals'>{totals}</p>",
        *_matrix(summary),
        *_findings(summary),
        *_timing(summary),
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>streamconform report</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_html(summary: dict[str, Any], report_dir: Path) -> Path:
    """Write report_dir/report.html from a build_summary result."""
    return write_atomically(report_dir, "report.html", render_html(summary))
