"""kill -9 of the middle region's node in the middle of 多地联办 routes (issue 19, decision 0035).

Routes of three legs across three regions: 福建 (350000) accepts and is the hub, 北京 (110000,
迁入地) decides the first and the last leg, 广东 (440000, 迁出地) the middle one. While cases are
in every leg, 广东's node is killed and started again. Every route must end as its officers
decided, each leg agreeing with its region, nothing done twice, nothing lost, and every
approval of a refused route revoked by its own region.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import cast

import asyncpg
import httpx
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.demo import synthetic_id_number
from regions.naming import intake_workflow_id, processing_workflow_id
from regions.tokens import Role
from tests.faults import figures
from tests.faults.injectors import kill_node
from tests.faults.invariants import Findings, check_exchange, workflow_end
from tests.integration.api_nodes import ApiNodes, auth
from tests.integration.lifecycle import T_ROUTE
from tests.waiting import NeverHappened, eventually
from workflows.lifecycle import intake
from workflows.lifecycle.pairs import agree

pytestmark = pytest.mark.integration

HUB, MIDDLE, ENDS = "350000", "440000", "110000"
LEG_REGIONS = (ENDS, MIDDLE, ENDS)  # 准迁, 迁出, 落户
CASES = 8
REFUSED = frozenset({1, 5})  # these routes' 迁出 is refused
TIMEOUT = httpx.Timeout(20.0)
HUB_ENDED = frozenset(p.value for p in intake.TERMINAL)


@dataclass
class RouteCase:
    number: int
    case_no: str
    decided: set[int] = field(default_factory=set)  # legs whose officer has decided

    @property
    def refused(self) -> bool:
        return self.number in REFUSED

    def legs(self) -> tuple[int, ...]:
        """The legs that run: a refused 迁出 leaves 落户 unstarted."""
        return (1, 2) if self.refused else (1, 2, 3)


class Routes:
    def __init__(self, nodes: ApiNodes, client: httpx.AsyncClient) -> None:
        self.nodes, self.client = nodes, client
        self.cases: list[RouteCase] = []
        self.tokens: dict[tuple[str, Role], str] = {}
        self.unavailable = 0

    def _headers(self, region: str, role: Role) -> dict[str, str]:
        if (region, role) not in self.tokens:
            self.tokens[(region, role)] = self.nodes.token(region, role)
        return auth(self.tokens[(region, role)])

    async def _post(self, region: str, path: str, body: object, role: Role, **headers: str) -> int:
        try:
            response = await self.client.post(
                f"{self.nodes.urls[region]}{path}",
                json=body,
                headers={**self._headers(region, role), **headers},
            )
        except httpx.TransportError:
            self.unavailable += 1
            return 0
        return response.status_code

    async def submit(self, number: int) -> None:
        body = {
            "item_code": T_ROUTE,
            "processing_region": ENDS,
            "mode": "多地联办",
            "route_places": {"迁入地": ENDS, "迁出地": MIDDLE},
            "applicant_name": f"测试申请人{number}",
            "applicant_id_number": synthetic_id_number(serial=f"{number:03d}"),
            "applicant_phone": "13800000000",
        }
        key = f"route-fault-{secrets.token_hex(8)}"
        response = await self.client.post(
            f"{self.nodes.urls[HUB]}/window/cases",
            json=body,
            headers={**self._headers(HUB, Role.WINDOW_CLERK), "Idempotency-Key": key},
        )
        assert response.status_code == 201, response.text
        self.cases.append(RouteCase(number, response.json()["case_no"]))

    async def status(self, region: str, case_no: str) -> str | None:
        try:
            response = await self.client.get(
                f"{self.nodes.urls[region]}/cases/{case_no}",
                headers=self._headers(region, Role.OPERATOR),
            )
        except httpx.TransportError:
            return None
        if response.status_code != 200:
            return None
        return str(response.json()["summary"]["status"])

    async def round(self, case: RouteCase) -> bool:
        """One look at a route and each officer's step now due; True once its hub is closed."""
        if await self.status(HUB, case.case_no) in HUB_ENDED:
            return True
        for leg in case.legs():
            if leg in case.decided:
                continue
            region, leg_no = LEG_REGIONS[leg - 1], f"{case.case_no}-{leg}"
            if await self.status(region, leg_no) != "processing":
                continue
            approve = not (case.refused and leg == 2)
            decision = {"approve": approve, "reason": "符合条件" if approve else "不符合迁出条件"}
            path = f"/office/cases/{leg_no}/decision"
            answer = await self._post(region, path, decision, Role.PROCESSING_OFFICER)
            if answer in (200, 409):  # 409: decided already (an answer lost to the fault)
                case.decided.add(leg)
            elif answer in (0, 503):
                self.unavailable += 1
            else:
                raise AssertionError(f"{path} at {region} answered {answer}")
        return False

    async def drive(self, timeout_s: float) -> None:
        async def open_routes() -> int:
            done = await asyncio.gather(*(self.round(c) for c in self.cases))
            return done.count(False)

        await eventually(
            open_routes, until=lambda left: left == 0, timeout=timeout_s, every=0.5,
            what="every route closed at its hub",
        )  # fmt: skip

    def in_middle(self) -> int:
        """Routes whose first leg is decided: their 迁出 is under way or about to be."""
        return sum(1 for c in self.cases if 1 in c.decided)


async def _check(routes: Routes, nodes: ApiNodes, stack: StackEndpoints) -> Findings:
    clients = nodes.nodes.clients
    regions = (HUB, MIDDLE, ENDS)
    conns = {r: await asyncpg.connect(region_dsn(stack.postgres_dsn, r)) for r in regions}
    f = Findings(cases=len(routes.cases))
    try:
        for case in routes.cases:
            no = case.case_no
            hub = await workflow_end(clients[HUB], intake_workflow_id(no))
            wanted = "route-failed" if case.refused else "route-approved"
            if hub.outcome != wanted or not agree(intake.Phase(hub.status), hub.outcome, None):
                f.lose(no, f"hub ended {hub.status}/{hub.outcome}, expected {wanted}")
            await check_exchange(no, (HUB,), conns, f)
            for leg in (1, 2, 3):
                leg_no, region = f"{no}-{leg}", LEG_REGIONS[leg - 1]
                for where in (HUB, region):
                    found = (await clients[where].count_workflows(f"CaseNo = '{leg_no}'")).count
                    expected = 1 if leg in case.legs() else 0
                    if found != expected:
                        (f.lose if found < expected else f.duplicate)(
                            leg_no, f"{found} workflows in {where}, expected {expected}"
                        )
                if leg not in case.legs():
                    continue
                a = await workflow_end(clients[HUB], intake_workflow_id(leg_no))
                b = await workflow_end(clients[region], processing_workflow_id(leg_no))
                if not agree(intake.Phase(a.status), a.outcome, b.outcome):
                    f.lose(leg_no, f"ends disagree: A {a.status}/{a.outcome}, B {b.outcome}")
                wanted_leg = {1: "revoked", 2: "denied"}[leg] if case.refused else "approved"
                if b.outcome != wanted_leg:
                    f.lose(leg_no, f"{region} ended {b.outcome}, expected {wanted_leg}")
                await check_exchange(leg_no, (HUB, region), conns, f)
        return f
    finally:
        for conn in conns.values():
            await conn.close()


async def test_a_killed_middle_region_loses_no_route_and_does_nothing_twice(
    nodes: ApiNodes, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        routes = Routes(nodes, client)
        for number in range(CASES):
            await routes.submit(number)
        driving = asyncio.create_task(routes.drive(timeout_s=300))
        try:
            # The fault lands while routes are in their middle leg, in 广东.
            await eventually(
                lambda: asyncio.sleep(0, routes.in_middle()),
                until=lambda n: n >= 2,
                timeout=120,
                every=0.5,
                what="routes in their middle leg",
            )
            killed_at = time.monotonic()
            await kill_node(nodes, MIDDLE)
            await driving
        finally:
            driving.cancel()
        recovered_s = time.monotonic() - killed_at

    async def findings() -> Findings:
        return await _check(routes, nodes, stack)

    try:
        found = await eventually(findings, until=lambda f: f.ok, timeout=60, every=1.0,
                                 what="every route invariant to hold")  # fmt: skip
    except NeverHappened as never:
        found = cast(Findings, never.last)
    figures.record(
        {
            "fault": "kill -9 of the middle region's node (多地联办)",
            "cases": len(routes.cases),
            "lost": len(found.lost),
            "duplicated": len(found.duplicated),
            "recover_s": round(recovered_s, 1),
            "steps_unavailable": routes.unavailable,
            "problems": found.problems[:20],
        }
    )
    assert found.ok, f"{found} (unavailable steps: {routes.unavailable})"
