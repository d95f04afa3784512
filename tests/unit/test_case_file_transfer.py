"""A case's file arrives at the processing region: every chunk checked as it comes, the file
whole only when every listed chunk is in and the bytes match the material's digest."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.file_receiving import FileReceiver, region_opener
from events.materials import describe, sealed_chunks, split
from events.models import CHUNK_BYTES, EventType, MaterialChunk, MaterialRef
from events.outbox import signed_envelope
from events.rejections import Rejected, RejectReason
from events.stores.exchange import InboxEntry
from events.stores.memory import MemoryStores
from events.trust import sealing_key
from tests.unit.conftest import NOW

A, B = "350000", "440000"
CASE = f"{A}-20261127-ABCDEFGH"
# Three chunks and a bit: the last chunk is short.
CONTENT = b"%PDF-1.7\n" + bytes(range(256)) * (3 * CHUNK_BYTES // 256) + b"tail"


def _envelope(
    fujian: RegionCredentials, event_type: EventType, step: str, data: Any, case_no: str = CASE
) -> Envelope:
    return signed_envelope(
        fujian.signer(NOW),
        event_type=event_type,
        case_no=case_no,
        step=step,
        recipient=B,
        data=data,
        now=NOW,
    )


def _chunks(fujian: RegionCredentials, material: MaterialRef, content: bytes) -> list[Envelope]:
    key_id, key = sealing_key(fujian.directory(), B, NOW)
    return [
        _envelope(fujian, EventType.MATERIAL_CHUNK, step, chunk.model_dump(mode="json"))
        for step, chunk in sealed_chunks(
            CASE, material, content, recipient=B, key_id=key_id, recipient_public=key
        )
    ]


def _manifest(fujian: RegionCredentials, *materials: MaterialRef) -> Envelope:
    data = {"case_no": CASE, "materials": [m.model_dump(mode="json") for m in materials]}
    return _envelope(fujian, EventType.SUPPLEMENT_PROVIDED, "supplement:1", data)


async def _receive(stores: MemoryStores, files: FileReceiver, envelope: Envelope) -> None:
    async with stores.transaction() as tx:
        await files.on_stored(tx, envelope)


async def _complete(stores: MemoryStores, material: MaterialRef) -> bytes | None:
    async with stores.transaction() as tx:
        listed = await tx.files.get(CASE, material.sha256)
        if listed is None or listed.complete_at is None:
            return None
        return await tx.blobs.get(material.sha256)


@pytest.fixture
def files(guangdong: RegionCredentials) -> FileReceiver:
    return FileReceiver(region_opener(guangdong))


def test_a_material_is_described_by_its_chunks() -> None:
    material = describe("居民身份证", CONTENT, "application/pdf")
    assert len(material.chunks) == len(split(CONTENT)) == 4
    assert b"".join(split(CONTENT)) == CONTENT
    assert material.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert material.size == len(CONTENT)


async def test_the_file_is_whole_once_every_chunk_is_in_whatever_the_order(
    fujian: RegionCredentials, files: FileReceiver
) -> None:
    material = describe("居民身份证", CONTENT, "application/pdf")
    chunks = _chunks(fujian, material, CONTENT)
    for manifest_first in (True, False):
        stores = MemoryStores()
        order = [_manifest(fujian, material), *reversed(chunks)]
        if not manifest_first:
            order = [*chunks[:2], order[0], *chunks[2:]]
        for envelope in order[:-1]:
            await _receive(stores, files, envelope)
            assert await _complete(stores, material) is None
        await _receive(stores, files, order[-1])
        assert await _complete(stores, material) == CONTENT
        assert stores.tables.file_parts == {}  # assembled: the pieces are gone


async def test_a_chunk_again_after_the_file_is_whole_changes_nothing(
    fujian: RegionCredentials, files: FileReceiver
) -> None:
    stores = MemoryStores()
    material = describe("户口簿", CONTENT, "application/pdf")
    chunks = _chunks(fujian, material, CONTENT)
    for envelope in [_manifest(fujian, material), *chunks, chunks[1]]:
        await _receive(stores, files, envelope)
    assert await _complete(stores, material) == CONTENT
    assert stores.tables.file_parts == {}


def _with_chunk(chunk: Envelope, **changes: Any) -> dict[str, Any]:
    data = MaterialChunk.model_validate(chunk.data).model_dump(mode="json")
    return {**data, **changes}


async def test_a_chunk_whose_bytes_do_not_match_its_digest_is_refused(
    fujian: RegionCredentials, files: FileReceiver
) -> None:
    stores = MemoryStores()
    material = describe("居民身份证", CONTENT, "application/pdf")
    first = _chunks(fujian, material, CONTENT)[0]
    lying = _envelope(
        fujian,
        EventType.MATERIAL_CHUNK,
        "lying",
        _with_chunk(first, chunk_sha256=hashlib.sha256(b"other").hexdigest()),
    )
    with pytest.raises(Rejected) as refused:
        await _receive(stores, files, lying)
    assert refused.value.reason is RejectReason.MATERIAL_MISMATCH


async def test_a_chunk_the_manifest_does_not_list_is_refused_and_the_right_one_completes(
    fujian: RegionCredentials, files: FileReceiver
) -> None:
    """A sender's chunk that is self-consistent but not the file's (a bug, or a forgery with
    the sender's key) is refused on arrival; the others are kept and the right one ends it."""
    stores = MemoryStores()
    material = describe("居民身份证", CONTENT, "application/pdf")
    chunks = _chunks(fujian, material, CONTENT)
    other = bytearray(CONTENT)
    other[5] ^= 0xFF
    wrong = _chunks(fujian, material, bytes(other))[0]  # chunk 0 of other bytes
    await _receive(stores, files, _manifest(fujian, material))
    with pytest.raises(Rejected) as refused:
        await _receive(stores, files, wrong)
    assert refused.value.reason is RejectReason.MATERIAL_MISMATCH
    for envelope in chunks[1:]:
        await _receive(stores, files, envelope)
    assert await _complete(stores, material) is None  # chunk 0 is missing
    await _receive(stores, files, chunks[0])
    assert await _complete(stores, material) == CONTENT


async def test_a_wrong_chunk_before_its_manifest_is_set_aside_to_quarantine(
    fujian: RegionCredentials, files: FileReceiver
) -> None:
    stores = MemoryStores()
    material = describe("居民身份证", CONTENT, "application/pdf")
    chunks = _chunks(fujian, material, CONTENT)
    other = bytearray(CONTENT)
    other[5] ^= 0xFF
    wrong = _chunks(fujian, material, bytes(other))[0]
    async with stores.transaction() as tx:  # the inbox holds the record the chunk came in
        await tx.inbox.add(_inbox_entry(wrong))
    await _receive(stores, files, wrong)  # no manifest yet: kept as offered
    await _receive(stores, files, _manifest(fujian, material))
    [set_aside] = stores.tables.quarantine.values()
    assert set_aside.entry.reason == RejectReason.MATERIAL_MISMATCH.value
    assert set_aside.entry.raw == wrong.to_wire()
    for envelope in chunks:
        await _receive(stores, files, envelope)
    assert await _complete(stores, material) == CONTENT


def _inbox_entry(envelope: Envelope) -> InboxEntry:
    return InboxEntry(
        event_id=envelope.id,
        case_no=envelope.subject,
        event_type=envelope.type.value,
        sender_region=envelope.senderregion,
        envelope=envelope.to_wire(),
        topic="t",
        partition=0,
        offset=0,
        trace_context=None,
        receipt=False,
    )


async def test_a_manifest_whose_chunks_do_not_make_the_file_is_refused(
    fujian: RegionCredentials, files: FileReceiver
) -> None:
    stores = MemoryStores()
    honest = describe("居民身份证", CONTENT, "application/pdf")
    lying = honest.model_copy(update={"sha256": hashlib.sha256(b"another file").hexdigest()})
    chunks = _chunks(fujian, lying, CONTENT)
    await _receive(stores, files, _manifest(fujian, lying))
    for envelope in chunks[:-1]:
        await _receive(stores, files, envelope)
    with pytest.raises(Rejected) as refused:
        await _receive(stores, files, chunks[-1])
    assert refused.value.reason is RejectReason.MATERIAL_MISMATCH
    assert await _complete(stores, lying) is None


async def test_a_chunk_sealed_for_another_case_or_key_cannot_be_read(
    fujian: RegionCredentials, files: FileReceiver
) -> None:
    stores = MemoryStores()
    material = describe("居民身份证", CONTENT, "application/pdf")
    first = _chunks(fujian, material, CONTENT)[0]
    sealed = MaterialChunk.model_validate(first.data).sealed
    other_case = f"{A}-20261127-ZZZZZZZZ"  # the box binds the case it was sealed for
    moved = _envelope(
        fujian,
        EventType.MATERIAL_CHUNK,
        "moved",
        _with_chunk(first, case_no=other_case),
        case_no=other_case,
    )
    escaping = _envelope(
        fujian,
        EventType.MATERIAL_CHUNK,
        "escaping",
        _with_chunk(first, sealed={**sealed.model_dump(), "key_id": "../../root"}),
    )
    for envelope in (moved, escaping):
        with pytest.raises(Rejected) as refused:
            await _receive(stores, files, envelope)
        assert refused.value.reason is RejectReason.MATERIAL_UNREADABLE
    with pytest.raises(Rejected) as no_key:
        await _receive(stores, FileReceiver(), first)
    assert no_key.value.reason is RejectReason.MATERIAL_UNREADABLE
