"""The trust directory: every region's public keys, signed by the pinned national root.

Modelled on X-Road's global configuration. A node trusts a region's key only through a
directory whose root signature verifies against the root public key pinned in its settings,
and whose `root_key_id` names that pinned key. A directory is valid until its `valid_until`;
one without it (published before the field existed) counts as expired (decision 0017).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from events.envelope import b64url, b64url_decode
from events.evidence import EVIDENCE_TYPE_PATTERN
from events.models import RegionCode
from events.rejections import Rejected, RejectReason

# The root key id a node pins unless configured otherwise (`TONGBAN_NODE_ROOT_KEY_ID`).
DEFAULT_ROOT_KEY_ID = "root-1"
# Publication is an operator's act, so the validity must outlast a holiday, yet be short
# enough that a node cut off from publication stops trusting a stale list within weeks.
DEFAULT_DIRECTORY_VALIDITY = timedelta(days=30)


class KeyEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(min_length=1, max_length=128)
    public_key: str  # base64url raw bytes
    not_before: datetime
    not_after: datetime
    revoked: bool = False
    # When it was revoked: an audit tells envelopes received before it from those after.
    revoked_at: datetime | None = None


class RegionEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: RegionCode
    name: str
    parent: RegionCode | None = None
    signing_keys: tuple[KeyEntry, ...]
    sealing_key: KeyEntry
    # The evidence types this region provides (events/evidence.py, decision 0041): under the
    # root's signature, so no region can pass itself off as a provider.
    provides: tuple[Annotated[str, StringConstraints(pattern=EVIDENCE_TYPE_PATTERN)], ...] = ()


class TrustDirectory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    issued_at: datetime
    root_key_id: str
    regions: tuple[RegionEntry, ...]
    # Aware only: it is compared with the clock for every inbound record.
    valid_until: AwareDatetime | None = None
    signature: str | None = None

    def signing_bytes(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"signature"})
        # Absent rather than null: a directory published before `valid_until` existed still
        # verifies, and then counts as expired (`expiry_problem`).
        if body.get("valid_until") is None:
            body.pop("valid_until", None)
        # A key never revoked signs as it did before `revoked_at` existed, so directories
        # published by an older release still verify.
        for region in body["regions"]:
            # A region providing no evidence signs as it did before `provides` existed.
            if not region.get("provides"):
                region.pop("provides", None)
            for key in (*region["signing_keys"], region["sealing_key"]):
                if key.get("revoked_at") is None:
                    key.pop("revoked_at", None)
        return rfc8785.dumps(body)

    def signed_by(self, root_key_id: str, root: Ed25519PrivateKey) -> TrustDirectory:
        unsigned = self.model_copy(update={"root_key_id": root_key_id, "signature": None})
        return unsigned.model_copy(
            update={"signature": b64url(root.sign(unsigned.signing_bytes()))}
        )

    def region(self, code: str) -> RegionEntry | None:
        return next((r for r in self.regions if r.code == code), None)

    def expiry_problem(self, at: datetime) -> str | None:
        """Why this directory cannot vouch for anything at `at`, or None while it is valid."""
        if self.valid_until is None:
            return f"trust directory v{self.version} has no valid_until (treated as expired)"
        if at >= self.valid_until:
            return f"trust directory v{self.version} expired at {self.valid_until.isoformat()}"
        return None


class DirectoryError(Exception):
    """The directory document is malformed or its root signature does not verify."""


def load_directory(
    document: bytes, root_public: Ed25519PublicKey, root_key_id: str = DEFAULT_ROOT_KEY_ID
) -> TrustDirectory:
    try:
        directory = TrustDirectory.model_validate_json(document)
    except ValidationError as exc:
        raise DirectoryError(f"malformed trust directory: {exc.error_count()} errors") from exc
    if directory.signature is None:
        raise DirectoryError("trust directory is not signed")
    if directory.root_key_id != root_key_id:
        # The id is signed too, but checking it first names the mistake: a directory from
        # another root (or a rotated root not yet pinned here) rather than a forgery.
        raise DirectoryError(
            f"trust directory v{directory.version} names root {directory.root_key_id!r},"
            f" this node pins {root_key_id!r}"
        )
    try:
        root_public.verify(b64url_decode(directory.signature), directory.signing_bytes())
    except (InvalidSignature, ValueError) as exc:
        raise DirectoryError("trust directory root signature does not verify") from exc
    return directory


def _valid_at(entry: KeyEntry, region: str, at: datetime) -> None:
    if entry.revoked:
        raise Rejected(RejectReason.KEY_REVOKED, f"key {entry.key_id} of {region} is revoked")
    if not entry.not_before <= at <= entry.not_after:
        raise Rejected(
            RejectReason.KEY_EXPIRED,
            f"key {entry.key_id} of {region} is not valid at {at.isoformat()}",
        )


def _region(directory: TrustDirectory, code: str) -> RegionEntry:
    entry = directory.region(code)
    if entry is None:
        raise Rejected(RejectReason.UNKNOWN_REGION, f"region {code} is not in the directory")
    return entry


def signing_key(
    directory: TrustDirectory, region: str, key_id: str, at: datetime
) -> Ed25519PublicKey:
    """The public key a verifier must use, or a typed rejection saying why there is none."""
    entry = _region(directory, region)
    key = next((k for k in entry.signing_keys if k.key_id == key_id), None)
    if key is None:
        raise Rejected(RejectReason.UNKNOWN_KEY, f"key {key_id} is not listed for {region}")
    _valid_at(key, region, at)
    return Ed25519PublicKey.from_public_bytes(b64url_decode(key.public_key))


def signing_key_any_time(
    directory: TrustDirectory, region: str, key_id: str
) -> Ed25519PublicKey | None:
    """A listed key regardless of its validity today: an audit checks history, and an event
    signed while a key was valid stays authentic after the key expires."""
    entry = directory.region(region)
    key = (
        None if entry is None else next((k for k in entry.signing_keys if k.key_id == key_id), None)
    )
    return (
        None if key is None else Ed25519PublicKey.from_public_bytes(b64url_decode(key.public_key))
    )


def sealing_key(
    directory: TrustDirectory, region: str, at: datetime
) -> tuple[str, X25519PublicKey]:
    entry = _region(directory, region)
    _valid_at(entry.sealing_key, region, at)
    return entry.sealing_key.key_id, X25519PublicKey.from_public_bytes(
        b64url_decode(entry.sealing_key.public_key)
    )
