"""Per-window bearer tokens: issued once, stored only as SHA-256 hashes, one file per region.

A token is `tb_<region>_<secret>`: the region in clear lets a node find the right file without
trying every one; the secret (32 random bytes) is what authenticates. The file
`<tokens_dir>/<region>.json` (mode 0600) maps each token's hash to what it grants: role,
region, window and expiry. Nothing else about a token is kept, so a leaked file grants nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from events.models import RegionCode

_TOKEN_RE = re.compile(r"^tb_(\d{6})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    WINDOW_CLERK = "window-clerk"  # the accepting region's steps (A)
    PROCESSING_OFFICER = "processing-officer"  # the processing region's steps (B)
    OPERATOR = "operator"  # reads cases; takes no case step


class TokenRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Role
    region: RegionCode
    window: str = Field(min_length=1, max_length=64)
    issued_at: datetime
    expires_at: datetime


_RECORDS = TypeAdapter(list[TokenRecord])


class TokenRejected(Exception):
    """Unknown, malformed or expired: the caller is not authenticated (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    role: Role
    region: str
    window: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, region: str) -> Path:
        return self._directory / f"{region}.json"

    def _records(self, region: str) -> list[TokenRecord]:
        path = self._path(region)
        if not path.exists():
            return []
        return _RECORDS.validate_json(path.read_bytes())

    def issue(
        self, *, region: str, role: Role, window: str, valid_for: timedelta, now: datetime
    ) -> tuple[str, TokenRecord]:
        """A new token; only its hash is written. The token itself is returned once."""
        token = f"tb_{region}_{secrets.token_urlsafe(32)}"
        record = TokenRecord(
            sha256=_hash(token),
            role=role,
            region=region,
            window=window,
            issued_at=now,
            expires_at=now + valid_for,
        )
        records = [r for r in self._records(region) if r.expires_at > now]  # prune expired
        records.append(record)
        self._write(region, records)
        return token, record

    def _write(self, region: str, records: list[TokenRecord]) -> None:
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(region)
        temporary = path.with_suffix(".tmp")
        # Created 0600 from the start: the hashes are not secrets, but they need not be public.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_RECORDS.dump_json(records, indent=2))
        os.replace(temporary, path)

    def verify(self, token: str, now: datetime | None = None) -> Principal:
        match = _TOKEN_RE.match(token)
        if match is None:
            raise TokenRejected("malformed token")
        now = now or datetime.now(UTC)
        digest = _hash(token)
        for record in self._records(match.group(1)):
            if hmac.compare_digest(record.sha256, digest):
                if record.expires_at <= now:
                    raise TokenRejected("token expired")
                return Principal(record.role, record.region, record.window)
        raise TokenRejected("unknown token")


def describe(record: TokenRecord) -> dict[str, object]:
    """What may be shown about an issued token (never its hash)."""
    return json.loads(record.model_dump_json(exclude={"sha256"}))  # type: ignore[no-any-return]
