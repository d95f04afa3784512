"""Fixtures of the fault suite: one node per region for the suite (the stack: tests/conftest.py).

All five nodes (the 跨省 pair, the 省内 pair of cities, the outsider 北京) run as their own
OS processes with the fault workload's policies and short receipt timeouts. A test that kills
a node starts it again; after every test, any node found dead is started again (and the test
that left it dead fails on its own invariants), so one failure does not cascade.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.stack.manager import up
from deploy.stack.settings import StackEndpoints, StackSettings
from regions.local import ensure_local_keys
from tests.faults.harness import DRIVE_TIMEOUT_S, MID_RUN_TIMEOUT_S
from tests.faults.injectors import ready
from tests.faults.invariants import SETTLE_S
from tests.faults.workload import NODE_ENV, REGIONS, spawn_effect_receiver
from tests.integration.api_nodes import ApiNodes, api_nodes
from tests.waiting import eventually

# A fault run may take the harness's whole budget (cases in flight, the fault, the drive, the
# invariants' settling) and must then fail with its own explanation (which cases are open, in
# which states), not be cut short by pytest-timeout's default with a bare stack.
FAULT_RUN_TIMEOUT_S = MID_RUN_TIMEOUT_S + DRIVE_TIMEOUT_S + SETTLE_S + 120


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.timeout(FAULT_RUN_TIMEOUT_S))


# Ports for this suite's window APIs: clear of the defaults (8001…) and of api_nodes' 18711.
API_PORT_BASE = 18730


# Package scope: the five nodes stop when the fault suite ends. Left running, they would join
# the same consumer groups as the nodes later tests start, and take their events.
@pytest.fixture(scope="package")
async def fault_nodes(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiNodes]:
    tokens = Path(tmp_path_factory.mktemp("fault-tokens"))
    ensure_local_keys(stack_settings, stack_settings.regions)
    # The regions' systems outlive every node killed here, as a real payment platform would.
    with spawn_effect_receiver(stack_settings):
        async with api_nodes(
            stack, stack_settings, tokens, REGIONS, port_base=API_PORT_BASE, env=NODE_ENV
        ) as nodes:
            yield nodes


@pytest.fixture
async def nodes(fault_nodes: ApiNodes, stack_settings: StackSettings) -> AsyncIterator[ApiNodes]:
    yield fault_nodes
    # A fault test must leave the stack and every node running for the next one.
    await up(stack_settings)
    await every_node_ready(fault_nodes)


async def every_node_ready(api: ApiNodes) -> None:
    """Start any node found dead, until every node runs and is ready (its Postgres and
    Temporal answer): a node that dies after a first look is started on the next."""
    regions = api.nodes.nodes

    async def not_ready() -> list[str]:
        dead = [r for r, n in regions.items() if n.process.poll() is not None]
        await asyncio.gather(*(api.start(region) for region in dead))
        return [r for r in regions if not await ready(api, r)]

    await eventually(not_ready, until=lambda left: not left, timeout=120, what="every node ready")
