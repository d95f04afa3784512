"""Driving the console in Debian's Chromium with Playwright: a signed-in page per person, the
sign-in typed with the keyboard as a person would, screenshots for the README."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

from regions.tokens import Role
from tests.integration.api_nodes import API, ApiPair

IMAGES_ENV = "TONGBAN_CONSOLE_IMAGES"
VIEWPORT = {"width": 1280, "height": 860}


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, "Debian's chromium is not installed (deploy/local/bootstrap.sh)"
    return found


@dataclass
class ConsolePage:
    """A browser tab of one person, and what the page complained about on the way (script
    errors, CSP violations, failed loads)."""

    page: Page
    region: str
    role: Role | None  # None until someone signs in in it
    problems: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return API[self.region]


async def sign_in(page: Page, token: str) -> None:
    """Open /console and sign in with the keyboard only: the token field has the focus, the
    token is typed, Enter sends the form."""
    await page.goto("/console/")
    await page.wait_for_url(re.compile(r"/console/sign-in"))
    focused = await page.evaluate("document.activeElement && document.activeElement.id")
    assert focused == "f-token", f"the token field should have the focus, not {focused!r}"
    await page.keyboard.type(token)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console/(window|office|operators)/$"))


async def sign_out(page: Page) -> None:
    """Tab to 退出登录 and press Enter (keyboard only)."""
    button = page.get_by_role("button", name="退出登录")
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await button.evaluate("b => b === document.activeElement"):
            break
    else:
        raise AssertionError("退出登录 cannot be reached with the Tab key")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console/sign-in\?reason=signed-out"))


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path | None:
    """A PNG in $TONGBAN_CONSOLE_IMAGES/<name>.png when that is set (README images): the whole
    page, or only what the viewport shows (`full_page=False`: a small image)."""
    directory = os.environ.get(IMAGES_ENV)
    if not directory:
        return None
    out = Path(directory) / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(out), full_page=full_page)
    return out


class ConsoleBrowser:
    """Browser contexts (one per person: their own cookies) on the pair's console."""

    def __init__(self, browser: Browser, nodes: ApiPair) -> None:
        self.browser = browser
        self.nodes = nodes
        self._contexts: list[BrowserContext] = []

    async def page(self, region: str) -> ConsolePage:
        """A fresh tab with nobody signed in, on `region`'s node."""
        context = await self.browser.new_context(
            base_url=API[region],
            locale="zh-CN",
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        self._contexts.append(context)
        page = await context.new_page()
        opened = ConsolePage(page, region, None)
        _watch(opened)
        return opened

    async def signed_in(
        self,
        region: str,
        role: Role,
        *,
        person: tuple[str, str] | None = None,
        window: str | None = None,
    ) -> ConsolePage:
        """A tab of a person of `role` at `region`, signed in with a token issued to them
        (default: the role's test person, tests/integration/api_nodes.py TEST_PERSONS)."""
        opened = await self.page(region)
        opened.role = role
        token = self.nodes.token(region, role, person=person, window=window)
        await sign_in(opened.page, token)
        return opened

    async def close(self) -> None:
        for context in self._contexts:
            await context.close()
        self._contexts.clear()


def _watch(opened: ConsolePage) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            opened.problems.append(f"console {message.type}: {message.text}")

    opened.page.on("console", on_console)
    opened.page.on("pageerror", lambda error: opened.problems.append(f"page error: {error}"))
    opened.page.on(
        "response",
        lambda response: (
            opened.problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400
            else None
        ),
    )
    opened.page.on(
        "requestfailed", lambda request: opened.problems.append(f"failed: {request.url}")
    )


@contextmanager
def no_problems(opened: ConsolePage) -> Iterator[None]:
    """Fails the test when the page complained inside the block."""
    before = len(opened.problems)
    yield
    assert opened.problems[before:] == [], opened.problems[before:]
