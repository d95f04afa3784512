"""Two small certificate authorities for the production shape. The stack's CA signs Temporal's
frontend certificate, one client certificate per regional node, the Kafka brokers' and the
exchange admin's; a CA of its own (`internode/` below it) signs what Temporal's services show
each other and what the cluster's own callers show its internal frontend (internode, Web UI).
Two, because the internal frontend makes whoever completes its handshake the system's admin:
a region's certificate must not complete it (decision 0052).

PEM files, keys PKCS#8 unencrypted and 0600 (a directory only the operator reads); for Kafka
a `<name>.pem` holds key and chain together (its PEM keystore format). Issuing is idempotent:
a certificate that exists, was signed by this CA and stays valid for `RENEW_BEFORE` is kept.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "ca"
INTERNODE_DIR = "internode"
TEMPORAL_FRONTEND = "temporal-frontend"
TEMPORAL_INTERNODE = "temporal-internode"
TEMPORAL_UI = "temporal-ui"
KAFKA_BROKER = "kafka-broker"
EXCHANGE_ADMIN = "exchange-admin"
CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=397)
RENEW_BEFORE = timedelta(days=30)
# Every service of the local cluster listens on loopback; the names a client may dial.
LOCAL_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")

_SERVER = (ExtendedKeyUsageOID.SERVER_AUTH,)
_CLIENT = (ExtendedKeyUsageOID.CLIENT_AUTH,)
_BOTH = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


def node_client(region: str) -> str:
    """A regional node's client certificate (CN region-<code>, as its Kafka principal)."""
    return f"region-{region}"


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path
    # Key followed by the certificate chain: Kafka's PEM keystore.
    keystore: Path


@dataclass(frozen=True)
class CertificateAuthority:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / f"{CA_NAME}.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / f"{CA_NAME}.key"

    def files(self, name: str) -> CertFiles:
        return CertFiles(
            self.root / f"{name}.crt", self.root / f"{name}.key", self.root / f"{name}.pem"
        )


@dataclass(frozen=True)
class Leaf:
    name: str  # file stem and CN
    usages: tuple[x509.ObjectIdentifier, ...]
    hosts: tuple[str, ...] = ()


def standard_leaves(regions: Iterable[str], hosts: Iterable[str] = LOCAL_NAMES) -> list[Leaf]:
    """What the stack's CA signs: servers carry `hosts` as subject alternative names; broker
    certificates act as both server and client."""
    names = tuple(hosts)
    leaves = [
        Leaf(TEMPORAL_FRONTEND, _SERVER, names),
        Leaf(KAFKA_BROKER, _BOTH, names),
        Leaf(EXCHANGE_ADMIN, _CLIENT),
    ]
    leaves += [Leaf(node_client(region), _CLIENT) for region in regions]
    return leaves


def internode_leaves(hosts: Iterable[str] = LOCAL_NAMES) -> list[Leaf]:
    """What the internode CA signs: Temporal's services (server and client to each other) and
    the Web UI's client certificate for the internal frontend."""
    return [Leaf(TEMPORAL_INTERNODE, _BOTH, tuple(hosts)), Leaf(TEMPORAL_UI, _CLIENT)]


def internode_root(root: Path) -> Path:
    return root / INTERNODE_DIR


def issue_production(
    root: Path, regions: Iterable[str], hosts: Iterable[str] = LOCAL_NAMES
) -> list[str]:
    """Both authorities and everything they sign; returns the names issued (internode ones
    prefixed `internode/`)."""
    issued = issue_all(root, standard_leaves(regions, hosts))
    inner = issue_all(
        internode_root(root), internode_leaves(hosts), ca_common_name="tongban internode CA"
    )
    return issued + [f"{INTERNODE_DIR}/{name}" for name in inner]


def issue_all(
    root: Path,
    leaves: Iterable[Leaf],
    *,
    now: datetime | None = None,
    ca_common_name: str = "tongban stack CA",
) -> list[str]:
    """Create the CA (once) and every leaf that is missing or due; returns the names issued."""
    at = now or datetime.now(UTC)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    authority = CertificateAuthority(root)
    issued: list[str] = []
    if not _valid(authority.ca_cert, None, at):
        _write_ca(authority, at, ca_common_name)
        issued.append(CA_NAME)
    ca_key = load_key(authority.ca_key)
    ca_cert = x509.load_pem_x509_certificate(authority.ca_cert.read_bytes())
    for leaf in leaves:
        files = authority.files(leaf.name)
        if _valid(files.cert, ca_cert, at) and files.key.is_file() and files.keystore.is_file():
            continue
        _write_leaf(files, leaf, ca_cert, ca_key, at)
        issued.append(leaf.name)
    return issued


def _valid(cert_path: Path, issuer: x509.Certificate | None, at: datetime) -> bool:
    if not cert_path.is_file():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.not_valid_after_utc - RENEW_BEFORE < at:
        return False
    if issuer is None:
        return True
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False  # signed by an earlier CA: issue again under the current one
    return True


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tongban"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_ca(authority: CertificateAuthority, at: datetime, common_name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(at + CA_VALIDITY)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(authority.ca_key, key_pem(key))
    authority.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_leaf(
    files: CertFiles,
    leaf: Leaf,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    at: datetime,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(leaf.name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(at + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(leaf.usages)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if leaf.hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in leaf.hosts]),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    chain = cert_pem + ca_cert.public_bytes(serialization.Encoding.PEM)
    pem = key_pem(key)
    write_private(files.key, pem)
    write_private(files.keystore, pem + chain)
    files.cert.write_bytes(chain)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path} does not hold an EC private key")
    return key


def write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)
