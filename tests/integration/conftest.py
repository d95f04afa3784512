"""Fixtures for tests against the real local stack (the stack itself: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings
from tests.integration.api_nodes import ApiPair, api_pair


@pytest.fixture(scope="module")
async def nodes(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiPair]:
    """福建 and 广东 nodes serving the window API, started for each module that asks."""
    async with api_pair(stack, stack_settings, Path(tmp_path_factory.mktemp("tokens"))) as p:
        yield p
