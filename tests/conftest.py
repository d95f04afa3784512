"""The local stack (Kafka, Temporal, Postgres) for every suite that runs against it.

Started (or found running) once per session with `tongban stack up` semantics, and left
running afterwards so the next session starts warm. Unit tests never ask for it. The profile
(`TONGBAN_STACK_PROFILE`: the dev stack or the cluster) is the settings'; tests reach either
through tests/support/stack_access.py.
"""

from __future__ import annotations

import pytest

from deploy.stack.manager import up
from deploy.stack.settings import StackEndpoints, StackSettings
from tests.support.stack_access import Bus, bus_for


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    return StackSettings()


@pytest.fixture(scope="session")
async def stack(stack_settings: StackSettings) -> StackEndpoints:
    return await up(stack_settings)


@pytest.fixture(scope="session")
def bus(stack: StackEndpoints, stack_settings: StackSettings) -> Bus:
    """Kafka as the bus itself (forged records, every topic read), on the stack's profile."""
    return bus_for(stack_settings, stack)
