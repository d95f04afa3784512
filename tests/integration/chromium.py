"""Headless Chromium (Debian's package) for checking pages the project writes."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class PageRun:
    dom: str
    console_errors: list[str]


def _run(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = chromium()
    assert binary is not None, "chromium is not installed (deploy/local/bootstrap.sh installs it)"
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _console_errors(stderr: str) -> list[str]:
    # Chromium logs page console messages as "...:INFO:CONSOLE(line)] "message", source: ..."
    # and uncaught exceptions the same way; any console line means the page complained.
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "ERROR" in line or "Error" in line)
    ]


def load(page: Path, profile: Path) -> PageRun:
    """The DOM after the page's scripts ran, and any console errors on the way."""
    done = _run(page, profile, "--dump-dom", "--virtual-time-budget=3000")
    return PageRun(done.stdout, _console_errors(done.stderr))


def screenshot(page: Path, profile: Path, out: Path, width: int, height: int) -> PageRun:
    done = _run(page, profile, f"--screenshot={out}", f"--window-size={width},{height}")
    return PageRun("", _console_errors(done.stderr))
