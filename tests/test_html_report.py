"""report.html shows what summary.json says: its matrix cells, totals and findings are
checked against the summary of the same run (a run with a fault, so there is red)."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from streamconform.engine.run import ConformanceRun, RunConfig
from streamconform.report.html import write_html
from streamconform.report.summary import build_summary

GRAVITY = ["skip", "pass", "warn", "untestable", "fail"]


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
        results = [run.judge(case) for case in run.cases()]
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
        if r["outcome"] in ("fail", "warn", "untestable")
    )
    assert sorted(parsed.findings) == shown
    assert parsed.svgs >= 2  # the duration bar and the gaps between events
    assert {"table", "pre", "svg"} <= parsed.tags


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("STREAMCONFORM_REQUIRE_BROWSER"):
            pytest.fail("STREAMCONFORM_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return found


def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """Real Chromium, from a file:// URL with no server: the rendered DOM holds the same
    matrix as summary.json, and a screenshot of the page is drawn."""
    chromium = _browser()
    run = ConformanceRun(
        RunConfig(
            specs=[Path(__file__).resolve().parents[1] / "specs" / "workflow-stream.yaml"],
            fault="workflow-stream/text.sse-framed",
            select=["suite:framing"],
        )
    )
    try:
        results = [run.judge(case) for case in run.cases()]
    finally:
        run.close()
    page = write_html(build_summary(results), tmp_path)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p'}"]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = Cells()
    rendered.feed(dom.stdout)
    summary = build_summary(results)
    assert rendered.totals == summary["totals"]
    assert rendered.cells[("workflow-stream", "text.framing.none")] == "fail"
    assert len(rendered.cells) == len({r["check"] for r in summary["runs"][0]["results"]})
    shot = tmp_path / "report.png"
    drawn = subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert drawn.returncode == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a page drawn, not a blank canvas
