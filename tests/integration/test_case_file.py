"""The case file crosses regions on the real stack: three scanned files (one over 1 MiB) taken
at 福建's window arrive at 广东 byte for byte, before 广东's workflow hears of the case; a 补正
file from A's formal review and one B asks for arrive the same way; on the wire every chunk
is sealed for 广东, and no byte of any file travels in clear."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.service import RPCError

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.materials import describe, sealed_chunks
from events.models import CHUNK_BYTES, Applicant, CaseForwarded, EventType, MaterialRef
from events.sealing import seal
from events.topics import inbox_topic
from events.trust import sealing_key
from regions.demo import synthetic_id_number
from regions.local import ensure_local_keys, local_node_settings
from regions.material_files import MaterialFile, keep_files, take_files
from regions.node import node_services
from regions.node_settings import NodeSettings
from regions.window import submit_case
from tests.integration.exchange_support import (
    credentials,
    new_case_no,
    produce_all,
    rows,
    signed,
)
from tests.integration.lifecycle import (
    POLICY_ENV,
    T_B_DECIDES,
    T_MANUAL,
    TEST_CATALOG,
    TEST_POLICIES,
    a_closed,
    a_reaches,
    b_closed,
    b_reaches,
    b_until,
    intake,
    processing,
    statuses,
)
from tests.integration.pair import ProvincePair, start_pair
from tests.support.stack_access import Bus
from tests.waiting import eventually
from workflows.models import (
    AcceptanceDecision,
    Decision,
    DeliveryConfirmation,
    FormalReview,
    SupplementMaterials,
    SupplementRequest,
)

pytestmark = pytest.mark.integration

A, B = "350000", "440000"


def _pdf(size: int) -> bytes:
    # Random bytes after the magic: any slice of them appearing on the wire would be a leak.
    return b"%PDF-1.7\n" + os.urandom(size)


def _jpeg(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + os.urandom(size)


def _png(size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size)


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=POLICY_ENV) as started:
        yield started


@pytest.fixture(scope="module")
def origin(stack: StackEndpoints, stack_settings: StackSettings) -> NodeSettings:
    return local_node_settings(A, stack_settings, stack)


async def _submit(
    pair: ProvincePair, origin: NodeSettings, item_code: str, files: list[MaterialFile]
) -> str:
    async with node_services(origin) as services:
        handle = await submit_case(
            pool=services.pool,
            client=services.client,
            credentials=services.credentials,
            application=pair.application(item_code=item_code, materials=()),
            policies=TEST_POLICIES,
            catalog=TEST_CATALOG,
            files=files,
        )
    return handle.id.removeprefix("intake-")


async def _supplement(origin: NodeSettings, case_no: str, file: MaterialFile) -> MaterialRef:
    """As the window's 补正 intake does: the bytes are kept first, then the workflow told."""
    [(ref, content)] = take_files([file])
    async with node_services(origin) as services:
        await keep_files(services.pool, case_no, [(ref, content)])
    return ref


async def _bytes_at(dsn: str, case_no: str, digest: str) -> bytes | None:
    found = await rows(
        dsn,
        "SELECT b.content FROM case_files f JOIN file_blobs b USING (sha256)"
        " WHERE f.case_no = $1 AND f.sha256 = $2 AND f.complete_at IS NOT NULL",
        case_no,
        digest,
    )
    return bytes(found[0]["content"]) if found else None


async def _wire(dsn_b: str, case_no: str) -> list[bytes]:
    """Every record of the case that crossed the bus to B, exactly as it was read."""
    found = await rows(dsn_b, "SELECT envelope FROM inbox WHERE case_no = $1", case_no)
    return [bytes(r["envelope"]) for r in found]


def _leaks(records: list[bytes], contents: list[bytes]) -> list[str]:
    """Slices of each file's bytes (past the magic) found in any record: none may be."""
    found = []
    for content in contents:
        for start in range(16, len(content) - 32, max(1, len(content) // 64)):
            piece = content[start : start + 32]
            if any(piece in record for record in records):
                found.append(f"{hashlib.sha256(content).hexdigest()[:12]}@{start}")
    return found


async def test_three_files_and_two_supplements_arrive_byte_for_byte(
    pair: ProvincePair, origin: NodeSettings, stack: StackEndpoints
) -> None:
    dsn_a, dsn_b = region_dsn(stack.postgres_dsn, A), region_dsn(stack.postgres_dsn, B)
    files = [
        MaterialFile("居民身份证", _pdf(1_500_000)),  # 12 chunks
        MaterialFile("申请表", _jpeg(200_000)),
        MaterialFile("照片", _png(20_000)),
    ]
    case_no = await _submit(pair, origin, T_MANUAL, files)
    handle_a = intake(pair, case_no)

    # A's formal review asks for a 补正, handed in as a file at A's window.
    await a_reaches(pair, case_no, "formal-review")
    await handle_a.execute_update(
        "record_formal_review",
        FormalReview(outcome="supplement", missing=("户口簿",), reason="缺少户口簿"),
    )
    await a_reaches(pair, case_no, "supplement-pending")
    household = MaterialFile("户口簿", _pdf(300_000))
    ref = await _supplement(origin, case_no, household)
    await handle_a.execute_update("provide_supplement", SupplementMaterials(materials=(ref,)))
    await handle_a.execute_update("record_formal_review", FormalReview(outcome="pass"))

    # B's workflow starts only once the whole file is in: by then every byte is there.
    await b_reaches(pair, case_no, "received")
    for file in [*files, household]:
        digest = hashlib.sha256(file.content).hexdigest()
        assert await _bytes_at(dsn_b, case_no, digest) == file.content, file.name
        assert await _bytes_at(dsn_a, case_no, digest) == file.content, file.name
    [forwarded_at] = await rows(
        dsn_b,
        "SELECT delivered_at FROM inbox WHERE case_no = $1 AND event_type = $2",
        case_no,
        EventType.FORWARDED.value,
    )
    [last_complete] = await rows(
        dsn_b, "SELECT max(complete_at) AS at FROM case_files WHERE case_no = $1", case_no
    )
    assert forwarded_at["delivered_at"] >= last_complete["at"]
    assert await rows(dsn_b, "SELECT 1 FROM file_parts WHERE case_no = $1", case_no) == []

    await processing(pair, case_no).execute_update(
        "decide_acceptance", AcceptanceDecision(accept=True)
    )
    await b_reaches(pair, case_no, "processing")
    await (
        pair.clients[B]
        .get_workflow_handle(f"processing-{case_no}")
        .execute_update(
            "request_supplement", SupplementRequest(missing=("婚姻状况证明",), reason="需补充")
        )
    )
    await a_reaches(pair, case_no, "supplement-requested")
    marriage = MaterialFile("婚姻状况证明", _png(400_000))
    ref = await _supplement(origin, case_no, marriage)
    await handle_a.execute_update("provide_supplement", SupplementMaterials(materials=(ref,)))
    await b_until(
        pair,
        case_no,
        lambda p: p.status == "processing" and "补正 received" in p.steps[-1].detail,
        what="processing again with the 补正 received",
    )
    assert await _bytes_at(dsn_b, case_no, ref.sha256) == marriage.content
    await processing(pair, case_no).execute_update(
        "decide", Decision(approve=True, reason="符合条件")
    )
    await a_reaches(pair, case_no, "result-received")
    await handle_a.execute_update("confirm_delivery", DeliveryConfirmation(channel="window"))
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(a)[-1] == statuses(b)[-1] == "closed"

    records = await _wire(dsn_b, case_no)
    chunks = await rows(
        dsn_b,
        "SELECT count(*) AS n FROM inbox WHERE case_no = $1 AND event_type = $2",
        case_no,
        EventType.MATERIAL_CHUNK.value,
    )
    assert chunks[0]["n"] == sum(
        len(take_files([f])[0][0].chunks) for f in [*files, household, marriage]
    )
    assert _leaks(records, [f.content for f in [*files, household, marriage]]) == []


def _forwarded(creds: RegionCredentials, case_no: str, material: MaterialRef) -> Envelope:
    """A's forwarded event as its activity writes it, for a case only this test knows."""
    item = TEST_CATALOG.shared_item(T_B_DECIDES, A, B)
    applicant = Applicant(
        name="测试申请人", id_number=synthetic_id_number(serial="123"), phone="13800000000"
    )
    key_id, key = sealing_key(creds.directory(), B, datetime.now(UTC))
    box = seal(
        applicant.model_dump_json().encode(),
        case_no=case_no,
        recipient=B,
        key_id=key_id,
        recipient_public=key,
    )
    payload = CaseForwarded(
        case_no=case_no,
        item_code=item.code,
        item_version=item.version,
        origin_region=A,
        processing_region=B,
        applicant=box,
        materials=(material,),
        fee_fen=item.fee_fen,
    )
    data = payload.model_dump(mode="json")
    return signed(creds, EventType.FORWARDED, case_no=case_no, recipient=B, data=data)


def _chunk_records(
    creds: RegionCredentials, case_no: str, material: MaterialRef, content: bytes
) -> list[bytes]:
    key_id, key = sealing_key(creds.directory(), B, datetime.now(UTC))
    return [
        signed(
            creds,
            EventType.MATERIAL_CHUNK,
            case_no=case_no,
            recipient=B,
            data=chunk.model_dump(mode="json"),
            step=step,
        ).to_wire()
        for step, chunk in sealed_chunks(
            case_no, material, content, recipient=B, key_id=key_id, recipient_public=key
        )
    ]


async def test_a_missing_tampered_or_wrong_chunk_holds_the_case_until_the_right_bytes_come(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> None:
    """B's workflow (and its acceptance clock) does not start while a chunk is missing; a
    chunk altered on the bus, and one validly signed with other bytes, are quarantined with
    their reasons, a replayed chunk is a duplicate; the right chunk completes the file and
    the case starts."""
    dsn_b = region_dsn(stack.postgres_dsn, B)
    creds = credentials(stack_settings, A)
    case_no = new_case_no(A)
    content = _pdf(5 * CHUNK_BYTES)
    material = describe("居民身份证", content, "application/pdf")
    chunks = _chunk_records(creds, case_no, material, content)
    key = case_no.encode()
    first = [_forwarded(creds, case_no, material).to_wire(), *chunks[:2], *chunks[3:]]
    await produce_all(bus, [(B, record, key) for record in first])

    async def in_inbox() -> int:
        found = await rows(dsn_b, "SELECT 1 FROM inbox WHERE case_no = $1", case_no)
        return len(found)

    await eventually(in_inbox, until=lambda n: n == len(first), timeout=60, what="B's inbox")
    await asyncio.sleep(6)  # a sweep later, the case is still held
    [held] = await rows(
        dsn_b,
        "SELECT delivered_at FROM inbox WHERE case_no = $1 AND event_type = $2",
        case_no,
        EventType.FORWARDED.value,
    )
    assert held["delivered_at"] is None
    with pytest.raises(RPCError):
        await pair.clients[B].get_workflow_handle(f"processing-{case_no}").describe()

    tampered = bytearray(chunks[2])
    middle = len(tampered) // 2
    tampered[middle] = ord("A") if tampered[middle] != ord("A") else ord("B")
    other = bytearray(content)
    other[2 * CHUNK_BYTES + 5] ^= 0xFF  # chunk 2 of other bytes: signed, sealed, self-consistent
    wrong = _chunk_records(creds, case_no, material, bytes(other))[2]
    hostile = [bytes(tampered), wrong, chunks[0]]
    placed = await produce_all(bus, [(B, r, key) for r in hostile])

    async def refused() -> dict[int, str]:
        found = await rows(
            dsn_b,
            "SELECT kafka_offset AS o, reason FROM quarantine WHERE topic = $1"
            " AND kafka_offset = ANY($2::bigint[])",
            inbox_topic(B),
            [offset for _, offset in placed],
        )
        return {r["o"]: r["reason"] for r in found}

    reasons = await eventually(
        refused, until=lambda r: len(r) == 2, timeout=60, what="two chunks quarantined"
    )
    assert sorted(reasons.values()) == ["bad-signature", "material-mismatch"]

    async def duplicates() -> int:
        found = await rows(
            dsn_b, "SELECT count FROM inbox_duplicates WHERE event_id = $1", _event_id(chunks[0])
        )
        return int(found[0]["count"]) if found else 0

    await eventually(duplicates, until=lambda n: n >= 1, timeout=60, what="a duplicate")
    with pytest.raises(RPCError):
        await pair.clients[B].get_workflow_handle(f"processing-{case_no}").describe()

    await produce_all(bus, [(B, chunks[2], key)])
    # T_B_DECIDES accepts by policy: the case may be past `received` when first seen.
    await b_until(
        pair, case_no, lambda p: p.status in ("received", "processing"), what="the case at B"
    )
    assert await _bytes_at(dsn_b, case_no, material.sha256) == content


def _event_id(record: bytes) -> str:
    return Envelope.model_validate_json(record).id
