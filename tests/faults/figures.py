"""Figures of fault runs, for the table in docs/faults.md.

With `TONGBAN_FAULT_FIGURES=path.json` set, every fault run appends its figures to that file;
`python -m tests.faults.figures path.json` prints the table (the latest run of each fault).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ENV = "TONGBAN_FAULT_FIGURES"


def record(figures: dict[str, Any]) -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    path = Path(target)
    runs: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    runs.append({**figures, "at": datetime.now(UTC).isoformat(timespec="seconds")})
    path.write_text(json.dumps(runs, indent=2, ensure_ascii=False) + "\n")


def table(runs: list[dict[str, Any]]) -> str:
    latest: dict[str, dict[str, Any]] = {}
    for run in runs:
        latest[run["fault"]] = run
    lines = [
        "| fault | cases run | cases lost | cases duplicated | time to recover (s) | run (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for fault, run in latest.items():
        lines.append(
            f"| {fault} | {run['cases']} | {run['lost']} | {run['duplicated']}"
            f" | {run['recover_s']:.1f} | {run['runtime_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.faults.figures FIGURES.json", file=sys.stderr)
        return 2
    print(table(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
