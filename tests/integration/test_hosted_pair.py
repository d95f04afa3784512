"""Two regions hosted by one process (decision 0047): a case goes from 福建 to 广东 and back
through them exactly as between two node processes, each region's log lines name it; a region
that cannot take its API port stops the whole process before any region connects."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.local import ensure_local_keys
from regions.node_process import spawn_host
from tests.integration.automatic import AUTOMATIC_ENV, submit_and_see_both_approved
from tests.integration.exchange_support import rows
from tests.integration.pair import ProvincePair, start_pair

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
# Far from the ports other tests' nodes use (8001…, 18711…, 18930…).
API_PORT_BASE = 18960


@pytest.fixture(scope="module")
async def hosted(
    stack: StackEndpoints, stack_settings: StackSettings
) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    env = {**AUTOMATIC_ENV, "TONGBAN_NODE_API_PORT_BASE": str(API_PORT_BASE)}
    async with start_pair(stack, stack_settings, A, B, env=env, one_process=True) as started:
        yield started
    host = started.nodes[A]
    assert host.process.returncode == 0, host.log_tail()  # SIGTERM stops both regions cleanly
    log = host.log_path.read_text(errors="replace")
    for region in (A, B):
        assert f"[{region}] regions.node: node {region} stopped" in log


async def test_a_case_goes_between_two_regions_of_one_process(
    hosted: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    assert hosted.nodes[A] is hosted.nodes[B]  # one process, both regions
    case_no = await submit_and_see_both_approved(hosted, stack, stack_settings)
    for region in (A, B):
        statuses = await rows(
            region_dsn(stack.postgres_dsn, region),
            "SELECT status FROM cases WHERE case_no = $1",
            case_no,
        )
        assert [r["status"] for r in statuses] == ["closed"]

    log = hosted.nodes[A].log_path.read_text(errors="replace")
    for region in (A, B):
        assert f"[{region}] regions.node: node {region} running" in log
        assert f"[{region}] regions.api.server: window API of {region}" in log


async def test_a_region_without_its_port_stops_every_region_before_they_connect(
    stack: StackEndpoints, tmp_path: Path
) -> None:
    # `stack`: up, so the regions' settings resolve and the refusal is the port's alone.
    # Not the pair's regions: the module's hosted pair holds their locks until the module ends.
    c, d = "310000", "320000"
    # One port for both regions: the second is refused (binding alone would let both have it
    # until they listen, node_host.check_ports).
    env = {"TONGBAN_NODE_API_PORT": str(API_PORT_BASE + 30)}
    began = time.monotonic()
    host = spawn_host((c, d), tmp_path / "nodes", env)
    try:
        code = host.process.wait(60)
    except subprocess.TimeoutExpired:
        host.kill()
        raise AssertionError(f"the host kept running:\n{host.log_tail()}") from None
    log = host.log_tail()
    assert code == 1, log
    assert (
        f"error: window API of {d}: port {API_PORT_BASE + 30} on 127.0.0.1 is region {c}'s in"
        " this process" in log
    )
    assert "Traceback" not in log
    assert "running" not in log  # no region of it started
    assert time.monotonic() - began < 30, log
