"""What a legal document says: its type, its number and the data it is rendered from.

Pure: no I/O, no clock, no environment. A document's data holds the applicant's name (the
document is addressed to them), so `DocumentData` keeps it out of its repr and nothing here
logs it.

The number (decision 0025): `<region>-<year>-<type code>-<serial>`, e.g.
`440000-2026-SL-000123`, with the serial from the issuing region's own sequence, so a number
is unique nationally without any coordination between regions. The document also prints the
same number in the 文号 style people know, `粤（受）字〔2026〕第123号` (`display_number`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from events.models import RegionCode

# China Standard Time. Asia/Shanghai has kept UTC+8 without daylight saving since 1991, and a
# fixed offset needs no tz database on the machine that renders.
BEIJING = timezone(timedelta(hours=8), "CST")


def beijing_date(at: datetime) -> date:
    """The Beijing calendar date of an aware instant: what a document prints and is numbered by."""
    if at.tzinfo is None:
        raise ValueError("a document's time must be timezone-aware")
    return at.astimezone(BEIJING).date()


class DocumentType(StrEnum):
    # At the accepting region (A, the window).
    RECEIPT = "receipt"  # 收件凭证
    FORMAL_REVIEW_NOTICE = "formal-review-notice"  # 一次性告知书 (A's formal review)
    SERVICE_RECEIPT = "service-receipt"  # 送达回证
    # At the processing region (B).
    ACCEPTANCE = "acceptance"  # 受理通知书
    NON_ACCEPTANCE = "non-acceptance"  # 不予受理通知书
    SUPPLEMENT_REQUEST = "supplement-request"  # 补正材料通知书
    APPROVAL = "approval"  # 准予行政许可决定书
    DENIAL = "denial"  # 不予行政许可决定书
    WITHDRAWAL = "withdrawal"  # 撤回 notice (视为撤回 / 申请人撤回)
    TERMINATION = "termination"  # 终止办理通知书

    @property
    def title_zh(self) -> str:
        return _TYPES[self].title

    @property
    def code(self) -> str:
        """Two letters in the machine number (pinyin initials of the title's key word)."""
        return _TYPES[self].code

    @property
    def word(self) -> str:
        """The 代字 in the 文号 form of the number."""
        return _TYPES[self].word

    @property
    def side(self) -> str:
        """'A' for the accepting region's documents, 'B' for the processing region's."""
        return _TYPES[self].side


@dataclass(frozen=True)
class _TypeInfo:
    title: str
    code: str
    word: str
    side: str


_TYPES: dict[DocumentType, _TypeInfo] = {
    DocumentType.RECEIPT: _TypeInfo("收件凭证", "SJ", "收", "A"),
    DocumentType.FORMAL_REVIEW_NOTICE: _TypeInfo("一次性告知书", "GZ", "告", "A"),
    DocumentType.SERVICE_RECEIPT: _TypeInfo("送达回证", "SD", "送", "A"),
    DocumentType.ACCEPTANCE: _TypeInfo("受理通知书", "SL", "受", "B"),
    DocumentType.NON_ACCEPTANCE: _TypeInfo("不予受理通知书", "BS", "不受", "B"),
    DocumentType.SUPPLEMENT_REQUEST: _TypeInfo("补正材料通知书", "BZ", "补", "B"),
    DocumentType.APPROVAL: _TypeInfo("准予行政许可决定书", "ZX", "准许", "B"),
    DocumentType.DENIAL: _TypeInfo("不予行政许可决定书", "BX", "不许", "B"),
    DocumentType.WITHDRAWAL: _TypeInfo("撤回申请通知书", "CH", "撤", "B"),
    DocumentType.TERMINATION: _TypeInfo("终止办理通知书", "ZZ", "终", "B"),
}
_BY_CODE = {info.code: t for t, info in _TYPES.items()}

# 简称 of the provincial-level regions, for the 文号 form of a number.
_ABBREVIATIONS = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉",
    "23": "黑", "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣",
    "37": "鲁", "41": "豫", "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼",
    "50": "渝", "51": "川", "52": "黔", "53": "滇", "54": "藏", "61": "陕", "62": "甘",
    "63": "青", "64": "宁", "65": "新", "71": "台", "81": "港", "82": "澳",
}  # fmt: skip

_NUMBER = re.compile(r"^(?P<region>\d{6})-(?P<year>\d{4})-(?P<code>[A-Z]{2})-(?P<serial>\d{6,})$")


class DocumentNumberError(ValueError):
    pass


@dataclass(frozen=True)
class DocumentNumber:
    region: str
    year: int
    doc_type: DocumentType
    serial: int

    def __str__(self) -> str:
        return document_number(self.region, self.year, self.doc_type, self.serial)


def document_number(region: str, year: int, doc_type: DocumentType, serial: int) -> str:
    """The machine form, e.g. `440000-2026-SL-000123`. `year` is the Beijing year of issue,
    `serial` comes from the issuing region's sequence (unique within the region)."""
    if not re.fullmatch(r"\d{6}", region):
        raise DocumentNumberError(f"region {region!r} is not a GB/T 2260 code")
    if not 2000 <= year <= 9999:
        raise DocumentNumberError(f"year {year} is out of range")
    if serial < 1:
        raise DocumentNumberError("a serial starts at 1")
    return f"{region}-{year:04d}-{doc_type.code}-{serial:06d}"


def parse_document_number(number: str) -> DocumentNumber:
    found = _NUMBER.fullmatch(number)
    if found is None or found["code"] not in _BY_CODE:
        raise DocumentNumberError(f"{number!r} is not a document number")
    return DocumentNumber(
        region=found["region"],
        year=int(found["year"]),
        doc_type=_BY_CODE[found["code"]],
        serial=int(found["serial"]),
    )


def display_number(number: str, region_name: str) -> str:
    """The 文号 form printed beside the machine number: `粤（受）字〔2026〕第123号`.
    A provincial-level region goes by its 简称, any other by its name (two cities of one
    province must not share a form)."""
    parsed = parse_document_number(number)
    provincial = parsed.region.endswith("0000")
    prefix = _ABBREVIATIONS.get(parsed.region[:2], region_name) if provincial else region_name
    return f"{prefix}（{parsed.doc_type.word}）字〔{parsed.year}〕第{parsed.serial}号"


class WithdrawalKind(StrEnum):
    DEEMED = "deemed"  # 视为撤回: the 补正 deadline passed without the materials
    BY_APPLICANT = "by-applicant"  # 申请人撤回

    @property
    def label_zh(self) -> str:
        return "视为撤回" if self is WithdrawalKind.DEEMED else "申请人撤回"


class MaterialLine(BaseModel):
    """One material on a 收件凭证: what was received, how many, and whether the clerk saw the
    original."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    copies: int = Field(default=1, ge=1)
    original_checked: bool = False


class Remedies(BaseModel):
    """Where the applicant can challenge the act: 行政复议 within 60 days of receiving it
    (行政复议法 Art. 20) or 行政诉讼 within 6 months (行政诉讼法 Art. 46)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review_body: str = Field(min_length=1, max_length=200)  # 行政复议机关, e.g. 广东省人民政府
    court: str = Field(default="有管辖权的人民法院", min_length=1, max_length=200)


REVIEW_PERIOD_ZH = "六十日"  # 行政复议法 (2023) Art. 20
LITIGATION_PERIOD_ZH = "六个月"  # 行政诉讼法 Art. 46

# What each type must carry besides the common fields.
_REQUIRED: dict[DocumentType, tuple[str, ...]] = {
    DocumentType.RECEIPT: ("materials", "received_by"),
    DocumentType.FORMAL_REVIEW_NOTICE: ("missing",),
    DocumentType.SERVICE_RECEIPT: ("delivery_channel",),
    DocumentType.ACCEPTANCE: ("received_on",),
    DocumentType.NON_ACCEPTANCE: ("reason", "remedies"),
    DocumentType.SUPPLEMENT_REQUEST: ("missing", "supplement_deadline"),
    DocumentType.APPROVAL: (),
    DocumentType.DENIAL: ("reason", "remedies"),
    DocumentType.WITHDRAWAL: ("withdrawal_kind",),
    DocumentType.TERMINATION: ("reason",),
}


class DocumentData(BaseModel):
    """Everything a document is rendered from. The same data renders the same bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: DocumentType
    number: str  # document_number(...)
    case_no: str = Field(min_length=1, max_length=64)
    region: RegionCode  # the issuing region
    region_name: str = Field(min_length=1, max_length=100)
    item_code: str = Field(min_length=1, max_length=64)
    item_name: str = Field(min_length=1, max_length=200)
    item_version: str = Field(min_length=1, max_length=32)
    # Personal data: printed on the document, never in a repr or a log line.
    applicant_name: str = Field(min_length=1, max_length=100, repr=False)
    issued_at: AwareDatetime
    verification_url: str = Field(min_length=1, max_length=500)
    verification_code: str = Field(min_length=1, max_length=64)

    # Per type (see _REQUIRED).
    materials: tuple[MaterialLine, ...] = ()  # 收件凭证
    received_by: str | None = None  # 收件凭证: the clerk (name or 工号)
    missing: tuple[str, ...] = ()  # 一次性告知书, 补正材料通知书: the complete list
    supplement_deadline: date | None = None  # 补正材料通知书 (and optionally A's 告知书)
    supplement_round: int = Field(default=1, ge=1)  # 补正材料通知书: 1, or 2 for what new
    # materials raised
    received_on: date | None = None  # 受理通知书: the day the application was received
    deemed_accepted: bool = False  # 受理通知书: accepted by law (行政许可法 Art. 32)
    decision_due: date | None = None  # 受理通知书: 承诺办结 date
    reason: str | None = Field(default=None, max_length=2000)
    legal_basis: str | None = Field(default=None, max_length=1000)
    remedies: Remedies | None = None
    decision_text: str | None = Field(default=None, max_length=2000)  # 准予许可: what is granted
    delivery_channel: str | None = Field(default=None, max_length=100)  # 送达回证: 窗口领取, EMS …
    tracking_no: str | None = Field(default=None, max_length=64)
    delivered_document: str | None = Field(default=None, max_length=64)  # number handed over
    withdrawal_kind: WithdrawalKind | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        parsed = parse_document_number(self.number)
        if parsed.region != self.region or parsed.doc_type is not self.type:
            raise ValueError(
                f"number {self.number} is not a {self.type.value} number of {self.region}"
            )
        absent = [name for name in _REQUIRED[self.type] if not getattr(self, name)]
        if absent:
            raise ValueError(f"a {self.type.value} document needs {', '.join(absent)}")
        return self

    @property
    def title(self) -> str:
        return self.type.title_zh

    @property
    def issued_on(self) -> date:
        return beijing_date(self.issued_at)

    @property
    def display_number(self) -> str:
        return display_number(self.number, self.region_name)
