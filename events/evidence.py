"""Evidence exchanged between regions (数据多跑路, issue 20, decision 0041): the evidence types,
the request and answer payloads, and the sealed subject.

Pure models: no I/O imports, so the catalog, the verifier and the pages read one vocabulary.
An evidence type names a kind of 电子证照 or certified record (结婚证, 居民户口簿 …); a catalog
material lists the types that satisfy it, and each region's entry in the signed trust
directory lists the types it provides.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from events.models import CaseNo, Consent, RegionCode, SealedBox, Sha256Hex

# A type's identifier: stable across releases, never reused (it is signed into directories).
EVIDENCE_TYPE_PATTERN = r"^cn\.evidence\.[a-z][a-z0-9-]{1,60}$"
# The signed evidence document, sealed in one event: under the outbox's 256 KiB budget with
# base64 and the envelope around it.
MAX_EVIDENCE_BYTES = 160 * 1024


class EvidenceType(StrEnum):
    HOUSEHOLD_REGISTER = "cn.evidence.household-register"
    MARRIAGE_CERTIFICATE = "cn.evidence.marriage-certificate"
    BIRTH_MEDICAL_CERTIFICATE = "cn.evidence.birth-medical-certificate"
    REAL_ESTATE_TITLE = "cn.evidence.real-estate-title"
    SOCIAL_SECURITY_CARD = "cn.evidence.social-security-card"
    BUSINESS_LICENCE = "cn.evidence.business-licence"

    @property
    def label_zh(self) -> str:
        return _TYPES[self][0]

    @property
    def issuer_zh(self) -> str:
        """Who issues it (the authority a provider's 电子证照库 holds it for)."""
        return _TYPES[self][1]

    @property
    def subject_kind(self) -> Literal["person", "organisation"]:
        """Whose evidence it is: a person (by ID number) or an organisation (by credit code)."""
        return "organisation" if self is EvidenceType.BUSINESS_LICENCE else "person"


_TYPES: dict[EvidenceType, tuple[str, str]] = {
    EvidenceType.HOUSEHOLD_REGISTER: ("居民户口簿", "公安机关户籍管理部门"),
    EvidenceType.MARRIAGE_CERTIFICATE: ("结婚证", "民政部门婚姻登记机关"),
    EvidenceType.BIRTH_MEDICAL_CERTIFICATE: ("出生医学证明", "卫生健康部门"),
    EvidenceType.REAL_ESTATE_TITLE: ("不动产权证书", "不动产登记机构"),
    EvidenceType.SOCIAL_SECURITY_CARD: ("社会保障卡信息", "人力资源和社会保障部门"),
    EvidenceType.BUSINESS_LICENCE: ("营业执照", "市场监督管理部门"),
}


def evidence_type_named(text: str) -> EvidenceType:
    """A type by its identifier or its Chinese name; ValueError when neither."""
    for kind in EvidenceType:
        if text in (kind.value, kind.label_zh):
            return kind
    raise ValueError(f"not an evidence type: {text!r}")


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceSubject(_Payload):
    """Whose evidence is asked for. Personal data: sealed for the provider, never logged."""

    name: str = Field(min_length=1, max_length=100)
    id_number: str | None = Field(default=None, min_length=15, max_length=18)
    credit_code: str | None = Field(default=None, min_length=18, max_length=18)

    def __repr__(self) -> str:
        return "EvidenceSubject(<sealed personal data>)"

    __str__ = __repr__


class EvidenceRequested(_Payload):
    """A region party to a case asks the providing region for one piece of evidence.

    `mandate` proves the sender is party to the case when it is not the accepting region
    (which the case number names): the accepting region's signed `forwarded` envelope
    addressed to the sender, checked by the provider against the trust directory."""

    case_no: CaseNo
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    evidence_type: EvidenceType
    material: str = Field(min_length=1, max_length=200)  # the catalog material it stands for
    item_code: str = Field(min_length=1, max_length=40)  # the purpose: the item applied for
    # Whose catalog version of the item applies: the case's processing region.
    item_region: RegionCode
    subject: SealedBox
    consent: Consent
    answer_by: AwareDatetime
    mandate: dict[str, Any] | None = None


class Refusal(StrEnum):
    NOT_FOUND = "not-found"
    NO_CONSENT = "no-consent"
    NOT_ENTITLED = "not-entitled"
    SUBJECT_MISMATCH = "subject-mismatch"

    @property
    def label_zh(self) -> str:
        return _REFUSALS[self]


_REFUSALS = {
    Refusal.NOT_FOUND: "未查到该证照",
    Refusal.NO_CONSENT: "无申请人授权",
    Refusal.NOT_ENTITLED: "该事项无权调取此证照",
    Refusal.SUBJECT_MISMATCH: "证照持有人与申请人不符",
}


class EvidenceAnswered(_Payload):
    """The provider's answer: the evidence as a document its issuer signed, sealed for the
    requester, or a typed refusal."""

    case_no: CaseNo
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    evidence_type: EvidenceType
    outcome: Literal["provided", "refused"]
    refusal: Refusal | None = None
    document: SealedBox | None = None
    document_sha256: Sha256Hex | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> Self:
        provided = self.document is not None and self.document_sha256 is not None
        if self.outcome == "provided" and (not provided or self.refusal is not None):
            raise ValueError("provided evidence carries its document and no refusal")
        if self.outcome == "refused" and (self.refusal is None or self.document is not None):
            raise ValueError("a refusal carries its reason and no document")
        return self


class RequestStatus(StrEnum):
    """Where an evidence request rests at the requesting region."""

    PENDING = "pending"  # sent, no answer yet
    # 全程网办: the evidence came and verified; the applicant sees it before it is used.
    HELD = "held"
    OBTAINED = "obtained"  # the evidence came, its issuer's signature verified
    REFUSED = "refused"  # the provider refused: the material is required on paper
    TIMED_OUT = "timed-out"  # no answer in time: the material is required on paper
    UNVERIFIED = "unverified"  # a document came whose signature does not verify: on paper
    DECLINED = "declined"  # the applicant saw it and declined its use: they hand it in

    @property
    def label_zh(self) -> str:
        return _STATUSES[self]

    @property
    def on_paper(self) -> bool:
        """The applicant must bring the material after all (the case does not wait)."""
        return self in (
            RequestStatus.REFUSED,
            RequestStatus.TIMED_OUT,
            RequestStatus.UNVERIFIED,
            RequestStatus.DECLINED,
        )


_STATUSES = {
    RequestStatus.PENDING: "等待共享答复",
    RequestStatus.HELD: "已获取，待申请人确认使用",
    RequestStatus.OBTAINED: "已通过数据共享获取",
    RequestStatus.REFUSED: "共享被拒，需提交纸质材料",
    RequestStatus.TIMED_OUT: "共享超时，需提交纸质材料",
    RequestStatus.UNVERIFIED: "证照签名未通过核验，需提交纸质材料",
    RequestStatus.DECLINED: "申请人不同意使用，需自行提交材料",
}


# How a case file names a material obtained by data sharing: `evidence:<provider>/<request>`.
EVIDENCE_REF = "evidence:"


def evidence_ref(provider: str, request_id: str) -> str:
    return f"{EVIDENCE_REF}{provider}/{request_id}"


def shared_by(ref: str) -> str | None:
    """The providing region of a material obtained by data sharing; None for any other."""
    if not ref.startswith(EVIDENCE_REF):
        return None
    return ref.removeprefix(EVIDENCE_REF).split("/", 1)[0] or None


def payload_models() -> dict[str, type[BaseModel]]:
    """The evidence events' payload models by wire type (events.models.EventType values)."""
    return {
        "cn.tongban.evidence.requested": EvidenceRequested,
        "cn.tongban.evidence.answered": EvidenceAnswered,
    }
