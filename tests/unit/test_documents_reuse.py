"""What a document reuses instead of redoing (issue 22): the QR code is encoded once per
document and drawn the same on every page, and the signer prepared for a key serves that key
only."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import qrencoder
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.pdfgen.canvas import Canvas

from documents import sign
from documents.models import DocumentData, DocumentType, MaterialLine
from documents.qr import ScoredQrCode, lost_points
from documents.render import render_pdf
from documents.sign import DocumentSigningKey, sign_pdf, signing_key_from_store
from documents.timing import _document
from events.keystore import KeyStore
from tests.unit.documents_samples import ISSUED_AT, sample

REGIONS = {"350000": ("福建省", None), "440000": ("广东省", None)}


def _long_receipt() -> DocumentData:
    materials = tuple(MaterialLine(name=f"安全生产管理制度文件（第{i}册）") for i in range(1, 60))
    return sample(DocumentType.RECEIPT).model_copy(update={"materials": materials})


def _filled_rects(content: bytes) -> list[bytes]:
    # The QR modules are the page's only filled rectangles (`re f*`); the table is ruled lines.
    return [line for line in content.splitlines() if line.endswith(b" re f*")]


def _pages(pdf: bytes) -> list[bytes]:
    kids = PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]
    return [page.get_object()["/Contents"].get_object().data for page in kids]


def _widget_rects(url: str) -> list[bytes]:
    """What reportlab's own QR widget draws for `url`: the code every document showed."""
    drawing = Drawing(100, 100)
    drawing.add(QrCodeWidget(url, barLevel="M"))
    out = io.BytesIO()
    canvas = Canvas(out, pageCompression=0)
    renderPDF.draw(drawing, canvas, 0, 0)
    canvas.showPage()
    canvas.save()
    return _filled_rects(out.getvalue())


def test_a_long_document_encodes_its_qr_once_and_shows_the_same_code_on_every_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []
    make = qrencoder.QRCode.make

    def counted(self: qrencoder.QRCode) -> None:
        made.append(1)
        make(self)

    monkeypatch.setattr(qrencoder.QRCode, "make", counted)
    data = _long_receipt()
    pages = _pages(render_pdf(data))

    assert len(pages) >= 3
    assert len(made) == 1
    expected = _widget_rects(data.verification_url)
    assert len(expected) > 100  # a 33×33 code has a few hundred dark runs
    for page in pages:
        assert _filled_rects(page) == expected


def test_another_url_draws_another_code() -> None:
    # The check above would pass vacuously if every URL drew the same rectangles.
    one = sample(DocumentType.DENIAL, serial=1)
    two = sample(DocumentType.DENIAL, serial=2)
    assert _widget_rects(one.verification_url) != _widget_rects(two.verification_url)
    assert _filled_rects(_pages(render_pdf(two))[0]) == _widget_rects(two.verification_url)


# Short and long (version 7 and up carry version information), digits, text and Chinese.
QR_VALUES = [
    "https://zwfw.example.gov.cn/verify/440000-2026-BX-000123",
    "https://zwfw.example.gov.cn/verify/350100-2026-SL-000001",
    "0123456789" * 3,
    "HELLO WORLD",
    "办件编号 350000-20261127-000042",
    "https://zwfw.example.gov.cn/verify/" + "A7k" * 60,
    "x" * 300,
]


@pytest.mark.parametrize("value", QR_VALUES)
@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
def test_the_faster_mask_score_is_reportlabs_and_picks_the_same_symbol(
    value: str, level: str
) -> None:
    ec_level = getattr(qrencoder.QRErrorCorrectLevel, level)
    reference = qrencoder.QRCode(None, ec_level)
    reference.addData(value)
    reference.version = reference.calculate_version()  # type: ignore[no-untyped-call]
    for pattern in range(8):
        reference.makeImpl(True, pattern)
        penalty = qrencoder.QRUtil.getLostPoint(reference)  # type: ignore[no-untyped-call]
        assert lost_points(reference.modules) == penalty
    reference.make()
    scored = ScoredQrCode(None, ec_level)
    scored.addData(value)
    scored.make()
    assert scored.modules == reference.modules


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    keys = KeyStore(tmp_path_factory.mktemp("trust"))
    keys.bootstrap(REGIONS, validity=timedelta(days=30), now=ISSUED_AT - timedelta(days=5))
    return keys


def _key(store: KeyStore, region: str = "440000") -> DocumentSigningKey:
    return signing_key_from_store(store, region, store.directory(), ISSUED_AT)


async def test_the_signer_is_prepared_once_per_key_and_never_serves_another_key(
    store: KeyStore,
) -> None:
    first = await sign._prepared_signer(_key(store))
    # Read from the trust folder again, as the issuer does for every document: the same key.
    assert await sign._prepared_signer(_key(store)) is first

    other_region = await sign._prepared_signer(_key(store, "350000"))
    assert other_region.signer is not first.signer

    # A rotated key: a new key id; and a key id reused with another key pair or certificate.
    key = _key(store)
    rotated = dataclasses.replace(key, key_id=key.key_id + "-next")
    other_pair = dataclasses.replace(key, private_key=Ed25519PrivateKey.generate())
    recertified = dataclasses.replace(key, certificate=_key(store, "350000").certificate)
    for changed in (rotated, other_pair, recertified):
        prepared = await sign._prepared_signer(changed)
        assert prepared.signer is not first.signer
        assert prepared.signer.signing_cert is not None
        assert prepared.signer.signing_cert.dump() == _cert_der(changed)


def _cert_der(key: DocumentSigningKey) -> bytes:
    return key.certificate.public_bytes(Encoding.DER)


async def test_the_cache_keeps_a_bounded_number_of_keys(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sign, "_prepared", type(sign._prepared)())
    monkeypatch.setattr(sign, "PREPARED_SIGNERS_KEPT", 2)
    key = _key(store)
    first = await sign._prepared_signer(key)
    for n in range(2):
        await sign._prepared_signer(dataclasses.replace(key, key_id=f"{key.key_id}-{n}"))
    assert len(sign._prepared) == 2
    assert await sign._prepared_signer(key) is not first  # the oldest was let go, made again


async def test_the_prepared_room_is_what_pyhanko_would_reserve(store: KeyStore) -> None:
    # Reusing the size of the signature's room must not change a signed file: the bytes are
    # those pyHanko writes when it estimates the room itself, as it did for every document.
    key = _key(store)
    pdf = render_pdf(sample(DocumentType.DENIAL))
    prepared = await sign._prepared_signer(key)
    estimated = await sign._sign(
        pdf, prepared.signer, None, signed_at=ISSUED_AT, reason="不予行政许可", location="广东省"
    )
    signed = await sign_pdf(pdf, key, signed_at=ISSUED_AT, reason="不予行政许可", location="广东省")
    assert signed == estimated


def test_the_timing_module_makes_documents_of_the_pages_asked() -> None:
    for pages in (1, 3):
        assert len(_pages(render_pdf(_document(7, pages)))) == pages
