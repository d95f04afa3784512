"""The case file's stores: a content-addressed store of bytes, and what each case lists.

Pure interfaces. `Blobs` keeps a file's bytes once, by SHA-256, whichever cases list it;
Postgres implements it inside the unit of work. An object store (S3-compatible) could
implement it outside the transaction: `put` is idempotent and keyed by content, so a put
whose transaction rolls back leaves only an unreferenced blob, never a wrong one.

`CaseFiles` is each case's list of materials with their bytes' state (complete or still
arriving in chunks) and the chunks received before their file is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True)
class CaseFile:
    case_no: str
    sha256: str
    name: str
    size: int
    media_type: str
    chunk_digests: tuple[str, ...]
    originals_checked_by: str | None = None
    originals_checked_at: datetime | None = None
    complete_at: datetime | None = None
    kind: Literal["material", "document"] = "material"  # a document the other region issued


@dataclass(frozen=True)
class FilePart:
    """One chunk as received: checked against its own declared digest, not yet assembled."""

    case_no: str
    material_sha256: str
    index: int
    chunk_sha256: str
    chunk_count: int
    content: bytes
    sender_region: str
    event_id: str


class Blobs(Protocol):
    async def put(self, sha256: str, content: bytes) -> None:
        """Keep `content` under its digest (the caller computed it); a second put of the
        same digest changes nothing."""

    async def get(self, sha256: str) -> bytes | None: ...

    async def has(self, sha256: str) -> bool: ...


class CaseFiles(Protocol):
    async def add(self, file: CaseFile) -> bool:
        """List a material in a case's file; False (nothing changed) when it is listed."""

    async def get(self, case_no: str, sha256: str) -> CaseFile | None: ...

    async def of_case(self, case_no: str) -> list[CaseFile]:
        """In the order they were listed."""

    async def mark_complete(self, case_no: str, sha256: str) -> None: ...

    async def missing(self, case_no: str, digests: Sequence[str]) -> list[str]:
        """Those of `digests` listed for the case with chunks whose bytes are not complete."""

    async def add_part(self, part: FilePart) -> bool:
        """False when this very chunk (same position, same digest) was received before."""

    async def parts(
        self, case_no: str, sha256: str, *, with_content: bool = True
    ) -> list[FilePart]:
        """The chunks held for a material; without their bytes (b"") when not needed."""

    async def drop_parts(self, case_no: str, sha256: str, event_ids: Sequence[str]) -> None:
        """Forget the chunks received in these events (assembled, or refused)."""
