"""The pytest face of streamconform: options, parametrized cases, outcomes, reports.

Inert unless a collected module declares `SUITE` and uses the `conformance_case`
fixture, so having it installed changes nothing for other test suites. All behaviour
lives in `streamconform.engine`; this module only maps it onto pytest.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TextIO, cast

import allure
import pytest

from streamconform.core.outcome import Outcome, Result
from streamconform.engine.baseline import Baseline, Gate, load_baseline
from streamconform.engine.run import (
    DEFAULT_CONCURRENCY,
    Case,
    ConformanceRun,
    RunConfig,
    parse_assignments,
)
from streamconform.errors import InternalError, SpecError, StreamConformError
from streamconform.report.evidence import attachments
from streamconform.report.html import write_html
from streamconform.report.progress import PROGRESS_STYLES, Progress
from streamconform.report.summary import build_summary, write_summary
from streamconform.scenarios.input import SOCKS_WARNING
from streamconform.scenarios.token import DEFAULT_RACE

_RUN = pytest.StashKey[ConformanceRun]()
_CASES = pytest.StashKey[list[Case]]()  # the session's cases not yet gathered ahead
_REPORTER = pytest.StashKey["ResultsReporter"]()
_ERROR = pytest.StashKey[StreamConformError]()
_BASELINE = pytest.StashKey[Baseline]()
_PROPERTY = "streamconform.result"
_SEVERITY = {"MUST": allure.severity_level.CRITICAL, "SHOULD": allure.severity_level.NORMAL}
_STATUS = {
    Outcome.WARN: ("warned", "W", "WARN"),
    Outcome.UNTESTABLE: ("untestable", "U", "UNTESTABLE"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("streamconform", "streaming HTTP conformance")
    group.addoption(
        "--spec",
        action="append",
        default=[],
        metavar="PATH",
        help="spec file or folder (repeatable; default: the bundled specs)",
    )
    group.addoption(
        "--target",
        metavar="URL",
        help="base URL of the server under test (default: embedded reference servers)",
    )
    group.addoption(
        "--target-profile",
        metavar="FILE",
        help="YAML target profile: target URL, time scale and variable values",
    )
    group.addoption(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a spec variable (repeatable; beats profile and environment)",
    )
    group.addoption(
        "--select",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="run only cases whose id or check id starts with it or matches it as a glob, "
        "or suite:NAME, endpoint:NAME (repeatable)",
    )
    group.addoption(
        "--deselect-check",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="leave out the cases a selector names (repeatable)",
    )
    group.addoption(
        "--strict-should",
        action="store_true",
        default=False,
        help="grade a broken SHOULD, and a finding resting only on an assumption, as fail",
    )
    group.addoption(
        "--time-scale",
        type=float,
        metavar="FACTOR",
        help="compress documented durations by FACTOR (default: 1 for targets)",
    )
    for name in ("event", "body"):
        group.addoption(
            f"--max-{name}-bytes",
            type=int,
            metavar="N",
            help=f"read at most N bytes of {'an event' if name == 'event' else 'a body'}, "
            "over the profile's and the spec's bounds",
        )
    group.addoption(
        "--input-cases",
        type=int,
        default=12,
        metavar="N",
        help="generated requests per endpoint, each of invalid and valid (default 12)",
    )
    group.addoption(
        "--input-seed",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the generated requests, fixed so runs repeat (default 0)",
    )
    group.addoption(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="plays at once, where they do not disturb each other; 1 plays one at a time "
        f"(default {DEFAULT_CONCURRENCY})",
    )
    group.addoption(
        "--token-race",
        type=int,
        default=DEFAULT_RACE,
        metavar="N",
        help=f"concurrent requests that race with one single-use token (default {DEFAULT_RACE})",
    )
    group.addoption(
        "--baseline",
        metavar="FILE",
        help="expected failures (YAML): fail only on new failures and on stale entries",
    )
    group.addoption(
        "--progress",
        choices=PROGRESS_STYLES,
        default="dots",
        help="dots: pytest's own; lines: a line per finished case with its outcome and time",
    )
    group.addoption(
        "--progress-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="name a case still running after SECONDS, and again every SECONDS "
        "(default 0: never; streamconform run: 30)",
    )
    group.addoption(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="where summary.json is written (default: reports)",
    )


def _run(config: pytest.Config) -> ConformanceRun:
    """The session's run, created on first use (StreamConformError for bad specs or options)."""
    if _RUN not in config.stash:
        opt = config.option
        config.stash[_RUN] = ConformanceRun(
            RunConfig(
                specs=opt.spec,
                target=opt.target,
                profile=opt.target_profile,
                variables=parse_assignments(opt.var),
                strict=opt.strict_should,
                select=opt.select,
                deselect=opt.deselect_check,
                time_scale=opt.time_scale,
                input_cases=opt.input_cases,
                max_event_bytes=opt.max_event_bytes,
                max_body_bytes=opt.max_body_bytes,
                seed=opt.input_seed,
                token_race=opt.token_race,
                concurrency=opt.concurrency,
            )
        )
    return config.stash[_RUN]


def _stop(err: StreamConformError) -> None:
    pytest.exit(f"streamconform: error: {err}", returncode=err.exit_code)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    suite = getattr(metafunc.module, "SUITE", None)
    if suite is None or "conformance_case" not in metafunc.fixturenames:
        return
    try:
        cases = _run(metafunc.config).cases(suite)
    except StreamConformError as err:
        # raising here would become a collection error; stop cleanly once collection ends
        metafunc.config.stash[_ERROR] = err
        cases = []
    metafunc.parametrize("conformance_case", cases, ids=[c.id for c in cases])


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `-n`, send every case of an endpoint to one worker: the first of them plays
    all of the endpoint's scenarios at once, which a second worker would play again."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByEndpoint(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return endpoint_of(nodeid)

    return ByEndpoint(config, log)


def endpoint_of(nodeid: str) -> str:
    """A case's `spec::endpoint` from its test id (`...[spec::endpoint::check]`); any other
    test is a scope of its own."""
    case = nodeid.rpartition("[")[2].removesuffix("]")
    spec_endpoint, sep, _ = case.rpartition("::")
    return spec_endpoint if sep and "::" in spec_endpoint else nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop with one line and exit 2 on a bad spec, option or unreachable target; a suite
    left with no case by the selection is deselected, not reported as a skipped test."""
    if _ERROR in config.stash:
        _stop(config.stash[_ERROR])
    empty = [item for item in items if _is_empty_suite(item)]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]
    config.stash[_CASES] = [case for item in items if (case := _case_of(item)) is not None]
    if _RUN in config.stash:
        try:
            config.stash[_RUN].probe_targets()
        except StreamConformError as err:
            _stop(err)


def _case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("conformance_case") if callspec else None
    return case if isinstance(case, Case) else None


def _is_empty_suite(item: pytest.Item) -> bool:
    """An item pytest made of an empty parametrization (its case is NOTSET)."""
    return (
        isinstance(item, pytest.Function)
        and "conformance_case" in item.fixturenames
        and _case_of(item) is None
    )


def _ahead(config: pytest.Config, case: Case) -> list[Case]:
    """The cases whose evidence to start gathering when this one is judged: every case of
    the session at the first; under xdist, where a worker is sent whole endpoints one by
    one, every case of the endpoint at its first."""
    cases = config.stash.get(_CASES, [])
    if not hasattr(config, "workerinput"):
        config.stash[_CASES] = []
        return cases
    endpoint = (case.spec.name, case.endpoint.name)
    ahead = [c for c in cases if (c.spec.name, c.endpoint.name) == endpoint]
    config.stash[_CASES] = [c for c in cases if (c.spec.name, c.endpoint.name) != endpoint]
    return ahead


def _verdict(config: pytest.Config, case: Case) -> Result:
    try:
        run = _run(config)
        run.prefetch(_ahead(config, case))
        return run.judge(case)
    except StreamConformError as err:
        _stop(err)
        raise


@pytest.fixture
def verify_conformance(request: pytest.FixtureRequest) -> Any:
    """Judge a case and turn its outcome into pytest's (fail, skip, error) plus our own
    labels."""

    def verify(case: Case) -> Result:
        __tracebackhide__ = True  # a report shows the verdict, not this function's source
        run = _run(request.config)
        result = _verdict(request.config, case)
        request.node.user_properties.append((_PROPERTY, json.dumps(result.to_json())))
        allure.dynamic.title(case.id)
        allure.dynamic.epic(case.spec.name)
        allure.dynamic.feature(case.check.suite)
        allure.dynamic.story(case.check.id)
        # Allure's own suite tree splits the node id at "::", which case ids contain too
        allure.dynamic.parent_suite(case.spec.name)
        allure.dynamic.suite(case.endpoint.name)
        allure.dynamic.sub_suite(case.check.suite)
        allure.dynamic.severity(_SEVERITY[result.level])
        allure.dynamic.description(result.requirement)
        for assumed in result.assumptions:  # a warn (or, strict, a fail) the document lacks
            allure.dynamic.tag(f"assumption:{assumed}")
        if result.outcome is not Outcome.SKIP and _allure_enabled(request.config):
            for name, evidence in run.evidence_of(case):  # everything the case was judged on
                for title, text in attachments(name, evidence, run.redactor):
                    allure.attach(text, name=title, attachment_type=allure.attachment_type.TEXT)
        if result.outcome is Outcome.ERROR:  # ours, not the server's: no baseline covers it
            raise InternalError(result.message)
        if result.outcome is Outcome.FAIL:
            baseline = request.config.stash.get(_BASELINE, None)
            entry = baseline.covering(result.id) if baseline else None
            if entry is not None:
                pytest.xfail(f"expected failure ({entry.reason}): {_gist(result.message)}")
            pytest.fail(result.message, pytrace=False)
        if result.outcome is Outcome.SKIP:
            pytest.skip(result.message)
        if result.outcome is Outcome.UNTESTABLE:
            pytest.skip(f"untestable: {result.message}")
        return result

    return verify


def _allure_enabled(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "allure_report_dir", None))


def _result_of(report: pytest.TestReport) -> Result | None:
    for name, value in report.user_properties:
        if name == _PROPERTY:  # verify_conformance stores it as JSON text
            return Result.from_json(json.loads(cast(str, value)))
    return None


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.when != "call":
        return None
    result = _result_of(report)
    if result is not None and result.outcome is Outcome.ERROR:  # pytest's word for it
        return "error", "E", ("ERROR", {"red": True})
    if result is None or result.outcome not in _STATUS:
        return None
    category, letter, word = _STATUS[result.outcome]
    return category, letter, (word, {"yellow": True})


def _gist(message: str) -> str:
    """The line of a verdict message that says what arrived (or the first line)."""
    lines = message.splitlines()
    actual = [line for line in lines if line.startswith("Actual: ")]
    return (actual or lines or [""])[0]


def _errors_in_junit(config: pytest.Config) -> None:
    """pytest writes <error> only for what broke outside a test's call, so a check that
    raised is a <failure> in its JUnit XML: make it an <error>, and count it as one."""
    name = getattr(config.option, "xmlpath", None)  # --junitxml, read as junitxml reads it
    path = Path(os.path.expandvars(name)).expanduser() if name else None
    if path is None or not path.is_file():
        return
    tree = ET.parse(path)
    for suite in tree.iter("testsuite"):
        for case in suite.iter("testcase"):
            failure = case.find("failure")
            if failure is not None and _raised(case):
                failure.tag = "error"
                suite.set("failures", str(int(suite.get("failures", "0")) - 1))
                suite.set("errors", str(int(suite.get("errors", "0")) + 1))
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _raised(case: ET.Element) -> bool:
    """Whether a JUnit test case holds a result (as its property) whose check raised."""
    for prop in case.iter("property"):
        if prop.get("name") == _PROPERTY:
            return Result.from_json(json.loads(prop.get("value", ""))).outcome is Outcome.ERROR
    return False


class ResultsReporter:
    """Collects every verdict (from xdist workers too), writes summary.json at the end, and
    holds the run to its baseline; a check that raised makes it exit 3 (INTERNAL_ERROR)."""

    def __init__(self, report_dir: Path, baseline: Baseline | None) -> None:
        self.report_dir = report_dir
        self.baseline = baseline
        self.results: list[Result] = []
        self.summary: Path | None = None
        self.html: Path | None = None
        self.gate = Gate()  # what the baseline says of the results, once they are all in

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            result = _result_of(report)
            if result is not None:
                self.results.append(result)

    @pytest.hookimpl(trylast=True)  # after pytest's junitxml has written its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.results:
            return
        summary = build_summary(self.results)
        self.summary = write_summary(summary, self.report_dir)
        self.html = write_html(summary, self.report_dir)
        if self.baseline is not None:
            self.gate = self.baseline.judge(self.results)
            if self.gate.stale and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if any(r.outcome is Outcome.ERROR for r in self.results):
            _errors_in_junit(session.config)
            if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR  # exit 3 beats 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        shown = [r for r in self.results if r.outcome in _STATUS]
        if shown:
            terminalreporter.section("streamconform warnings and untestable cases", sep="-")
            for result in shown:
                terminalreporter.write_line(
                    f"{result.outcome.value.upper():<10} {result.id}: {_gist(result.message)}"
                )
        if self.gate.expected:
            terminalreporter.section("expected failures (baseline)", sep="-")
            for result, entry in self.gate.expected:
                terminalreporter.write_line(f"EXPECTED   {result.id}: {entry.reason}")
        if self.gate.stale:
            terminalreporter.section("stale baseline entries (they pass now: remove them)", sep="-")
            for entry in self.gate.stale:
                terminalreporter.write_line(
                    f"STALE      {entry.id} ({entry.where}): {entry.reason}"
                )
        if self.gate.unmatched:
            terminalreporter.section(
                "baseline entries that name no case of this run (a typo, or not selected)",
                sep="-",
            )
            for entry in self.gate.unmatched:
                terminalreporter.write_line(f"UNMATCHED  {entry.id} ({entry.where})")
        if self.summary is not None:
            terminalreporter.write_line(
                f"streamconform: summary written to {self.summary}, report to {self.html}"
            )


@pytest.hookimpl(trylast=True)  # after pytest's terminal reporter exists
def pytest_configure(config: pytest.Config) -> None:
    # pytest sets the warning filters anew around each test, where the one scenarios.input
    # sets on import does not hold: a case drawn in a test would put the notice in the
    # warnings summary
    config.addinivalue_line("filterwarnings", f"ignore:{SOCKS_WARNING}")
    baseline = None
    if getattr(config.option, "baseline", None):
        try:
            baseline = config.stash[_BASELINE] = load_baseline(config.option.baseline)
        except StreamConformError as err:
            config.stash[_ERROR] = err  # reported, with exit 2, once collection ends
    every = getattr(config.option, "progress_every", 0.0)
    if every < 0:
        config.stash[_ERROR] = SpecError(f"--progress-every {every:g}: give 0 or more seconds")
    if not hasattr(config, "workerinput"):  # xdist workers send their reports to the controller
        reporter = ResultsReporter(Path(config.option.report_dir), baseline)
        config.stash[_REPORTER] = reporter
        config.pluginmanager.register(reporter, "streamconform-results")
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        style = getattr(config.option, "progress", "dots")
        if terminal is not None and (style == "lines" or every > 0):
            progress = Progress(terminal, _terminal_copy(), style, every, _result_of)
            config.pluginmanager.register(progress, "streamconform-progress")


def _terminal_copy() -> TextIO:
    """A copy of the terminal's descriptor, which pytest's capture of a running test does
    not redirect (standard output itself where it has no descriptor)."""
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    except (OSError, ValueError):
        return sys.stdout


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is not None:
        run.close()
    reporter = config.stash.get(_REPORTER, None)
    if reporter is not None:
        config.pluginmanager.unregister(reporter)
    progress = config.pluginmanager.get_plugin("streamconform-progress")
    if progress is not None:
        config.pluginmanager.unregister(progress)
        if progress.out is not sys.stdout:
            progress.out.close()
