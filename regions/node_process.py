"""Starting and stopping regional nodes as their own OS processes (demo, tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from regions.naming import task_queue


@dataclass
class NodeProcess:
    region: str  # the first region it hosts (the only one, as a rule)
    process: subprocess.Popen[bytes]
    log_path: Path
    # Every region the process hosts (decision 0047); one unless started by `spawn_host`.
    regions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        self.regions = self.regions or (self.region,)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """kill -9: no cleanup at all, as a crash would leave things."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def spawn_node(
    region: str, log_dir: Path, env: dict[str, str] | None = None, *, label: str = ""
) -> NodeProcess:
    return spawn_host((region,), log_dir, env, label=label)


def spawn_host(
    regions: Sequence[str], log_dir: Path, env: dict[str, str] | None = None, *, label: str = ""
) -> NodeProcess:
    """One `tongban node run` process hosting every region of `regions` (one: a node as
    always; several: decision 0047), its output in `node-<first>[+<n-1>][-label].log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    name = regions[0] + (f"+{len(regions) - 1}" if len(regions) > 1 else "")
    log_path = log_dir / f"node-{name}{f'-{label}' if label else ''}.log"
    options = [word for region in regions for word in ("--region", region)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "regions.cli", "node", "run", *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return NodeProcess(regions[0], process, log_path, tuple(regions))


async def wait_until_polling(
    client: Client, node: NodeProcess, timeout: float = 60.0, *, region: str | None = None
) -> None:
    """Ready means the node's worker is polling its task queue on the Temporal server
    (`region`: which of the regions the process hosts, with `client` in its namespace)."""
    region = region or node.region
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue(region)),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"node {region} exited:\n{node.log_tail()}")
        response = await client.workflow_service.describe_task_queue(request)
        # Identity defaults to "<pid>@<host>": a poller left over from a killed earlier
        # process of the same region must not count as this one being ready.
        if any(p.identity.startswith(f"{node.process.pid}@") for p in response.pollers):
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(
        f"node {region} did not start polling within {timeout:.0f}s:\n{node.log_tail()}"
    )
