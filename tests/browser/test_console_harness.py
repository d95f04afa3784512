"""The harness itself, in a real browser: a clerk at 350000 opens the console, signs in with the
keyboard, sees the 窗口 section and nothing of the others, and signs out."""

from __future__ import annotations

import pytest

from regions.tokens import Role
from tests.browser.console import ConsoleBrowser, no_problems, screenshot, sign_in, sign_out
from tests.integration.api_nodes import A

pytestmark = pytest.mark.integration


async def test_clerk_signs_in_with_the_keyboard_and_out(console: ConsoleBrowser) -> None:
    clerk = await console.page(A)
    page = clerk.page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    token = console.nodes.token(A, Role.WINDOW_CLERK)
    with no_problems(clerk):  # no script error, no CSP violation, nothing failed to load
        await sign_in(page, token)
        assert page.url.endswith("/console/window/")
        nav = page.get_by_role("navigation", name="工作栏目")
        window_link = nav.get_by_role("link", name="窗口")
        assert await window_link.get_attribute("aria-current") == "page"
        assert await nav.get_by_role("link", name="办理").count() == 0
        assert await nav.get_by_role("link", name="运维").count() == 0
        person = page.get_by_label("当前登录人员")
        assert "测试窗口人员" in await person.inner_text()
        assert "窗口人员" in await person.inner_text()
        assert "福建省" in await page.locator("header").inner_text()
        await screenshot(page, "console-window-signed-in")

    # The office's pages are not the clerk's (the browser logs the 403 itself: outside the check).
    answer = await page.goto("/console/office/")
    assert answer is not None
    assert answer.status == 403
    assert await page.get_by_role("heading", name="无权打开此页面").count() == 1

    await page.goto("/console/window/")
    with no_problems(clerk):
        await sign_out(page)
        assert "您已退出登录" in await page.locator("main").inner_text()
        await page.goto("/console/window/")
        assert "/console/sign-in" in page.url
    # The token went in a POST body only: no URL the browser asked for holds it.
    assert urls
    assert not [url for url in urls if token in url]
