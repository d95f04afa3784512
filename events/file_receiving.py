"""The processing region takes a case's file in: manifests and chunks, checked as they come.

Runs inside the inbox's unit of work, so a chunk is kept (or refused) in the same transaction
as its inbox row and receipt: a refused chunk is quarantined and not receipted, and the
sender's resends meet the same check. A file counts as complete only once every chunk the
manifest lists is in and the assembled bytes match the material's digest; the dispatcher
holds the forwarded or 补正 event back until then (regions/dispatch.py), so the case's
workflow, and B's acceptance clock, never see a file that is not whole.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable

from pydantic import ValidationError

from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.keystore import KeyStoreError
from events.models import (
    CHUNK_BYTES,
    EventType,
    MaterialChunk,
    MaterialRef,
    SealedBox,
)
from events.rejections import Rejected, RejectReason
from events.sealing import SealError, open_box
from events.stores.exchange import QuarantineEntry
from events.stores.files import CaseFile, FilePart
from events.stores.unit import Transaction

log = logging.getLogger(__name__)

# Opens a box sealed for this region (the case number is bound into it).
Opener = Callable[[SealedBox, str], bytes]

MANIFESTS = frozenset(
    {EventType.FORWARDED, EventType.SUPPLEMENT_PROVIDED, EventType.DOCUMENT_ISSUED}
)


def listed_files(envelope: Envelope) -> list[MaterialRef]:
    """The files an event lists: the materials of a forwarded or 补正 event (B), the document
    of a document-issued event (A). verify() checked the payload's shape."""
    if envelope.type is EventType.DOCUMENT_ISSUED:
        return [MaterialRef.model_validate(envelope.data["document"])]
    if envelope.type in MANIFESTS:
        return [MaterialRef.model_validate(m) for m in envelope.data.get("materials", ())]
    return []


# A key id names a key file: nothing a record says may reach outside the key directory.
_KEY_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")


def region_opener(credentials: RegionCredentials) -> Opener:
    """Opens boxes sealed for this region with its own sealing keys (current or past)."""

    def open_sealed(box: SealedBox, case_no: str) -> bytes:
        if box.recipient != credentials.region or _KEY_ID.match(box.key_id) is None:
            raise SealError(f"not sealed for {credentials.region} with a key of its own")
        try:
            key = credentials.own_sealing_key(box.key_id)
        except (OSError, ValueError, KeyStoreError) as exc:
            raise SealError(f"no sealing key {box.key_id} in {credentials.region}") from exc
        return open_box(box, case_no=case_no, private_key=key)

    return open_sealed


def _mismatch(detail: str, sender: str) -> Rejected:
    return Rejected(RejectReason.MATERIAL_MISMATCH, detail, sender)


def _fits(listed: CaseFile, part: FilePart) -> bool:
    digests = listed.chunk_digests
    return (
        part.chunk_count == len(digests)
        and part.index < len(digests)
        and digests[part.index] == part.chunk_sha256
    )


class FileReceiver:
    """`opener` is None on a node that holds no sealing key (tests of other parts): it then
    refuses chunks as unreadable rather than dropping them."""

    def __init__(self, opener: Opener | None = None) -> None:
        self._open = opener

    async def on_stored(self, tx: Transaction, envelope: Envelope) -> None:
        """After a new inbox row: take in what it brings of a case's file."""
        if envelope.type is EventType.MATERIAL_CHUNK:
            await self._chunk(tx, envelope)
        elif envelope.type in MANIFESTS:
            await self._manifest(tx, envelope)

    async def _manifest(self, tx: Transaction, envelope: Envelope) -> None:
        case_no = envelope.subject
        for material in listed_files(envelope):
            if not material.has_file:
                continue
            await tx.files.add(
                CaseFile(
                    case_no=case_no,
                    sha256=material.sha256,
                    name=material.name,
                    size=material.size or 0,
                    media_type=material.media_type or "application/octet-stream",
                    chunk_digests=material.chunks,
                    originals_checked_by=(
                        material.originals_checked.by if material.originals_checked else None
                    ),
                    originals_checked_at=(
                        material.originals_checked.at if material.originals_checked else None
                    ),
                    kind="document" if envelope.type is EventType.DOCUMENT_ISSUED else "material",
                )
            )
            listed = await tx.files.get(case_no, material.sha256)
            if listed is not None and listed.complete_at is None:
                await self._set_aside_unfit(tx, listed)
                await self._assemble(tx, listed, envelope.senderregion)

    async def _chunk(self, tx: Transaction, envelope: Envelope) -> None:
        sender = envelope.senderregion
        try:
            chunk = MaterialChunk.model_validate(envelope.data)
        except ValidationError as exc:  # verify() checked it; a second look costs nothing
            raise Rejected(RejectReason.MALFORMED, "not a material chunk", sender) from exc
        where = f"chunk {chunk.index} of material {chunk.material[:12]}"
        if self._open is None:
            raise Rejected(RejectReason.MATERIAL_UNREADABLE, f"{where}: no key here", sender)
        try:
            content = self._open(chunk.sealed, envelope.subject)
        except SealError as exc:
            raise Rejected(
                RejectReason.MATERIAL_UNREADABLE, f"{where}: cannot be opened here", sender
            ) from exc
        if len(content) > CHUNK_BYTES or hashlib.sha256(content).hexdigest() != chunk.chunk_sha256:
            raise _mismatch(f"{where}: the bytes do not match the chunk's digest", sender)
        part = FilePart(
            case_no=envelope.subject,
            material_sha256=chunk.material,
            index=chunk.index,
            chunk_sha256=chunk.chunk_sha256,
            chunk_count=chunk.count,
            content=content,
            sender_region=sender,
            event_id=envelope.id,
        )
        listed = await tx.files.get(envelope.subject, chunk.material)
        if listed is not None:
            if listed.complete_at is not None:
                return  # the file is whole already: another copy of a chunk changes nothing
            if not _fits(listed, part):
                raise _mismatch(f"{where}: not the chunk the case file lists there", sender)
        # Before its manifest a chunk is kept as offered; the manifest decides on it.
        await tx.files.add_part(part)
        if listed is not None:
            await self._assemble(tx, listed, sender)

    async def _set_aside_unfit(self, tx: Transaction, listed: CaseFile) -> None:
        """Chunks that came before the manifest and do not match it go to quarantine, with
        the bytes of the record that brought them, as if refused on arrival."""
        held = await tx.files.parts(listed.case_no, listed.sha256, with_content=False)
        unfit = [p for p in held if not _fits(listed, p)]
        for part in unfit:
            raw = await tx.inbox.envelope(part.sender_region, part.event_id) or b""
            await tx.quarantine.add(
                QuarantineEntry(
                    reason=RejectReason.MATERIAL_MISMATCH.value,
                    detail=(
                        f"chunk {part.index} of material {listed.sha256[:12]}: not the chunk"
                        " the case file lists there (came before the manifest)"
                    ),
                    raw=raw,
                    raw_sha256=hashlib.sha256(raw).digest(),
                    raw_length=len(raw),
                    headers_json="[]",
                    topic="inbox",  # set aside from the inbox, not from a topic
                    partition=-1,
                    offset=-1,
                    claimed_sender=part.sender_region,
                )
            )
        if unfit:
            await tx.files.drop_parts(listed.case_no, listed.sha256, [p.event_id for p in unfit])

    async def _assemble(self, tx: Transaction, listed: CaseFile, sender: str) -> None:
        """Once every listed chunk is in: join, check the whole, keep it, mark it complete."""
        # Counted without the bytes: each chunk's arrival asks, only the last one reads them.
        held = await tx.files.parts(listed.case_no, listed.sha256, with_content=False)
        if len({p.index for p in held if _fits(listed, p)}) < len(listed.chunk_digests):
            return
        parts = await tx.files.parts(listed.case_no, listed.sha256)
        by_index = {p.index: p for p in parts if _fits(listed, p)}
        content = b"".join(by_index[i].content for i in range(len(listed.chunk_digests)))
        if len(content) != listed.size or hashlib.sha256(content).hexdigest() != listed.sha256:
            # Every chunk matches the manifest, yet the whole does not match the material:
            # the manifest itself is wrong. Nothing is kept; the record that completed it is
            # refused, so the sender hears of it (no receipt) rather than B holding a bad file.
            raise _mismatch(
                f"material {listed.sha256[:12]}: the assembled chunks do not match its digest",
                sender,
            )
        await tx.blobs.put(listed.sha256, content)
        await tx.files.mark_complete(listed.case_no, listed.sha256)
        await tx.files.drop_parts(
            listed.case_no, listed.sha256, [p.event_id for p in by_index.values()]
        )
        log.info("case file: material %s of a case is complete", listed.sha256[:12])
