"""Anyone can verify a document (decision 0025): the signature is intact and covers the whole
file, its certificate chains to the pinned national root, the trust directory lists the key
for the region that signed (and the one the document names), the key is not revoked and was
valid when the document was signed, and the issuing region's records hold this very file.

The verdict names the first check that failed. Revocation is the directory's: a key revoked
there revokes its certificate, at any time (a signing time written by the signer cannot show
that the document predates the revocation; a timestamp authority could, later).
"""

from __future__ import annotations

import hashlib
import inspect
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from documents.pki import CertificateError, certified_region, raw_public_bytes
from documents.render import parse_keywords
from events.trust import KeyEntry, RegionEntry, TrustDirectory

# Is the file with this SHA-256 (hex) among `region`'s issued documents? None: could not ask.
Known = Callable[[str, str], bool | Awaitable[bool | None] | None]


class Failure(StrEnum):
    NOT_A_SIGNED_PDF = "not-a-signed-pdf"
    SIGNATURE_BROKEN = "signature-broken"
    CHANGED_AFTER_SIGNING = "changed-after-signing"
    NOT_UNDER_ROOT = "not-under-national-root"
    KEY_NOT_LISTED = "key-not-listed"
    REGION_MISMATCH = "region-mismatch"
    KEY_REVOKED = "key-revoked"
    KEY_NOT_VALID_AT_SIGNING = "key-not-valid-at-signing"
    NOT_IN_RECORDS = "not-in-records"

    @property
    def label_zh(self) -> str:
        return _LABELS[self]


_LABELS = {
    Failure.NOT_A_SIGNED_PDF: "不是已签名的PDF文书",
    Failure.SIGNATURE_BROKEN: "签名已损坏",
    Failure.CHANGED_AFTER_SIGNING: "签名后被改动",
    Failure.NOT_UNDER_ROOT: "证书不在国家根之下",
    Failure.KEY_NOT_LISTED: "签名密钥不在信任目录中",
    Failure.REGION_MISMATCH: "签发地区不符",
    Failure.KEY_REVOKED: "签名密钥已吊销",
    Failure.KEY_NOT_VALID_AT_SIGNING: "签名时密钥不在有效期内",
    Failure.NOT_IN_RECORDS: "不在签发地区的文书记录中",
}


class Verdict(BaseModel):
    """What `verify_document` found. No personal data: the applicant's name is never read."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    failure: Failure | None = None
    reason: str | None = None  # what failed, in words, naming the region and key
    sha256: str
    # From the document's own metadata (what it claims).
    number: str | None = None
    document_type: str | None = None
    case_no: str | None = None
    claimed_region: str | None = None
    # From the certificate and the trust directory (who signed).
    region: str | None = None
    region_name: str | None = None
    key_id: str | None = None
    signed_at: datetime | None = None
    # True / False: the issuing region's records hold / do not hold this file; None: not asked.
    in_records: bool | None = None
    notes: tuple[str, ...] = ()

    @property
    def label_zh(self) -> str:
        return "有效" if self.valid else f"无效：{self.failure.label_zh if self.failure else ''}"


def _der(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _pinned_root_certs(
    root: Ed25519PublicKey, candidates: list[asn1_x509.Certificate]
) -> list[asn1_x509.Certificate]:
    """The candidates that carry the pinned root key: the trust anchor is the key, not a file."""
    pinned = raw_public_bytes(root)
    found = []
    for cert in candidates:
        public = x509.load_der_x509_certificate(cert.dump()).public_key()
        if isinstance(public, Ed25519PublicKey) and raw_public_bytes(public) == pinned:
            found.append(cert)
    return found


def _issued_by_root(cert: asn1_x509.Certificate, root: Ed25519PublicKey) -> bool:
    parsed = x509.load_der_x509_certificate(cert.dump())
    try:
        root.verify(parsed.signature, parsed.tbs_certificate_bytes)
    except InvalidSignature:
        return False
    return True


def _listed(directory: TrustDirectory, public_key: str) -> tuple[RegionEntry, KeyEntry] | None:
    for region in directory.regions:
        for key in region.signing_keys:
            if key.public_key == public_key:
                return region, key
    return None


async def _ask(known: Known, region: str, sha256: str) -> bool | None:
    answer = known(region, sha256)
    if inspect.isawaitable(answer):
        return await answer
    return answer


async def verify_document(
    pdf: bytes,
    *,
    root: Ed25519PublicKey,
    directory: TrustDirectory,
    known: Known | None = None,
    root_certificate: x509.Certificate | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Verify a signed document against the pinned `root` and a `directory` already verified
    under it. `root_certificate` (root.crt) is used only if it carries the pinned key; the
    one embedded in the PDF serves as well. `known` asks the issuing region's records."""
    digest = hashlib.sha256(pdf).hexdigest()
    at = now or datetime.now(UTC)

    def fail(failure: Failure, reason: str, **seen: object) -> Verdict:
        found = {"valid": False, "failure": failure, "reason": reason, "sha256": digest}
        return Verdict.model_validate(found | seen)

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        return fail(Failure.NOT_A_SIGNED_PDF, f"the file cannot be read as a PDF: {exc}")
    if len(signatures) != 1:
        return fail(
            Failure.NOT_A_SIGNED_PDF,
            f"a document carries one signature, this file has {len(signatures)}",
        )
    signature = signatures[0]
    claims: dict[str, str] = {}
    info = reader.trailer_view.get("/Info")
    if info is not None:
        claims = parse_keywords(str(info.get_object().get("/Keywords", "")))
    seen: dict[str, object] = {
        "number": claims.get("number"),
        "document_type": claims.get("type"),
        "case_no": claims.get("case"),
        "claimed_region": claims.get("region"),
    }
    try:
        signed_at = signature.self_reported_timestamp
        signer_cert = signature.signer_cert
        embedded = [signer_cert, *signature.other_embedded_certs]
    except (ValueError, KeyError, SignatureValidationError) as exc:
        return fail(Failure.SIGNATURE_BROKEN, f"the signature cannot be read: {exc}", **seen)
    seen["signed_at"] = signed_at
    anchors = _pinned_root_certs(
        root, ([_der(root_certificate)] if root_certificate is not None else []) + embedded
    )
    context = ValidationContext(
        trust_roots=anchors[:1],
        allow_fetching=False,
        # Revocation is the directory's (checked below), not a CRL's or an OCSP responder's.
        revocation_mode="soft-fail",
        moment=signed_at or at,
    )
    try:
        status: PdfSignatureStatus = await async_validate_pdf_signature(signature, context)
    except (SignatureValidationError, PdfError, ValueError) as exc:
        return fail(Failure.SIGNATURE_BROKEN, f"the signature does not verify: {exc}", **seen)
    if not status.intact or not status.valid:
        return fail(
            Failure.SIGNATURE_BROKEN,
            "the signature does not match the file's bytes: it was changed after signing",
            **seen,
        )
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        return fail(
            Failure.CHANGED_AFTER_SIGNING,
            "bytes were added after the signature (it no longer covers the whole file)",
            **seen,
        )
    try:
        holder = certified_region(x509.load_der_x509_certificate(signer_cert.dump()))
    except CertificateError as exc:
        return fail(Failure.NOT_UNDER_ROOT, f"not a document-signing certificate: {exc}", **seen)
    seen.update(region=holder.region, region_name=holder.region_name, key_id=holder.key_id)
    if not anchors or not _issued_by_root(signer_cert, root):
        return fail(
            Failure.NOT_UNDER_ROOT,
            f"the certificate naming {holder.region_name} ({holder.region}) was not issued"
            " by the national root this node pins",
            **seen,
        )
    listed = _listed(directory, holder.public_key)
    if listed is None:
        return fail(
            Failure.KEY_NOT_LISTED,
            f"key {holder.key_id} is not listed for any region in trust directory"
            f" v{directory.version}",
            **seen,
        )
    region, key = listed
    seen.update(region=region.code, region_name=region.name, key_id=key.key_id)
    if region.code != holder.region:
        return fail(
            Failure.REGION_MISMATCH,
            f"the certificate names {holder.region} but the directory lists the key for"
            f" {region.name} ({region.code})",
            **seen,
        )
    claimed = claims.get("region")
    if claimed is not None and claimed != region.code:
        return fail(
            Failure.REGION_MISMATCH,
            f"the document says it is issued by {claimed} but was signed by"
            f" {region.name} ({region.code})'s key {key.key_id}",
            **seen,
        )
    if key.revoked:
        since = f" since {key.revoked_at.isoformat()}" if key.revoked_at else ""
        return fail(
            Failure.KEY_REVOKED,
            f"signed by {region.name} ({region.code})'s revoked key {key.key_id}{since}",
            **seen,
        )
    when = signed_at or at
    if not key.not_before <= when <= key.not_after or not status.trusted:
        problem = "" if status.trusted else f" ({status.trust_problem_indic})"
        return fail(
            Failure.KEY_NOT_VALID_AT_SIGNING,
            f"{region.name} ({region.code})'s key {key.key_id} was not valid at"
            f" {when.isoformat()}{problem}",
            **seen,
        )
    notes: list[str] = []
    expired = directory.expiry_problem(at)
    if expired:
        notes.append(f"{expired}: revocations published since are not known here")
    in_records: bool | None = None
    if known is not None:
        in_records = await _ask(known, region.code, digest)
    if in_records is False:
        return fail(
            Failure.NOT_IN_RECORDS,
            f"this file is not in {region.name} ({region.code})'s records of issued documents",
            in_records=False,
            notes=tuple(notes),
            **seen,
        )
    if in_records is None:
        notes.append(f"{region.name} ({region.code})'s records were not asked")
    found = {"valid": True, "sha256": digest, "in_records": in_records, "notes": tuple(notes)}
    return Verdict.model_validate(found | seen)
