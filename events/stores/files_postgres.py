"""The case file's stores on Postgres (deploy/migrations/0013_case_files.sql)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from events.pg import Conn
from events.stores.files import CaseFile, FilePart


class PostgresBlobs:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def put(self, sha256: str, content: bytes) -> None:
        await self._conn.execute(
            "INSERT INTO file_blobs (sha256, size, content) VALUES ($1, $2, $3)"
            " ON CONFLICT (sha256) DO NOTHING",
            sha256,
            len(content),
            content,
        )

    async def get(self, sha256: str) -> bytes | None:
        found = await self._conn.fetchval(
            "SELECT content FROM file_blobs WHERE sha256 = $1", sha256
        )
        return None if found is None else bytes(found)

    async def has(self, sha256: str) -> bool:
        return bool(
            await self._conn.fetchval("SELECT true FROM file_blobs WHERE sha256 = $1", sha256)
        )


def _file(row: asyncpg.Record) -> CaseFile:
    return CaseFile(
        case_no=row["case_no"],
        sha256=row["sha256"],
        name=row["name"],
        size=row["size"],
        media_type=row["media_type"],
        chunk_digests=tuple(row["chunk_digests"]),
        originals_checked_by=row["originals_checked_by"],
        originals_checked_at=row["originals_checked_at"],
        complete_at=row["complete_at"],
        kind=row["kind"],
    )


def _part(row: asyncpg.Record) -> FilePart:
    return FilePart(
        case_no=row["case_no"],
        material_sha256=row["material_sha256"],
        index=row["idx"],
        chunk_sha256=row["chunk_sha256"],
        chunk_count=row["chunk_count"],
        content=bytes(row["content"]),
        sender_region=row["sender_region"],
        event_id=row["event_id"],
    )


class PostgresCaseFiles:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, file: CaseFile) -> bool:
        return bool(
            await self._conn.fetchval(
                "INSERT INTO case_files (case_no, sha256, name, size, media_type,"
                " chunk_digests, originals_checked_by, originals_checked_at, complete_at, kind)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (case_no, sha256) DO NOTHING RETURNING true",
                file.case_no,
                file.sha256,
                file.name,
                file.size,
                file.media_type,
                list(file.chunk_digests),
                file.originals_checked_by,
                file.originals_checked_at,
                file.complete_at,
                file.kind,
            )
        )

    async def get(self, case_no: str, sha256: str) -> CaseFile | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM case_files WHERE case_no = $1 AND sha256 = $2", case_no, sha256
        )
        return None if row is None else _file(row)

    async def of_case(self, case_no: str) -> list[CaseFile]:
        rows = await self._conn.fetch(
            "SELECT * FROM case_files WHERE case_no = $1 ORDER BY added_at, sha256", case_no
        )
        return [_file(r) for r in rows]

    async def mark_complete(self, case_no: str, sha256: str) -> None:
        await self._conn.execute(
            "UPDATE case_files SET complete_at = now()"
            " WHERE case_no = $1 AND sha256 = $2 AND complete_at IS NULL",
            case_no,
            sha256,
        )

    async def missing(self, case_no: str, digests: Sequence[str]) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT sha256 FROM case_files WHERE case_no = $1 AND sha256 = ANY($2::text[])"
            " AND complete_at IS NULL AND cardinality(chunk_digests) > 0",
            case_no,
            list(digests),
        )
        return [r["sha256"] for r in rows]

    async def add_part(self, part: FilePart) -> bool:
        return bool(
            await self._conn.fetchval(
                "INSERT INTO file_parts (case_no, material_sha256, idx, chunk_sha256,"
                " chunk_count, content, sender_region, event_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (case_no, material_sha256, idx, chunk_sha256) DO NOTHING"
                " RETURNING true",
                part.case_no,
                part.material_sha256,
                part.index,
                part.chunk_sha256,
                part.chunk_count,
                part.content,
                part.sender_region,
                part.event_id,
            )
        )

    async def parts(
        self, case_no: str, sha256: str, *, with_content: bool = True
    ) -> list[FilePart]:
        content = "content" if with_content else "''::bytea AS content"
        rows = await self._conn.fetch(
            "SELECT case_no, material_sha256, idx, chunk_sha256, chunk_count, sender_region,"
            f" event_id, {content} FROM file_parts WHERE case_no = $1 AND material_sha256 = $2"
            " ORDER BY idx, received_at",
            case_no,
            sha256,
        )
        return [_part(r) for r in rows]

    async def drop_parts(self, case_no: str, sha256: str, event_ids: Sequence[str]) -> None:
        await self._conn.execute(
            "DELETE FROM file_parts WHERE case_no = $1 AND material_sha256 = $2"
            " AND event_id = ANY($3::text[])",
            case_no,
            sha256,
            list(event_ids),
        )
