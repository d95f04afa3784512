"""The access log: who opened a case's personal data or one of its files, when, through what.

Each opening is written before its answer is sent, and a request whose row cannot be written
is not answered (decision 0022): the log can then be trusted to hold every opening, because an
opening it does not hold did not happen. A row holds who (the token's id, role, window or
office and person), the case, the route and what was opened (the applicant's field names, or
a material's digest), never the personal data itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import asyncpg

from regions.tokens import Principal

What = Literal["case-file", "material"]


@dataclass(frozen=True)
class Reader:
    """Who opens: what the caller's bearer token grants, named by the token's id."""

    token_id: str
    role: str
    region: str
    window: str
    person_id: str | None = None
    person_name: str | None = None

    @classmethod
    def of(cls, principal: Principal, token_id: str) -> Reader:
        return cls(
            token_id=token_id,
            role=principal.role.value,
            region=principal.region,
            window=principal.window,
            person_id=principal.person_id,
            person_name=principal.person_name,
        )

    @property
    def label(self) -> str:
        """As people read it: 王芳（工号 FZ1001，fz-01）, or the window alone."""
        if self.person_id is None:
            return f"未登记经办人（{self.window}）"
        return f"{self.person_name or ''}（工号 {self.person_id}，{self.window}）"


@dataclass(frozen=True)
class Access:
    case_no: str
    reader: Reader
    route: str  # the API route, e.g. "GET /cases/{case_no}/file"
    what: What
    fields: tuple[str, ...] = ()  # the applicant's fields opened (case-file)
    material_sha256: str | None = None  # the file opened (material)


@dataclass(frozen=True)
class AccessEntry:
    id: int
    at: datetime
    access: Access

    def as_json(self) -> dict[str, Any]:
        reader = self.access.reader
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "case_no": self.access.case_no,
            "token_id": reader.token_id,
            "role": reader.role,
            "region": reader.region,
            "window": reader.window,
            "person_id": reader.person_id,
            "person_name": reader.person_name,
            "route": self.access.route,
            "what": self.access.what,
            "fields": list(self.access.fields),
            "material_sha256": self.access.material_sha256,
        }


class AccessLogUnavailable(Exception):
    """The row could not be written: the opening must not be answered."""


class AccessLog(Protocol):
    async def record(self, access: Access) -> None:
        """Append the row; raises when it is not written (the caller does not answer)."""

    async def of_case(self, case_no: str) -> list[AccessEntry]:
        """Oldest first."""


_COLUMNS = (
    "id, at, case_no, token_id, role, region, window_name, person_id, person_name, route,"
    " what, fields, material_sha256"
)


def _entry(row: asyncpg.Record) -> AccessEntry:
    return AccessEntry(
        id=row["id"],
        at=row["at"],
        access=Access(
            case_no=row["case_no"],
            reader=Reader(
                token_id=row["token_id"],
                role=row["role"],
                region=row["region"],
                window=row["window_name"],
                person_id=row["person_id"],
                person_name=row["person_name"],
            ),
            route=row["route"],
            what=row["what"],
            fields=tuple(row["fields"]),
            material_sha256=row["material_sha256"],
        ),
    )


class PostgresAccessLog:
    """The `access_log` table (deploy/migrations/0014_access_log.sql)."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db

    async def record(self, access: Access) -> None:
        reader = access.reader
        try:
            await self._write(access, reader)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # Whatever the cause (database gone, a row it refuses), the opening is not answered.
            raise AccessLogUnavailable(
                f"the access log refused the row: {type(exc).__name__}"
            ) from exc

    async def _write(self, access: Access, reader: Reader) -> None:
        await self._db.execute(
            "INSERT INTO access_log (case_no, token_id, role, region, window_name, person_id,"
            " person_name, route, what, fields, material_sha256)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            access.case_no,
            reader.token_id,
            reader.role,
            reader.region,
            reader.window,
            reader.person_id,
            reader.person_name,
            access.route,
            access.what,
            list(access.fields),
            access.material_sha256,
        )

    async def of_case(self, case_no: str) -> list[AccessEntry]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM access_log WHERE case_no = $1 ORDER BY at, id", case_no
        )
        return [_entry(row) for row in rows]


@dataclass
class MemoryAccessLog:
    """The access log in memory, for tests; `unavailable` makes every write fail."""

    entries: list[AccessEntry] = field(default_factory=list)
    unavailable: bool = False

    async def record(self, access: Access) -> None:
        if self.unavailable:
            raise AccessLogUnavailable("the access log is not writable")
        self.entries.append(AccessEntry(len(self.entries) + 1, datetime.now(UTC), access))

    async def of_case(self, case_no: str) -> list[AccessEntry]:
        return [e for e in self.entries if e.access.case_no == case_no]


def merged(entries: Sequence[AccessEntry]) -> list[AccessEntry]:
    """Several regions' rows in one list, oldest first."""
    return sorted(entries, key=lambda e: (e.at, e.access.reader.region, e.id))
