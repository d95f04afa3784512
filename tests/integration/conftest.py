"""Fixtures for tests against the real local stack (Kafka, Temporal, Postgres).

The stack is started (or found running) once per session with `tongban stack up` semantics;
it is left running afterwards so the next session starts warm.
"""

from __future__ import annotations

import pytest

from regions.stack.manager import up
from regions.stack.settings import StackEndpoints, StackSettings


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    return StackSettings()


@pytest.fixture(scope="session")
async def stack(stack_settings: StackSettings) -> StackEndpoints:
    return await up(stack_settings)
