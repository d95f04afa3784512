"""Materials as bytes on the exchange: described by digests, cut into chunks, sealed per chunk.

A material's `chunks` (the SHA-256 of each `CHUNK_BYTES` piece, in order) are its manifest:
they travel in the forwarded or 补正 event, so the processing region can check every chunk
the moment it arrives and refuse exactly the one that does not match, keeping the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from events.models import (
    CHUNK_BYTES,
    MaterialChunk,
    MaterialRef,
    MediaType,
    OriginalsChecked,
)
from events.sealing import seal


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def split(content: bytes) -> list[bytes]:
    """The chunks of `content`, in order; an empty file is one empty chunk."""
    return [content[i : i + CHUNK_BYTES] for i in range(0, len(content), CHUNK_BYTES)] or [b""]


def describe(
    name: str,
    content: bytes,
    media_type: MediaType,
    *,
    originals_checked: OriginalsChecked | None = None,
) -> MaterialRef:
    """The case file's entry for a material whose bytes the window holds."""
    digest = sha256_hex(content)
    return MaterialRef(
        name=name,
        sha256=digest,
        ref=f"sha256:{digest}",
        size=len(content),
        media_type=media_type,
        chunks=tuple(sha256_hex(c) for c in split(content)),
        originals_checked=originals_checked,
    )


def chunk_step(material: str, index: int) -> str:
    """The step name a chunk's event id derives from: the same material sent again (in a
    补正 after the forwarded case) reuses its event ids, so its bytes travel once."""
    return f"chunk/{material}/{index}"


def sealed_chunks(
    case_no: str,
    material: MaterialRef,
    content: bytes,
    *,
    recipient: str,
    key_id: str,
    recipient_public: X25519PublicKey,
) -> Iterator[tuple[str, MaterialChunk]]:
    """(step, payload) of every chunk of `material`, each sealed for `recipient`."""
    pieces = split(content)
    for index, piece in enumerate(pieces):
        yield (
            chunk_step(material.sha256, index),
            MaterialChunk(
                case_no=case_no,
                material=material.sha256,
                index=index,
                count=len(pieces),
                chunk_sha256=sha256_hex(piece),
                sealed=seal(
                    piece,
                    case_no=case_no,
                    recipient=recipient,
                    key_id=key_id,
                    recipient_public=recipient_public,
                ),
            ),
        )
