"""What each README command installs (issue 18 item 6): `make demo` only what the demo runs,
`make test` what the tests need besides; only missing packages, by name, never an upgrade.

The package functions of deploy/local/system_packages.sh run in bash with a PATH of stubs:
`id` says root (or not), `apt-get` records what it was asked, and the tools each function looks
for are present or absent as the case needs.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"
BASH = "/bin/bash"
DEMO_PACKAGES = {"python3-venv", "openjdk-17-jre-headless", "maven", "fonts-wqy-zenhei"}
TEST_ONLY_PACKAGES = {"chromium", "poppler-utils", "docker-compose"}
TOOLS = ("java", "mvn", "chromium", "pdftoppm", "pdftotext", "docker-compose")


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


def _machine(tmp_path: Path, *, root: bool, present: bool) -> tuple[Path, dict[str, str]]:
    """A stub PATH: `apt-get` logging to apt.log, `id`, a python that has (or lacks) ensurepip,
    and every looked-for tool when `present`; plus the environment to run with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    _stub(bin_dir / "apt-get", f'echo "$*" >> "{log}"')
    _stub(bin_dir / "id", f"echo {0 if root else 1000}")
    _stub(bin_dir / "python", f"exit {0 if present else 1}")
    if present:
        for tool in TOOLS:
            _stub(bin_dir / tool, "exit 0")
        font = tmp_path / "font.ttc"
        font.write_bytes(b"")
    else:
        font = tmp_path / "absent.ttc"
    env = {
        "PATH": str(bin_dir),
        "PYTHON": str(bin_dir / "python"),
        "CJK_FONT_FILE": str(font),
        "HOME": str(tmp_path),
    }
    return log, env


def _run(function: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = f'. "{LOCAL / "system_packages.sh"}"; {function} "the command"'
    return subprocess.run(
        [BASH, "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _apt_calls(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def _installed(calls: list[list[str]]) -> set[str]:
    """Package names of every `apt-get install`; each install only installs what it names."""
    names: set[str] = set()
    for call in calls:
        if call[0] == "install":
            assert "--no-upgrade" in call, call
            assert "--no-install-recommends" in call, call
            names |= {word for word in call[1:] if not word.startswith("-")}
    return names


def _never_upgrades(calls: list[list[str]]) -> None:
    verbs = [call[0] for call in calls]
    assert set(verbs) <= {"update", "install"}, verbs
    assert verbs.count("update") <= 1, verbs  # one index refresh per run, at most


def test_the_demo_installs_what_the_demo_runs_and_no_browser(tmp_path: Path) -> None:
    log, env = _machine(tmp_path, root=True, present=False)
    done = _run("ensure_demo_packages", env)
    assert done.returncode == 0, done.stderr
    calls = _apt_calls(log)
    _never_upgrades(calls)
    assert _installed(calls) == DEMO_PACKAGES


def test_the_tests_install_the_demos_packages_and_chromium_and_poppler(tmp_path: Path) -> None:
    log, env = _machine(tmp_path, root=True, present=False)
    done = _run("ensure_test_packages", env)
    assert done.returncode == 0, done.stderr
    calls = _apt_calls(log)
    _never_upgrades(calls)
    assert _installed(calls) == DEMO_PACKAGES | TEST_ONLY_PACKAGES


@pytest.mark.parametrize("function", ["ensure_demo_packages", "ensure_test_packages"])
def test_nothing_is_installed_when_nothing_is_missing(tmp_path: Path, function: str) -> None:
    log, env = _machine(tmp_path, root=True, present=True)
    done = _run(function, env)
    assert done.returncode == 0, done.stderr
    assert _apt_calls(log) == []


def test_without_root_the_demo_names_what_it_needs_and_stops(tmp_path: Path) -> None:
    log, env = _machine(tmp_path, root=False, present=False)
    done = _run("ensure_demo_packages", env)
    assert done.returncode == 1
    assert "the command needs: python3-venv" in done.stderr
    assert _apt_calls(log) == []


def test_without_root_a_missing_test_tool_is_named_and_the_rest_goes_on(tmp_path: Path) -> None:
    log, env = _machine(tmp_path, root=False, present=True)
    (Path(env["PATH"]) / "chromium").unlink()
    done = _run("ensure_test_packages", env)
    assert done.returncode == 0, done.stderr
    assert "chromium not installed" in done.stderr
    assert "bootstrap.sh" in done.stderr
    assert _apt_calls(log) == []


def _commands(path: Path) -> str:
    """The script without its comments."""
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


def test_each_readme_command_runs_its_own_install_path() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:\n\tdeploy/local/demo\.sh$", makefile, re.M)
    assert re.search(r"^test:\n\tdeploy/local/test\.sh$", makefile, re.M)
    assert "deploy/local/bootstrap.sh" in _commands(LOCAL / "test.sh")

    demo = _commands(LOCAL / "demo.sh")
    assert re.search(r"^ensure_demo_packages\b", demo, re.M)
    for test_only in ("ensure_test_packages", "ensure_chromium", "ensure_poppler", "apt-get"):
        assert test_only not in demo
    assert "pip install -q -e '.[local]'" in demo
    assert "[dev" not in demo
    assert "bootstrap.sh" not in demo

    bootstrap = _commands(LOCAL / "bootstrap.sh")
    assert re.search(r"^ensure_test_packages\b", bootstrap, re.M)
    assert "apt-get" not in bootstrap  # only through system_packages.sh
    assert "pip install -q -e '.[dev]'" in bootstrap


def test_no_script_upgrades_system_packages() -> None:
    # An upgrade verb, not the `--no-upgrade` option.
    upgrade = re.compile(r"\bapt(-get)?\b[^\n]*(?<![-\w])(dist-upgrade|full-upgrade|upgrade)\b")
    assert upgrade.search("sudo apt-get -y upgrade")
    assert upgrade.search("apt-get -qq dist-upgrade")
    assert not upgrade.search("apt-get install --no-upgrade chromium")
    for script in LOCAL.glob("*.sh"):
        assert not upgrade.search(_commands(script)), script.name
