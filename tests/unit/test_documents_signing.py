"""Documents signed (PAdES, Ed25519 under the national root) and verified: what passes, and
what each kind of failure is named."""

from __future__ import annotations

import asyncio
import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from typer.testing import CliRunner

from documents.models import DocumentType
from documents.render import render_pdf
from documents.sign import DocumentSigningKey, sign_pdf, signing_key_from_store
from documents.verify import Failure, Known, Verdict, verify_document
from events.directory_admin import DirectoryAdmin
from events.keystore import KeyStore
from regions.documents_cli import app as documents_app
from tests.unit.documents_samples import ISSUED_AT, sample

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REGIONS = {"350000": ("福建省", None), "440000": ("广东省", None)}


def _store(folder: Path) -> KeyStore:
    store = KeyStore(folder)
    store.bootstrap(REGIONS, validity=timedelta(days=30), now=NOW - timedelta(days=5))
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return _store(tmp_path_factory.mktemp("trust"))


def _key(store: KeyStore, region: str) -> DocumentSigningKey:
    return signing_key_from_store(store, region, store.directory(), ISSUED_AT)


async def _signed(store: KeyStore, region: str = "440000", *, claims: str = "440000") -> bytes:
    pdf = render_pdf(sample(DocumentType.DENIAL, region=claims))
    return await sign_pdf(pdf, _key(store, region), signed_at=ISSUED_AT, reason="不予行政许可")


async def _verify(store: KeyStore, pdf: bytes, known: Known | None = None) -> Verdict:
    root_cert = x509.load_pem_x509_certificate(store.root_certificate_path.read_bytes())
    return await verify_document(
        pdf,
        root=store.pinned_root(),
        directory=store.directory(),
        known=known,
        root_certificate=root_cert,
        now=NOW,
    )


async def test_a_signed_document_verifies_and_names_its_region(store: KeyStore) -> None:
    pdf = await _signed(store)
    asked: list[tuple[str, str]] = []

    def known(region: str, sha256: str) -> bool:
        asked.append((region, sha256))
        return True

    verdict = await _verify(store, pdf, known)
    assert verdict.valid, verdict.reason
    assert (verdict.region, verdict.region_name) == ("440000", "广东省")
    assert verdict.key_id == _key(store, "440000").key_id
    assert verdict.number == "440000-2026-BX-000123"
    assert verdict.signed_at == ISSUED_AT
    assert verdict.in_records is True
    assert asked == [("440000", verdict.sha256)]


async def test_signing_again_gives_the_same_bytes(store: KeyStore) -> None:
    first, second = await _signed(store), await _signed(store)
    assert first == second
    info = PdfFileReader(io.BytesIO(first)).trailer_view["/Info"].get_object()
    # The new revision's modification date is the issue time, not the clock.
    assert str(info["/ModDate"]).startswith("D:20261127173000")


def test_the_signed_document_still_renders(store: KeyStore, tmp_path: Path) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(asyncio.run(_signed(store)))
    text = subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "不予行政许可决定书" in text


async def test_a_changed_byte_breaks_the_signature(store: KeyStore) -> None:
    pdf = bytearray(await _signed(store))
    at = pdf.index(b"ReportLab PDF Library")
    pdf[at] = ord("r")
    verdict = await _verify(store, bytes(pdf))
    assert not verdict.valid
    assert verdict.failure is Failure.SIGNATURE_BROKEN


async def test_a_revision_added_after_signing_is_refused(store: KeyStore) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(await _signed(store)))
    writer.root["/PageMode"] = generic.NameObject("/UseOutlines")
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    verdict = await _verify(store, out.getvalue())
    assert verdict.failure is Failure.CHANGED_AFTER_SIGNING


async def test_a_document_signed_by_another_regions_key_is_reported_as_that_region(
    store: KeyStore,
) -> None:
    # 福建 signs its own document: valid, and reported as 福建.
    own = await _verify(store, await _signed(store, "350000", claims="350000"))
    assert own.valid, own.reason
    assert own.region == "350000"
    # 福建's key under a document that says 广东 issued it: named, and refused.
    forged = await _verify(store, await _signed(store, "350000", claims="440000"))
    assert forged.failure is Failure.REGION_MISMATCH
    assert (forged.region, forged.claimed_region) == ("350000", "440000")
    assert "福建省 (350000)" in (forged.reason or "")


async def test_a_key_not_certified_by_the_pinned_root_is_refused(
    store: KeyStore, tmp_path: Path
) -> None:
    foreign = _store(tmp_path / "foreign")  # another root, same region codes
    verdict = await _verify(store, await _signed(foreign, "440000"))
    assert verdict.failure is Failure.NOT_UNDER_ROOT
    assert "national root" in (verdict.reason or "")


async def test_a_revoked_key_fails_naming_region_and_key(tmp_path: Path) -> None:
    store = _store(tmp_path / "trust")
    pdf = await _signed(store)
    key_id = _key(store, "440000").key_id
    admin = DirectoryAdmin(store)
    admin.revoke("440000", key_id, now=NOW)
    admin.publish(NOW)
    verdict = await _verify(store, pdf)
    assert verdict.failure is Failure.KEY_REVOKED
    assert f"广东省 (440000)'s revoked key {key_id}" in (verdict.reason or "")


async def test_a_file_not_in_the_regions_records_fails(store: KeyStore) -> None:
    pdf = await _signed(store)

    async def not_ours(region: str, sha256: str) -> bool | None:
        return False

    verdict = await _verify(store, pdf, not_ours)
    assert verdict.failure is Failure.NOT_IN_RECORDS
    assert verdict.in_records is False
    assert "广东省 (440000)'s records" in (verdict.reason or "")
    unknown = await _verify(store, pdf, lambda region, sha256: None)
    assert unknown.valid
    assert unknown.in_records is None
    assert any("not asked" in note for note in unknown.notes)


async def test_an_unsigned_pdf_or_other_bytes_are_not_signed_documents(store: KeyStore) -> None:
    unsigned = await _verify(store, render_pdf(sample(DocumentType.ACCEPTANCE)))
    assert unsigned.failure is Failure.NOT_A_SIGNED_PDF
    garbage = await _verify(store, b"not a pdf at all")
    assert garbage.failure is Failure.NOT_A_SIGNED_PDF


def test_certificates_are_issued_again_for_an_existing_trust_folder(tmp_path: Path) -> None:
    store = _store(tmp_path / "trust")
    made = sorted(store.folder.rglob("*.crt"))
    assert len(made) == 3  # the root and one key per region
    before = {p: p.read_bytes() for p in made}
    for path in made:
        path.unlink()  # a folder from before certificates existed
    store.bootstrap(REGIONS, validity=timedelta(days=30), now=NOW)
    assert {p: p.read_bytes() for p in made} == before  # deterministic
    # A key rotated since is certified when first asked for.
    admin = DirectoryAdmin(store)
    new = admin.rotate("440000", overlap=timedelta(days=1), validity=timedelta(days=30), now=NOW)
    admin.publish(NOW)
    cert = store.document_certificate("440000", new.key_id)
    assert store.document_certificate_path("440000", new.key_id).exists()
    assert "440000" in cert.subject.rfc4514_string()


def test_the_cli_exits_0_for_valid_1_for_invalid_2_for_usage(
    store: KeyStore, tmp_path: Path
) -> None:
    # Not a coroutine: the command runs its own event loop, as it does from a shell.
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    signed = asyncio.run(_signed(store))
    good.write_bytes(signed)
    bad.write_bytes(signed.replace(b"ReportLab PDF Library", b"reportLab PDF Library", 1))
    runner = CliRunner()
    trust = ["--trust-dir", str(store.folder)]
    ok = runner.invoke(documents_app, ["verify", str(good), *trust])
    assert ok.exit_code == 0, ok.output
    assert "signed by 广东省 (440000)" in ok.output
    broken = runner.invoke(documents_app, ["verify", str(bad), "--json", *trust])
    assert broken.exit_code == 1
    assert '"failure": "signature-broken"' in broken.output
    strict = runner.invoke(documents_app, ["verify", str(good), "--require-records", *trust])
    assert strict.exit_code == 1  # the records were not asked
    missing = runner.invoke(documents_app, ["verify", str(tmp_path / "absent.pdf"), *trust])
    assert missing.exit_code == 2
