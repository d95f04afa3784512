"""The local stack (Kafka, Temporal, Postgres) for every suite that runs against it.

Started (or found running) once per session with `tongban stack up` semantics, and left
running afterwards so the next session starts warm. Unit tests never ask for it.
"""

from __future__ import annotations

import pytest

from deploy.stack.manager import up
from deploy.stack.settings import StackEndpoints, StackSettings


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    return StackSettings()


@pytest.fixture(scope="session")
async def stack(stack_settings: StackSettings) -> StackEndpoints:
    return await up(stack_settings)
