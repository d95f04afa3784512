"""Building a case's timeline from the two regions' live systems."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from temporalio.client import Client

from events.keystore import KeyStore
from events.models import accepting_region_of
from operators.endpoints import OperatorEndpoints, RegionEndpoint
from operators.model import CaseTimeline
from operators.sources import processing_region_of, region_records
from operators.stitch import stitch


@dataclass
class RegionConnection:
    endpoint: RegionEndpoint
    client: Client
    conn: asyncpg.Connection


@contextlib.asynccontextmanager
async def connect(endpoint: RegionEndpoint) -> AsyncIterator[RegionConnection]:
    # Imported here: the node (regions/node.py) serves the console, whose operators' pages
    # read through this module.
    from regions.node import connect_temporal

    client = await connect_temporal(
        endpoint.temporal_address, endpoint.namespace, security=endpoint.temporal
    )
    conn = await asyncpg.connect(endpoint.postgres_dsn)
    try:
        yield RegionConnection(endpoint, client, conn)
    finally:
        await conn.close()


class CaseNotFound(LookupError):
    pass


async def load_timeline(case_no: str, endpoints: OperatorEndpoints) -> CaseTimeline:
    """A's records first (it names B), then B's; the signatures are checked against the trust
    directory the operator holds, not against what either region's database says."""
    directory = KeyStore(endpoints.trust_dir).directory()
    origin = accepting_region_of(case_no)
    async with connect(endpoints.for_region(origin)) as a:
        processing = await processing_region_of(a.conn, a.client, case_no)
        if processing is None:
            raise CaseNotFound(f"case {case_no} is unknown in region {origin}")
        a_records = await region_records(
            client=a.client,
            conn=a.conn,
            region=origin,
            role="origin",
            case_no=case_no,
            directory=directory,
        )
    async with connect(endpoints.for_region(processing)) as b:
        b_records = await region_records(
            client=b.client,
            conn=b.conn,
            region=processing,
            role="processing",
            case_no=case_no,
            directory=directory,
        )
    return stitch(case_no, a_records, b_records)
