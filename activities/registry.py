"""Every activity a regional node's worker runs, bound to the node's dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from activities.cases import CaseActivities
from activities.documents import DocumentIssuer
from events.credentials import RegionCredentials
from events.outbox import DEFAULT_ENVELOPE_BUDGET


def node_activities(
    pool: asyncpg.Pool,
    credentials: RegionCredentials,
    *,
    envelope_budget: int = DEFAULT_ENVELOPE_BUDGET,
    documents: DocumentIssuer | None = None,
) -> list[Callable[..., Any]]:
    cases = CaseActivities(pool, credentials, envelope_budget=envelope_budget, documents=documents)
    return [cases.commit_steps, cases.forward_case]
