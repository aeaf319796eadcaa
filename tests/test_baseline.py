"""Gating on "no new failures": selection, and a baseline of expected failures that can
only shrink, through the CLI as a team's CI runs it, against a real server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from crashing_check import crashing
from gate_server import cli, gate_app, write_gate_spec

from streamconform.engine.selection import Selection
from streamconform.servers import BackgroundServer


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_gate_spec(tmp_path)


def test_a_baseline_round_trip_gates_on_new_failures_and_stale_entries(
    tmp_path: Path, spec: Path
) -> None:
    broken = {"json"}
    with BackgroundServer(gate_app(broken)) as server:
        run = ("run", "--spec", str(spec), "--target", server.url, "--select", "suite:framing")
        first = cli(*run, cwd=tmp_path)
        assert first.returncode == 1, first.stdout[-2000:]
        # suites the selection leaves empty are deselected, not reported as skipped tests
        assert "1 failed, 15 passed, 6 deselected" in first.stdout
        written = cli("baseline", "--output", "baseline.yaml", cwd=tmp_path)
        assert written.returncode == 0, written.stderr
        assert "1 expected failures written to baseline.yaml" in written.stdout
        entries = yaml.safe_load((tmp_path / "baseline.yaml").read_text())["expected_failures"]
        assert [e["id"] for e in entries] == ["gate::events::sse.data.json"]
        assert entries[0]["reason"]

        gated = cli(*run, "--baseline", "baseline.yaml", cwd=tmp_path)
        assert gated.returncode == 0, gated.stdout[-2000:]
        assert "xfail" in gated.stdout.lower()

        broken.add("retry")  # a new failure, not in the baseline
        new = cli(*run, "--baseline", "baseline.yaml", cwd=tmp_path)
        assert new.returncode == 1
        assert "sse.retry.digits-only" in new.stdout

        broken.clear()  # both fixed: the baseline entry is stale and must go
        stale = cli(*run, "--baseline", "baseline.yaml", cwd=tmp_path)
        assert stale.returncode == 1, stale.stdout[-2000:]
        assert "STALE      gate::events::sse.data.json" in stale.stdout
        assert "baseline.yaml:" in stale.stdout


def test_a_glob_entry_covers_every_case_it_names(tmp_path: Path, spec: Path) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "version: 1\nexpected_failures:\n"
        "  - {id: 'gate::events::sse.*', reason: 'the legacy encoder, fixed in 3.0'}\n"
    )
    with BackgroundServer(gate_app({"json", "retry"})) as server:
        args = ("run", "--spec", str(spec), "--target", server.url, "--select", "sse.")
        result = cli(*args, "--baseline", str(baseline), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "2 xfailed" in result.stdout
    assert "EXPECTED   gate::events::sse.retry.digits-only: the legacy encoder" in result.stdout


def test_an_entry_that_names_no_case_is_listed_without_failing(tmp_path: Path, spec: Path) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "version: 1\nexpected_failures:\n"
        "  - {id: 'gate::events::sse.data.json', reason: 'the legacy encoder'}\n"
        "  - {id: 'gate::events::sse.data.jsn', reason: 'a typo'}\n"
        "  - {id: 'other-api::*', reason: 'a spec this job does not run'}\n"
    )
    with BackgroundServer(gate_app({"json"})) as server:
        args = ("run", "--spec", str(spec), "--target", server.url, "--select", "sse.")
        result = cli(*args, "--baseline", str(baseline), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 xfailed" in result.stdout
    listed = [line for line in result.stdout.splitlines() if line.startswith("UNMATCHED")]
    assert listed == [
        f"UNMATCHED  gate::events::sse.data.jsn ({baseline}:4)",
        f"UNMATCHED  other-api::* ({baseline}:5)",
    ]


def test_no_baseline_entry_covers_a_check_that_raised(
    tmp_path: Path, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "version: 1\nexpected_failures:\n"
        "  - {id: 'gate::events::sse.*', reason: 'the legacy encoder, fixed in 3.0'}\n"
    )
    crash = crashing(monkeypatch)  # sse.data.json raises
    with BackgroundServer(gate_app({"retry"})) as server:
        args = ("run", "--spec", str(spec), "--target", server.url, "--select", "sse.")
        gated = cli(*args, "--baseline", str(baseline), *crash, cwd=tmp_path)
        written = cli("baseline", "--output", "new.yaml", cwd=tmp_path)
    assert gated.returncode == 3, gated.stdout[-2000:]  # the glob names it: still an error
    assert "1 failed" not in gated.stdout and "1 xfailed" in gated.stdout
    assert "1 error" in gated.stdout.splitlines()[-1]
    assert "EXPECTED   gate::events::sse.retry.digits-only" in gated.stdout
    assert "EXPECTED   gate::events::sse.data.json" not in gated.stdout
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    outcomes = {r["id"]: r["outcome"] for r in summary["runs"][0]["results"]}
    assert outcomes["gate::events::sse.data.json"] == "error"

    assert written.returncode == 0, written.stderr
    assert (
        "1 expected failures written to new.yaml (1 internal errors left out: never expected)"
        in written.stdout
    )
    entries = yaml.safe_load((tmp_path / "new.yaml").read_text())["expected_failures"]
    assert [e["id"] for e in entries] == ["gate::events::sse.retry.digits-only"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("expected_failures:\n  - {id: x}\n", "'reason' is a required", id="no-reason"),
        pytest.param("version: 2\nexpected_failures: []\n", "version", id="bad-version"),
        pytest.param("expected_failures: [\n", "baseline.yaml", id="not-yaml"),
    ],
)
def test_a_malformed_baseline_is_one_line_and_exit_2(
    tmp_path: Path, spec: Path, text: str, fragment: str
) -> None:
    (tmp_path / "baseline.yaml").write_text(text)
    result = cli("run", "--spec", str(spec), "--baseline", "baseline.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_baseline_without_a_run_is_one_line(tmp_path: Path) -> None:
    result = cli("baseline", "--summary", "nowhere.json", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.json: no such file" in result.stderr


@pytest.mark.parametrize(
    ("select", "deselect", "case", "kept"),
    [
        ((), (), "a::events::sse.data.json", True),
        (("sse.",), (), "a::events::sse.data.json", True),
        (("sse.",), (), "a::events::http.status.success", False),
        (("*::events::*",), (), "a::events::http.status.success", True),
        (("*::other::*",), (), "a::events::http.status.success", False),
        (("suite:framing",), (), "a::events::http.status.success", True),
        (("suite:tokens",), (), "a::events::http.status.success", False),
        (("endpoint:events",), (), "a::events::http.status.success", True),
        (("endpoint:event",), (), "a::events::http.status.success", False),
        ((), ("http.",), "a::events::http.status.success", False),
        (("suite:framing",), ("*status*",), "a::events::http.status.success", False),
        (("a::events",), ("suite:ordering",), "a::events::http.status.success", True),
    ],
)
def test_selectors(
    select: tuple[str, ...], deselect: tuple[str, ...], case: str, kept: bool
) -> None:
    check = case.split("::")[-1]
    assert Selection(select, deselect).keeps(case, check, "framing") is kept


def test_list_honours_select_and_deselect(tmp_path: Path) -> None:
    listed = cli("list", "--select", "suite:tokens", "--deselect", "*single-use*", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    ids = [line.split()[0] for line in listed.stdout.splitlines()]
    assert ids and all("::token." in i and "single-use" not in i for i in ids)
    assert "workflow-stream::run_stream::token.expiry" in ids
    none = cli("list", "--select", "suite:tokens", "--deselect", "suite:tokens", cwd=tmp_path)
    assert none.returncode == 2
    assert "no check matches --select suite:tokens --deselect suite:tokens" in none.stderr


def test_compare_finds_the_regression_and_the_fix_and_shows_timing(
    tmp_path: Path, spec: Path
) -> None:
    broken: set[str] = set()
    with BackgroundServer(gate_app(broken)) as server:
        run = ("run", "--spec", str(spec), "--target", server.url, "--select", "suite:framing")
        assert cli(*run, cwd=tmp_path).returncode == 0
        (tmp_path / "reports" / "summary.json").rename(tmp_path / "release.json")
        broken.add("json")
        assert cli(*run, cwd=tmp_path).returncode == 1
        (tmp_path / "reports" / "summary.json").rename(tmp_path / "candidate.json")
    timing = json.loads((tmp_path / "release.json").read_text())["runs"][0]["timing"]
    assert set(timing["events"]) == {"first_event", "duration", "gaps"}
    assert len(timing["events"]["gaps"]) == 2  # three ticks
    assert 0 < timing["events"]["first_event"] <= timing["events"]["duration"]

    worse = cli("compare", "release.json", "candidate.json", cwd=tmp_path)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "  FAIL   gate::events::sse.data.json" in worse.stdout
    assert "gate::events first_event:" in worse.stdout
    better = cli("compare", "candidate.json", "release.json", cwd=tmp_path)
    assert better.returncode == 0
    assert "  FIXED  gate::events::sse.data.json" in better.stdout
    assert "newly failing: 0" in better.stdout


def test_compare_counts_an_error_as_a_regression_and_reads_summaries_without_errors(
    tmp_path: Path, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with BackgroundServer(gate_app(set())) as server:
        run = ("run", "--spec", str(spec), "--target", server.url, "--select", "sse.data.json")
        assert cli(*run, cwd=tmp_path).returncode == 0
        release = json.loads((tmp_path / "reports" / "summary.json").read_text())
        del release["totals"]["error"]  # as written before the outcome existed
        (tmp_path / "release.json").write_text(json.dumps(release))
        crashed = cli(*run, *crashing(monkeypatch), cwd=tmp_path)
        assert crashed.returncode == 3, crashed.stdout[-2000:]

    worse = cli("compare", "release.json", "reports/summary.json", cwd=tmp_path)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "newly failing: 0" in worse.stdout
    assert "internal errors: 1\n  ERROR  gate::events::sse.data.json\n" in worse.stdout
    older = cli("compare", "reports/summary.json", "release.json", cwd=tmp_path)
    assert older.returncode == 0, older.stdout + older.stderr
    assert "internal errors: 0" in older.stdout
    written = cli("baseline", "--summary", "release.json", "--output", "b.yaml", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert "0 expected failures written to b.yaml" in written.stdout


def test_compare_refuses_what_is_not_a_summary(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    result = cli("compare", "x.json", "missing.json", cwd=tmp_path)
    assert result.returncode == 2
    assert "x.json: not a summary.json of version 1" in result.stderr


def test_a_parallel_run_gives_the_serial_verdicts(tmp_path: Path) -> None:
    """`run -n 2` (pytest-xdist): every case, with the same outcome, as a serial run."""
    args = ("run", "--select", "workflow-stream", "--select", "promptfloe::skill")

    def outcomes(folder: str, *extra: str) -> dict[str, str]:
        result = cli(*args, "--report-dir", folder, *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
        summary = json.loads((tmp_path / folder / "summary.json").read_text())
        return {r["id"]: r["outcome"] for run in summary["runs"] for r in run["results"]}

    with ThreadPoolExecutor(2) as pool:  # two processes of their own: run side by side
        serial_run = pool.submit(outcomes, "serial")
        parallel_run = pool.submit(outcomes, "parallel", "-n", "2")
        serial, parallel = serial_run.result(), parallel_run.result()
    assert len(serial) > 40
    assert parallel == serial


def test_a_bad_worker_count_is_one_line(tmp_path: Path) -> None:
    result = cli("run", "--select", "workflow-stream", "-n", "lots", cwd=tmp_path)
    assert result.returncode == 2
    assert "-n lots: give a number of processes or auto" in result.stderr
