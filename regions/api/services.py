"""What the API's routes use, built by the node (the composition root) and injected."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from temporalio.client import Client

from catalog.catalog import Catalog
from effects.settings import EffectRouting
from events.credentials import RegionCredentials
from regions.identity import IdentityVerifier
from regions.policies import CasePolicies
from regions.rating_rules import RatingRules
from regions.tokens import TokenStore


@dataclass(frozen=True)
class ApiServices:
    region: str
    pool: asyncpg.Pool
    client: Client
    credentials: RegionCredentials
    catalog: Catalog
    policies: CasePolicies
    tokens: TokenStore
    effects: EffectRouting = field(default_factory=EffectRouting)
    # The applicants' identity provider (全程网办); None: no /applicant routes answer.
    identity: IdentityVerifier | None = None
    # 好差评's follow-up deadlines (decision 0039).
    ratings: RatingRules = field(default_factory=RatingRules)
