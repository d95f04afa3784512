"""Per-window bearer tokens: issued once, stored only as SHA-256 hashes, one file per region.

A token is `tb_<region>_<secret>`: the region in clear lets a node find the right file without
trying every one; the secret (32 random bytes) is what authenticates. The file
`<tokens_dir>/<region>.json` (mode 0600) maps each token's hash to what it grants: role,
region, window, the person it was issued to (工号 and name: every step taken with it records
them), expiry and, once revoked, when. Nothing else about a token is kept, so a leaked file
grants nothing.

Operators name a token by its id: 12 hex digits derived from the stored hash under a label of
their own, so a listing shows no bit of the hash a node verifies against. A node reads the file
on every request, so a revocation holds from the next request on, without a restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from events.models import RegionCode

# A staff number (工号): short, no whitespace (workflows.lifecycle.vocabulary.PERSON_ID_PATTERN).
PERSON_ID_PATTERN = r"^\S{1,32}$"

_TOKEN_RE = re.compile(r"^tb_(\d{6})_([A-Za-z0-9_-]{43})$")
_TOKEN_ID_RE = re.compile(r"^[0-9a-f]{12}$")
_REGION_FILE_RE = re.compile(r"^\d{6}\.json$")


class Role(StrEnum):
    WINDOW_CLERK = "window-clerk"  # the accepting region's steps (A)
    PROCESSING_OFFICER = "processing-officer"  # the processing region's steps (B)
    OPERATOR = "operator"  # reads cases; takes no case step


class TokenState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def token_id_of_hash(sha256: str) -> str:
    return hashlib.sha256(b"tongban token id\0" + bytes.fromhex(sha256)).hexdigest()[:12]


class TokenRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Role
    region: RegionCode
    window: str = Field(min_length=1, max_length=64)
    issued_at: datetime
    expires_at: datetime
    # Absent in files written before revocation existed: those tokens were never revoked.
    revoked_at: datetime | None = None
    # The person the token was issued to. Absent in files written before tokens named their
    # person, and for operator tokens, which take no case step.
    person_id: str | None = Field(default=None, pattern=PERSON_ID_PATTERN)
    person_name: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("person_name")
    @classmethod
    def _printable_name(cls, name: str | None) -> str | None:
        if name is not None and (name != name.strip() or not name.isprintable()):
            raise ValueError("a name has no leading or trailing space and no control character")
        return name

    @model_validator(mode="after")
    def _whole_person(self) -> TokenRecord:
        if (self.person_id is None) != (self.person_name is None):
            raise ValueError("a token names its person by both 工号 and name, or not at all")
        return self

    @property
    def token_id(self) -> str:
        return token_id_of_hash(self.sha256)

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None:
            return TokenState.REVOKED
        return TokenState.EXPIRED if self.expires_at <= now else TokenState.ACTIVE


_RECORDS = TypeAdapter(list[TokenRecord])


class TokenRejected(Exception):
    """Unknown, malformed, expired or revoked: the caller is not authenticated (HTTP 401)."""


class UnknownTokenId(LookupError):
    """No token in the store has that id (or the id is not 12 hex digits)."""


@dataclass(frozen=True)
class Principal:
    role: Role
    region: str
    window: str
    person_id: str | None = None
    person_name: str | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """The id an operator passes to `tongban tokens revoke`, computed from the token itself."""
    if _TOKEN_RE.match(token) is None:
        raise TokenRejected("malformed token")
    return token_id_of_hash(_hash(token))


class TokenStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @property
    def directory(self) -> Path:
        return self._directory

    def _path(self, region: str) -> Path:
        return self._directory / f"{region}.json"

    def _records(self, region: str) -> list[TokenRecord]:
        path = self._path(region)
        if not path.exists():
            return []
        return _RECORDS.validate_json(path.read_bytes())

    def regions(self) -> list[str]:
        if not self._directory.is_dir():
            return []
        return sorted(p.stem for p in self._directory.iterdir() if _REGION_FILE_RE.match(p.name))

    def records(self, region: str | None = None) -> list[TokenRecord]:
        """Every kept token record (active, expired not yet pruned, revoked), by region."""
        regions = [region] if region is not None else self.regions()
        return [record for r in regions for record in self._records(r)]

    @contextmanager
    def _changing(self, region: str) -> Iterator[None]:
        # Issue and revoke read, change and rewrite the file: without the lock, a revocation
        # racing an issue could be overwritten, and the revoked token would work again.
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._directory / f"{region}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def issue(
        self,
        *,
        region: str,
        role: Role,
        window: str,
        valid_for: timedelta,
        now: datetime,
        person_id: str | None = None,
        person_name: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """A new token; only its hash is written. The token itself is returned once.
        Raises `pydantic.ValidationError` for a person id or name that breaks the rules."""
        token = f"tb_{region}_{secrets.token_urlsafe(32)}"
        record = TokenRecord(
            sha256=_hash(token),
            role=role,
            region=region,
            window=window,
            issued_at=now,
            expires_at=now + valid_for,
            person_id=person_id,
            person_name=person_name,
        )
        with self._changing(region):
            # Expired ones are pruned, revoked ones too once they would have expired anyway.
            records = [r for r in self._records(region) if r.expires_at > now]
            records.append(record)
            self._write(region, records)
        return token, record

    def revoke(self, token_id: str, *, now: datetime, region: str | None = None) -> TokenRecord:
        """Mark the token revoked; the record stays, so `list` still shows it. Revoking a
        revoked token keeps its first revocation time."""
        if _TOKEN_ID_RE.match(token_id) is None:
            raise UnknownTokenId(f"{token_id!r} is not a token id (12 hex digits)")
        for candidate in [region] if region is not None else self.regions():
            with self._changing(candidate):
                records = self._records(candidate)
                for i, record in enumerate(records):
                    if record.token_id != token_id:
                        continue
                    if record.revoked_at is None:
                        record = record.model_copy(update={"revoked_at": now})
                        records[i] = record
                        self._write(candidate, records)
                    return record
        raise UnknownTokenId(f"no token with id {token_id}")

    def _write(self, region: str, records: list[TokenRecord]) -> None:
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(region)
        temporary = path.with_suffix(".tmp")
        # Created 0600 from the start: the hashes are not secrets, but they need not be public.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            # Unset fields are left out, so a file whose tokens name no person (and none revoked)
            # still reads on a node of the version before those fields existed.
            out.write(_RECORDS.dump_json(records, indent=2, exclude_none=True))
        os.replace(temporary, path)

    def verify(self, token: str, now: datetime | None = None) -> Principal:
        match = _TOKEN_RE.match(token)
        if match is None:
            raise TokenRejected("malformed token")
        now = now or datetime.now(UTC)
        digest = _hash(token)
        for record in self._records(match.group(1)):
            if hmac.compare_digest(record.sha256, digest):
                if record.revoked_at is not None:
                    raise TokenRejected("token revoked")
                if record.expires_at <= now:
                    raise TokenRejected("token expired")
                return Principal(
                    record.role,
                    record.region,
                    record.window,
                    person_id=record.person_id,
                    person_name=record.person_name,
                )
        raise TokenRejected("unknown token")


def describe(record: TokenRecord, now: datetime | None = None) -> dict[str, object]:
    """What may be shown about an issued token: its id and what it grants, never its hash."""
    shown: dict[str, object] = {"id": record.token_id}
    shown.update(json.loads(record.model_dump_json(exclude={"sha256"})))
    if now is not None:
        shown["state"] = record.state(now).value
    return shown
