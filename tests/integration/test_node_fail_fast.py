"""A node that cannot start one of its parts stops at once with a clear message, and a region
runs one full node per machine (issue 24 item 6, decision 0033): a taken API port stops the
node (it used to run on without its API); a second `node run` for a region is refused while
the first runs; extra worker-only processes are still welcome beside it."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.local import ensure_local_keys
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from tests.support.stack_access import temporal_client

pytestmark = pytest.mark.integration

A = "350000"
# Far from the ports other tests' nodes use (8001…, 18711…).
API_PORT_BASE = 18930


def _exited(node: NodeProcess, timeout: float = 60.0) -> int:
    try:
        return node.process.wait(timeout)
    except subprocess.TimeoutExpired:
        node.kill()
        raise AssertionError(f"node {node.region} kept running:\n{node.log_tail()}") from None


def _log_dir(stack_settings: StackSettings, tmp_path: Path) -> Path:
    ensure_local_keys(stack_settings, stack_settings.regions)
    return tmp_path / "nodes"


async def test_a_taken_api_port_stops_the_node_with_the_reason(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path: Path
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        began = time.monotonic()
        node = spawn_node(
            A, _log_dir(stack_settings, tmp_path), {"TONGBAN_NODE_API_PORT": str(port)}
        )
        code = _exited(node)
    log = node.log_tail()
    assert code == 1, log
    assert f"error: window API of {A}: port {port} on 127.0.0.1 is taken" in log
    assert "Traceback" not in log
    # Refused before it connected to anything: no worker of it ever polled.
    assert time.monotonic() - began < 30, log


async def test_a_second_full_node_of_a_region_is_refused_and_workers_are_not(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path: Path
) -> None:
    log_dir = _log_dir(stack_settings, tmp_path)
    env = {"TONGBAN_NODE_API_PORT_BASE": str(API_PORT_BASE)}
    client = await temporal_client(stack_settings, stack, A)
    first = spawn_node(A, log_dir, env, label="first")
    try:
        await wait_until_polling(client, first)
        second = spawn_node(A, log_dir, env, label="second")  # its lock, before its port
        assert _exited(second) == 1, second.log_tail()
        assert (
            f"error: a node of region {A} already runs on this machine (pid {first.process.pid}"
            in second.log_tail()
        )
        worker = spawn_node(A, log_dir, {**env, "TONGBAN_NODE_ROLE": "worker"}, label="worker")
        try:
            await wait_until_polling(client, worker)
        finally:
            assert worker.stop() == 0, worker.log_tail()
        assert first.process.poll() is None, first.log_tail()
    finally:
        assert first.stop() == 0, first.log_tail()
    # The first one gone (as after kill -9 too: the kernel frees the lock), a node starts again.
    again = spawn_node(A, log_dir, env, label="again")
    try:
        await wait_until_polling(client, again)
    finally:
        again.kill()
