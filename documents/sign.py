"""PAdES signatures on documents (decision 0025), with pyHanko.

The signer is the issuing region's Ed25519 signing key (the one its events are signed with),
its document-signing certificate and the national root's certificate (ISO 32002: EdDSA in
PDF, SHA-512 digest). Signing is deterministic when the PDF is: the signing time is the
document's issue time, not the clock, and the new revision's file ID is derived from the
unsigned bytes, so an activity that retries produces the same signed file.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import DocumentMetadata
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko_certvalidator.registry import SimpleCertificateStore

from events.keystore import KeyStore, KeyStoreError
from events.trust import TrustDirectory

SIGNATURE_FIELD = "tongban-document-signature"


class SigningError(Exception):
    pass


@dataclass(frozen=True)
class DocumentSigningKey:
    """What a region signs documents with. Never logged: it holds a private key."""

    region: str
    key_id: str
    private_key: Ed25519PrivateKey
    certificate: x509.Certificate
    root_certificate: x509.Certificate

    def __repr__(self) -> str:
        return f"DocumentSigningKey(region={self.region!r}, key_id={self.key_id!r})"


def signing_key_from_store(
    store: KeyStore, region: str, directory: TrustDirectory, at: datetime
) -> DocumentSigningKey:
    """The newest valid signing key of `region` held in `store`, with its certificates
    (a missing document certificate is issued where the root key is held)."""
    try:
        signer = store.signer(region, directory, at)
        certificate = store.document_certificate(region, signer.key_id)
        root = x509.load_pem_x509_certificate(store.root_certificate_path.read_bytes())
    except (KeyStoreError, OSError, ValueError) as exc:
        raise SigningError(f"region {region} cannot sign documents: {exc}") from exc
    return DocumentSigningKey(region, signer.key_id, signer.private_key, certificate, root)


@dataclass
class _FixedClockMeta(DocumentMetadata):
    """Document metadata whose "now" is the signing time: pyHanko stamps the new revision's
    info dictionary and XMP metadata (xmp:ModifyDate) with the clock otherwise, so two
    signings a second apart would differ."""

    fixed_now: datetime | None = None

    def __setattr__(self, name: str, value: object) -> None:
        if name == "last_modified" and value == "now" and self.__dict__.get("fixed_now"):
            value = self.__dict__["fixed_now"]
        super().__setattr__(name, value)


class _DeterministicWriter(IncrementalPdfFileWriter):
    # pyHanko gives a new revision a random second file ID and the clock as its modification
    # time; derive the one from the input and take the other from the signing time instead.
    _input_digest: bytes = b""
    _modified_at: datetime | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._modified_at is not None:
            current = {f.name: getattr(self._meta, f.name) for f in dataclass_fields(self._meta)}
            self._meta = _FixedClockMeta(**current, fixed_now=self._modified_at)

    @classmethod
    def _handle_id(cls, prev: Any) -> generic.ArrayObject:
        ids = super()._handle_id(prev)  # type: ignore[no-untyped-call]
        return generic.ArrayObject([ids[0], generic.ByteStringObject(cls._input_digest[:16])])


class _FixedTimeSigner(signers.PdfSigner):
    def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(
        self, pdf_out: Any, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self._signing_time
        return session


def _registry(root: x509.Certificate) -> SimpleCertificateStore:
    store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    store.register(_asn1_certificate(root))
    return store


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


async def sign_pdf(
    pdf: bytes,
    key: DocumentSigningKey,
    *,
    signed_at: datetime,
    reason: str | None = None,
    location: str | None = None,
) -> bytes:
    """`pdf` with a PAdES B-B signature of `key` over the whole file. `signed_at` (aware)
    is the signing time written in the signature: pass the document's `issued_at`."""
    if signed_at.tzinfo is None:
        raise SigningError("signed_at must be timezone-aware")
    signer = signers.SimpleSigner(
        signing_cert=_asn1_certificate(key.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        ),
        cert_registry=_registry(key.root_certificate),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha512",  # ISO 32002: Ed25519 signs SHA-512 digests in PDF
        reason=reason,
        location=location,
        signer_key_usage={"non_repudiation"},
    )
    writer_class = type(
        "_Writer",
        (_DeterministicWriter,),
        {"_input_digest": hashlib.sha256(pdf).digest(), "_modified_at": signed_at},
    )
    try:
        writer = writer_class(io.BytesIO(pdf))
        pdf_signer = _FixedTimeSigner(meta, signer=signer, signing_time=signed_at)
        out = await pdf_signer.async_sign_pdf(writer, output=io.BytesIO())
    except (ValueError, KeyError, OSError) as exc:
        raise SigningError(f"signing failed: {exc}") from exc
    assert isinstance(out, io.BytesIO)
    return out.getvalue()
