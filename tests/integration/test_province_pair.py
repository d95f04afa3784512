"""One case from a 福建 window to 广东 and back, on real Temporal, Kafka and Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from temporalio.client import Client

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.keystore import KeyStore
from events.message_log import verify_chain
from events.models import CHUNK_BYTES, CaseForwarded, EventType
from events.sealing import open_box
from regions.local import ensure_local_keys, trust_dir
from tests.integration.automatic import (
    AUTOMATIC_ENV,
    submit_and_see_both_approved,
    submit_automatic,
)
from tests.integration.exchange_support import rows
from tests.integration.pair import ProvincePair, start_pair
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=AUTOMATIC_ENV) as started:
        yield started


async def _count_processing_workflows(client: Client, case_no: str) -> int:
    async def count() -> int:
        return (await client.count_workflows(f"CaseNo = '{case_no}'")).count

    # Visibility is eventually consistent: wait until the started workflow is listed.
    return await eventually(
        count, until=lambda n: n > 0, timeout=10, what=f"{case_no}'s workflows listed"
    )


async def test_a_case_goes_to_guangdong_and_back(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    case_no = await submit_and_see_both_approved(pair, stack, stack_settings)
    assert await _count_processing_workflows(pair.clients[B], case_no) == 1

    dsn_a, dsn_b = region_dsn(stack.postgres_dsn, A), region_dsn(stack.postgres_dsn, B)
    assert [
        r["status"]
        for r in await rows(dsn_a, "SELECT status FROM cases WHERE case_no = $1", case_no)
    ] == ["closed"]
    assert [
        r["status"]
        for r in await rows(dsn_b, "SELECT status FROM cases WHERE case_no = $1", case_no)
    ] == ["closed"]

    # Exactly the expected events, each business event receipted by the other side.
    outbox_sql = (
        "SELECT event_type, recipient_region, sent_at IS NOT NULL AS sent,"
        " receipted_at IS NOT NULL OR event_type = $2 AS receipted FROM outbox WHERE case_no = $1"
    )
    inbox_sql = (
        "SELECT event_type, sender_region, delivered_at IS NOT NULL AS delivered"
        " FROM inbox WHERE case_no = $1"
    )
    receipt = EventType.RECEIPT.value

    Row = tuple[object, ...]

    async def events(dsn: str, sql: str, *args: object) -> list[Row]:
        return sorted(tuple(r) for r in await rows(dsn, sql, case_no, *args))

    a_sends = [EventType.FORWARDED, EventType.RESULT_DELIVERED]
    # B's 受理通知书 and 准予行政许可决定书 go to A's window: each a document-issued event with
    # its PDF in chunks (A's own 收件凭证 and 送达回证 stay at A).
    issued = await rows(dsn_b, "SELECT size FROM documents WHERE case_no = $1", case_no)
    assert len(issued) == 2
    chunks = sum(-(-r["size"] // CHUNK_BYTES) for r in issued)
    b_sends = [EventType.ACCEPTED, EventType.DECIDED] + [EventType.DOCUMENT_ISSUED] * 2
    b_sends += [EventType.MATERIAL_CHUNK] * chunks
    a_receipts = [(receipt, B, True, True)] * len(b_sends)  # A answers each of B's
    b_receipts = [(receipt, A, True, True)] * 2

    # Both workflows have closed, but the last receipts may still be on their way: B closes on
    # A's result-delivered and receipts it after. Each table must reach exactly these rows.
    async def reaches(what: str, dsn: str, sql: str, *args: object, want: Sequence[Row]) -> None:
        wanted: list[Row] = sorted(want)

        async def probe() -> list[Row]:
            return await events(dsn, sql, *args)

        seen = await eventually(probe, until=lambda got: got == wanted, timeout=30, what=what)
        assert seen == wanted

    a_sent = [(t.value, B, True, True) for t in a_sends] + a_receipts
    await reaches("A's outbox", dsn_a, outbox_sql, receipt, want=a_sent)
    b_sent = [(t.value, A, True, True) for t in b_sends] + b_receipts
    await reaches("B's outbox", dsn_b, outbox_sql, receipt, want=b_sent)
    a_got = [(t.value, B, True) for t in b_sends] + [(receipt, B, True)] * 2
    await reaches("A's inbox", dsn_a, inbox_sql, want=a_got)
    b_got = [(t.value, A, True) for t in a_sends] + [(receipt, A, True)] * len(b_sends)
    await reaches("B's inbox", dsn_b, inbox_sql, want=b_got)

    for dsn in (dsn_a, dsn_b):
        conn = await asyncpg.connect(dsn)
        try:
            assert await verify_chain(conn) is None
        finally:
            await conn.close()


async def test_the_applicant_crosses_sealed_and_opens_only_in_the_processing_region(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    application = pair.application()
    handle = await submit_automatic(pair, stack, stack_settings, application)
    case_no = handle.id.removeprefix("intake-")
    await asyncio.wait_for(handle.result(), timeout=90)

    dsn_b = region_dsn(stack.postgres_dsn, B)
    [row] = await rows(
        dsn_b,
        "SELECT envelope FROM inbox WHERE case_no = $1 AND event_type = $2",
        case_no,
        EventType.FORWARDED.value,
    )
    wire = bytes(row["envelope"])
    assert application.applicant_name.encode() not in wire
    assert application.applicant_id_number.encode() not in wire
    forwarded = CaseForwarded.model_validate(Envelope.model_validate_json(wire).data)
    b_credentials = RegionCredentials(KeyStore(trust_dir(stack_settings)), B)
    opened = open_box(
        forwarded.applicant,
        case_no=case_no,
        private_key=b_credentials.own_sealing_key(forwarded.applicant.key_id),
    )
    assert application.applicant_id_number in opened.decode()
    assert forwarded.applicant.recipient == B
