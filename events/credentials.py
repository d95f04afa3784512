"""A node's view of its own keys and of the trust directory, reloaded when a newer one lands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from events.keystore import KeyStore
from events.signing import RegionSigner
from events.trust import TrustDirectory


@dataclass
class RegionCredentials:
    """Reads the directory file again when its modification time changes, so a rotated key or
    a newly joined region is picked up by a running node without a restart. A directory that
    fails its root signature is refused and the previous one stays in force."""

    store: KeyStore
    region: str
    _directory: TrustDirectory | None = field(default=None, init=False)
    _mtime_ns: int = field(default=-1, init=False)

    @property
    def directory_path(self) -> Path:
        return self.store.directory_path

    def directory(self) -> TrustDirectory:
        mtime = self.directory_path.stat().st_mtime_ns
        if self._directory is None or mtime != self._mtime_ns:
            candidate = self.store.directory()
            if self._directory is None or candidate.version >= self._directory.version:
                self._directory = candidate
            self._mtime_ns = mtime
        return self._directory

    def signer(self, at: datetime) -> RegionSigner:
        return self.store.signer(self.region, self.directory(), at)

    def own_sealing_key(self, key_id: str) -> X25519PrivateKey:
        return self.store.sealing_private(self.region, key_id)
