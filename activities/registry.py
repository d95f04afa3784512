"""Every activity a regional node's worker runs, bound to the node's dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from activities.cases import CaseActivities
from events.credentials import RegionCredentials


def node_activities(pool: asyncpg.Pool, credentials: RegionCredentials) -> list[Callable[..., Any]]:
    cases = CaseActivities(pool, credentials)
    return [
        cases.set_status,
        cases.forward_case,
        cases.register_forwarded,
        cases.send_decision,
        cases.send_event,
        cases.apply_effect,
    ]
