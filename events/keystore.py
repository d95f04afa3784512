"""Key files and the published trust directory on disk.

Layout under a trust folder:
  root.pub                      pinned national root public key (every node has it)
  root.key                      root private key (only where directories are published)
  directory.json                the current signed trust directory
  regions/<code>/signing-<kid>.key, regions/<code>/sealing-<kid>.key   private keys
  root.crt, regions/<code>/document-<kid>.crt   X.509 for signed documents (decision 0025),
                                written where the root key is; public, so 0644
Private keys are PKCS#8 PEM, created with mode 0600, optionally passphrase-encrypted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from documents.pki import document_certificate, root_certificate
from events.envelope import b64url
from events.signing import RegionSigner
from events.trust import (
    DEFAULT_DIRECTORY_VALIDITY,
    DEFAULT_ROOT_KEY_ID,
    KeyEntry,
    RegionEntry,
    TrustDirectory,
    load_directory,
)

PrivateKey = Ed25519PrivateKey | X25519PrivateKey


class KeyStoreError(Exception):
    pass


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes | None) -> None:
    encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # O_EXCL: a key file is written once; rotation makes a new key id, never overwrites.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def read_private_key(path: Path, passphrase: bytes | None) -> PrivateKey:
    if path.stat().st_mode & 0o077:
        raise KeyStoreError(f"{path} is readable by group or others; chmod 600 it")
    key = load_pem_private_key(path.read_bytes(), password=passphrase)
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise KeyStoreError(f"{path} holds an unexpected key type")
    return key


def raw_public(key: PrivateKey) -> str:
    return b64url(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


@dataclass(frozen=True)
class KeyStore:
    folder: Path
    passphrase: bytes | None = None
    # The id of the pinned root (root.pub): a directory naming another root is refused.
    root_key_id: str = DEFAULT_ROOT_KEY_ID

    @property
    def root_public_path(self) -> Path:
        return self.folder / "root.pub"

    @property
    def directory_path(self) -> Path:
        return self.folder / "directory.json"

    def _region_dir(self, region: str) -> Path:
        return self.folder / "regions" / region

    def pinned_root(self) -> Ed25519PublicKey:
        key = load_pem_public_key(self.root_public_path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise KeyStoreError("root.pub is not an Ed25519 public key")
        return key

    def directory(self) -> TrustDirectory:
        return load_directory(
            self.directory_path.read_bytes(), self.pinned_root(), self.root_key_id
        )

    def signer(self, region: str, directory: TrustDirectory, at: datetime) -> RegionSigner:
        """The newest valid signing key of `region` whose private half this store holds."""
        entry = directory.region(region)
        if entry is None:
            raise KeyStoreError(f"region {region} is not in the trust directory")
        usable = [
            k
            for k in entry.signing_keys
            if not k.revoked
            and k.not_before <= at <= k.not_after
            and (self._region_dir(region) / f"signing-{k.key_id}.key").exists()
        ]
        if not usable:
            raise KeyStoreError(f"no valid signing key of {region} is held here")
        newest = max(usable, key=lambda k: k.not_before)
        key = read_private_key(
            self._region_dir(region) / f"signing-{newest.key_id}.key", self.passphrase
        )
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyStoreError("signing key file does not hold an Ed25519 key")
        return RegionSigner(region=region, key_id=newest.key_id, private_key=key)

    def sealing_private(self, region: str, key_id: str) -> X25519PrivateKey:
        key = read_private_key(self._region_dir(region) / f"sealing-{key_id}.key", self.passphrase)
        if not isinstance(key, X25519PrivateKey):
            raise KeyStoreError("sealing key file does not hold an X25519 key")
        return key

    def bootstrap(
        self,
        regions: Mapping[str, tuple[str, str | None]],
        *,
        validity: timedelta,
        now: datetime,
        directory_validity: timedelta = DEFAULT_DIRECTORY_VALIDITY,
    ) -> TrustDirectory:
        """Create the root, any missing region keys, and publish a directory listing them.

        Idempotent: regions already in the current directory keep their keys; a new version
        is published only when a region is added or the current one has less than half of
        `directory_validity` left (a development stack renews itself on its next start).
        `regions` maps code -> (name, parent).
        """
        root_path = self.folder / "root.key"
        if not root_path.exists():
            write_private_key(root_path, Ed25519PrivateKey.generate(), self.passphrase)
            root_pub = read_private_key(root_path, self.passphrase).public_key()
            self.root_public_path.write_bytes(
                root_pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            )
        root = read_private_key(root_path, self.passphrase)
        assert isinstance(root, Ed25519PrivateKey)
        current = self.directory() if self.directory_path.exists() else None
        known = {r.code: r for r in current.regions} if current else {}
        missing = [code for code in regions if code not in known]
        renew_by = now + directory_validity / 2
        if current is not None and not missing and current.expiry_problem(renew_by) is None:
            self.issue_certificates(current)
            return current
        for code in missing:
            name, parent = regions[code]
            known[code] = self.issue_region(code, name, parent, validity=validity, now=now)
        directory = TrustDirectory(
            version=(current.version + 1) if current else 1,
            issued_at=now,
            valid_until=now + directory_validity,
            root_key_id=self.root_key_id,
            regions=tuple(known[c] for c in sorted(known)),
        ).signed_by(self.root_key_id, root)
        self.write_directory(directory)
        self.issue_certificates(directory)
        return directory

    @property
    def root_certificate_path(self) -> Path:
        return self.folder / "root.crt"

    def document_certificate_path(self, region: str, key_id: str) -> Path:
        return self._region_dir(region) / f"document-{key_id}.crt"

    def issue_certificates(self, directory: TrustDirectory) -> list[Path]:
        """Write root.crt and a document-signing certificate for every unrevoked signing key
        the directory lists that has none yet, so trust folders made before certificates
        existed, and keys rotated since, get theirs. Needs root.key; returns the files written.
        Certificates are deterministic: one issued twice has the same bytes."""
        root = read_private_key(self.folder / "root.key", self.passphrase)
        if not isinstance(root, Ed25519PrivateKey):
            raise KeyStoreError("root.key does not hold an Ed25519 key")
        pending: list[tuple[Path, x509.Certificate]] = []
        if not self.root_certificate_path.exists():
            pending.append((self.root_certificate_path, root_certificate(root, self.root_key_id)))
        for region in directory.regions:
            for key in region.signing_keys:
                path = self.document_certificate_path(region.code, key.key_id)
                if not key.revoked and not path.exists():
                    cert = document_certificate(
                        root, self.root_key_id, region.code, region.name, key
                    )
                    pending.append((path, cert))
        for path, cert in pending:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(cert.public_bytes(Encoding.PEM))
            tmp.replace(path)  # atomic: a reader never sees half a certificate
        return [path for path, _ in pending]

    def document_certificate(self, region: str, key_id: str) -> x509.Certificate:
        """The certificate of a region's signing key; issued now when missing and this store
        holds the root key (a key rotated since the last bootstrap)."""
        path = self.document_certificate_path(region, key_id)
        if not path.exists() and (self.folder / "root.key").exists():
            self.issue_certificates(self.directory())
        if not path.exists():
            raise KeyStoreError(
                f"no document certificate for key {key_id} of {region} ({path});"
                " issue it where the root key is held"
            )
        return x509.load_pem_x509_certificate(path.read_bytes())

    def write_directory(self, directory: TrustDirectory) -> None:
        tmp = self.directory_path.with_suffix(".tmp")
        tmp.write_bytes(directory.model_dump_json(indent=2).encode())
        tmp.replace(self.directory_path)  # atomic: a node never reads half a directory

    def issue_region(
        self, code: str, name: str, parent: str | None, *, validity: timedelta, now: datetime
    ) -> RegionEntry:
        stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        signing, sealing = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
        signing_id, sealing_id = f"{code}-sig-{stamp}", f"{code}-seal-{stamp}"
        write_private_key(
            self._region_dir(code) / f"signing-{signing_id}.key", signing, self.passphrase
        )
        write_private_key(
            self._region_dir(code) / f"sealing-{sealing_id}.key", sealing, self.passphrase
        )
        return RegionEntry(
            code=code,
            name=name,
            parent=parent,
            signing_keys=(
                KeyEntry(
                    key_id=signing_id,
                    public_key=raw_public(signing),
                    not_before=now,
                    not_after=now + validity,
                ),
            ),
            sealing_key=KeyEntry(
                key_id=sealing_id,
                public_key=raw_public(sealing),
                not_before=now,
                not_after=now + validity,
            ),
        )
