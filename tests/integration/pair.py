"""Regional nodes as their own OS processes on the local stack, for integration tests."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from regions.demo import synthetic_id_number
from regions.naming import namespace
from regions.node import connect_temporal
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from regions.stack.settings import StackEndpoints, StackSettings
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


@contextlib.asynccontextmanager
async def start_pair(
    stack: StackEndpoints,
    settings: StackSettings,
    origin: str,
    processing: str,
    env: dict[str, str] | None = None,
) -> AsyncIterator[ProvincePair]:
    log_dir = settings.state_dir / "test-nodes"
    nodes = {region: spawn_node(region, log_dir, env) for region in (origin, processing)}
    try:
        clients = {
            region: await connect_temporal(stack.temporal_address, namespace(region))
            for region in nodes
        }
        for region, node in nodes.items():
            await wait_until_polling(clients[region], node)
        pair = ProvincePair(origin, processing, nodes, clients, log_dir, env)
        yield pair
    finally:
        for node in nodes.values():  # the pair replaces entries of this dict on restart
            node.stop()
