"""Regional nodes as their own OS processes on the local stack, for integration tests."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.demo import synthetic_id_number
from regions.local import local_node_settings
from regions.node import connect_as_node
from regions.node_process import NodeProcess, spawn_host, spawn_node, wait_until_polling
from regions.window import Application, material_ref


@dataclass
class ProvincePair:
    origin: str
    processing: str
    nodes: dict[str, NodeProcess]
    clients: dict[str, Client]
    log_dir: Path
    env: dict[str, str] | None = None
    serial: int = field(default=0)

    async def restart(self, region: str) -> None:
        """kill -9 the region's node, as a crash would, and start it again."""
        self.nodes[region].kill()
        self.nodes[region] = spawn_node(region, self.log_dir, self.env)
        await wait_until_polling(self.clients[region], self.nodes[region])

    def application(self, **overrides: object) -> Application:
        """A valid application with a fresh synthetic applicant each time."""
        self.serial += 1
        fields: dict[str, object] = {
            "item_code": "GG-00102-000",
            "processing_region": self.processing,
            "applicant_name": f"测试申请人{secrets.token_hex(3)}",
            "applicant_id_number": synthetic_id_number(serial=f"{self.serial % 1000:03d}"),
            "applicant_phone": "13800000000",
            # What GG-00102-000 needs the applicant to carry (the photo comes by data sharing).
            "materials": (material_ref("居民身份证"), material_ref("社会保障卡申领登记表")),
        }
        return Application.model_validate({**fields, **overrides})


@dataclass
class RegionNodes:
    """Any number of regional nodes, each its own OS process, started with one environment."""

    nodes: dict[str, NodeProcess]
    clients: dict[str, Client]
    log_dir: Path
    env: dict[str, str] | None = None

    def kill(self, region: str) -> None:
        """kill -9 the region's node: no cleanup, as a crash would leave things."""
        self.nodes[region].kill()

    async def start(self, region: str) -> None:
        """Start the region's node again (after `kill`) and wait until its worker polls."""
        self.nodes[region] = spawn_node(region, self.log_dir, self.env)
        await wait_until_polling(self.clients[region], self.nodes[region])

    async def restart(self, region: str) -> None:
        self.kill(region)
        await self.start(region)


@contextlib.asynccontextmanager
async def start_nodes(
    stack: StackEndpoints,
    settings: StackSettings,
    regions: tuple[str, ...],
    env: dict[str, str] | None = None,
    *,
    one_process: bool = False,
) -> AsyncIterator[RegionNodes]:
    """`one_process`: every region hosted by one `node run` process (decision 0047); each
    region's entry is then that process, so `kill`/`restart` would end every region of it:
    tests that restart a region start their nodes one to a process."""
    log_dir = settings.state_dir / "test-nodes"
    if one_process:
        host = spawn_host(regions, log_dir, env)
        nodes = dict.fromkeys(regions, host)
    else:
        nodes = {region: spawn_node(region, log_dir, env) for region in regions}
    try:
        clients = {
            region: await connect_as_node(local_node_settings(region, settings, stack))
            for region in nodes
        }
        for region, node in nodes.items():
            await wait_until_polling(clients[region], node, region=region)
        yield RegionNodes(nodes, clients, log_dir, env)
    finally:
        for node in nodes.values():  # restarts replace entries of this dict
            node.stop()


@contextlib.asynccontextmanager
async def start_pair(
    stack: StackEndpoints,
    settings: StackSettings,
    origin: str,
    processing: str,
    env: dict[str, str] | None = None,
    *,
    one_process: bool = False,
) -> AsyncIterator[ProvincePair]:
    async with start_nodes(
        stack, settings, (origin, processing), env, one_process=one_process
    ) as started:
        # The pair shares the nodes dict, so nodes it restarts are the ones stopped at the end.
        yield ProvincePair(origin, processing, started.nodes, started.clients, started.log_dir, env)
