"""PAdES signatures on documents (decision 0025), with pyHanko.

The signer is the issuing region's Ed25519 signing key (the one its events are signed with),
its document-signing certificate and the national root's certificate (ISO 32002: EdDSA in
PDF, SHA-512 digest). Signing is deterministic when the PDF is: the signing time is the
document's issue time, not the clock, and the new revision's file ID is derived from the
unsigned bytes, so an activity that retries produces the same signed file.

What does not change between documents of one key — the pyHanko signer holding the parsed key
and certificates, the room the signature takes in the file, and the signature container itself
but for the document's digest and the signature value (`_CmsTemplate`) — is prepared once per
key and kept in a small cache keyed by everything it was built from (region, key id, public key
and both certificates' fingerprints), so a rotated, revoked or re-certified key never meets an
entry made for another.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import DocumentMetadata
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from events.keystore import KeyStore, KeyStoreError
from events.trust import TrustDirectory

SIGNATURE_FIELD = "tongban-document-signature"
_DIGEST = "sha512"  # ISO 32002: Ed25519 signs SHA-512 digests in PDF
# A node holds a few regions' keys, two per region during a rotation's overlap.
PREPARED_SIGNERS_KEPT = 16


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


# The signed attributes are signed as a DER SET OF (RFC 5652 §5.4), embedded as [0] IMPLICIT.
_SET_OF = b"\x31"


@dataclass(frozen=True)
class _CmsTemplate:
    """The CMS container pyHanko makes for one key, with the two parts that change between
    documents marked: the message digest inside the signed attributes and the signature over
    those attributes. For a PAdES signature of ours everything else — content type, the
    ESS signing-certificate-v2 attribute, the signer's identifier, algorithms, certificates —
    depends on the key and its certificates only (no signing time: PAdES puts it in the
    signature dictionary), and asn1crypto rebuilt and re-encoded it all for every document,
    three quarters of signing one."""

    der: bytes
    attrs: slice  # the signed attributes ([0] IMPLICIT) within `der`
    digest: slice  # the message digest within `der`, inside `attrs`
    signature: slice  # the signature value within `der`, after `attrs`

    def fill(self, digest: bytes, key: Ed25519PrivateKey) -> bytes:
        der = bytearray(self.der)
        der[self.digest] = digest
        der[self.signature] = key.sign(_SET_OF + bytes(der[self.attrs])[1:])
        return bytes(der)


def _slice_of(part: bytes, whole: bytes) -> slice | None:
    at = whole.find(part)
    if at < 0 or whole.find(part, at + 1) >= 0:
        return None  # absent or not unique: no template
    return slice(at, at + len(part))


def _template_from(
    first: tuple[bytes, bytes], second: tuple[bytes, bytes], key: Ed25519PrivateKey
) -> _CmsTemplate | None:
    """The template, if pyHanko's container for the digest `first[0]` (DER `first[1]`) has
    the layout it assumes, and filling it with the other digest gives pyHanko's other
    container byte for byte; else None, and pyHanko builds every container as it did."""
    digest, der = first
    info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    attrs = _slice_of(info["signed_attrs"].dump(), der)
    signature = _slice_of(info["signature"].native, der)
    digest_at = _slice_of(digest, der)
    if attrs is None or signature is None or digest_at is None:
        return None
    if not attrs.start <= digest_at.start < digest_at.stop <= attrs.stop <= signature.start:
        return None
    try:
        key.public_key().verify(der[signature], _SET_OF + der[attrs][1:])
    except InvalidSignature:
        return None  # the signature is over something else than the attributes
    template = _CmsTemplate(der, attrs, digest_at, signature)
    other_digest, other_der = second
    return template if template.fill(other_digest, key) == other_der else None


class _TemplateSigner(signers.SimpleSigner):
    """pyHanko's signer, filling the key's `_CmsTemplate` when pyHanko asks for what the
    template was made from (a PAdES signature, our digest, no timestamp, the same signed
    attribute settings but for the signing time); anything else goes to pyHanko."""

    template: _CmsTemplate | None = None
    template_settings = PdfCMSSignedAttributes()
    private_key: Ed25519PrivateKey | None = None

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: Any = None,
    ) -> cms.ContentInfo:
        template, key = self.template, self.private_key
        settings = replace(signed_attr_settings or PdfCMSSignedAttributes(), signing_time=None)
        if (
            template is not None
            and key is not None
            and not dry_run
            and use_pades
            and timestamper is None
            and is_pdf_sig
            and encap_content_info is None
            and digest_algorithm == _DIGEST
            and len(data_digest) == template.digest.stop - template.digest.start
            and settings == self.template_settings
        ):
            return cms.ContentInfo.load(template.fill(data_digest, key))
        return await super().async_sign(
            data_digest,
            digest_algorithm,
            dry_run=dry_run,
            use_pades=use_pades,
            timestamper=timestamper,
            signed_attr_settings=signed_attr_settings,
            is_pdf_sig=is_pdf_sig,
            encap_content_info=encap_content_info,
        )


async def _make_template(signer: _TemplateSigner, key: Ed25519PrivateKey) -> _CmsTemplate | None:
    # Two containers made by pyHanko, for two digests at two signing times: the template is
    # cut from the one and must reproduce the other.
    samples = []
    for n in (1, 2):
        digest = hashlib.sha512(b"tongban template %d" % n).digest()
        container = await signer.async_sign(
            digest,
            _DIGEST,
            use_pades=True,
            signed_attr_settings=replace(
                signer.template_settings, signing_time=datetime(2000 + n, n, n, tzinfo=UTC)
            ),
        )
        samples.append((digest, container.dump()))
    return _template_from(samples[0], samples[1], key)


@dataclass(frozen=True)
class _Prepared:
    signer: _TemplateSigner
    bytes_reserved: int


_Identity = tuple[str, str, bytes, bytes, bytes]
_prepared: OrderedDict[_Identity, _Prepared] = OrderedDict()
_prepared_lock = threading.Lock()  # documents are signed from the loop and from worker threads


def _identity(key: DocumentSigningKey) -> _Identity:
    return (
        key.region,
        key.key_id,
        key.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        key.certificate.fingerprint(hashes.SHA256()),
        key.root_certificate.fingerprint(hashes.SHA256()),
    )


async def _bytes_reserved(signer: signers.SimpleSigner) -> int:
    # What pyHanko reserves when not told: a dry-run signature's hex length plus half again
    # (PdfSigningSession.estimate_signature_container_size). It made the dry run for every
    # document, yet it depends only on the key and certificates (the signing time is always a
    # UTCTime, an Ed25519 signature always 64 bytes); taken once per key, the files stay the same.
    dry_run = await signer.async_sign(
        hashlib.sha512(b"").digest(),
        _DIGEST,
        use_pades=True,
        dry_run=True,
        signed_attr_settings=PdfCMSSignedAttributes(signing_time=datetime(2000, 1, 1, tzinfo=UTC)),
    )
    length = len(dry_run.dump()) * 2
    return length + 2 * (length // 4)


async def _prepared_signer(key: DocumentSigningKey) -> _Prepared:
    identity = _identity(key)
    with _prepared_lock:
        found = _prepared.get(identity)
        if found is not None:
            _prepared.move_to_end(identity)
            return found
    signer = _TemplateSigner(
        signing_cert=_asn1_certificate(key.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        ),
        cert_registry=_registry(key.root_certificate),
    )
    bytes_reserved = await _bytes_reserved(signer)
    template = await _make_template(signer, key.private_key)
    signer.template, signer.private_key = template, key.private_key
    prepared = _Prepared(signer, bytes_reserved)
    with _prepared_lock:
        _prepared[identity] = prepared
        while len(_prepared) > PREPARED_SIGNERS_KEPT:
            _prepared.popitem(last=False)
    return prepared


async def _sign(
    pdf: bytes,
    signer: signers.SimpleSigner,
    bytes_reserved: int | None,
    *,
    signed_at: datetime,
    reason: str | None,
    location: str | None,
) -> bytes:
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm=_DIGEST,
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
        out = await pdf_signer.async_sign_pdf(
            writer, bytes_reserved=bytes_reserved, output=io.BytesIO()
        )
    except (ValueError, KeyError, OSError) as exc:
        raise SigningError(f"signing failed: {exc}") from exc
    assert isinstance(out, io.BytesIO)
    return out.getvalue()


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
    try:
        prepared = await _prepared_signer(key)
    except ValueError as exc:
        raise SigningError(f"the key of {key.region} cannot sign: {exc}") from exc
    return await _sign(
        pdf,
        prepared.signer,
        prepared.bytes_reserved,
        signed_at=signed_at,
        reason=reason,
        location=location,
    )
