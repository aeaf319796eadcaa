"""Main job wall time: `streamconform run` over the bundled specs against the reference
servers, serially and with `-n auto`, best of --repeat runs each.

Each run is a fresh process, timed from its start to its exit, so start-up (imports, spec
loading, pytest's collection) and the reports written at the end are counted. A run whose
summary has any outcome other than pass or skip is reported, and the script exits 1: a
faster run that judged differently is no result.

Usage, from the repository root, with the package installed:

    python benchmarks/main_job.py [--repeat 3] [--json OUT] [--python PYTHON]

`--python` runs another checkout's installation (its interpreter) for a before/after
comparison on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

_TIMEOUT = 600.0  # one run; a run that long is a failure of its own


def one_run(python: str, workers: str | None, cwd: Path) -> tuple[float, dict[str, int]]:
    """Seconds from start to exit of one main job, and the totals of its summary."""
    with tempfile.TemporaryDirectory() as reports:
        command = [python, "-m", "streamconform.cli", "run", "--report-dir", reports]
        command += ["--progress", "dots"]
        if workers:
            command += ["-n", workers]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=_TIMEOUT, check=False)
        elapsed = time.perf_counter() - started
        summary = Path(reports) / "summary.json"
        if done.returncode != 0 or not summary.exists():
            tail = done.stdout.decode(errors="replace")[-2000:]
            raise SystemExit(f"main job exited {done.returncode}:\n{tail}")
        outcomes = Counter(
            r["outcome"] for run in json.loads(summary.read_text())["runs"] for r in run["results"]
        )
    return elapsed, dict(outcomes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    cwd = Path.cwd()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "interpreter": args.python,
        "modes": {},
    }
    status = 0
    for label, workers in (("serial", None), ("-n auto", "auto")):
        times, totals = [], {}
        for _ in range(args.repeat):
            elapsed, totals = one_run(args.python, workers, cwd)
            times.append(round(elapsed, 2))
        judged_other = {k: v for k, v in totals.items() if k not in ("pass", "skip")}
        if judged_other:
            status = 1
        report["modes"][label] = {"best": min(times), "runs": times, "outcomes": totals}
        print(f"{label:8} best {min(times):6.2f} s  runs {times}  outcomes {totals}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
