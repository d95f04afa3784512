"""网上办事 in a real browser (全程网办, decision 0034): an applicant opens 福建's (350000)
applicant pages, signs in at the region's identity provider (a real provider process; its
answer comes back by form_post), applies for an item 广东 (440000) decides with a PDF chosen in
the file dialog, and finds the case on its page and in 我的办件, in 全程网办, with nothing of
their name in any URL the browser asked for."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.demo import synthetic_id_number
from tests.browser.console import VIEWPORT
from tests.integration.api_nodes import ApiNodes, api_nodes
from tests.support.identity_provider import (
    IdentityProviderProcess,
    Person,
    spawn_identity_provider,
)

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
PORT_BASE = 18790
ITEM = "GG-00105-000"  # 开具户籍类证明
PERSON = Person(
    sub="pseudonym-browser-0a1b",
    name="赵敏",
    id_number=synthetic_id_number(serial="655"),
    phone_number="13500000000",
)


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProviderProcess]:
    with spawn_identity_provider("tongban-350000-browser") as idp:
        idp.add_person(PERSON)
        yield idp


@pytest.fixture(scope="module")
async def nodes(
    stack: StackEndpoints,
    stack_settings: StackSettings,
    provider: IdentityProviderProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ApiNodes]:
    tokens = Path(tmp_path_factory.mktemp("tokens"))
    async with api_nodes(
        stack, stack_settings, tokens, (A, B), port_base=PORT_BASE, env=provider.node_env()
    ) as started:
        yield started


@pytest.fixture
async def page(chromium: Browser, nodes: ApiNodes) -> AsyncIterator[Page]:
    context = await chromium.new_context(
        base_url=nodes.urls[A],
        locale="zh-CN",
        viewport=VIEWPORT,  # type: ignore[arg-type]
    )
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_an_applicant_signs_in_applies_online_and_sees_the_case(
    page: Page, tmp_path: Path
) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    await page.goto("/console/applicant/")
    await page.wait_for_url(re.compile(r"/console/applicant/sign-in"))
    await page.get_by_role("link", name="使用统一身份认证登录").click()
    # At the identity provider: choose the person and sign in; its answer is posted back.
    await page.get_by_label("登录人").select_option(PERSON.sub)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(re.compile(r"/console/applicant/$"))
    assert await page.get_by_label("当前登录的申请人").inner_text() == "申请人 赵*"

    await page.get_by_role("link", name="网上申请").first.click()
    await page.get_by_label("办理地").select_option(B)
    await page.get_by_role("button", name="下一步").click()
    await page.get_by_label("事项（可全程网办）").select_option(ITEM)
    await page.get_by_role("button", name="下一步").click()
    await page.get_by_label("结果送达方式").select_option("online")
    scan = tmp_path / "id-card.pdf"
    scan.write_bytes(b"%PDF-1.7\n" + os.urandom(20_000))
    await page.get_by_label("居民身份证（必交）").set_input_files(str(scan))
    await page.get_by_role("button", name="提交申请").click()

    await page.wait_for_url(re.compile(r"/console/applicant/cases/350000-\d{8}-[0-9A-Z]{8}\?"))
    case_no = re.findall(r"/cases/([^?]+)", page.url)[0]
    assert "申请已提交" in await page.get_by_role("status").inner_text()
    summary = await page.locator("section.applicant-case dl").inner_text()
    assert "全程网办" in summary
    assert ITEM in summary
    await page.get_by_role("link", name="我的办件").click()
    await page.get_by_role("link", name=case_no).click()
    await page.wait_for_url(re.compile(rf"/console/applicant/cases/{case_no}$"))
    assert all(PERSON.name not in url and PERSON.id_number not in url for url in asked)
