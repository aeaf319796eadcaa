"""Progress in the terminal: a line per finished case that agrees with summary.json, in a
serial and a parallel run, and a case that takes a while named while it still runs."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from gate_server import cli, gate_app, write_gate_spec

from streamconform.cli import progress_style
from streamconform.report.progress import case_of, progress_line
from streamconform.servers import BackgroundServer

LINE = re.compile(
    r"^\[ *(?P<done>\d+)/(?P<total>\d+) +(?P<share>\d+)%\] (?P<clock>\d+:\d\d) "
    r"(?P<word>[A-Z]+) +(?P<case>\S+) \((?P<duration>\d+\.\d\d) s\)$",
    re.MULTILINE,
)
STILL = re.compile(r"^\.\.\. still running after (?P<s>[\d.]+) s: (?P<case>\S+)", re.MULTILINE)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_gate_spec(tmp_path)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "parallel"])
def test_a_line_per_case_agrees_with_the_summary(
    tmp_path: Path, spec: Path, workers: tuple[str, ...]
) -> None:
    with BackgroundServer(gate_app({"json"})) as server:
        args = ("run", "--spec", str(spec), "--target", server.url, "--progress", "lines")
        result = cli(*args, *workers, cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr
    lines = list(LINE.finditer(result.stdout))
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    outcomes = {r["id"]: r["outcome"].upper() for r in summary["runs"][0]["results"]}
    assert {m["case"]: m["word"] for m in lines} == outcomes
    assert len(lines) == len(outcomes)  # each case once
    assert [int(m["done"]) for m in lines] == list(range(1, len(outcomes) + 1))
    assert {int(m["total"]) for m in lines} == {len(outcomes)}
    assert lines[-1]["share"] == "100"
    assert outcomes["gate::events::sse.data.json"] == "FAIL"
    assert "SKIP" in outcomes.values()
    # pytest's own letters and file names are gone; its counts stay
    assert "test_framing.py ." not in result.stdout
    assert re.search(r"=+ 2 failed, \d+ passed, \d+ skipped in ", result.stdout)


@pytest.mark.parametrize("style", ["lines", "dots"])
def test_a_case_that_takes_a_while_is_named_while_it_runs(
    tmp_path: Path, spec: Path, style: str
) -> None:
    """The server pauses 2.5 s before its last event; with a heartbeat of 0.5 s, the case
    that captures the stream is named (at least once, however loaded the machine) before
    it finishes."""
    with BackgroundServer(gate_app({"slow"})) as server:
        args = ("run", "--spec", str(spec), "--target", server.url, "--select", "suite:framing")
        result = cli(*args, "--progress", style, "--progress-every", "0.5", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    named = list(STILL.finditer(result.stdout))
    assert named, result.stdout
    first = named[0]
    assert first["case"].startswith("gate::events::")
    assert float(first["s"]) >= 0.5
    if style == "lines":
        finished = {m["case"]: m for m in LINE.finditer(result.stdout)}
        assert first.start() < finished[first["case"]].start()  # named before its line
        assert float(first["s"]) < float(finished[first["case"]]["duration"])
        assert float(finished[first["case"]]["duration"]) >= 2.5


def test_no_heartbeat_when_it_is_off(tmp_path: Path, spec: Path) -> None:
    with BackgroundServer(gate_app({"slow"})) as server:
        args = ("run", "--spec", str(spec), "--target", server.url, "--select", "sse.data")
        result = cli(*args, "--progress-every", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "still running" not in result.stdout
    assert len(LINE.findall(result.stdout)) == 1  # auto: a log (not a terminal) gets lines


def test_a_negative_heartbeat_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = cli("run", "--select", "workflow-stream", "--progress-every", "-1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "streamconform: error: --progress-every -1: give 0 or more seconds"
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_dots_in_a_terminal_and_lines_in_a_log() -> None:
    assert progress_style("auto", _Terminal()) == "dots"
    assert progress_style("auto", io.StringIO()) == "lines"
    assert progress_style("dots", io.StringIO()) == "dots"
    assert progress_style("lines", _Terminal()) == "lines"


def test_the_line_and_the_case_it_names() -> None:
    assert (
        progress_line(12, 275, 63.9, "UNTESTABLE", "a::b::c", 0.414)
        == "[ 12/275   4%] 1:03 UNTESTABLE  a::b::c (0.41 s)"
    )
    assert progress_line(1, 1, 0, "PASS", "x", 0) == "[1/1 100%] 0:00 PASS        x (0.00 s)"
    assert case_of("suites/test_framing.py::test_framing[gate::events::sse.data.json]") == (
        "gate::events::sse.data.json"
    )
    assert case_of("tests/test_x.py::test_plain") == "tests/test_x.py::test_plain"


_COLUMNS = 400  # the pseudo-terminal's width


def _in_a_terminal(argv: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run with a pseudo-terminal as standard output; what the terminal shows, its lines
    as a screen draws them (a carriage return and erase-line start the line over).

    The terminal is wide: pytest breaks its line of dots at the terminal's width, and the
    line starts with the suite's path relative to the working directory, long where the
    suites are installed (site-packages) rather than in a checkout. Its size is the pty's
    own, not one that COLUMNS or LINES in this environment would impose."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, _COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(argv, cwd=cwd, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed: the run is over
                break
            if not chunk:
                break
            received += chunk
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    text = re.sub(r"\x1b\[[0-9;]*m", "", received.decode("utf-8", "replace"))
    screen = [line.split("\r\x1b[K")[-1].split("\r")[-1] for line in text.split("\r\n")]
    return code, "\n".join(screen)


def test_in_a_terminal_the_heartbeat_goes_above_the_dots(tmp_path: Path, spec: Path) -> None:
    """auto is dots in a terminal; a heartbeat takes the unfinished line of dots, which is
    written again below it, so the dots and the percentage column carry on as before."""
    with BackgroundServer(gate_app({"slow"})) as server:
        argv = [sys.executable, "-m", "streamconform.cli", "run", "--spec", str(spec)]
        argv += ["--target", server.url, "--select", "suite:framing", "--progress-every", "0.5"]
        code, screen = _in_a_terminal(argv, tmp_path)
    assert code == 0, screen[-3000:]
    lines = screen.splitlines()
    named = [i for i, line in enumerate(lines) if STILL.match(line)]
    assert named, screen
    assert not LINE.search(screen)  # dots, not lines
    (framing,) = [line for line in lines if "test_framing.py " in line]
    assert framing.index("test_framing.py ") < framing.index("." * 16)
    assert framing.rstrip().endswith("[100%]")
    assert lines.index(framing) == named[-1] + 1  # the dots go on below the last heartbeat
