"""多地联办 on the real stack (issue 19, decision 0035): 户口迁移 accepted at 福建's window for a
family moving from 广东 (迁出地) to 北京 (迁入地). 福建 is the route's hub: 北京 issues the
准予迁入证明, 广东 performs the 迁出, 北京 the 落户, each decided by its own officer; then one
case where 广东 refuses the 迁出 and 北京's approval is revoked by 北京. Three regions, three
nodes, the exchange between them as in production."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.demo import synthetic_id_number
from regions.policies import CasePolicies
from regions.tokens import Role
from regions.window import material_ref
from tests.integration.api_nodes import ApiNodes, api_nodes, auth
from tests.support.console import csrf_of
from tests.waiting import eventually
from workflows.models import AutoPolicy, CaseTimings

pytestmark = pytest.mark.integration

HUB, OUT, IN = "350000", "440000", "110000"
PLACES = {"迁入地": IN, "迁出地": OUT}
MOVED_FOR_WORK = "QR-00101-001"  # 工作调动户口迁移
ADMITTED_STUDENT = "QR-00101-002"  # 大中专院校录取学生户口迁移
PENSION = "GG-00201-002"  # 城乡居民基本养老保险关系转移接续: 转出地 → 转入地
PORT_BASE = 18720
TIMEOUT = httpx.Timeout(60.0)
# The window passes the formal review, the legs' offices accept on their own; each leg's
# decision is its officer's (below), and the hub hands the result over at once.
POLICY = AutoPolicy(formal_review="pass", acceptance="accept", decision="manual", delivery="window")
POLICIES = CasePolicies(
    items={MOVED_FOR_WORK: POLICY, ADMITTED_STUDENT: POLICY, PENSION: POLICY},
    default=POLICY,
    timings=CaseTimings(
        answer_timeout=timedelta(seconds=120),
        cancel_timeout=timedelta(seconds=60),
        delivery_wait=timedelta(seconds=120),
        working_day=timedelta(minutes=10),
    ),
)


@pytest.fixture(scope="module")
async def regions(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiNodes]:
    env = {"TONGBAN_NODE_POLICIES": POLICIES.model_dump_json()}
    tokens = Path(tmp_path_factory.mktemp("tokens"))
    async with api_nodes(
        stack, stack_settings, tokens, (HUB, OUT, IN), port_base=PORT_BASE, env=env
    ) as started:
        yield started


class Route:
    def __init__(self, nodes: ApiNodes, client: httpx.AsyncClient) -> None:
        self.nodes, self.client = nodes, client

    def headers(self, region: str, role: Role) -> dict[str, str]:
        return auth(self.nodes.token(region, role))

    async def apply(
        self, item: str, materials: tuple[str, ...], places: dict[str, str] = PLACES
    ) -> str:
        body = {
            "item_code": item,
            "processing_region": IN,  # the region of the route's last leg
            "mode": "多地联办",
            "route_places": places,
            "applicant_name": "测试申请人",
            "applicant_id_number": synthetic_id_number(serial=f"{secrets.randbelow(1000):03d}"),
            "applicant_phone": "13800000000",
            "materials": [material_ref(m).model_dump(mode="json") for m in materials],
        }
        response = await self.client.post(
            f"{self.nodes.urls[HUB]}/window/cases",
            json=body,
            headers={
                **self.headers(HUB, Role.WINDOW_CLERK),
                "Idempotency-Key": f"route-{secrets.token_hex(8)}",
            },
        )
        assert response.status_code == 201, response.text
        case_no: str = response.json()["case_no"]
        return case_no

    async def view(self, region: str, case_no: str) -> dict[str, Any] | None:
        response = await self.client.get(
            f"{self.nodes.urls[region]}/cases/{case_no}",
            headers=self.headers(region, Role.OPERATOR),
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    async def status(self, region: str, case_no: str) -> str | None:
        view = await self.view(region, case_no)
        return None if view is None else str(view["summary"]["status"])

    async def reaches(self, region: str, case_no: str, status: str) -> None:
        async def now() -> str | None:
            return await self.status(region, case_no)

        await eventually(
            now,
            until=lambda s: s == status,
            timeout=120,
            every=0.5,
            what=f"{case_no} {status} in {region}",
        )

    async def console_page(self, case_no: str) -> str:
        """The case's page in the hub's console, as its window clerk opens it."""
        node = self.nodes.urls[HUB]
        form = await self.client.get(f"{node}/console/sign-in")
        assert form.status_code == 200, form.text
        token = self.nodes.token(HUB, Role.WINDOW_CLERK)
        signed_in = await self.client.post(
            f"{node}/console/sign-in",
            data={"token": token, "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        page = await self.client.get(f"{node}/console/window/cases/{case_no}")
        assert page.status_code == 200, page.text
        return page.text

    async def decide(self, region: str, case_no: str, *, approve: bool, reason: str) -> None:
        await self.reaches(region, case_no, "processing")
        response = await self.client.post(
            f"{self.nodes.urls[region]}/office/cases/{case_no}/decision",
            json={"approve": approve, "reason": reason},
            headers=self.headers(region, Role.PROCESSING_OFFICER),
        )
        assert response.status_code == 200, response.text


@pytest.fixture
async def route(regions: ApiNodes) -> AsyncIterator[Route]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield Route(regions, client)


async def test_a_household_move_across_three_regions_completes_leg_by_leg(route: Route) -> None:
    case_no = await route.apply(MOVED_FOR_WORK, ("居民身份证", "调动审批材料（调令或录用手续）"))
    admit, move_out, settle = (f"{case_no}-{n}" for n in (1, 2, 3))
    await route.reaches(HUB, case_no, "route")
    # The legs run one after another, each in its own region, decided by its own officer.
    await route.decide(IN, admit, approve=True, reason="符合迁入条件")
    assert await route.status(OUT, move_out) in (None, "waiting-for-case", "received", "processing")
    await route.decide(OUT, move_out, approve=True, reason="准予迁出")
    await route.decide(IN, settle, approve=True, reason="准予落户")
    await route.reaches(HUB, case_no, "closed")
    for leg, region in ((admit, IN), (move_out, OUT), (settle, IN)):
        await route.reaches(HUB, leg, "closed")
        await route.reaches(region, leg, "closed")
        processing = await route.view(region, leg)
        assert processing is not None
        assert processing["outcome"] == "approved"
    hub = await route.view(HUB, case_no)
    assert hub is not None
    assert hub["outcome"] == "route-approved"
    # The hub's case shows the whole route: each leg, where it ran, its own case number.
    assert [(leg["case_no"], leg["region"], leg["status"]) for leg in hub["route"]] == [
        (admit, IN, "approved"),
        (move_out, OUT, "approved"),
        (settle, IN, "approved"),
    ]
    assert {"route", "route-approved", "result-delivered"} <= {s["status"] for s in hub["steps"]}
    # The window's console page of the case shows the route too, each leg linked.
    page = await route.console_page(case_no)
    assert "联办路线" in page
    for leg in (admit, move_out, settle):
        assert f'/window/cases/{leg}">{leg}</a>' in page
    assert page.count("已办结") >= 3


async def test_a_refused_move_out_has_the_admission_revoked_by_its_region(route: Route) -> None:
    case_no = await route.apply(ADMITTED_STUDENT, ("居民身份证", "录取通知书"))
    admit, move_out, settle = (f"{case_no}-{n}" for n in (1, 2, 3))
    await route.decide(IN, admit, approve=True, reason="符合迁入条件")
    await route.decide(OUT, move_out, approve=False, reason="不符合迁出条件")
    await route.reaches(HUB, case_no, "closed-rejected")
    # 北京 revoked its 准予迁入证明 itself, on the hub's request, and both sides agree.
    await route.reaches(IN, admit, "closed")
    revoked = await route.view(IN, admit)
    assert revoked is not None
    assert revoked["outcome"] == "revoked"
    assert "revoked" in {s["status"] for s in revoked["steps"]}
    hub_leg = await route.view(HUB, admit)
    assert hub_leg is not None
    assert hub_leg["outcome"] == "revoked"
    refused = await route.view(OUT, move_out)
    assert refused is not None
    assert refused["outcome"] == "denied"
    # 落户 never started anywhere.
    assert await route.view(HUB, settle) is None
    assert await route.view(IN, settle) is None
    hub = await route.view(HUB, case_no)
    assert hub is not None
    assert hub["outcome"] == "route-failed"
    assert [(leg["status"], leg["status_label_zh"]) for leg in hub["route"]] == [
        ("revoked", "已撤销"),
        ("refused", "不予办理"),
        ("skipped", "未启动"),
    ]


async def test_a_pension_transfer_moves_from_one_region_to_the_other(route: Route) -> None:
    """转出地 广东 issues the 参保缴费凭证 and transfers; 转入地 北京 takes the account over."""
    places = {"转出地": OUT, "转入地": IN}
    case_no = await route.apply(
        PENSION, ("居民身份证", "城乡居民基本养老保险关系转入申请表"), places
    )
    transfer_out, take_over = f"{case_no}-1", f"{case_no}-2"
    await route.decide(OUT, transfer_out, approve=True, reason="已转出个人账户储存额")
    await route.decide(IN, take_over, approve=True, reason="已接续")
    await route.reaches(HUB, case_no, "closed")
    for leg, region in ((transfer_out, OUT), (take_over, IN)):
        await route.reaches(region, leg, "closed")
        view = await route.view(region, leg)
        assert view is not None
        assert view["outcome"] == "approved"
