"""Administering the trust directory: root, region keys, rotation, revocation, publication.

Changes go into an unsigned draft (`directory.draft.json`) next to the published directory;
`publish` signs the draft with the root key as the next version and replaces the directory
atomically, which running nodes pick up on their next read (X-Road's central server works
the same way: edit, then publish a signed global configuration). Every publication is valid
for a limited time (`valid_until`): publish again before it passes, even with no change, or
the nodes refuse every inbound record as `directory-expired` (decision 0017).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.evidence import EvidenceType
from events.keystore import (
    KeyStore,
    KeyStoreError,
    raw_public,
    read_private_key,
    write_private_key,
)
from events.trust import (
    DEFAULT_DIRECTORY_VALIDITY,
    KeyEntry,
    RegionEntry,
    TrustDirectory,
)


def _stamp(now: datetime) -> str:
    # Seconds plus a random tail: two keys made in the same second still get distinct ids.
    return f"{now.astimezone(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


class DirectoryAdmin:
    def __init__(self, store: KeyStore) -> None:
        self.store = store

    @property
    def root_key_path(self) -> Path:
        return self.store.folder / "root.key"

    @property
    def draft_path(self) -> Path:
        return self.store.folder / "directory.draft.json"

    def init_root(self) -> None:
        if self.root_key_path.exists():
            raise KeyStoreError(f"a root key already exists in {self.store.folder}")
        root = Ed25519PrivateKey.generate()
        write_private_key(self.root_key_path, root, self.store.passphrase)
        self.store.root_public_path.write_bytes(
            root.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )

    def draft(self) -> TrustDirectory:
        """The pending changes, else the published directory, else an empty one."""
        if self.draft_path.exists():
            return TrustDirectory.model_validate_json(self.draft_path.read_bytes())
        if self.store.directory_path.exists():
            return self.store.directory()
        return TrustDirectory(
            version=1, issued_at=datetime.now(UTC), root_key_id=self.store.root_key_id, regions=()
        )

    def _save_draft(self, draft: TrustDirectory) -> None:
        unsigned = draft.model_copy(update={"signature": None})
        self.draft_path.write_bytes(unsigned.model_dump_json(indent=2).encode())

    def _replace_region(self, draft: TrustDirectory, entry: RegionEntry) -> None:
        others = [r for r in draft.regions if r.code != entry.code]
        regions = tuple(sorted([*others, entry], key=lambda r: r.code))
        self._save_draft(draft.model_copy(update={"regions": regions}))

    def _region(self, draft: TrustDirectory, code: str) -> RegionEntry:
        entry = draft.region(code)
        if entry is None:
            raise KeyStoreError(f"region {code} is not in the directory; issue it first")
        return entry

    def new_signing_key(self, code: str, *, not_before: datetime, not_after: datetime) -> KeyEntry:
        """A fresh Ed25519 key: private half written 0600 here, public entry returned."""
        key = Ed25519PrivateKey.generate()
        key_id = f"{code}-sig-{_stamp(not_before)}"
        write_private_key(
            self.store.folder / "regions" / code / f"signing-{key_id}.key",
            key,
            self.store.passphrase,
        )
        return KeyEntry(
            key_id=key_id, public_key=raw_public(key), not_before=not_before, not_after=not_after
        )

    def issue(
        self, code: str, name: str, parent: str | None, *, validity: timedelta, now: datetime
    ) -> RegionEntry:
        draft = self.draft()
        if draft.region(code) is not None:
            raise KeyStoreError(f"region {code} already has keys; rotate them instead")
        entry = self.store.issue_region(code, name, parent, validity=validity, now=now)
        self._replace_region(draft, entry)
        return entry

    def rotate(
        self, code: str, *, overlap: timedelta, validity: timedelta, now: datetime
    ) -> KeyEntry:
        """A new signing key from now; the current keys stay valid for `overlap` only, so
        events signed just before the switch still verify while they are in flight."""
        draft = self.draft()
        entry = self._region(draft, code)
        retire_at = now + overlap
        kept = tuple(
            k.model_copy(update={"not_after": min(k.not_after, retire_at)})
            for k in entry.signing_keys
        )
        new = self.new_signing_key(code, not_before=now, not_after=now + validity)
        self._replace_region(draft, entry.model_copy(update={"signing_keys": (*kept, new)}))
        return new

    def add_signing_key(self, code: str, key: KeyEntry) -> None:
        """List an already written key (tests use this for keys valid in the past)."""
        draft = self.draft()
        entry = self._region(draft, code)
        self._replace_region(
            draft, entry.model_copy(update={"signing_keys": (*entry.signing_keys, key)})
        )

    def revoke(self, code: str, key_id: str, now: datetime | None = None) -> None:
        draft = self.draft()
        entry = self._region(draft, code)
        if key_id not in {k.key_id for k in entry.signing_keys}:
            raise KeyStoreError(f"{code} has no signing key {key_id}")
        keys = tuple(
            k.model_copy(update={"revoked": True, "revoked_at": now or datetime.now(UTC)})
            if k.key_id == key_id
            else k
            for k in entry.signing_keys
        )
        self._replace_region(draft, entry.model_copy(update={"signing_keys": keys}))

    def declare_provided(self, code: str, evidence_types: Iterable[str]) -> RegionEntry:
        """Set the evidence types `code` provides (decision 0041); in force once published."""
        draft = self.draft()
        entry = self._region(draft, code)
        known = {t.value for t in EvidenceType}
        unknown = sorted(set(evidence_types) - known)
        if unknown:
            raise KeyStoreError(f"not evidence types: {', '.join(unknown)}")
        updated = entry.model_copy(update={"provides": tuple(sorted(set(evidence_types)))})
        self._replace_region(draft, updated)
        return updated

    def publish(
        self, now: datetime, validity: timedelta = DEFAULT_DIRECTORY_VALIDITY
    ) -> TrustDirectory:
        """Sign the draft with the root key as the next version, valid from `now` for
        `validity`, and put it in force."""
        if validity <= timedelta(0):
            raise KeyStoreError("a directory must be valid for some time")
        root = read_private_key(self.root_key_path, self.store.passphrase)
        if not isinstance(root, Ed25519PrivateKey):
            raise KeyStoreError("root.key does not hold an Ed25519 key")
        current = self.store.directory() if self.store.directory_path.exists() else None
        directory = (
            self.draft()
            .model_copy(
                update={
                    "version": current.version + 1 if current else 1,
                    "issued_at": now,
                    "valid_until": now + validity,
                }
            )
            .signed_by(self.store.root_key_id, root)
        )
        self.store.write_directory(directory)
        self.draft_path.unlink(missing_ok=True)
        return directory
