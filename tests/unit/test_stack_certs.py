"""`tongban stack certs`: the CA signs every certificate, each for what it is used for, with
the names servers are dialled by; issuing again keeps what is valid and renews what is not."""

from __future__ import annotations

import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deploy.stack import certs

REGIONS = ("350000", "440000")


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_every_leaf_is_signed_by_the_ca_for_its_use(tmp_path: Path) -> None:
    issued = certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    authority = certs.CertificateAuthority(tmp_path)
    ca = _cert(authority.ca_cert)
    assert issued[0] == certs.CA_NAME
    assert set(issued[1:]) == {
        certs.TEMPORAL_FRONTEND,
        certs.KAFKA_BROKER,
        certs.EXCHANGE_ADMIN,
        "region-350000",
        "region-440000",
    }
    for name in issued[1:]:
        leaf = _cert(authority.files(name).cert)
        leaf.verify_directly_issued_by(ca)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    assert _usages(_cert(authority.files(certs.TEMPORAL_FRONTEND).cert)) == {server}
    assert _usages(_cert(authority.files(certs.KAFKA_BROKER).cert)) == {server, client}
    assert _usages(_cert(authority.files("region-350000").cert)) == {client}


def test_temporals_internode_certificates_come_from_a_ca_of_their_own(tmp_path: Path) -> None:
    issued = certs.issue_production(tmp_path, REGIONS)
    assert "internode/ca" in issued
    outer = certs.CertificateAuthority(tmp_path)
    inner = certs.CertificateAuthority(certs.internode_root(tmp_path))
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    internode = _cert(inner.files(certs.TEMPORAL_INTERNODE).cert)
    internode.verify_directly_issued_by(_cert(inner.ca_cert))
    assert _usages(internode) == {server, client}
    assert _usages(_cert(inner.files(certs.TEMPORAL_UI).cert)) == {client}
    # The internal frontend trusts the inner CA only: a region's certificate does not chain
    # to it, so its handshake fails there (the internal frontend's callers are admins).
    region = _cert(outer.files("region-350000").cert)
    with pytest.raises(ValueError, match=r"[Ii]ssuer"):
        region.verify_directly_issued_by(_cert(inner.ca_cert))
    assert _cert(inner.ca_cert).subject != _cert(outer.ca_cert).subject


def test_servers_carry_the_local_names_and_keys_are_private(tmp_path: Path) -> None:
    certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    files = certs.CertificateAuthority(tmp_path).files(certs.TEMPORAL_FRONTEND)
    names = _cert(files.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for private in (files.key, files.keystore, tmp_path / "ca.key"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_a_tls_client_accepts_the_chain(tmp_path: Path) -> None:
    certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    authority = certs.CertificateAuthority(tmp_path)
    context = ssl.create_default_context(cafile=str(authority.ca_cert))
    # load_cert_chain refuses a key that does not match the certificate.
    files = authority.files("region-440000")
    context.load_cert_chain(str(files.cert), str(files.key))
    keystore = files.keystore.read_text()
    assert keystore.index("PRIVATE KEY") < keystore.index("CERTIFICATE")
    assert keystore.count("BEGIN CERTIFICATE") == 2  # leaf and CA: Kafka's PEM keystore


def test_issuing_again_keeps_valid_certificates(tmp_path: Path) -> None:
    certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    before = certs.CertificateAuthority(tmp_path).files("region-350000").cert.read_bytes()
    assert certs.issue_all(tmp_path, certs.standard_leaves(REGIONS)) == []
    after = certs.CertificateAuthority(tmp_path).files("region-350000").cert.read_bytes()
    assert before == after


def test_a_new_region_gets_only_its_own_certificate(tmp_path: Path) -> None:
    certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    assert certs.issue_all(tmp_path, certs.standard_leaves((*REGIONS, "110000"))) == [
        "region-110000"
    ]


def test_certificates_due_for_renewal_are_issued_again(tmp_path: Path) -> None:
    certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    later = datetime.now(UTC) + certs.LEAF_VALIDITY - certs.RENEW_BEFORE + timedelta(days=1)
    renewed = certs.issue_all(tmp_path, certs.standard_leaves(REGIONS), now=later)
    assert certs.CA_NAME not in renewed  # the CA lasts ten years
    assert "region-350000" in renewed
    assert certs.KAFKA_BROKER in renewed


def test_a_replaced_ca_reissues_every_leaf(tmp_path: Path) -> None:
    certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    (tmp_path / "ca.crt").unlink()
    renewed = certs.issue_all(tmp_path, certs.standard_leaves(REGIONS))
    assert renewed[0] == certs.CA_NAME
    assert len(renewed) == 1 + len(certs.standard_leaves(REGIONS))
    ca = _cert(tmp_path / "ca.crt")
    _cert(
        certs.CertificateAuthority(tmp_path).files("region-350000").cert
    ).verify_directly_issued_by(ca)
