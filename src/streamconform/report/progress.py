"""Progress of a long run in the terminal: a line per finished case, and word of any case
that is still running after a while.

Against a real target a run can take many minutes, most of them in a few cases that wait
out documented bounds (a token's expiry, a five-minute resume window). pytest's dots
say nothing while such a case runs; these lines say which case it is and for how long.
In a CI log, where a line of dots is only seen when it ends, a line per case shows how
far the run got. With pytest-xdist, this runs in the controller, which hears of every
case that starts and finishes on any worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import pytest

from streamconform.core.outcome import Result

__all__ = ["PROGRESS_STYLES", "Progress", "case_of", "progress_line"]

PROGRESS_STYLES = ("dots", "lines")
_TICKS_PER_INTERVAL = 4  # how often the watcher looks, per heartbeat interval


def case_of(nodeid: str) -> str:
    """The case id inside a node id (`suites/test_x.py::test_x[CASE]`); other tests keep
    their node id."""
    start = nodeid.find("[")
    return nodeid[start + 1 : -1] if start >= 0 and nodeid.endswith("]") else nodeid


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def progress_line(
    done: int, total: int, elapsed: float, word: str, case: str, duration: float
) -> str:
    """`[  12/275   4%] 0:03 PASS        spec::endpoint::check (0.41 s)`."""
    width = len(str(total))
    share = 100 * done // total if total else 100
    return (
        f"[{done:>{width}}/{total} {share:>3}%] {_clock(elapsed)} {word:<11} "
        f"{case} ({duration:.2f} s)"
    )


def _word(report: pytest.TestReport, result: Result | None) -> str:
    if hasattr(report, "wasxfail"):  # a failure the baseline expects
        return "XFAIL" if report.skipped else "XPASS"
    if report.when != "call" and report.failed:
        return "ERROR"
    if result is not None:
        return result.outcome.value.upper()
    return {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[report.outcome]


class Progress:
    """pytest hooks: `lines` prints one line per finished case in place of pytest's dots;
    in either style, a case running longer than `every` seconds is named every `every`
    seconds (0: never)."""

    def __init__(
        self,
        terminal: Any,
        out: TextIO,
        style: str,
        every: float,
        result_of: Callable[[pytest.TestReport], Result | None],
    ) -> None:
        self.terminal = terminal
        self.out = out
        self.style = style
        self.every = every
        self.result_of = result_of
        self.session: pytest.Session | None = None
        self.done = 0
        self.started = time.monotonic()
        self.running: dict[str, tuple[float, int]] = {}  # nodeid: (start, times named)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.watcher: threading.Thread | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        if self.style == "lines":
            self.terminal.showfspath = False  # no file name before each case: the line names it
        self.started = time.monotonic()
        if self.every > 0 and self.watcher is None:
            self.watcher = threading.Thread(
                target=self._watch, name="streamconform-progress", daemon=True
            )
            self.watcher.start()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        with self.lock:
            self.running[nodeid] = (time.monotonic(), 0)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        with self.lock:
            self.running.pop(nodeid, None)

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        """In `lines`, pytest's letter goes (its counts stay): our line says it all."""
        status = yield
        if self.style != "lines" or not status or not self._finishes(report):
            return status
        return status[0], "", ""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Any:
        """Around pytest's own reporting, so that the watcher never writes in the middle."""
        with self.lock:
            outcome = yield
            if self._finishes(report):
                self.running.pop(report.nodeid, None)  # settled: no more word of it
                if self.style == "lines":
                    self._report(report)
        return outcome

    def _report(self, report: pytest.TestReport) -> None:
        self.done += 1
        total = self.session.testscollected if self.session is not None else 0
        line = progress_line(
            self.done,
            max(total, self.done),
            time.monotonic() - self.started,
            _word(report, self.result_of(report)),
            case_of(report.nodeid),
            report.duration,
        )
        self.terminal.flush()  # what pytest wrote before (its header) comes first
        self._say(line)

    def pytest_sessionfinish(self) -> None:
        self.stop.set()
        if self.watcher is not None:
            self.watcher.join(timeout=5)

    def _say(self, line: str) -> None:
        """Straight to the terminal's file descriptor: the watcher speaks while a case runs,
        when pytest captures what goes to standard output. Call with the lock held.

        Among dots, the line goes above the line of dots, which is written again below it,
        so pytest's dots and its percentage column carry on where they were (in a terminal
        the unfinished line is cleared first; in a log it stays, and its copy follows)."""
        dots = getattr(self.terminal._tw, "_current_line", "") if self.style == "dots" else ""
        if dots:
            off = "\r\x1b[K" if self.out.isatty() else "\n"  # clear the line, or leave it
            self.out.write(f"{off}{line}\n{dots}")
        else:
            self.out.write(f"{line}\n")
        self.out.flush()

    @staticmethod
    def _finishes(report: pytest.TestReport) -> bool:
        """The report that settles a case: its call, or a setup that failed or skipped,
        or a teardown that failed after it passed."""
        if report.when == "call":
            return True
        return (report.when == "setup" and not report.passed) or (
            report.when == "teardown" and report.failed
        )

    def _watch(self) -> None:
        tick = self.every / _TICKS_PER_INTERVAL
        while not self.stop.wait(min(tick, 1.0)):
            now = time.monotonic()
            with self.lock:
                due = []
                for nodeid, (start, named) in self.running.items():
                    if now - start >= (named + 1) * self.every:
                        self.running[nodeid] = (start, named + 1)
                        due.append((nodeid, now - start))
                for nodeid, seconds in due:
                    others = len(self.running) - 1
                    also = f" ({others} more running)" if others else ""
                    shown = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
                    self._say(f"... still running after {shown} s: {case_of(nodeid)}{also}")
