"""A province pair whose nodes serve the window API on test ports, and tokens for it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.api.ports import api_port
from regions.local import ensure_local_keys, local_node_settings
from regions.policies import CasePolicies
from regions.tokens import Role, TokenStore
from tests.integration.lifecycle import FAST, MANUAL
from tests.integration.pair import ProvincePair, RegionNodes, start_nodes, start_pair
from tests.waiting import eventually

A, B = "350000", "440000"
# Far from the defaults (8001, 8002) other nodes on this machine use.
API_PORT_BASE = 18710
API = {A: f"http://127.0.0.1:{API_PORT_BASE + 1}", B: f"http://127.0.0.1:{API_PORT_BASE + 2}"}
# The seed item every window test submits; every step is left to the people at the API.
ITEM = "GG-00102-000"
CARRIED = ("居民身份证", "社会保障卡申领登记表")
POLICIES = CasePolicies(items={ITEM: MANUAL}, timings=FAST)


# Who a test token is issued to, when a test does not name the person itself: as the CLI,
# clerks' and officers' tokens name a person (工号, name); operators' do not.
TEST_PERSONS: dict[Role, tuple[str, str] | None] = {
    Role.WINDOW_CLERK: ("T-CLERK", "测试窗口人员"),
    Role.PROCESSING_OFFICER: ("T-OFFICER", "测试办理人员"),
    Role.OPERATOR: None,
}


@dataclass
class ApiPair:
    pair: ProvincePair
    tokens: TokenStore

    def token(
        self,
        region: str,
        role: Role,
        *,
        days: float = 1,
        person: tuple[str, str] | None = None,
        window: str | None = None,
    ) -> str:
        return issue_token(self.tokens, region, role, days=days, person=person, window=window)


def issue_token(
    tokens: TokenStore,
    region: str,
    role: Role,
    *,
    days: float = 1,
    person: tuple[str, str] | None = None,
    window: str | None = None,
) -> str:
    """A token for `role` at `window` (default `test-<role>`), issued to `person` (工号, name;
    default the role's test person)."""
    person_id, person_name = person or TEST_PERSONS[role] or (None, None)
    issued, _ = tokens.issue(
        region=region,
        role=role,
        window=window or f"test-{role.value}",
        valid_for=timedelta(days=days),
        now=datetime.now(UTC),
        person_id=person_id,
        person_name=person_name,
    )
    return issued


@dataclass
class ApiNodes:
    """N regional nodes serving the window API on test ports, and their token store."""

    nodes: RegionNodes
    tokens: TokenStore
    urls: dict[str, str]

    def token(
        self,
        region: str,
        role: Role,
        *,
        days: float = 1,
        person: tuple[str, str] | None = None,
        window: str | None = None,
    ) -> str:
        return issue_token(self.tokens, region, role, days=days, person=person, window=window)

    async def start(self, region: str) -> None:
        """Start a killed node again; ready once its worker polls and its API answers."""
        await self.nodes.start(region)
        await wait_for_api(self.urls[region])

    async def restart(self, region: str) -> None:
        self.nodes.kill(region)
        await self.start(region)


@contextlib.asynccontextmanager
async def api_nodes(
    stack: StackEndpoints,
    settings: StackSettings,
    tokens_dir: Path,
    regions: tuple[str, ...],
    *,
    port_base: int,
    env: dict[str, str] | None = None,
) -> AsyncIterator[ApiNodes]:
    ensure_local_keys(settings, settings.regions)
    node_env = {
        **(env or {}),
        "TONGBAN_NODE_API_PORT_BASE": str(port_base),
        "TONGBAN_NODE_TOKENS_DIR": str(tokens_dir),
    }
    urls = {
        region: "http://127.0.0.1:{}".format(
            api_port(
                local_node_settings(region, settings, stack).model_copy(
                    update={"api_port": 0, "api_port_base": port_base}
                )
            )
        )
        for region in regions
    }
    async with start_nodes(stack, settings, regions, env=node_env) as started:
        for url in urls.values():
            await wait_for_api(url)
        yield ApiNodes(started, TokenStore(tokens_dir), urls)


@contextlib.asynccontextmanager
async def api_pair(
    stack: StackEndpoints, settings: StackSettings, tokens_dir: Path
) -> AsyncIterator[ApiPair]:
    ensure_local_keys(settings, settings.regions)
    env = {
        "TONGBAN_NODE_POLICIES": POLICIES.model_dump_json(),
        "TONGBAN_NODE_API_PORT_BASE": str(API_PORT_BASE),
        "TONGBAN_NODE_TOKENS_DIR": str(tokens_dir),
    }
    async with start_pair(stack, settings, A, B, env=env) as pair:
        for url in API.values():
            await wait_for_api(url)
        yield ApiPair(pair, TokenStore(tokens_dir))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_for_api(url: str, timeout: float = 60.0, *, probe: str = "/healthz") -> None:
    """The node starts its API alongside its worker; the first request may come before it.
    `/readyz` waits further, until the node's Postgres and Temporal answer too."""
    async with httpx.AsyncClient(base_url=url) as client:

        async def status() -> int | str:
            try:
                return (await client.get(probe)).status_code
            except httpx.TransportError as exc:
                return type(exc).__name__

        await eventually(
            status, until=lambda s: s == 200, timeout=timeout, every=0.3, what=f"{url}{probe}"
        )
