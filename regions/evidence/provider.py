"""The evidence-provider adapter: how a providing region looks evidence up in its 电子证照库.

`EvidenceProvider` is the interface; `DatabaseEvidenceProvider` the reference implementation,
backed by the region's own database (`evidence_licences`, filled by `tongban evidence
import`). A provider finds licences by a digest of the holder's identifier and compares the
name sealed with them, so it can tell "no such licence" from "a licence, of someone else".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from events.evidence import EvidenceSubject, EvidenceType, evidence_type_named
from events.models import SealedBox
from events.sealing import seal
from events.trust import TrustDirectory, sealing_key

Opener = Callable[[SealedBox, str], bytes]


def holder_digest(identifier: str) -> str:
    """How licences are found: a digest of the holder's ID number or credit code."""
    return hashlib.sha256(f"tongban/evidence-holder/v1|{identifier.upper()}".encode()).hexdigest()


def subject_identifier(kind: EvidenceType, subject: EvidenceSubject) -> str | None:
    return subject.credit_code if kind.subject_kind == "organisation" else subject.id_number


def _sealing_context(kind: str, licence_no: str) -> str:
    # The sealed particulars are bound to their licence: a box cannot be moved to another row.
    return f"licence|{kind}|{licence_no}"


class Licence(BaseModel):
    """One issued licence as the 电子证照库 holds it. Personal data: never logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence_type: EvidenceType
    licence_no: str = Field(min_length=1, max_length=64)
    holder_name: str = Field(min_length=1, max_length=100)
    holder_id: str = Field(min_length=15, max_length=18)  # ID number, or credit code
    issuer: str = Field(min_length=1, max_length=100)
    issued_on: date
    particulars: dict[str, str] = Field(default_factory=dict, max_length=12)

    @field_validator("evidence_type", mode="before")
    @classmethod
    def _by_name(cls, value: object) -> object:
        return evidence_type_named(value) if isinstance(value, str) else value

    def __repr__(self) -> str:
        return f"Licence({self.evidence_type.value}, <personal data>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Found:
    licence: Licence
    holder_digest: str
    outcome: Literal["found"] = "found"


@dataclass(frozen=True)
class NotFound:
    holder_digest: str | None
    outcome: Literal["not-found"] = "not-found"


@dataclass(frozen=True)
class SubjectMismatch:
    holder_digest: str
    outcome: Literal["subject-mismatch"] = "subject-mismatch"


Lookup = Found | NotFound | SubjectMismatch


class EvidenceProvider(Protocol):
    async def find(self, kind: EvidenceType, subject: EvidenceSubject) -> Lookup:
        """The subject's licence of this type, or why there is none to give."""


class LicenceFileError(ValueError):
    """A line of a licence import file is not a licence (its line number, never its data)."""


def read_licences(lines: Iterable[str]) -> list[Licence]:
    """Licences from JSON lines; a bad line is refused by its number, its content unshown."""
    licences: list[Licence] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            licences.append(Licence.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            what = type(exc).__name__
            raise LicenceFileError(f"line {number} is not a licence ({what})") from None
    return licences


@dataclass
class DatabaseEvidenceProvider:
    """The reference provider: licences in the region's own database, sealed at rest."""

    pool: asyncpg.Pool
    open_sealed: Opener
    region: str
    directory: Callable[[], TrustDirectory]
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def import_licences(self, licences: Iterable[Licence]) -> int:
        """Store licences not yet held (by type and number); returns how many were new."""
        key_id, public = sealing_key(self.directory(), self.region, self.now())
        added = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for licence in licences:
                kind = licence.evidence_type.value
                box = seal(
                    licence.model_dump_json().encode(),
                    case_no=_sealing_context(kind, licence.licence_no),
                    recipient=self.region,
                    key_id=key_id,
                    recipient_public=public,
                )
                status = await conn.execute(
                    "INSERT INTO evidence_licences (evidence_type, licence_no, holder_digest,"
                    " holder_sealed, issuer, issued_on) VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (evidence_type, licence_no) DO NOTHING",
                    kind,
                    licence.licence_no,
                    holder_digest(licence.holder_id),
                    box.model_dump(mode="json"),
                    licence.issuer,
                    licence.issued_on,
                )
                added += str(status).endswith(" 1")
        return added

    async def find(self, kind: EvidenceType, subject: EvidenceSubject) -> Lookup:
        identifier = subject_identifier(kind, subject)
        if identifier is None:
            return NotFound(None)
        digest = holder_digest(identifier)
        rows = await self.pool.fetch(
            "SELECT licence_no, holder_sealed FROM evidence_licences"
            " WHERE evidence_type = $1 AND holder_digest = $2 ORDER BY issued_on DESC",
            kind.value,
            digest,
        )
        if not rows:
            return NotFound(digest)
        for row in rows:
            box = SealedBox.model_validate(_as_mapping(row["holder_sealed"]))
            plain = self.open_sealed(box, _sealing_context(kind.value, row["licence_no"]))
            licence = Licence.model_validate_json(plain)
            if licence.holder_id.upper() == identifier.upper() and _same_name(
                licence.holder_name, subject.name
            ):
                return Found(licence, digest)
        return SubjectMismatch(digest)


def _same_name(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def _as_mapping(value: object) -> Mapping[str, object]:
    if isinstance(value, str):
        loaded = json.loads(value)
        if isinstance(loaded, dict):
            return loaded
    if isinstance(value, dict):
        return value
    raise ValueError("a sealed box is a JSON object")
