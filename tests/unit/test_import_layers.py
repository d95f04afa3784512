"""The layering contracts in pyproject.toml hold, and they do fail on a forbidden import.

The test command runs `lint-imports` on the tree; this shows the contracts are not vacuous: a
copy of the packages with one workflow module importing the node (`regions`) is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every package the contracts name, copied: one left out would be found in the installed tree
# (or not at all, when it is newer than the install), not in the copy under test.
PACKAGES: tuple[str, ...] = tuple(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
)
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(target: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "data")
        )
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_its_layers_and_a_forbidden_import_breaks_them(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    kept = _lint(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    (tmp_path / "workflows" / "leak.py").write_text(
        '"""A workflow module reaching into the node: forbidden."""\n'
        "from regions.node_settings import NodeSettings\n\n"
        "__all__ = ['NodeSettings']\n"
    )
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "workflows.leak -> regions.node_settings" in broken.stdout
