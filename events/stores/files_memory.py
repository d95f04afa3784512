"""The case file's stores in memory, for tests of the code that uses them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from events.stores.files import CaseFile, FilePart


class FileTables(Protocol):
    file_blobs: dict[str, bytes]
    case_files: dict[tuple[str, str], CaseFile]
    file_parts: dict[tuple[str, str, int, str], FilePart]


class _Holder(Protocol):
    @property
    def tables(self) -> FileTables: ...

    @property
    def now(self) -> datetime: ...


class MemoryBlobs:
    def __init__(self, tx: _Holder) -> None:
        self._tx = tx

    async def put(self, sha256: str, content: bytes) -> None:
        self._tx.tables.file_blobs.setdefault(sha256, content)

    async def get(self, sha256: str) -> bytes | None:
        return self._tx.tables.file_blobs.get(sha256)

    async def has(self, sha256: str) -> bool:
        return sha256 in self._tx.tables.file_blobs


class MemoryCaseFiles:
    def __init__(self, tx: _Holder) -> None:
        self._tx = tx

    async def add(self, file: CaseFile) -> bool:
        listed = self._tx.tables.case_files
        if (file.case_no, file.sha256) in listed:
            return False
        listed[(file.case_no, file.sha256)] = file
        return True

    async def get(self, case_no: str, sha256: str) -> CaseFile | None:
        return self._tx.tables.case_files.get((case_no, sha256))

    async def of_case(self, case_no: str) -> list[CaseFile]:
        return [f for (no, _), f in self._tx.tables.case_files.items() if no == case_no]

    async def mark_complete(self, case_no: str, sha256: str) -> None:
        listed = self._tx.tables.case_files
        found = listed.get((case_no, sha256))
        if found is not None and found.complete_at is None:
            listed[(case_no, sha256)] = dataclasses.replace(found, complete_at=self._tx.now)

    async def missing(self, case_no: str, digests: Sequence[str]) -> list[str]:
        listed = self._tx.tables.case_files
        return [
            d
            for d in digests
            if (f := listed.get((case_no, d))) is not None
            and f.chunk_digests
            and f.complete_at is None
        ]

    async def add_part(self, part: FilePart) -> bool:
        key = (part.case_no, part.material_sha256, part.index, part.chunk_sha256)
        parts = self._tx.tables.file_parts
        if key in parts:
            return False
        parts[key] = part
        return True

    async def parts(
        self, case_no: str, sha256: str, *, with_content: bool = True
    ) -> list[FilePart]:
        found = [
            p if with_content else dataclasses.replace(p, content=b"")
            for p in self._tx.tables.file_parts.values()
            if p.case_no == case_no and p.material_sha256 == sha256
        ]
        return sorted(found, key=lambda p: p.index)

    async def drop_parts(self, case_no: str, sha256: str, event_ids: Sequence[str]) -> None:
        parts = self._tx.tables.file_parts
        for key in [
            k
            for k, p in parts.items()
            if p.case_no == case_no and p.material_sha256 == sha256 and p.event_id in event_ids
        ]:
            del parts[key]
