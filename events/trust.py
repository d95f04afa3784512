"""The trust directory: every region's public keys, signed by the pinned national root.

Modelled on X-Road's global configuration. A node trusts a region's key only through a
directory whose root signature verifies against the root public key pinned in its settings.
"""

from __future__ import annotations

from datetime import datetime

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.envelope import b64url, b64url_decode
from events.models import RegionCode
from events.rejections import Rejected, RejectReason


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


class TrustDirectory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    issued_at: datetime
    root_key_id: str
    regions: tuple[RegionEntry, ...]
    signature: str | None = None

    def signing_bytes(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"signature"})
        # A key never revoked signs as it did before `revoked_at` existed, so directories
        # published by an older release still verify.
        for region in body["regions"]:
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


class DirectoryError(Exception):
    """The directory document is malformed or its root signature does not verify."""


def load_directory(document: bytes, root_public: Ed25519PublicKey) -> TrustDirectory:
    try:
        directory = TrustDirectory.model_validate_json(document)
    except ValidationError as exc:
        raise DirectoryError(f"malformed trust directory: {exc.error_count()} errors") from exc
    if directory.signature is None:
        raise DirectoryError("trust directory is not signed")
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
