"""Ed25519 signatures over the envelope's canonical bytes."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events.envelope import Envelope, b64url


@dataclass(frozen=True)
class RegionSigner:
    """A region's current signing key. Holds a secret: never log or repr it."""

    region: str
    key_id: str
    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"RegionSigner(region={self.region!r}, key_id={self.key_id!r})"

    def sign(self, envelope: Envelope) -> Envelope:
        if envelope.keyid != self.key_id or envelope.senderregion != self.region:
            raise ValueError("envelope names another sender or key than this signer")
        signature = self.private_key.sign(envelope.signing_bytes())
        return envelope.model_copy(update={"signature": b64url(signature)})


def signature_valid(envelope: Envelope, public_key: Ed25519PublicKey) -> bool:
    if envelope.signature is None:
        return False
    try:
        public_key.verify(envelope.signature_bytes(), envelope.signing_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True
