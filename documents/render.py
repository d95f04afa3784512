"""A document's PDF: A4, in Chinese with an embedded CJK TrueType font, a QR code carrying the
verification URL, the number and the issuing region.

Deterministic: the same `DocumentData` and font render the same bytes (reportlab's invariant
mode, the creation date taken from `issued_at`), so a retried activity stores the same file.
The PDF's Keywords name the issuing region, the number, the type and the case (no personal
data), so a verifier can tell a document that claims one region but is signed by another.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont, TTFontFace
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from documents.models import (
    BEIJING,
    LITIGATION_PERIOD_ZH,
    REVIEW_PERIOD_ZH,
    DocumentData,
    DocumentType,
    WithdrawalKind,
)
from documents.qr import QrPainter

FONT_ENV = "TONGBAN_CJK_FONT"
# TrueType (glyf) fonts only: reportlab cannot embed CFF-flavoured OpenType (Noto CJK .otf/.ttc).
KNOWN_FONTS: tuple[tuple[Path, int], ...] = (
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),  # Debian fonts-wqy-zenhei
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),  # Debian fonts-wqy-microhei
    (Path("/usr/share/fonts/truetype/arphic/uming.ttc"), 0),  # Debian fonts-arphic-uming
)
_FONT_NAME = "TongbanCJK"
KEYWORDS_PREFIX = "tongban-document"


class FontNotFound(Exception):
    """No CJK TrueType font to embed: install fonts-wqy-zenhei or set TONGBAN_CJK_FONT."""


@dataclass(frozen=True)
class CjkFont:
    path: Path
    subfont_index: int = 0


def find_cjk_font(environ: Mapping[str, str] | None = None) -> CjkFont:
    """The font to embed: `TONGBAN_CJK_FONT` (a path, `path#index` for a collection), else the
    first known Debian font that exists."""
    env = os.environ if environ is None else environ
    override = env.get(FONT_ENV, "").strip()
    if override:
        path, _, index = override.partition("#")
        if not Path(path).is_file():
            raise FontNotFound(f"{FONT_ENV}={override!r} names no file")
        return CjkFont(Path(path), int(index) if index else 0)
    for known, subfont in KNOWN_FONTS:
        if known.is_file():
            return CjkFont(known, subfont)
    raise FontNotFound(
        "no CJK TrueType font found (looked in "
        + ", ".join(str(p) for p, _ in KNOWN_FONTS)
        + f"); install fonts-wqy-zenhei (deploy/local/bootstrap.sh) or set {FONT_ENV}"
    )


class _TableWindow:
    """A table of the font file, sliced on demand: `makeSubset` copied the whole glyph table
    (10 MB for WenQuanYi Zen Hei) and the 450 kB post table out of the file for every document
    only to slice a few glyphs, and the PostScript header, out of the copy."""

    def __init__(self, data: bytes, start: int, length: int) -> None:
        self._data, self._start, self._length = data, start, length

    def __getitem__(self, part: slice) -> bytes:
        begin, end, step = part.indices(self._length)
        if step != 1:
            raise ValueError("a font table is read in runs of bytes")
        return self._data[self._start + begin : self._start + max(begin, end)]


class _SubsettingFace(TTFontFace):
    # Tables `makeSubset` only slices (reportlab 4.x): any other table is copied as before.
    _SLICED = frozenset({"glyf", "post"})

    def get_table(self, tag: str) -> bytes | _TableWindow:
        if tag in self._SLICED:
            start, length = self.get_table_pos(tag)
            return _TableWindow(self._ttf_data, start, length)  # type: ignore[attr-defined]
        table: bytes = super().get_table(tag)  # type: ignore[no-untyped-call]
        return table


def _subsetting_font(name: str, font: CjkFont) -> TTFont:
    ttf = TTFont(name, str(font.path), subfontIndex=font.subfont_index)
    # The face was parsed by TTFont; only how it hands out tables for a subset changes.
    ttf.face.__class__ = _SubsettingFace
    return ttf


_registered: dict[CjkFont, str] = {}


def _font_name(font: CjkFont) -> str:
    # reportlab's font registry is process-wide: one name per font file.
    if font not in _registered:
        name = f"{_FONT_NAME}{len(_registered)}"
        try:
            pdfmetrics.registerFont(_subsetting_font(name, font))
        except (TTFError, OSError) as exc:
            raise FontNotFound(f"{font.path} cannot be embedded: {exc}") from exc
        _registered[font] = name
    return _registered[font]


def _zh_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _keywords(data: DocumentData) -> str:
    return (
        f"{KEYWORDS_PREFIX} region={data.region} number={data.number}"
        f" type={data.type.value} case={data.case_no}"
    )


def parse_keywords(keywords: str) -> dict[str, str]:
    """The fields `render` wrote into the PDF's Keywords, or {} for another PDF."""
    words = keywords.split()
    if not words or words[0] != KEYWORDS_PREFIX:
        return {}
    return dict(w.split("=", 1) for w in words[1:] if "=" in w)


class _Styles:
    def __init__(self, font: str) -> None:
        self.organ = ParagraphStyle(
            "organ", fontName=font, fontSize=16, leading=22, alignment=TA_CENTER
        )
        self.title = ParagraphStyle(
            "title", fontName=font, fontSize=22, leading=30, alignment=TA_CENTER, spaceAfter=4
        )
        self.number = ParagraphStyle(
            "number", fontName=font, fontSize=11, leading=16, alignment=TA_RIGHT
        )
        self.body = ParagraphStyle(
            "body", fontName=font, fontSize=12, leading=20, wordWrap="CJK", spaceAfter=6
        )
        self.indent = ParagraphStyle("indent", parent=self.body, firstLineIndent=24)
        self.item = ParagraphStyle("item", parent=self.body, leftIndent=24, spaceAfter=2)
        self.small = ParagraphStyle(
            "small", fontName=font, fontSize=9, leading=13, wordWrap="CJK", textColor=colors.grey
        )
        self.sign = ParagraphStyle(
            "sign", fontName=font, fontSize=12, leading=20, alignment=TA_RIGHT
        )


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _item_phrase(data: DocumentData) -> str:
    return f"“{data.item_name}”（事项编码 {data.item_code}，第 {data.item_version} 版）"


def _remedies_text(data: DocumentData, what: str) -> str | None:
    if data.remedies is None:
        return None
    return (
        f"如不服本{what}，可以自收到本{what}之日起{REVIEW_PERIOD_ZH}内向{data.remedies.review_body}"
        f"申请行政复议，也可以自收到本{what}之日起{LITIGATION_PERIOD_ZH}内"
        f"向{data.remedies.court}提起行政诉讼。"
    )


def _numbered(lines: tuple[str, ...], s: _Styles) -> list[Flowable]:
    return [_p(f"{i}. {line}", s.item) for i, line in enumerate(lines, 1)]


def _body(data: DocumentData, s: _Styles) -> list[Flowable]:
    item = _item_phrase(data)
    out: list[Flowable] = []

    def para(text: str | None) -> None:
        if text:
            out.append(_p(text, s.indent))

    basis = f"依据{data.legal_basis}，" if data.legal_basis else ""
    match data.type:
        case DocumentType.RECEIPT:
            para(f"你申请办理{item}，本窗口已收到下列材料：")
            rows: list[list[Flowable | str]] = [
                [_p(h, s.body) for h in ("序号", "材料名称", "份数", "原件核验")]
            ]
            rows += [
                [
                    _p(str(i), s.body),
                    _p(m.name, s.body),
                    _p(str(m.copies), s.body),
                    _p("已核验原件" if m.original_checked else "未核验原件", s.body),
                ]
                for i, m in enumerate(data.materials, 1)
            ]
            table = Table(rows, colWidths=[14 * mm, 96 * mm, 18 * mm, 32 * mm], repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ]
                )
            )
            out += [table, Spacer(1, 4 * mm)]
            para(f"收件人：{data.received_by}")
            para("本凭证仅证明材料已收到，不代表申请已被受理；是否受理由办理地依法决定并另行通知。")
        case DocumentType.FORMAL_REVIEW_NOTICE:
            para(
                f"你申请办理{item}，经形式审查，申请材料不齐全或者不符合法定形式。"
                "现一次性告知需要补正的全部内容如下："
            )
            out += _numbered(data.missing, s)
            if data.supplement_deadline:
                para(f"请于{_zh_date(data.supplement_deadline)}前补齐上述材料。")
            para("以上为需要补正的全部内容；除补正材料本身引出的问题外，不再要求补正其他材料。")
        case DocumentType.SERVICE_RECEIPT:
            para(f"{item}的办理结果送达情况如下：")
            para(f"受送达人：{data.applicant_name}")
            if data.delivered_document:
                para(f"送达文书：{data.delivered_document}")
            para(f"送达方式：{data.delivery_channel}")
            if data.tracking_no:
                para(f"邮件号：{data.tracking_no}")
            para("受送达人签收：____________　　签收日期：____________")
        case DocumentType.ACCEPTANCE:
            received = _zh_date(data.received_on) if data.received_on else ""
            if data.deemed_accepted:
                para(
                    f"你于{received}提出的{item}申请，本机关未在收到申请材料之日起五个工作日内"
                    "一次告知需要补正的全部内容。依据《中华人民共和国行政许可法》第三十二条，"
                    f"自收到申请材料之日（{received}）起即为受理。"
                )
            else:
                para(
                    f"你于{received}提出的{item}申请，申请材料齐全、符合法定形式，"
                    "本机关决定予以受理。"
                )
            if data.decision_due:
                para(
                    f"承诺办结日期：{_zh_date(data.decision_due)}（依法需要补正的期间不计算在内）。"
                )
        case DocumentType.NON_ACCEPTANCE:
            para(f"你提出的{item}申请，{basis}本机关决定不予受理。")
            para(f"理由：{data.reason}")
            para(_remedies_text(data, "通知书"))
        case DocumentType.SUPPLEMENT_REQUEST:
            round_note = (
                "（第二次补正：仅限前次补正材料本身引出的问题）"
                if data.supplement_round > 1
                else ""
            )
            para(
                f"你提出的{item}申请，申请材料不齐全或者不符合法定形式。依据《中华人民共和国"
                f"行政许可法》第三十二条，现一次性告知你需要补正的全部内容{round_note}："
            )
            out += _numbered(data.missing, s)
            if data.supplement_deadline:
                para(
                    f"请于{_zh_date(data.supplement_deadline)}前提交补正材料；"
                    "逾期未提交的，视为撤回申请。"
                )
            para(
                "以上为需要补正的全部内容。你提交补正材料后，本机关仅可就补正材料本身"
                "引出的问题再次要求补正，不再要求补正本通知未列明的其他材料。"
            )
        case DocumentType.APPROVAL:
            para(f"你提出的{item}申请，经审查，符合法定条件、标准，{basis}本机关决定准予行政许可。")
            para(data.decision_text)
        case DocumentType.DENIAL:
            para(f"你提出的{item}申请，经审查，{basis}本机关决定不予行政许可。")
            para(f"理由：{data.reason}")
            para(_remedies_text(data, "决定书"))
        case DocumentType.WITHDRAWAL:
            if data.withdrawal_kind is WithdrawalKind.DEEMED:
                para(
                    f"你提出的{item}申请，未在规定期限内提交补正材料，视为撤回申请，"
                    "本机关终止办理。"
                )
            else:
                para(f"你申请撤回{item}申请，本机关准予撤回，终止办理。")
            if data.withdrawal_kind is not None:
                para(f"撤回类型：{data.withdrawal_kind.label_zh}")
            if data.reason:
                para(f"说明：{data.reason}")
            para(_remedies_text(data, "通知书"))
        case DocumentType.TERMINATION:
            para(f"你提出的{item}申请，{basis}本机关决定终止办理。")
            para(f"理由：{data.reason}")
            para(_remedies_text(data, "通知书"))
    return out


_QR_SIZE = 32 * mm


def _qr_painter(url: str) -> QrPainter:
    """The QR code of `url`, 32 mm square, encoded once for every page of a document: reportlab
    encodes and scores all eight mask patterns in Python whenever a `QrCodeWidget` draws, and
    walks a validated shape per dark run through its renderer on every page; the painter does
    neither and puts the same operators on the page (`documents.qr`)."""
    return QrPainter(url, _QR_SIZE)


def _page_decor(data: DocumentData, font: str) -> Callable[[Canvas, SimpleDocTemplate], None]:
    qr = _qr_painter(data.verification_url)

    def draw(canvas: Canvas, _doc: SimpleDocTemplate) -> None:
        width, _height = A4
        left = width - 20 * mm - _QR_SIZE
        qr.draw(canvas, left, 18 * mm)
        canvas.setFont(font, 8)
        canvas.drawString(20 * mm, 30 * mm, f"文书编号：{data.number}")
        canvas.drawString(20 * mm, 26 * mm, f"验证码：{data.verification_code}")
        canvas.drawString(20 * mm, 22 * mm, f"验证：扫描右侧二维码或访问 {data.verification_url}")
        canvas.drawString(
            20 * mm, 18 * mm, f"本文书由{data.region_name}（{data.region}）数字签名。"
        )

    return draw


def render_pdf(data: DocumentData, font: CjkFont | None = None) -> bytes:
    """The document as PDF bytes. Raises FontNotFound when no CJK font can be embedded."""
    name = _font_name(font or find_cjk_font())
    s = _Styles(name)
    issued = data.issued_at.astimezone(BEIJING)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=25 * mm,
        rightMargin=25 * mm,
        topMargin=25 * mm,
        bottomMargin=55 * mm,
        title=f"{data.title} {data.number}",
        author=data.region_name,
        subject=data.title,
        creator="tongban",
        keywords=[_keywords(data)],
        invariant=1,
        lang="zh-CN",
    )
    story: list[Flowable] = [
        _p(data.region_name, s.organ),
        _p(data.title, s.title),
        _p(data.display_number, s.number),
        Spacer(1, 6 * mm),
        _p(f"{data.applicant_name}：", s.body),
        *_body(data, s),
        Spacer(1, 4 * mm),
        _p(f"办件编号：{data.case_no}", s.body),
        Spacer(1, 10 * mm),
        _p(data.region_name, s.sign),
        _p(_zh_date(data.issued_on), s.sign),
    ]
    stamp = issued.strftime("D:%Y%m%d%H%M%S+08'00'")
    decor = _page_decor(data, name)

    def first_and_later(canvas: Canvas, template: SimpleDocTemplate) -> None:
        # The creation date is the issue time, not the render time: a retry renders the same.
        canvas.setDateFormatter(lambda *_: stamp)
        decor(canvas, template)

    doc.build(story, onFirstPage=first_and_later, onLaterPages=first_and_later)
    return out.getvalue()
