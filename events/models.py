"""Pure models of cross-region case events.

No I/O imports: workflows import this module inside the Temporal sandbox.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
# A case number names its accepting region first, so any node can tell from the
# number alone which region may withdraw the case or provide 补正 materials. A leg of a
# 多地联办 route is a case of its own, numbered after the route's case with the leg's place in
# the route (`-1` … `-9`, decision 0035): the accepting region is the same.
CASE_NO_PATTERN = r"^(\d{6})-(\d{8})-([0-9A-Z]{8})(?:-([1-9]))?$"
CaseNo = Annotated[str, StringConstraints(pattern=CASE_NO_PATTERN)]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

_CASE_NO_RE = re.compile(CASE_NO_PATTERN)


def accepting_region_of(case_no: str) -> str:
    """The region that accepted the case, read from the case number."""
    match = _CASE_NO_RE.match(case_no)
    if match is None:
        raise ValueError(f"not a case number: {case_no!r}")
    return match.group(1)


def leg_case_no(route_case_no: str, index: int) -> str:
    """The case number of the route's leg `index` (1-based)."""
    if not 1 <= index <= 9 or route_of(route_case_no) != route_case_no:
        raise ValueError(f"no leg {index} of {route_case_no!r}")
    return f"{route_case_no}-{index}"


def route_of(case_no: str) -> str:
    """The route's case number for a leg's; any other case number is its own."""
    match = _CASE_NO_RE.match(case_no)
    if match is None:
        raise ValueError(f"not a case number: {case_no!r}")
    return case_no if match.group(4) is None else case_no[: -len(match.group(4)) - 1]


class EventType(StrEnum):
    """Case event types on the wire (CloudEvents `type`)."""

    FORWARDED = "cn.tongban.case.forwarded"
    RECEIPT = "cn.tongban.case.receipt"
    ACCEPTED = "cn.tongban.case.accepted"
    NOT_ACCEPTED = "cn.tongban.case.not-accepted"
    SUPPLEMENT_REQUESTED = "cn.tongban.case.supplement-requested"
    SUPPLEMENT_PROVIDED = "cn.tongban.case.supplement-provided"
    DECIDED = "cn.tongban.case.decided"
    RESULT_DELIVERED = "cn.tongban.case.result-delivered"
    WITHDRAWN = "cn.tongban.case.withdrawn"
    CANCELLED = "cn.tongban.case.cancelled"
    # A gives up waiting (no answer in time, or resends ran out) and asks B to cancel; only B's
    # answer (cancelled, or its decision again) ends the case on A's side.
    RECALLED = "cn.tongban.case.recalled"
    # One piece of a file's bytes, sealed for the other party (events/materials.py): a
    # material A sends B, or a document B issued for A's window to print.
    MATERIAL_CHUNK = "cn.tongban.case.material-chunk"
    # B issued a signed document (受理通知书, 决定书 ...): its manifest; the bytes follow in chunks.
    DOCUMENT_ISSUED = "cn.tongban.case.document-issued"
    DEADLINE_WARNING = "cn.tongban.case.deadline-warning"
    DEADLINE_BREACHED = "cn.tongban.case.deadline-breached"
    # 多地联办: the route's hub asks a leg's region to undo its approval because another leg
    # refused; the leg's region answers `revoked` once it has (decision 0035).
    REVOCATION_REQUESTED = "cn.tongban.case.revocation-requested"
    REVOKED = "cn.tongban.case.revoked"
    # 好差评 (decision 0039): the applicant's rating of B's processing, relayed by A to B
    # (谁办理谁负责), and B's answer to a bad one, back to A for the applicant.
    RATED = "cn.tongban.case.rated"
    RATING_ANSWERED = "cn.tongban.case.rating-answered"
    # 数据多跑路: a party to a case asks a region for evidence, the region answers (issue 20,
    # decision 0041; payloads in events/evidence.py, checks in events/evidence_checks.py).
    EVIDENCE_REQUESTED = "cn.tongban.evidence.requested"
    EVIDENCE_ANSWERED = "cn.tongban.evidence.answered"


# Who may send each event type: the accepting (origin) region, or the processing region.
# Receipts answer any business event, so either side sends them.
ORIGIN_ONLY = frozenset(
    {
        EventType.FORWARDED,
        EventType.SUPPLEMENT_PROVIDED,
        EventType.RESULT_DELIVERED,
        EventType.WITHDRAWN,
        EventType.RECALLED,
        EventType.REVOCATION_REQUESTED,
        EventType.RATED,
    }
)
PROCESSING_ONLY = frozenset(
    {
        EventType.ACCEPTED,
        EventType.NOT_ACCEPTED,
        EventType.SUPPLEMENT_REQUESTED,
        EventType.DECIDED,
        EventType.CANCELLED,
        EventType.DOCUMENT_ISSUED,
        EventType.DEADLINE_WARNING,
        EventType.DEADLINE_BREACHED,
        EventType.REVOKED,
        EventType.RATING_ANSWERED,
    }
)
# Sent by either party of a case to the other, never by or to a third region (events/verify.py
# and the inbox check which party).
BETWEEN_PARTIES = frozenset({EventType.MATERIAL_CHUNK})


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SealedBox(_Payload):
    """Data sealed for one region: X25519 ephemeral key agreement, HKDF-SHA256, AES-256-GCM."""

    recipient: RegionCode
    key_id: str
    ephemeral_public: str  # base64url, raw 32 bytes
    nonce: str  # base64url, 12 bytes
    ciphertext: str  # base64url, includes the GCM tag


# A material's bytes cross regions in chunks of at most this many bytes, each sealed in its
# own signed event: with sealing and base64 a chunk's envelope stays well inside the outbox's
# 256 KiB budget (events/outbox.py).
CHUNK_BYTES = 128 * 1024
# The most one file may hold, and so the most chunks a manifest may list for it.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_FILE_CHUNKS = -(-MAX_FILE_BYTES // CHUNK_BYTES)
# The file types a window takes (checked by their bytes, not their names).
MediaType = Literal["application/pdf", "image/jpeg", "image/png", "application/ofd"]


class OriginalsChecked(_Payload):
    """核验原件: the window clerk saw the original of this material."""

    by: str = Field(min_length=1, max_length=100)  # who checked: window and person
    at: AwareDatetime


class MaterialRef(_Payload):
    """A material as the case file lists it: its digest, and, when the window scanned it, its
    size, type and the digests of the chunks its bytes travel in (the manifest the processing
    region checks each arriving chunk against). Without `chunks` it is declared only: no
    bytes stand behind it (cases recorded before files were taken)."""

    name: str = Field(min_length=1, max_length=200)
    sha256: Sha256Hex
    ref: str = Field(min_length=1, max_length=500)
    size: int | None = Field(default=None, ge=0, le=MAX_FILE_BYTES)
    media_type: MediaType | None = None
    chunks: tuple[Sha256Hex, ...] = Field(default=(), max_length=MAX_FILE_CHUNKS)
    originals_checked: OriginalsChecked | None = None

    @property
    def has_file(self) -> bool:
        return bool(self.chunks)


class MaterialChunk(_Payload):
    """One chunk of a material's bytes, sealed for the recipient. The chunk's digest is
    checked against the manifest (the `chunks` of the material in the forwarded or 补正
    event), the whole file against `material` once every chunk is in."""

    case_no: CaseNo
    material: Sha256Hex
    index: int = Field(ge=0, lt=MAX_FILE_CHUNKS)
    count: int = Field(ge=1, le=MAX_FILE_CHUNKS)
    chunk_sha256: Sha256Hex
    sealed: SealedBox


class LegBrief(_Payload):
    """What a leg's region knows of the 多地联办 route its case belongs to (decision 0035)."""

    route_case_no: CaseNo
    step: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    label: str = Field(min_length=1, max_length=100)  # what the leg's region does
    issues: str = Field(min_length=1, max_length=100)  # the document an approval issues
    revocable: bool  # an approval can be revoked when another leg refuses
    index: int = Field(ge=1, le=9)
    count: int = Field(ge=2, le=9)


class ConsentMethod(StrEnum):
    WINDOW_SIGNATURE = "window-signature"  # 窗口签字确认, recorded by the clerk
    ONLINE_CONFIRMATION = "online-confirmation"  # 网上确认 (全程网办)


class Consent(_Payload):
    """The applicant's consent to this use of their data: who gave it, how, when, and who
    recorded it. No personal data: `given_by` is a role (申请人本人, 委托代理人)."""

    given_by: Literal["申请人本人", "委托代理人", "法定代表人"]
    method: ConsentMethod
    at: AwareDatetime
    recorded_by: str = Field(min_length=1, max_length=100)  # window and person, or 申请人


class CaseForwarded(_Payload):
    case_no: CaseNo
    item_code: str
    item_version: int = Field(ge=1, le=1_000_000)
    origin_region: RegionCode
    processing_region: RegionCode
    applicant: SealedBox
    materials: tuple[MaterialRef, ...]
    # Bounded so that every value also fits the int4 columns that store it.
    fee_fen: int = Field(ge=0, le=1_000_000_000)
    # The mode the case runs in (the catalog's name); None from an accepting region whose row
    # predates it (decision 0034).
    mode: str | None = Field(default=None, pattern="^(全程网办|异地代收代办|多地联办|省内通办)$")
    leg: LegBrief | None = None  # set when the case is a leg of a 多地联办 route
    # The applicant's consent to fetch the item's shareable materials by data sharing, as the
    # accepting region recorded it with the application (decision 0041): the processing
    # region asks their providers on it. Absent: no consent, the materials come on paper.
    evidence_consent: Consent | None = None


class CaseDecided(_Payload):
    case_no: CaseNo
    outcome: Literal["approved", "denied"]
    reason: str = Field(max_length=2000)
    # SHA-256 of the signed decision document B issued; the document itself stays in B.
    decision_digest: Sha256Hex | None


class CaseAccepted(_Payload):
    case_no: CaseNo
    promised_working_days: int = Field(ge=0, le=3650)
    deadline: AwareDatetime
    # False when the holiday calendar does not cover the deadline's year yet: weekends only.
    deadline_calendar_known: bool = True


class CaseNotAccepted(_Payload):
    case_no: CaseNo
    reason: str = Field(min_length=1, max_length=2000)


class SupplementRequested(_Payload):
    """补正: what the processing region still needs, and by when."""

    case_no: CaseNo
    missing: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(max_length=2000)
    due: AwareDatetime


class SupplementProvided(_Payload):
    case_no: CaseNo
    materials: tuple[MaterialRef, ...] = Field(min_length=1)


class CaseWithdrawn(_Payload):
    case_no: CaseNo
    reason: str = Field(max_length=2000)


class CaseRecalled(_Payload):
    """The accepting region asks the processing region to cancel a case it gave up waiting on."""

    case_no: CaseNo
    cause: Literal["answer-timeout", "delivery-failed"]
    reason: str = Field(max_length=2000)


class CaseCancelled(_Payload):
    """The processing region's answer to a withdrawal or a recall: what it revoked."""

    case_no: CaseNo
    revoked: tuple[str, ...]


class RevocationRequested(_Payload):
    """The route's hub asks a leg's region to revoke its approval: another leg refused."""

    case_no: CaseNo
    reason: str = Field(max_length=2000)


class CaseRevoked(_Payload):
    """A leg's region revoked its approval, as the route's hub asked."""

    case_no: CaseNo
    reason: str = Field(max_length=2000)


class ResultDelivered(_Payload):
    case_no: CaseNo
    # "notice": a refusal or denial delivered with the notice that closes the case.
    # "route": a 多地联办 leg closed by its hub once the whole route's result was delivered.
    channel: Literal["window", "mail", "online", "notice", "route"]
    tracking_no: str | None = None


class DeadlineNotice(_Payload):
    case_no: CaseNo
    deadline: AwareDatetime
    kind: Literal["warning", "breached"]


class DocumentIssued(_Payload):
    """A document the processing region issued and signed, for the accepting region's window
    to print: its number and type, and its file's manifest (the bytes follow in chunks)."""

    case_no: CaseNo
    number: str = Field(min_length=1, max_length=64)
    doc_type: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=100)
    issued_at: AwareDatetime
    document: MaterialRef


RATING_REASON_PATTERN = r"^[a-z][a-z-]{1,31}$"


class CaseRated(_Payload):
    """好差评: a rating of the processing region's work, for that region (decision 0039). The
    comment may hold personal data: sealed for the recipient, like the applicant."""

    case_no: CaseNo
    rating_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    step: Literal["received", "concluded"]
    level: int = Field(ge=1, le=5)
    reasons: tuple[Annotated[str, StringConstraints(pattern=RATING_REASON_PATTERN)], ...] = Field(
        default=(), max_length=9
    )
    comment: SealedBox | None = None
    channel: Literal["window", "online"]
    window: str = Field(min_length=1, max_length=100)
    item_code: str = Field(min_length=1, max_length=64)
    rated_at: AwareDatetime


class RatingAnswered(_Payload):
    """The responsible region's answer to a bad rating (整改 done, or the rating set aside on
    appeal), sealed for the accepting region, which shows it to the applicant."""

    case_no: CaseNo
    rating_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    outcome: Literal["rectified", "set-aside"]
    answer: SealedBox
    on_time: bool
    answered_at: AwareDatetime


class EventReceipt(_Payload):
    """Answers a business event with the digest of exactly what was received."""

    case_no: CaseNo
    receipted_event_id: str
    receipted_digest: Sha256Hex
    # The receipting region's own message-log head when it wrote this receipt: the peer keeps
    # it, so the newest rows of that log cannot later be deleted unseen (cross-anchoring).
    # Absent from receipts written before anchoring existed.
    log_head_seq: int | None = Field(default=None, ge=1, le=2**63 - 1)  # a bigint column
    log_head_hash: Sha256Hex | None = None


PAYLOAD_MODELS: dict[EventType, type[BaseModel]] = {
    EventType.FORWARDED: CaseForwarded,
    EventType.RECEIPT: EventReceipt,
    EventType.ACCEPTED: CaseAccepted,
    EventType.NOT_ACCEPTED: CaseNotAccepted,
    EventType.SUPPLEMENT_REQUESTED: SupplementRequested,
    EventType.SUPPLEMENT_PROVIDED: SupplementProvided,
    EventType.DECIDED: CaseDecided,
    EventType.RESULT_DELIVERED: ResultDelivered,
    EventType.WITHDRAWN: CaseWithdrawn,
    EventType.RECALLED: CaseRecalled,
    EventType.CANCELLED: CaseCancelled,
    EventType.MATERIAL_CHUNK: MaterialChunk,
    EventType.DOCUMENT_ISSUED: DocumentIssued,
    EventType.DEADLINE_WARNING: DeadlineNotice,
    EventType.DEADLINE_BREACHED: DeadlineNotice,
    EventType.REVOCATION_REQUESTED: RevocationRequested,
    EventType.REVOKED: CaseRevoked,
    EventType.RATED: CaseRated,
    EventType.RATING_ANSWERED: RatingAnswered,
}


class InboundEvent(_Payload):
    """A verified event as a workflow receives it (signal argument).

    Carries the event id so a workflow can ignore an event it has already applied: the
    dispatcher may deliver the same inbox row twice after a crash.
    """

    event_id: str
    type: EventType
    sender_region: RegionCode
    time: datetime
    data: dict[str, Any]


class Applicant(_Payload):
    """Personal data: sealed for the recipient region on the wire and at rest; never logged."""

    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=15, max_length=18)
    phone: str = Field(min_length=5, max_length=20)
    address: str = Field(default="", max_length=300)
    credit_code: str | None = Field(default=None, max_length=18)  # the organisation applying

    def __repr__(self) -> str:
        return "Applicant(<sealed personal data>)"

    __str__ = __repr__


class DeliveryFailure(_Payload):
    """Told to the sending region's own workflow when an event was never receipted.

    Local only (a signal, never on the wire): the sender gave up resending, so the case must
    be treated as a transfer failure (A compensates).
    """

    event_id: str
    event_type: EventType
    recipient_region: RegionCode
    attempts: int
    reason: str
