"""reports/allure-results, as `streamconform run` writes them, render with the Allure
command-line tool from the npm registry (allure-commandline 2, which runs on Java), and
say what summary.json says: the same totals, each failure with its requirement, where it
broke and the wire transcript, and a suite tree of spec, endpoint and check family.

The tool is found as $STREAMCONFORM_ALLURE or `allure` on the PATH; where it is missing the
tests skip, unless STREAMCONFORM_REQUIRE_ALLURE is set (as .ci/run sets it).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from chromium import dump_dom
from gate_server import cli, gate_app, write_gate_spec

from streamconform.servers import BackgroundServer


def _allure() -> str:
    found = os.environ.get("STREAMCONFORM_ALLURE") or shutil.which("allure")
    version = ""
    if found:
        done = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=60)
        version = done.stdout.strip()
        if version.startswith("2."):
            return found
    why = f"{found} is Allure {version!r}, not 2" if found else "allure is not installed"
    if os.environ.get("STREAMCONFORM_REQUIRE_ALLURE"):
        pytest.fail(f"STREAMCONFORM_REQUIRE_ALLURE is set but {why}")
    pytest.skip(f"{why} (npm install allure-commandline@2; it needs Java)")


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> tuple[Path, dict[str, Any]]:
    """A run with failures (the last event is not JSON), its summary.json, and the
    Allure report generated from it: once per test run, even when this module's tests are
    spread over several xdist workers (the folder above a worker's is that run's own)."""
    allure = _allure()
    base = tmp_path_factory.getbasetemp()
    work = (base.parent if worker_id != "master" else base) / "allure-shared"
    work.mkdir(exist_ok=True)
    with (work / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits, then reads what was made
        out, summary_file = work / "allure-report", work / "reports" / "summary.json"
        if not (out / "widgets" / "summary.json").exists():
            _generate(allure, work, out)
        return out, json.loads(summary_file.read_text())


def _generate(allure: str, work: Path, out: Path) -> None:
    spec = write_gate_spec(work)
    with BackgroundServer(gate_app({"json"})) as server:
        run = cli("run", "--spec", str(spec), "--target", server.url, cwd=work)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr
    results = work / "reports" / "allure-results"
    done = subprocess.run(
        [allure, "generate", str(results), "-o", str(out), "--clean"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _expected_statistic(totals: dict[str, int]) -> dict[str, int]:
    """How our outcomes land in Allure's statuses: a warning passes (it is not a failure
    unless --strict), an untestable case is skipped, as pytest reports them; a check that
    raised is broken."""
    return {
        "failed": totals["fail"],
        "broken": totals["error"],
        "skipped": totals["skip"] + totals["untestable"],
        "passed": totals["pass"] + totals["warn"],
        "unknown": 0,
        "total": sum(totals.values()),
    }


def test_the_allure_report_has_the_totals_and_the_failure(
    generated: tuple[Path, dict[str, Any]],
) -> None:
    out, summary = generated
    statistic = json.loads((out / "widgets" / "summary.json").read_text())["statistic"]
    assert statistic == _expected_statistic(summary["totals"])
    assert statistic["failed"] == 2 and statistic["passed"] > 10 and statistic["skipped"] > 10

    cases = [json.loads(p.read_text()) for p in (out / "data" / "test-cases").glob("*.json")]
    assert sorted(c["name"] for c in cases) == sorted(
        r["id"] for item in summary["runs"] for r in item["results"]
    )
    failures = {c["name"]: c for c in cases if c["status"] == "failed"}
    assert sorted(failures) == ["gate::events::schema.type.declared", "gate::events::sse.data.json"]
    failed = failures["gate::events::sse.data.json"]
    message = failed["statusMessage"]
    assert "Requirement: Where the spec says so" in message
    assert 'Spec: "q" [r, MUST]' in message
    assert "Where: event #3, byte 87" in message
    labels = {(label["name"], label["value"]) for label in failed["labels"]}
    assert {("parentSuite", "gate"), ("suite", "events"), ("subSuite", "framing")} <= labels
    assert ("severity", "critical") in labels
    assert failed["parameters"] == [
        {"name": "conformance_case", "value": "Case('gate::events::sse.data.json')"}
    ]
    (wire,) = [a for a in failed["testStage"]["attachments"] if a["name"] == "wire transcript"]
    assert "data: not json" in (out / "data" / "attachments" / wire["source"]).read_text()

    tree = json.loads((out / "data" / "suites.json").read_text())
    assert [spec["name"] for spec in tree["children"]] == ["gate"]
    assert [e["name"] for e in tree["children"][0]["children"]] == ["events"]


@pytest.fixture
def served(generated: tuple[Path, dict[str, Any]]) -> Iterator[str]:
    """The report over HTTP on 127.0.0.1, as `allure open` serves it: its page loads its
    data with requests, which a browser refuses to a file:// page."""
    out, _ = generated
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_allure_report_renders_in_headless_chromium(
    served: str, generated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, summary = generated
    dom = dump_dom(served, tmp_path / "profile", "--virtual-time-budget=10000")
    shown = re.findall(r'class="splash__title">(\d+)<', dom)
    assert shown == [str(sum(summary["totals"].values()))], shown
    assert ">gate<" in dom  # the suites widget: the spec at the top of the tree
    assert "Product defects" in dom  # the categories widget: the failure counted
