"""The evidence document a providing region answers with (decision 0041): the licence's
particulars as its 电子证照库 holds them, rendered as a PDF and signed by the providing
region (documents/sign.py), stating for whom, for which case and item it was provided."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape

from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from documents.models import BEIJING
from documents.render import KEYWORDS_PREFIX, CjkFont, _font_name, find_cjk_font
from documents.sign import DocumentSigningKey, sign_pdf

EVIDENCE_DOCUMENT_TYPE = "evidence"


@dataclass(frozen=True)
class EvidenceDocument:
    """What the document shows. Holds personal data: never logged."""

    region: str
    region_name: str
    evidence_label: str  # 结婚证 …
    issuer: str
    licence_no: str
    issued_on: date
    holder_name: str
    particulars: Mapping[str, str]
    requester_name: str
    case_no: str
    item_code: str
    provided_at: datetime

    def __repr__(self) -> str:
        return f"EvidenceDocument(region={self.region!r}, case_no={self.case_no!r})"


def _zh_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def render_evidence(data: EvidenceDocument, font: CjkFont | None = None) -> bytes:
    name = _font_name(font or find_cjk_font())
    title = ParagraphStyle("t", fontName=name, fontSize=20, leading=28, alignment=TA_CENTER)
    body = ParagraphStyle("b", fontName=name, fontSize=12, leading=20)
    note = ParagraphStyle("n", fontName=name, fontSize=10, leading=16)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=25 * mm,
        rightMargin=25 * mm,
        topMargin=25 * mm,
        bottomMargin=25 * mm,
        title=f"{data.evidence_label}（电子证照）",
        author=data.region_name,
        creator="tongban",
        keywords=[
            f"{KEYWORDS_PREFIX} region={data.region} type={EVIDENCE_DOCUMENT_TYPE}"
            f" case={data.case_no}"
        ],
        invariant=1,
        lang="zh-CN",
    )
    lines = [
        ("证照编号", data.licence_no),
        ("持证人", data.holder_name),
        *data.particulars.items(),
        ("发证机关", data.issuer),
        ("发证日期", _zh_date(data.issued_on)),
    ]
    provided = data.provided_at.astimezone(BEIJING)
    story = [
        Paragraph(escape(f"{data.evidence_label}（电子证照）"), title),
        Spacer(1, 8 * mm),
        *(Paragraph(escape(f"{k}：{v}"), body) for k, v in lines),
        Spacer(1, 10 * mm),
        Paragraph(
            escape(
                f"本证照由{data.region_name}应{data.requester_name}请求，经申请人授权，"
                f"为办件 {data.case_no}（事项 {data.item_code}）通过数据共享提供，"
                f"仅限该办件使用。提供时间：{provided:%Y-%m-%d %H:%M}（北京时间）。"
            ),
            note,
        ),
    ]
    stamp = provided.strftime("D:%Y%m%d%H%M%S+08'00'")

    def fixed_date(canvas: Canvas, _doc: SimpleDocTemplate) -> None:
        canvas.setDateFormatter(lambda *_: stamp)

    doc.build(story, onFirstPage=fixed_date, onLaterPages=fixed_date)
    return out.getvalue()


async def signed_evidence(data: EvidenceDocument, key: DocumentSigningKey) -> bytes:
    """The evidence document signed by the providing region, its signing time the time it
    was provided. Rendered in a thread: reportlab is CPU work."""
    pdf = await asyncio.to_thread(render_evidence, data)
    return await sign_pdf(
        pdf,
        key,
        signed_at=data.provided_at,
        reason=f"{data.evidence_label}（电子证照）",
        location=data.region_name,
    )
