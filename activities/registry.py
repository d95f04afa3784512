"""Every activity a regional node's worker runs, bound to the node's dependencies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from activities.cases import CaseActivities
from activities.documents import DocumentIssuer
from activities.effects import EffectActivities
from activities.ratings import RatingActivities
from effects.adapters import EffectAdapter
from effects.settings import EffectRouting
from events.credentials import RegionCredentials
from events.outbox import DEFAULT_ENVELOPE_BUDGET


def node_activities(
    pool: asyncpg.Pool,
    credentials: RegionCredentials,
    *,
    envelope_budget: int = DEFAULT_ENVELOPE_BUDGET,
    documents: DocumentIssuer | None = None,
    routing: EffectRouting | None = None,
    adapters: Mapping[str, EffectAdapter] | None = None,
    callback_url: str = "",
) -> list[Callable[..., Any]]:
    routing = routing or EffectRouting()
    effects = EffectActivities(
        pool, credentials, routing, adapters or {}, callback_url=callback_url
    )
    cases = CaseActivities(
        pool,
        credentials,
        envelope_budget=envelope_budget,
        documents=documents,
        routing=routing,
        effects=effects,
    )
    ratings = RatingActivities(pool, credentials, envelope_budget=envelope_budget)
    return [cases.commit_steps, cases.forward_case, effects.carry_out_effects, *ratings.all()]
