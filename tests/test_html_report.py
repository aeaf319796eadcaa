"""report.html shows what summary.json says: its matrix cells, totals and findings are
checked against the summary of the same run (a run with a fault, so there is red)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from chromium import dump_dom, screenshot

from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.report.html import write_html
from streamconform.report.summary import build_summary

GRAVITY = ["skip", "pass", "warn", "untestable", "fail", "error"]


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.totals: dict[str, int] = {}
        self.findings: list[str] = []
        self.svgs = 0
        self._total: str | None = None
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "td" and "data-check" in a:
            self.cells[(a["data-spec"] or "", a["data-check"] or "")] = a["data-outcome"] or ""
        if tag == "b" and "data-total" in a:
            self._total = a["data-total"]
        if tag == "h3" and "data-id" in a:
            self.findings.append(a["data-id"] or "")
        if tag == "svg":
            self.svgs += 1

    def handle_data(self, data: str) -> None:
        if self._total is not None:
            self.totals[self._total] = int(data)
            self._total = None


def test_the_report_matches_the_summary_of_the_same_run(tmp_path: Path) -> None:
    run = ConformanceRun(
        RunConfig(
            specs=[Path(__file__).resolve().parents[1] / "specs" / "workflow-stream.yaml"],
            fault="workflow-stream/text.sse-framed",
            select=["suite:framing", "suite:terminal"],
        )
    )
    try:
        results = run.judge_all(run.cases())
    finally:
        run.close()
    summary: dict[str, Any] = build_summary(results)
    page = write_html(build_summary(results), tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text.split("<body>")[0]
    parsed = Cells()
    parsed.feed(text)

    expected: dict[tuple[str, str], str] = {}
    for item in summary["runs"]:
        for r in item["results"]:
            key = (item["spec"], r["check"])
            old = expected.get(key, "skip")
            expected[key] = max(old, r["outcome"], key=GRAVITY.index)
    assert parsed.cells == expected
    assert parsed.cells[("workflow-stream", "text.framing.none")] == "fail"
    assert parsed.totals == summary["totals"]
    shown = sorted(
        r["id"]
        for item in summary["runs"]
        for r in item["results"]
        if r["outcome"] in ("error", "fail", "warn", "untestable")
    )
    assert sorted(parsed.findings) == shown
    assert parsed.svgs >= 2  # the duration bar and the gaps between events
    assert {"table", "pre", "svg"} <= parsed.tags


def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """Real Chromium, from a file:// URL with no server: the rendered DOM holds the same
    matrix as summary.json, and a screenshot of the page is drawn."""
    run = ConformanceRun(
        RunConfig(
            specs=[Path(__file__).resolve().parents[1] / "specs" / "workflow-stream.yaml"],
            fault="workflow-stream/text.sse-framed",
            select=["suite:framing"],
        )
    )
    try:
        results = run.judge_all(run.cases())
    finally:
        run.close()
    page = write_html(build_summary(results), tmp_path)
    dom = dump_dom(page.as_uri(), tmp_path / "profile")
    rendered = Cells()
    rendered.feed(dom)
    summary = build_summary(results)
    assert rendered.totals == summary["totals"]
    assert rendered.cells[("workflow-stream", "text.framing.none")] == "fail"
    assert len(rendered.cells) == len({r["check"] for r in summary["runs"][0]["results"]})
    shot = screenshot(page.as_uri(), tmp_path / "profile", tmp_path / "report.png")
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(shot) > 10_000  # a page drawn, not a blank canvas
