"""Every activity a regional node's worker runs, bound to the node's dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from activities.cases import CaseActivities
from events.credentials import RegionCredentials


def node_activities(pool: asyncpg.Pool, credentials: RegionCredentials) -> list[Callable[..., Any]]:
    cases = CaseActivities(pool, credentials)
    return [cases.commit_steps, cases.forward_case]
