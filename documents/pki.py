"""X.509 for documents (decision 0025): the national root's self-signed certificate and, per
region signing key, a document-signing certificate issued by the root.

The certificates only carry the keys the trust directory already lists: the root certificate
holds the pinned root Ed25519 key, a region's certificate holds one of its listed Ed25519
signing keys. Both are deterministic (serial from a digest of the key, validity from the key's
entry, Ed25519 signatures), so issuing a missing certificate again yields the same bytes.
Revocation is the directory's: a certificate is revoked when its key is revoked in the signed
directory; there is no CRL or OCSP.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID, ObjectIdentifier

from events.envelope import b64url, b64url_decode
from events.trust import KeyEntry

# RFC 9336 id-kp-documentSigning.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# The root certificate's validity is nominal: the root is trusted because its key is pinned.
# Wide enough to cover any region key, including those made before the certificate existed.
ROOT_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
ROOT_NOT_AFTER = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
ROOT_ORGANIZATION = "跨省通办国家信任根"


class CertificateError(Exception):
    pass


def _serial(*parts: bytes) -> int:
    digest = hashlib.sha256(b"|".join(parts)).digest()
    return int.from_bytes(digest[:16], "big") >> 1 or 1  # positive, at most 16 bytes


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def root_name(root_key_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ROOT_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, f"tongban national root {root_key_id}"),
        ]
    )


def root_certificate(root_key: Ed25519PrivateKey, root_key_id: str) -> x509.Certificate:
    public = root_key.public_key()
    name = root_name(root_key_id)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(_serial(b"root", root_key_id.encode(), raw_public_bytes(public)))
        .not_valid_before(ROOT_NOT_BEFORE)
        .not_valid_after(ROOT_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(root_key, algorithm=None)
    )


def document_certificate(
    root_key: Ed25519PrivateKey,
    root_key_id: str,
    region: str,
    region_name: str,
    key: KeyEntry,
) -> x509.Certificate:
    """The document-signing certificate of one listed signing key of `region`."""
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(key.public_key))
    root_public = root_key.public_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, region_name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{region_name} 电子文书签章"),
            # The region code, read back by `certified_region`.
            x509.NameAttribute(NameOID.SERIAL_NUMBER, region),
            x509.NameAttribute(NameOID.USER_ID, key.key_id),
        ]
    )
    if key.not_after <= key.not_before:
        raise CertificateError(f"key {key.key_id} has an empty validity")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_name(root_key_id))
        .public_key(public)
        .serial_number(_serial(b"document", region.encode(), key.key_id.encode()))
        .not_valid_before(key.not_before)
        .not_valid_after(key.not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_public), critical=False
        )
        .sign(root_key, algorithm=None)
    )


@dataclass(frozen=True)
class CertifiedRegion:
    """What a document-signing certificate says about its holder."""

    region: str
    region_name: str
    key_id: str
    public_key: str  # base64url raw Ed25519, comparable with KeyEntry.public_key


def certified_region(cert: x509.Certificate) -> CertifiedRegion:
    def one(oid: ObjectIdentifier) -> str:
        found = cert.subject.get_attributes_for_oid(oid)
        if len(found) != 1:
            raise CertificateError(f"certificate subject has no single {oid.dotted_string}")
        value = found[0].value
        return value if isinstance(value, str) else value.decode()

    public = cert.public_key()
    if not isinstance(public, Ed25519PublicKey):
        raise CertificateError("certificate key is not Ed25519")
    return CertifiedRegion(
        region=one(NameOID.SERIAL_NUMBER),
        region_name=one(NameOID.ORGANIZATION_NAME),
        key_id=one(NameOID.USER_ID),
        public_key=b64url(raw_public_bytes(public)),
    )
