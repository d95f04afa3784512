"""What documents do less of per document (issue 22, decision 0049), checked against what
they did before: the QR code's operators written without reportlab's per-shape renderer,
the font subset cut without copying the font's largest tables, and the CMS signature filled
into a template prepared once per key. Each must leave every byte of a document as it was."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.sign import signers
from pyhanko.sign.ades.api import CAdESSignedAttrSpec, GenericCommitment
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import qrencoder
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFontFace
from reportlab.pdfgen.canvas import Canvas

from documents import render, sign
from documents.models import DocumentData, DocumentType
from documents.qr import ScoredQrCode
from documents.sign import DocumentSigningKey, sign_pdf, signing_key_from_store
from documents.timing import _document
from documents.verify import verify_document
from events.keystore import KeyStore
from tests.unit.documents_samples import ISSUED_AT, sample


class _WidgetPainter:
    """How documents drew their code before: reportlab's widget, its modules scored by
    `ScoredQrCode`, drawn through `renderPDF` (the reference the painter must match)."""

    def __init__(self, url: str) -> None:
        widget = QrCodeWidget(url, barLevel="M")
        encoder = ScoredQrCode(None, qrencoder.QRErrorCorrectLevel.M)
        encoder.addData(url)
        widget.__dict__["qr"] = encoder
        modules = widget.draw()  # type: ignore[no-untyped-call]
        x0, y0, x1, y1 = modules.getBounds()
        size = render._QR_SIZE
        self._drawing = Drawing(
            size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0]
        )
        self._drawing.add(modules)

    def draw(self, canvas: Canvas, x: float, y: float) -> None:
        renderPDF.draw(self._drawing, canvas, x, y)


def _documents() -> list[DocumentData]:
    long_receipt = _document(5, 3)  # three pages: the code on each
    return [
        sample(DocumentType.DENIAL),
        sample(DocumentType.ACCEPTANCE, serial=2),
        sample(DocumentType.RECEIPT, serial=3),
        _document(4, 1),
        long_receipt,
        sample(DocumentType.APPROVAL).model_copy(
            update={"verification_url": "https://zwfw.example.gov.cn/verify/" + "A7k" * 40}
        ),
    ]


@pytest.mark.parametrize("data", _documents(), ids=lambda d: f"{d.type.value}-{d.number}")
def test_the_painted_qr_code_leaves_the_document_as_reportlabs_widget_drew_it(
    data: DocumentData, monkeypatch: pytest.MonkeyPatch
) -> None:
    painted = render.render_pdf(data)
    monkeypatch.setattr(render, "_qr_painter", _WidgetPainter)
    assert render.render_pdf(data) == painted


def test_the_painter_draws_on_a_canvas_as_the_widget_does() -> None:
    url = "https://zwfw.example.gov.cn/verify/440000-2026-BX-000123"
    pages = []
    for painter in (render._qr_painter(url), _WidgetPainter(url)):
        out = io.BytesIO()
        canvas = Canvas(out, pageCompression=0, invariant=1)
        painter.draw(canvas, 10, 20)
        canvas.showPage()
        painter.draw(canvas, 30, 40)
        canvas.save()
        pages.append(out.getvalue())
    assert pages[0] == pages[1]
    assert pages[0].count(b" re f*") > 200  # both pages, a few hundred dark runs each


# --- the font subset -------------------------------------------------------------------------


def _face() -> TTFontFace:
    font = render.find_cjk_font()
    face = pdfmetrics.getFont(render._font_name(font)).face  # type: ignore[attr-defined]
    assert isinstance(face, render._SubsettingFace)
    return face


def _composite(face: TTFontFace, code: int) -> bool:
    # A glyph whose numberOfContours is negative is made of other glyphs, which a subset
    # must carry too and renumber.
    start, _ = face.get_table_pos("glyf")
    pos = face.glyphPos[face.charToGlyph.get(code, 0)]
    return bool(face._ttf_data[start + pos] & 0x80)  # type: ignore[attr-defined]


def _subsets(face: TTFontFace) -> list[list[int]]:
    text = "".join(sample(t).model_dump_json() for t in DocumentType)
    cjk = sorted(c for c in face.charToGlyph if 0x4E00 <= c <= 0x9FFF)
    composite = sorted(c for c in face.charToGlyph if _composite(face, c))
    return [
        sorted({ord(c) for c in text})[:256],
        [*range(32, 127), *range(0xC0, 0x180)],
        cjk[:256],
        cjk[-256:],
        composite[:128] + cjk[1000:1128],
        [0x20, 0x4E00, 0x10FFFF],  # the last is in no font: glyph 0
    ]


def test_the_subset_cut_through_windows_is_the_one_reportlab_cuts() -> None:
    face = _face()
    font = render.find_cjk_font()
    plain = TTFontFace(str(font.path), subfontIndex=font.subfont_index)
    subsets = _subsets(face)
    for subset in subsets:
        assert face.makeSubset(subset) == plain.makeSubset(subset)
    # The comparison covered glyphs whose component references a subset rewrites.
    assert sum(_composite(plain, c) for c in subsets[4]) == 128


def test_a_window_reads_only_its_table() -> None:
    window = render._TableWindow(b"0123456789", 2, 5)
    assert (window[0:2], window[3:], window[4:9], window[:]) == (b"23", b"56", b"6", b"23456")
    with pytest.raises(ValueError, match="runs of bytes"):
        window[::2]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_documents_made_one_after_another_each_show_all_their_own_characters(
    tmp_path: Path,
) -> None:
    names = ["林秀英", "欧阳龘靐", "司马懿璇"]  # rare characters: new glyphs in each subset
    pdfs = [
        render.render_pdf(
            sample(DocumentType.DENIAL, serial=n).model_copy(update={"applicant_name": name})
        )
        for n, name in enumerate(names, 1)
    ]
    for name, pdf in zip(names, pdfs, strict=True):
        path = tmp_path / "doc.pdf"
        path.write_bytes(pdf)
        text = subprocess.run(
            ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert f"{name}：" in "".join(text.split())
        assert not {n for n in names if n != name} & set(text.split())


# --- the signature container -----------------------------------------------------------------

REGIONS = {"350000": ("福建省", None), "440000": ("广东省", None)}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    keys = KeyStore(tmp_path_factory.mktemp("trust"))
    keys.bootstrap(REGIONS, validity=timedelta(days=30), now=ISSUED_AT - timedelta(days=5))
    return keys


def _key(store: KeyStore, region: str) -> DocumentSigningKey:
    return signing_key_from_store(store, region, store.directory(), ISSUED_AT)


def _pyhanko_signer(key: DocumentSigningKey) -> signers.SimpleSigner:
    """pyHanko's own signer for `key`, building every container in full (the reference)."""
    return signers.SimpleSigner(
        signing_cert=sign._asn1_certificate(key.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        ),
        cert_registry=sign._registry(key.root_certificate),
    )


@pytest.mark.parametrize("region", sorted(REGIONS))
async def test_a_filled_template_is_the_signature_pyhanko_makes(
    store: KeyStore, region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key(store, region)
    prepared = await sign._prepared_signer(key)
    assert prepared.signer.template is not None
    reference = _pyhanko_signer(key)

    def unused(*_: object, **__: object) -> None:
        raise AssertionError("pyHanko built a container the template should have filled")

    documents = [
        sample(DocumentType.DENIAL, region=region),
        sample(DocumentType.ACCEPTANCE, region=region, serial=2),
        _document(3, 2),
    ]
    for n, data in enumerate(documents):
        pdf = render.render_pdf(data)
        signed_at = ISSUED_AT + timedelta(minutes=n)
        expected = await sign._sign(
            pdf, reference, None, signed_at=signed_at, reason=data.title, location="某地"
        )
        with monkeypatch.context() as patch:
            patch.setattr(signers.SimpleSigner, "async_sign", unused)
            signed = await sign_pdf(
                pdf, key, signed_at=signed_at, reason=data.title, location="某地"
            )
        assert signed == expected
        if data.region == region:
            verdict = await verify_document(
                signed,
                root=store.pinned_root(),
                directory=store.directory(),
                now=ISSUED_AT + timedelta(hours=1),
            )
            assert verdict.valid, verdict.reason


async def test_what_the_template_was_not_made_for_goes_to_pyhanko(store: KeyStore) -> None:
    key = _key(store, "440000")
    prepared = await sign._prepared_signer(key)
    digest = bytes(64)
    committed = await prepared.signer.async_sign(
        digest,
        "sha512",
        use_pades=True,
        signed_attr_settings=PdfCMSSignedAttributes(
            cades_signed_attrs=CAdESSignedAttrSpec(
                commitment_type=GenericCommitment.PROOF_OF_ORIGIN.asn1
            )
        ),
    )
    plain = await prepared.signer.async_sign(digest, "sha512", use_pades=True)
    assert committed.dump() != plain.dump()  # the commitment is in it: pyHanko made it
    expected = await _pyhanko_signer(key).async_sign(digest, "sha512", use_pades=True)
    assert plain.dump() == expected.dump()


async def test_no_template_when_pyhankos_containers_do_not_fit_it(store: KeyStore) -> None:
    key = _key(store, "350000")
    prepared = await sign._prepared_signer(key)
    template = prepared.signer.template
    assert template is not None
    der = template.der
    digest = der[template.digest]
    other = template.fill(bytes(64), key.private_key)
    # The other container must come out of the template byte for byte ...
    assert sign._template_from((digest, der), (bytes(64), other), key.private_key) == template
    changed = other[:-1] + bytes([other[-1] ^ 1])
    assert sign._template_from((digest, der), (bytes(64), changed), key.private_key) is None
    # ... the digest must be found once, inside the signed attributes ...
    assert sign._template_from((b"not in it", der), (bytes(64), other), key.private_key) is None
    # ... and the signature must be the key's over those attributes.
    stranger = _key(store, "440000").private_key
    assert sign._template_from((digest, der), (bytes(64), other), stranger) is None
