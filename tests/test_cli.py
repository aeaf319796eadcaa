"""The `streamconform` command as a user runs it: exit codes, one-line errors, reports."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from crashing_check import crashing
from reference_process import serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from streamconform.servers import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-live-0123456789abcdef"
SPEC = """\
streamconform: 1
name: echo
title: A one-endpoint API whose server repeats the key it was sent
source: {document: test}
variables:
  api_key: {env: ECHO_API_KEY, secret: true, default: unused-default}
auth:
  key: {type: header, name: x-api-key, value: "${api_key}"}
endpoints:
  events:
    method: GET
    path: /events
    framing: sse
    auth: key
    content_types: [text/event-stream]
    events:
      type_from: json-field
      data: json
      types:
        tick: {schema: {type: object}}
requirements:
  - id: r
    quote: q
    level: MUST
    checks: [sse.data.json]
"""


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamconform.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def echo_app(*, retry: str = "1000") -> Starlette:
    """Streams ticks, echoing the key it got into a header, an event and a comment."""

    async def handler(request: Request) -> Response:
        key = request.headers.get("x-api-key", "")

        async def body() -> AsyncIterator[bytes]:
            for n in range(4):
                await asyncio.sleep(0.05)
                yield f'retry: {retry}\ndata: {{"type":"tick","n":{n},"key":"{key}"}}\n\n'.encode()
            yield f": you sent {key}\n\ndata: not-json {key}\n\n".encode()

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"x-echo-key": key, "cache-control": "no-cache"},
        )

    return Starlette(routes=[Route("/events", handler)])


@pytest.fixture
def echo_spec(tmp_path: Path) -> Path:
    path = tmp_path / "echo.yaml"
    path.write_text(SPEC)
    return path


def test_the_socks_notice_of_urllib3_is_not_shown_whichever_test_loads_requests(
    tmp_path: Path,
) -> None:
    """pytest restores the warning filters after each test; the notice, emitted when the
    first case is drawn (whichever test that is), stays out of the output all the same."""
    (tmp_path / "test_notice.py").write_text(
        "import warnings\n\n"
        "def test_before():\n    pass\n\n"
        "def test_draws():\n"
        "    warnings.warn('SOCKS support in urllib3 requires PySocks', Warning)\n"
    )
    argv = [sys.executable, "-m", "pytest", "-p", "streamconform.pytest_plugin"]
    argv += ["-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:xdist"]
    result = subprocess.run(
        [*argv, "-c", os.devnull, "--report-dir", "r", "test_notice.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "SOCKS" not in result.stdout + result.stderr


def test_run_against_the_reference_servers_passes_and_writes_reports(tmp_path: Path) -> None:
    result = cli("run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Warning" not in result.stdout + result.stderr  # a clean run prints no noise
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["version"] == 1
    assert {run["spec"] for run in summary["runs"]} == {
        "miniapp-studio",
        "promptfloe",
        "workflow-stream",
        "prism-agents",
    }
    assert summary["totals"]["fail"] == 0
    assert summary["totals"]["pass"] > 50
    first = summary["runs"][0]["results"][0]
    assert set(first) >= {"id", "suite", "endpoint", "level", "outcome", "message", "requirement"}
    suites = ET.parse(tmp_path / "reports" / "junit.xml").getroot()
    assert int(suites.find("testsuite").get("tests")) == sum(summary["totals"].values())
    allure = tmp_path / "reports" / "allure-results"
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert len(results) == sum(summary["totals"].values())
    for result in results:
        assert {"epic", "feature", "story", "severity"} <= {x["name"] for x in result["labels"]}
    attached = [
        a for r in results for a in r.get("attachments", []) if a["name"] == "wire transcript"
    ]
    assert attached and all(
        (allure / a["source"]).read_text().startswith(("GET ", "POST ")) for a in attached
    )
    again = cli("run", "--select", "prism-agents", cwd=tmp_path)  # a new run starts clean
    assert again.returncode == 0
    assert len(list(allure.glob("*-result.json"))) < len(results)


def test_failures_name_requirement_expected_actual_where_and_hide_the_secret(
    tmp_path: Path, echo_spec: Path
) -> None:
    with BackgroundServer(echo_app()) as server:
        result = cli(
            "run",
            "--spec",
            str(echo_spec),
            "--target",
            server.url,
            cwd=tmp_path,
            env={"ECHO_API_KEY": SECRET},
        )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    out = result.stdout
    for word in (
        "sse.data.json (MUST)",
        "Requirement:",
        "Expected: JSON data",
        "Actual:",
        "Where: event #4, byte",
        "Wire (arrival time, byte offset):",
        "not-json",
    ):
        assert word in out, word
    written = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in out + result.stderr
    assert "[REDACTED]" in out


def test_a_check_that_raises_is_an_error_in_every_report_and_the_run_exits_3(
    tmp_path: Path, echo_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash = crashing(monkeypatch)  # sse.data.json raises, quoting data that holds the key
    with BackgroundServer(echo_app(retry="1000x")) as server:
        result = cli(
            "run",
            "--spec",
            str(echo_spec),
            "--target",
            server.url,
            "--progress",
            "lines",
            *crash,
            cwd=tmp_path,
            env={"ECHO_API_KEY": SECRET},
        )
    out = result.stdout
    assert result.returncode == 3, out[-3000:] + result.stderr  # 3 beats the retry's fail
    crashed, failed = "echo::events::sse.data.json", "echo::events::sse.retry.digits-only"
    reports = tmp_path / "reports"
    summary = json.loads((reports / "summary.json").read_text())
    results = {r["id"]: r for r in summary["runs"][0]["results"]}
    assert (results[crashed]["outcome"], results[failed]["outcome"]) == ("error", "fail")
    message = results[crashed]["message"]
    assert message.startswith("internal error: check sse.data.json raised ValueError")
    assert "Traceback (most recent call last):" in message and ", in choke" in message
    quoted = '{"type":"tick","n":0,"key":"[REDACTED]"}'  # the echoed key, redacted
    assert f"ValueError: cannot read {quoted!r}" in message
    assert summary["totals"]["error"] == 1 and summary["totals"]["fail"] >= 1

    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    error = cases[f"test_framing[{crashed}]"]
    assert error.find("failure") is None
    assert "sse.data.json raised ValueError" in error.find("error").get("message")
    assert cases[f"test_framing[{failed}]"].find("failure") is not None
    assert suite.get("errors") == "1"
    assert suite.get("failures") == str(summary["totals"]["fail"])

    page = (reports / "report.html").read_text()
    assert "<td class='cell error' title='events: error' data-spec='echo' " in page
    finding = f"<h3 class='finding' data-id='{crashed}'>ERROR {crashed}</h3><pre>internal error"
    assert finding in page and "Traceback (most recent call last):" in page

    assert f"ERROR       {crashed} (" in out  # the progress line
    assert "1 error" in out.splitlines()[-1]
    for path in [p for p in reports.rglob("*") if p.is_file()]:
        assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in out + result.stderr


def test_select_runs_only_the_matching_checks(tmp_path: Path, echo_spec: Path) -> None:
    with BackgroundServer(echo_app(retry="1000x")) as server:
        result = cli(
            "run",
            "--spec",
            str(echo_spec),
            "--target",
            server.url,
            "--select",
            "sse.retry",
            "--var",
            f"api_key={SECRET}",
            cwd=tmp_path,
        )
    assert result.returncode == 1  # a retry that is not all digits breaks a MUST
    assert "retry value '1000x'" in result.stdout
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert [r["id"] for r in summary["runs"][0]["results"]] == [
        "echo::events::sse.retry.digits-only"
    ]


def test_should_level_findings_warn_without_failing_the_run(
    tmp_path: Path, echo_spec: Path
) -> None:
    async def handler(request: Request) -> Response:
        if request.headers.get("x-api-key") != SECRET:
            return JSONResponse({"error": "unauthorized"}, status_code=401)

        async def body() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(0.05)
                yield f'data: {{"type":"tick","n":{n}}}\n\n'.encode()

        return StreamingResponse(body(), media_type="text/event-stream")  # no Cache-Control

    app = Starlette(routes=[Route("/events", handler)])
    with BackgroundServer(app) as server:
        args = (
            "run",
            "--spec",
            str(echo_spec),
            "--target",
            server.url,
            "--var",
            f"api_key={SECRET}",
        )
        plain = cli(*args, cwd=tmp_path)
        summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
        strict = cli(*args, "--strict", cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout[-2000:]
    assert "1 warned" in plain.stdout
    assert (
        "WARN       echo::events::http.cache-control.no-cache: Actual: no Cache-Control header"
        in plain.stdout
    )
    assert summary["totals"]["warn"] == 1
    assert strict.returncode == 1


def test_a_malformed_spec_is_one_line_with_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("framing: sse", "framing: xml"))
    line = SPEC.splitlines().index("    framing: sse") + 1
    result = cli("run", "--spec", str(bad), cwd=tmp_path)
    assert_one_line_error(result, f"bad.yaml:{line}", "endpoints.events.framing")
    assert_one_line_error(cli("list", "--spec", str(bad), cwd=tmp_path), f"bad.yaml:{line}")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(("run", "--no-such-flag"), "unrecognized arguments", id="unknown-flag"),
        pytest.param(("frobnicate",), "invalid choice", id="unknown-command"),
        pytest.param(("run", "--var", "novalue"), "expected NAME=VALUE", id="var-without-value"),
        pytest.param(("run", "--var", "nope=1"), "no spec declares", id="var-unknown"),
        pytest.param(("run", "--target", "ftp://x"), "http:// or https://", id="target-not-http"),
        pytest.param(("run", "--select", "zzz"), "no check matches", id="select-matches-nothing"),
        pytest.param(
            ("run", "--spec", "missing.yaml"), "missing.yaml: no such file", id="spec-missing"
        ),
        pytest.param(("run", "--profile", "missing.yaml"), "no such file", id="profile-missing"),
        pytest.param(("run", "--time-scale", "fast"), "invalid float", id="time-scale-not-number"),
        pytest.param(("run", "--token-race", "1"), "give 2 to 500", id="token-race-too-small"),
        pytest.param(("run", "--token-race", "9999"), "give 2 to 500", id="token-race-too-big"),
        pytest.param(("run", "--token-race", "many"), "invalid int", id="token-race-not-number"),
        pytest.param(("run", "--concurrency", "0"), "give 1 or more", id="concurrency-zero"),
        pytest.param(
            ("faults", "--score", "--parallel", "0"), "give 1 or more", id="parallel-zero"
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(cli(*args, cwd=tmp_path), fragment)


def test_an_unreachable_target_exits_2_quickly(tmp_path: Path, echo_spec: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        started = time.monotonic()
        result = cli(
            "run",
            "--spec",
            str(echo_spec),
            "--target",
            f"http://127.0.0.1:{port}",
            "--var",
            "api_key=k",
            cwd=tmp_path,
        )
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    assert "cannot reach target" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert time.monotonic() - started < 60


def test_a_target_needs_real_credentials_not_the_reference_defaults(
    tmp_path: Path, echo_spec: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ECHO_API_KEY"}
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamconform.cli",
            "run",
            "--spec",
            str(echo_spec),
            "--target",
            "http://127.0.0.1:9",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert_one_line_error(missing, "no value for api_key", "ECHO_API_KEY")


def test_list_prints_every_check_id_with_level_and_requirement(tmp_path: Path) -> None:
    result = cli("list", cwd=tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    retry = [
        line for line in lines if line.startswith("prism-agents::events::sse.retry.digits-only ")
    ]
    assert len(retry) == 1 and "MUST" in retry[0] and "ASCII digits" in retry[0]
    assert "Opens a long-lived Server-Sent Events connection" in retry[0]
    selected = cli("list", "--select", "promptfloe::build", cwd=tmp_path).stdout.splitlines()
    assert selected and all(line.startswith("promptfloe::build::") for line in selected)


def test_a_spec_without_a_reference_server_lists_and_runs_only_with_a_target(
    tmp_path: Path, echo_spec: Path
) -> None:
    listed = cli("list", "--spec", str(echo_spec), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert any(
        line.startswith("echo::events::sse.data.json ") for line in listed.stdout.splitlines()
    )
    run = cli("run", "--spec", str(echo_spec), cwd=tmp_path)
    assert_one_line_error(run, "echo: no --target given", "give --target URL")


def test_serve_runs_a_reference_server_that_pytest_can_target(tmp_path: Path) -> None:
    spec = ROOT / "specs" / "prism-agents.yaml"
    with serving(spec, "/v1/deployments/x/events") as (url, banner):
        assert "serving the prism-agents reference server" in banner
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(ROOT / "suites"),
                "-q",
                "-p",
                "no:cacheprovider",
                "--spec",
                str(spec),
                "--target",
                url,
                "--var",
                "api_key=prism-ref-key-full-scope",
                "--var",
                "unscoped_api_key=prism-ref-key-no-read-scope",
                "--time-scale",
                "0.004",
                f"--report-dir={tmp_path / 'r'}",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "passed" in result.stdout
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["runs"][0]["target"] == url
