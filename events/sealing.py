"""Sealing personal data for one recipient region.

X25519 with a fresh ephemeral key per box, HKDF-SHA256 to derive an AES-256-GCM key, and the
case number plus recipient bound in as associated data so a box cannot be replayed into
another case. The bus, and any third region, see only ciphertext.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.envelope import b64url, b64url_decode
from events.models import SealedBox

_INFO = b"tongban/seal/v1"


class SealError(Exception):
    """A sealed box could not be opened: wrong key, wrong case, or tampered."""


def _derive(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_public + recipient_public,
        info=_INFO,
    )
    return hkdf.derive(shared)


def _aad(case_no: str, recipient: str, key_id: str) -> bytes:
    return f"{case_no}|{recipient}|{key_id}".encode()


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def seal(
    plaintext: bytes,
    *,
    case_no: str,
    recipient: str,
    key_id: str,
    recipient_public: X25519PublicKey,
) -> SealedBox:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _raw(ephemeral.public_key())
    key = _derive(ephemeral.exchange(recipient_public), ephemeral_public, _raw(recipient_public))
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, _aad(case_no, recipient, key_id))
    return SealedBox(
        recipient=recipient,
        key_id=key_id,
        ephemeral_public=b64url(ephemeral_public),
        nonce=b64url(nonce),
        ciphertext=b64url(ciphertext),
    )


def open_box(box: SealedBox, *, case_no: str, private_key: X25519PrivateKey) -> bytes:
    try:
        ephemeral_public = b64url_decode(box.ephemeral_public)
        peer = X25519PublicKey.from_public_bytes(ephemeral_public)
        key = _derive(private_key.exchange(peer), ephemeral_public, _raw(private_key.public_key()))
        return AESGCM(key).decrypt(
            b64url_decode(box.nonce),
            b64url_decode(box.ciphertext),
            _aad(case_no, box.recipient, box.key_id),
        )
    except (InvalidTag, ValueError) as exc:
        raise SealError(f"cannot open box sealed for {box.recipient}") from exc
