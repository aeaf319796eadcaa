"""`pip install .` must give a streamconform that works from any folder: the wheel carries
the specs, the suites, the meta-schema and both entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_specs_suites_schema_and_entry_points(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("streamconform-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = {Path(p).name for p in (ROOT / "specs").glob("*.yaml")}
    assert {f"streamconform/specs/{name}" for name in specs} <= names
    assert "streamconform/suites/test_framing.py" in names
    assert "streamconform/model/spec-v1.schema.json" in names
    assert "streamconform/py.typed" in names
    (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "streamconform = streamconform.cli:main" in text
    assert "streamconform.pytest_plugin = streamconform.pytest_plugin" in text
