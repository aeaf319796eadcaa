"""The `streamconform` command: run the suites, list the checks, serve a reference server.

Exit codes: 0 nothing failed; 1 a check failed; 2 bad spec, bad arguments or
unreachable target; 3 an internal error of streamconform's own (a check that raised
included, whatever else failed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn, TextIO

import pytest

from streamconform.core.outcome import Outcome
from streamconform.engine.baseline import load_baseline, render_baseline
from streamconform.engine.mutation import DEFAULT_PARALLEL
from streamconform.engine.run import (
    DEFAULT_CONCURRENCY,
    ConformanceRun,
    RunConfig,
    cases_of,
    load_specs,
    parse_assignments,
)
from streamconform.engine.selection import Selection
from streamconform.engine.verdict import effective_level
from streamconform.errors import SpecError, StreamConformError
from streamconform.report.compare import compare
from streamconform.report.progress import PROGRESS_STYLES
from streamconform.report.summary import load_summary, results_in
from streamconform.resources import bundled_dir
from streamconform.scenarios.token import DEFAULT_RACE

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_PYTEST_EXIT: dict[int, int] = {  # pytest's exit codes are ints (ExitCode is an IntEnum)
    pytest.ExitCode.OK: EXIT_OK,
    pytest.ExitCode.TESTS_FAILED: EXIT_FAILED,
    pytest.ExitCode.INTERRUPTED: EXIT_USAGE,
    pytest.ExitCode.INTERNAL_ERROR: EXIT_INTERNAL,
    pytest.ExitCode.USAGE_ERROR: EXIT_USAGE,
    pytest.ExitCode.NO_TESTS_COLLECTED: EXIT_USAGE,
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"streamconform: error: {message} (see --help)\n")


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        action="append",
        default=[],
        metavar="PATH",
        help="spec file or folder (repeatable; default: the bundled specs)",
    )
    parser.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="keep cases whose id or check id starts with it or matches it as a glob, "
        "or suite:NAME, endpoint:NAME (repeatable)",
    )
    parser.add_argument(
        "--deselect",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="leave out the cases it names, as --select does (repeatable)",
    )


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        metavar="URL",
        help="server under test (default: the embedded reference servers)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="target profile (YAML): target, time_scale, vars, per-spec settings",
    )
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a spec variable (repeatable)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        metavar="FACTOR",
        help="compress documented durations (default: 1 for a target)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="streamconform", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=version("streamconform"))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the conformance suites (wraps pytest)")
    _add_selection(run)
    _add_target(run)
    run.add_argument(
        "--strict",
        action="store_true",
        help="grade a broken SHOULD, and a finding resting only on an assumption, as fail",
    )
    for name, what in (("event", "an event (SSE block, NDJSON line)"), ("body", "a stream body")):
        run.add_argument(
            f"--max-{name}-bytes",
            type=int,
            metavar="N",
            help=f"read at most N bytes of {what}, over the profile's and the spec's "
            "bounds (default: 1 MiB an event, 32 MiB a body)",
        )
    run.add_argument(
        "--input-cases",
        type=int,
        default=12,
        metavar="N",
        help="generated requests per endpoint, invalid and valid each (default 12)",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the generated requests (default 0: runs repeat)",
    )
    run.add_argument(
        "-n",
        "--workers",
        metavar="N",
        help="run cases in N processes (pytest-xdist; 'auto': one per core)",
    )
    run.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="plays at once, where they do not disturb each other; 1 plays one at a time "
        f"(default {DEFAULT_CONCURRENCY})",
    )
    run.add_argument(
        "--token-race",
        type=int,
        default=DEFAULT_RACE,
        metavar="N",
        help=f"concurrent requests that race with one single-use token (default {DEFAULT_RACE})",
    )
    run.add_argument(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="where summary.json, junit.xml and allure-results go (default: reports)",
    )
    run.add_argument(
        "--baseline",
        metavar="FILE",
        help="expected failures (YAML): fail only on new failures and stale entries",
    )
    run.add_argument(
        "--progress",
        choices=("auto", *PROGRESS_STYLES),
        default="auto",
        help="dots (pytest's), or lines: one per finished case with outcome and time "
        "(default auto: dots in a terminal, lines in a log)",
    )
    run.add_argument(
        "--progress-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="name a case still running after SECONDS, and every SECONDS after (default 30; "
        "0: never)",
    )
    run.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="after --, arguments passed to pytest as they are",
    )

    baseline = sub.add_parser(
        "baseline", help="write a baseline of expected failures from a run's summary.json"
    )
    baseline.add_argument(
        "--summary", default="reports/summary.json", metavar="FILE", help="the run to read"
    )
    baseline.add_argument(
        "--output", default="baseline.yaml", metavar="FILE", help="where to write it"
    )
    baseline.add_argument("--reason", default="", help="the reason given for every entry")

    comparer = sub.add_parser(
        "compare", help="compare two runs' summary.json: new failures, fixes, timing"
    )
    comparer.add_argument("old", metavar="OLD.json", help="the earlier run (the last release)")
    comparer.add_argument("new", metavar="NEW.json", help="the later run (the candidate)")

    lister = sub.add_parser("list", help="print every check id with its level and requirement")
    _add_selection(lister)

    serve = sub.add_parser("serve", help="run a spec's reference server on 127.0.0.1")
    serve.add_argument("spec", metavar="SPEC", help="spec file whose reference server to run")
    serve.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    serve.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    serve.add_argument(
        "--time-scale",
        type=float,
        metavar="FACTOR",
        help="compress documented durations (default: the spec's reference scale)",
    )
    serve.add_argument(
        "--fault", metavar="NAME", help="break the server this way (streamconform faults)"
    )

    faults = sub.add_parser(
        "faults", help="list the reference servers' faults; --score: prove each is caught"
    )
    faults.add_argument(
        "--select", action="append", default=[], metavar="PREFIX", help="faults named so"
    )
    faults.add_argument(
        "--score", action="store_true", help="run the suite against each fault and variant"
    )
    faults.add_argument(
        "--parallel",
        type=int,
        default=DEFAULT_PARALLEL,
        metavar="N",
        help=f"with --score, faults tried at once (default {DEFAULT_PARALLEL})",
    )
    faults.add_argument(
        "--json",
        default="reports/mutation-score.json",
        metavar="FILE",
        help="where --score writes its result (default: reports/mutation-score.json)",
    )
    return parser


def _command_run(args: argparse.Namespace) -> int:
    config = RunConfig(
        specs=args.spec,
        target=args.target,
        profile=args.profile,
        variables=parse_assignments(args.var),
        strict=args.strict,
        select=args.select,
        deselect=args.deselect,
        time_scale=args.time_scale,
        input_cases=args.input_cases,
        seed=args.seed,
        token_race=args.token_race,
        concurrency=args.concurrency,
        max_event_bytes=args.max_event_bytes,
        max_body_bytes=args.max_body_bytes,
    )
    if args.input_cases < 1:
        raise SpecError(f"--input-cases {args.input_cases}: give at least 1")
    if args.progress_every < 0:
        raise SpecError(f"--progress-every {args.progress_every:g}: give 0 or more seconds")
    if args.baseline:
        load_baseline(args.baseline)  # a malformed baseline is a usage error, before any run
    run = ConformanceRun(config)  # validates specs, profile and variables before pytest starts
    if not run.cases():
        raise SpecError(f"no check matches {run.selection.describe()}")
    report_dir = Path(args.report_dir)
    suites = bundled_dir("suites")
    argv = [
        str(suites),
        "-p",
        "streamconform.pytest_plugin",
        "-p",
        "no:cacheprovider",
        # plugins of installed packages that a conformance run has no use for, and the
        # rewriting of their modules' asserts: together seconds of start-up in every run
        "-p",
        "no:schemathesis",
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:anyio",
        "--assert=plain",
        "-c",
        os.devnull,
        "--rootdir",
        str(suites.parent),
        f"--junitxml={report_dir / 'junit.xml'}",
        f"--alluredir={report_dir / 'allure-results'}",
        "--clean-alluredir",
        f"--report-dir={report_dir}",
        "-o",
        "junit_family=xunit2",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    ]
    for spec in args.spec:
        argv += ["--spec", str(Path(spec).resolve())]
    for name in ("target", "time_scale", "max_event_bytes", "max_body_bytes"):
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    if args.profile:
        argv += ["--target-profile", str(Path(args.profile).resolve())]
    for item in args.var:
        argv += ["--var", item]
    if args.baseline:
        argv += ["--baseline", str(Path(args.baseline).resolve())]
    for selector in args.select:
        argv += ["--select", selector]
    for selector in args.deselect:
        argv += ["--deselect-check", selector]
    if args.strict:
        argv.append("--strict-should")
    argv += ["--input-cases", str(args.input_cases), "--input-seed", str(args.seed)]
    argv += ["--token-race", str(args.token_race), "--concurrency", str(args.concurrency)]
    progress = progress_style(args.progress, sys.stdout)
    argv += ["--progress", progress, "--progress-every", str(args.progress_every)]
    if args.workers:
        if args.workers != "auto" and not (args.workers.isdigit() and int(args.workers) > 0):
            raise SpecError(f"-n {args.workers}: give a number of processes or auto")
        argv += ["-n", args.workers]
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    # A fresh interpreter: this one has imported the engine already, and pytest must be
    # the first to import plugin modules to rewrite their assertions.
    code = subprocess.call([sys.executable, "-m", "pytest", *argv, *extra])
    return _PYTEST_EXIT.get(code, EXIT_INTERNAL)


def progress_style(choice: str, out: TextIO) -> str:
    """`auto`: pytest's dots in a terminal, where they grow in place; a line per case in a
    log (CI), where a line of dots is seen only once it ends."""
    if choice != "auto":
        return choice
    return "dots" if out.isatty() else "lines"


def _command_list(args: argparse.Namespace) -> int:
    selection = Selection(args.select, args.deselect)
    cases = cases_of(load_specs(args.spec), selection)
    if not cases:
        raise SpecError(f"no check matches {selection.describe()}")
    width = max(len(c.id) for c in cases)
    for case in cases:
        traced = case.spec.requirements_for(case.check.id, case.endpoint.name)
        level = effective_level(case.check, case.endpoint, traced)
        quotes = "".join(f' | "{r.quote}" [{r.id}]' for r in traced)
        print(f"{case.id:<{width}}  {level.value:<6}  {case.check.requirement}{quotes}")
    return EXIT_OK


def _command_serve(args: argparse.Namespace) -> int:
    from streamconform.model import load_spec, resolve_variables
    from streamconform.servers import LOOPBACK, reference_app_for, serve_forever
    from streamconform.servers.faults import fault_named

    spec = load_spec(args.spec)
    variables = resolve_variables(
        spec, overrides=parse_assignments(args.var), profile={}, environ=os.environ
    )
    if spec.reference is None:
        raise SpecError(f"{spec.name}: the spec names no reference server")
    scale = args.time_scale if args.time_scale is not None else spec.reference.time_scale
    fault = fault_named({spec.name: spec}, args.fault) if args.fault else None
    if args.fault and fault is None:
        raise SpecError(f"--fault {args.fault}: not a fault of {spec.name} (see: faults)")
    app = reference_app_for(spec, variables, scale, fault)
    if not 0 <= args.port <= 65535:
        raise SpecError(f"--port {args.port}: not a port number")
    print(
        f"streamconform: serving the {spec.name} reference server on "
        f"http://{LOOPBACK}:{args.port} (time scale {scale}; Ctrl-C stops it)",
        flush=True,
    )
    try:
        serve_forever(app, args.port)
    except OSError as err:
        raise SpecError(f"cannot listen on {LOOPBACK}:{args.port}: {err.strerror}") from None
    return EXIT_OK


def _command_baseline(args: argparse.Namespace) -> int:
    path = Path(args.summary)
    summary = load_summary(path)
    try:
        results = results_in(summary)
    except (ValueError, KeyError, TypeError) as err:
        raise SpecError(f"{path}: not a summary.json ({type(err).__name__}: {err})") from None
    text = render_baseline(results, args.reason)
    Path(args.output).write_text(text, encoding="utf-8")
    count = sum(1 for r in results if r.outcome is Outcome.FAIL)
    errors = sum(1 for r in results if r.outcome is Outcome.ERROR)
    left_out = f" ({errors} internal errors left out: never expected)" if errors else ""
    print(f"streamconform: {count} expected failures written to {args.output}{left_out}")
    return EXIT_OK


def _command_compare(args: argparse.Namespace) -> int:
    comparison = compare(load_summary(args.old), load_summary(args.new))
    for line in comparison.lines():
        print(line)
    return EXIT_FAILED if comparison.regressed else EXIT_OK


def _command_faults(args: argparse.Namespace) -> int:
    from streamconform.engine.mutation import Score, catalogue, try_faults

    chosen = [f for f in catalogue() if not args.select or f.name.startswith(tuple(args.select))]
    if not chosen:
        raise SpecError(f"no fault matches --select {' '.join(args.select)}")
    if not args.score:
        for fault in chosen:
            kind = "benign" if fault.benign else "fault"
            caught = ", ".join(fault.caught_by) or f"no fail or warn in {', '.join(fault.suites)}"
            print(f"{fault.name:<48} {kind:<6} {fault.breaks}  [{caught}]")
        return EXIT_OK
    results = []
    for fault, result in zip(chosen, try_faults(chosen, parallel=args.parallel), strict=True):
        results.append(result)
        mark = "ok  " if result.ok else "MISS" if not fault.benign else "FALSE"
        shown = ", ".join(result.false_alarms if fault.benign else result.caught_by)
        print(f"{mark:<5} {fault.name:<48} {result.seconds:5.1f}s {shown}", flush=True)
    score = Score(tuple(results))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(score.to_json(), indent=2) + "\n", encoding="utf-8")
    total = len(score.faults)
    share = f"{100 * score.caught / total:.1f}%" if total else "none selected"
    print(
        f"mutation score: {score.caught}/{total} faults caught ({share}), "
        f"{score.false_alarms} false alarms in {len(results) - total} benign variants; "
        f"written to {path}"
    )
    return EXIT_OK if score.perfect else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "run": _command_run,
        "list": _command_list,
        "serve": _command_serve,
        "faults": _command_faults,
        "baseline": _command_baseline,
        "compare": _command_compare,
    }
    try:
        return commands[args.command](args)
    except StreamConformError as err:
        print(f"streamconform: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and cut short: not an error
        sys.stderr.close()
        return EXIT_OK
    except Exception as err:  # last resort: one line, not a traceback
        if os.environ.get("STREAMCONFORM_DEBUG"):
            raise
        print(
            f"streamconform: internal error: {type(err).__name__}: {err} "
            "(set STREAMCONFORM_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
