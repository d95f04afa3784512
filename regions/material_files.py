"""Materials as files at the window: what a file may be, checked by its bytes, and keeping it.

The type is read from the file's first bytes (its magic number), never from its name: a
renamed executable is not a PDF. Limits are per file, per case and in number, each refused
with the rule that failed so the window can say which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from events.materials import describe
from events.models import MAX_FILE_BYTES, MaterialRef, MediaType, OriginalsChecked
from events.stores.files import CaseFile
from events.stores.postgres import PostgresStores

# A case's files together: the forwarded event lists every chunk digest, and it must stay
# inside the outbox's size budget (tests/unit/test_outbox_budget.py checks the largest).
MAX_CASE_FILE_BYTES = 40 * 1024 * 1024
MAX_FILES = 50

# OFD (GB/T 33190) is a ZIP package whose first entry is OFD.xml.
_MAGIC: tuple[tuple[bytes, MediaType], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class FileRefused(Exception):
    """A file the window does not take; `rule` names why (the API answers 422 with it)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class MaterialFile:
    """One material as the clerk scanned it."""

    name: str
    content: bytes
    originals_checked: OriginalsChecked | None = None


def _is_ofd(content: bytes) -> bool:
    # A local file header (PK\x03\x04) whose file name is OFD.xml: bytes 26-27 hold the name
    # length, the name starts at 30.
    if not content.startswith(b"PK\x03\x04") or len(content) < 30:
        return False
    length = int.from_bytes(content[26:28], "little")
    return content[30 : 30 + length] == b"OFD.xml"


def media_type_of(content: bytes) -> MediaType | None:
    for magic, media_type in _MAGIC:
        if content.startswith(magic):
            return media_type
    return "application/ofd" if _is_ofd(content) else None


def take_files(files: Sequence[MaterialFile]) -> list[tuple[MaterialRef, bytes]]:
    """Check every file and describe it for the case file; raises `FileRefused` naming the
    rule (too_many_files, file_too_large, case_files_too_large, file_type_not_allowed,
    empty_file, duplicate_material) before anything is kept."""
    if len(files) > MAX_FILES:
        raise FileRefused("too_many_files", f"at most {MAX_FILES} files per case, not {len(files)}")
    total = sum(len(f.content) for f in files)
    if total > MAX_CASE_FILE_BYTES:
        raise FileRefused(
            "case_files_too_large",
            f"a case's files may hold {MAX_CASE_FILE_BYTES} bytes together, not {total}",
        )
    described: list[tuple[MaterialRef, bytes]] = []
    names: set[str] = set()
    for f in files:
        if len(f.content) > MAX_FILE_BYTES:
            raise FileRefused(
                "file_too_large", f"{f.name}: at most {MAX_FILE_BYTES} bytes, not {len(f.content)}"
            )
        if not f.content:
            raise FileRefused("empty_file", f"{f.name}: the file is empty")
        media_type = media_type_of(f.content)
        if media_type is None:
            raise FileRefused(
                "file_type_not_allowed", f"{f.name}: not a PDF, JPEG, PNG or OFD file (by content)"
            )
        if f.name in names:
            raise FileRefused("duplicate_material", f"{f.name}: given twice")
        names.add(f.name)
        ref = describe(f.name, f.content, media_type, originals_checked=f.originals_checked)
        described.append((ref, f.content))
    return described


async def keep_files(
    pool: asyncpg.Pool, case_no: str, described: Sequence[tuple[MaterialRef, bytes]]
) -> None:
    """The bytes into the region's store and the materials into the case's file, in one
    transaction; idempotent (a retried submission keeps nothing twice)."""
    async with PostgresStores(pool).transaction() as tx:
        for ref, content in described:
            await tx.blobs.put(ref.sha256, content)
            checked = ref.originals_checked
            await tx.files.add(
                CaseFile(
                    case_no=case_no,
                    sha256=ref.sha256,
                    name=ref.name,
                    size=len(content),
                    media_type=ref.media_type or "application/octet-stream",
                    chunk_digests=ref.chunks,
                    originals_checked_by=checked.by if checked else None,
                    originals_checked_at=checked.at if checked else None,
                )
            )
            await tx.files.mark_complete(case_no, ref.sha256)
