"""Where evidence events go at a node: the inbox dispatcher hands them here instead of to a
case workflow (decision 0041), and the node's sweeper times out requests nobody answered."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from catalog.catalog import Catalog
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.file_receiving import region_opener
from events.models import EventType
from events.pg import DATABASE_UNAVAILABLE
from regions.evidence.answering import EvidenceAnswerer
from regions.evidence.provider import DatabaseEvidenceProvider, EvidenceProvider
from regions.evidence.requesting import EvidenceRequester

log = logging.getLogger(__name__)

EVIDENCE_EVENTS = frozenset({EventType.EVIDENCE_REQUESTED, EventType.EVIDENCE_ANSWERED})


@dataclass
class EvidenceHandler:
    answerer: EvidenceAnswerer
    requester: EvidenceRequester
    sweep_interval_s: float = 1.0

    async def __call__(self, envelope: Envelope) -> str:
        """Answer a request or take an answer in; the note the inbox row is marked with."""
        if envelope.type is EventType.EVIDENCE_REQUESTED:
            return await self.answerer.answer(envelope)
        return await self.requester.take_answer(envelope)

    async def case_forwarded(self, forwarded: Envelope) -> None:
        """A case reached this region: ask for the evidence it needs, if consent came with it."""
        await self.requester.request_for_forwarded(forwarded)

    async def run_timeouts(self) -> None:
        while True:
            try:
                await self.requester.time_out()
            except DATABASE_UNAVAILABLE as exc:
                log.warning("evidence timeouts: database unavailable, will retry: %s", exc)
            await asyncio.sleep(self.sweep_interval_s)


def evidence_handler(
    pool: asyncpg.Pool,
    credentials: RegionCredentials,
    catalog: Catalog,
    provider: EvidenceProvider | None = None,
) -> EvidenceHandler:
    """The node's handler; its provider is the reference one on the region's database
    unless another adapter is given."""
    provider = provider or DatabaseEvidenceProvider(
        pool, region_opener(credentials), credentials.region, credentials.directory
    )
    return EvidenceHandler(
        answerer=EvidenceAnswerer(pool, credentials, catalog, provider),
        requester=EvidenceRequester(pool, credentials, catalog),
    )
