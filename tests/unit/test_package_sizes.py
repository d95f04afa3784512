"""Folders that match the parts (issue 14): no top-level package, and no module of regions/,
holds more than a third of the project's Python (tests not counted). The console outgrew
that inside regions/ once and moved to its own package; this keeps the next one honest."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_COUNTED = {"tests", "state", "build", "docs"}


def _lines_by_package() -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in ROOT.glob("*/**/*.py"):
        top = path.relative_to(ROOT).parts[0]
        if top in NOT_COUNTED or top.startswith(".") or not (ROOT / top / "__init__.py").is_file():
            continue
        counts[top] += len(path.read_text(encoding="utf-8").splitlines())
    return counts


def test_no_package_holds_more_than_a_third_of_the_python() -> None:
    counts = _lines_by_package()
    total = sum(counts.values())
    assert {"regions", "console", "workflows", "events"} <= set(counts)
    too_big = {name: f"{n / total:.1%}" for name, n in counts.items() if n * 3 > total}
    assert not too_big, f"more than a third of {total} lines: {too_big}"


def test_no_module_of_regions_holds_more_than_a_third_of_the_python() -> None:
    total = sum(_lines_by_package().values())
    for path in (ROOT / "regions").rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines * 3 <= total, f"{path.relative_to(ROOT)}: {lines} of {total} lines"
