"""Debian's headless Chromium, for the tests that look at a report as a browser draws it.

Where chromium is missing these tests skip, unless STREAMCONFORM_REQUIRE_BROWSER is set
(as .ci/run sets it): then its absence fails them, so CI never passes on a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("STREAMCONFORM_REQUIRE_BROWSER"):
            pytest.fail("STREAMCONFORM_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return found


def flags(profile: Path) -> list[str]:
    """Headless, in a fresh profile, and quiet on the network: this machine's network is
    closed, and Chromium's own background connections would only fail."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]


def dump_dom(url: str, profile: Path, *extra: str) -> str:
    """The DOM after the page's scripts ran (extra: e.g. a virtual time budget)."""
    done = subprocess.run(
        [chromium(), *flags(profile), *extra, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(url: str, profile: Path, shot: Path) -> bytes:
    done = subprocess.run(
        [chromium(), *flags(profile), f"--screenshot={shot}", "--window-size=1200,900", url],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return shot.read_bytes()
