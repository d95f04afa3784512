"""Fixtures for the console's browser tests: headless Chromium (Debian's, driven by Playwright)
and a province pair serving the console (tests/integration/api_nodes.py `api_pair`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from deploy.stack.settings import StackEndpoints, StackSettings
from tests.browser.console import ConsoleBrowser, chromium_path
from tests.integration.api_nodes import ApiPair, api_pair


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="module")
async def console_nodes(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiPair]:
    """福建 (350000) and 广东 (440000) nodes serving the API and the console."""
    async with api_pair(stack, stack_settings, Path(tmp_path_factory.mktemp("tokens"))) as p:
        yield p


@pytest.fixture
async def console(chromium: Browser, console_nodes: ApiPair) -> AsyncIterator[ConsoleBrowser]:
    """`await console.signed_in("350000", Role.WINDOW_CLERK)` → a signed-in `ConsolePage`."""
    browsing = ConsoleBrowser(chromium, console_nodes)
    try:
        yield browsing
    finally:
        await browsing.close()
