"""The README's command-line case, run as written (issue 24): the doc and the test cannot drift,
because the test reads the commands from README.md.

The block after the `readme-case` marker runs in bash (`set -e`: every command must exit 0,
the first that does not stops the run and is named) in a fresh directory, with `tongban` from
this checkout and an environment without TONGBAN_NODE_*/TONGBAN_TOKEN/TONGBAN_API/TONGBAN_WAIT,
so the nodes it starts have the default settings the README states (people decide). The marker
says where the case ends; the test asks the 福建 node for the case afterwards and compares.
The nodes the block starts in the background are stopped with the run's process group.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from deploy.stack.settings import StackSettings
from regions.node_lock import running_node

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(
    r"<!-- readme-case:.*?the case ends: (?P<ends>[\w-]+) -->\s*```sh\n(?P<block>.*?)```", re.S
)
REGIONS = ("350000", "440000")
PORTS = (8001, 8002)  # where the README says the nodes serve their API
# Only a guard against a hung run, far above the minute the case takes.
RUN_LIMIT_S = 600
STOP_LIMIT_S = 60
_SCRUBBED = ("TONGBAN_NODE_", "TONGBAN_TOKEN", "TONGBAN_API", "TONGBAN_WAIT", "OFFICE_TOKEN")


def readme_case() -> tuple[str, str]:
    """The README's command-line case (the block after the marker) and the status it ends in."""
    found = MARKER.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md has no readme-case block"
    return found.group("block"), found.group("ends")


def test_the_readme_names_its_case_and_its_end() -> None:
    block, ends = readme_case()
    assert ends == "closed"
    assert "tongban window submit" in block
    assert "TONGBAN_NODE_POLICIES" not in block  # people decide, as the README says


def _taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _stop_group(pgid: int) -> None:
    """Stop what the run left (the nodes it started in the background): SIGTERM, then SIGKILL
    for anything still there after STOP_LIMIT_S."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_LIMIT_S
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def test_the_readmes_command_line_case_runs_as_written(tmp_path: Path) -> None:
    block, ends = readme_case()
    lock_dir = StackSettings().state_dir / "nodes"
    running = {r: running_node(lock_dir, r) for r in REGIONS}
    assert all(pid is None for pid in running.values()), f"nodes already running: {running}"
    assert not any(_taken(p) for p in PORTS), f"the README's API ports {PORTS} are taken"
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    script = "\n".join(
        [
            "set -euo pipefail",
            "trap 'echo \"README command failed (exit $?): $BASH_COMMAND\" >&2' ERR",
            block,
            # After the README's last command, while its nodes still run: where the case ended.
            'tongban window show "$CASE_NO" --json > case.json',
        ]
    )
    (tmp_path / "readme-case.sh").write_text(script, encoding="utf-8")
    log_path = tmp_path / "run.log"
    with log_path.open("w", encoding="utf-8") as log:
        run = subprocess.Popen(
            ["bash", "readme-case.sh"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the nodes it starts go with it
        )
        try:
            code = run.wait(timeout=RUN_LIMIT_S)
        finally:
            _stop_group(run.pid)
    printed = log_path.read_text(encoding="utf-8")
    node_logs = {r: tmp_path / f"node-{r}.log" for r in REGIONS}
    tails = "".join(
        f"\n--- {p.name} ---\n{p.read_text(encoding='utf-8')[-3000:]}"
        for p in node_logs.values()
        if p.exists()
    )
    assert code == 0, f"{printed}{tails}"
    case = json.loads((tmp_path / "case.json").read_text(encoding="utf-8"))
    assert case["summary"]["status"] == ends, printed
    assert case["summary"]["case_no"] in printed  # the README's own `window show` printed it
    assert "办结 (closed)" in printed
    assert "时间（北京时间）" in printed
