"""What workflows ask of activities: the database writes a step leaves behind, and the commit
that carries them. Pure (no I/O imports): workflows import it inside the sandbox, activities
implement it, and neither imports the other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.models import CaseNo, EventType, LegBrief, MaterialRef, RegionCode


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Effect(StrEnum):
    """Effects on the world a region records once per case (and round, where repeatable)."""

    TAKE_MATERIALS = "take-materials"
    ISSUE_RECEIPT = "issue-receipt"  # 受理回执
    CHARGE_FEE = "charge-fee"
    REFUND_FEE = "refund-fee"
    VOID_RECEIPT = "void-receipt"
    RETURN_MATERIALS = "return-materials"
    NOTIFY_APPLICANT = "notify-applicant"
    # 全程网办 by post: the result document goes to the post adapter (邮寄送达).
    POST_RESULT = "post-result"
    ISSUE_ACCEPTANCE_NOTICE = "issue-acceptance-notice"  # 受理通知书 (B)
    # 行政许可法 Art. 32: B let 5 working days pass without accepting, refusing or asking for
    # 补正: the case counts as accepted on the day the file was received (B's notice says so).
    ISSUE_DEEMED_ACCEPTANCE_NOTICE = "issue-deemed-acceptance-notice"
    # 一次性告知书 of A's formal review; its detail is JSON: the complete missing list, due, reason.
    ISSUE_SUPPLEMENT_NOTICE = "issue-supplement-notice"
    REVOKE_ACCEPTANCE_NOTICE = "revoke-acceptance-notice"
    # 多地联办: a leg's approval undone because another leg of the route refused (its region's
    # own act, e.g. 撤销准予迁入证明; decision 0035).
    REVOKE_DECISION = "revoke-decision"
    ESCALATE_OVERDUE = "escalate-overdue"
    # A asked the processing region to cancel and has heard nothing: operators must look.
    ESCALATE_UNANSWERED = "escalate-unanswered"
    # One of the region's systems refused an effect, never answered, or let its callback go
    # past due: the supervision system must see it (decision 0029).
    ESCALATE_EFFECT = "escalate-effect"


# --- Database writes a step leaves behind ------------------------------------------------------
# A workflow collects the writes its steps make and commits them together (`CommitSteps`), so
# the models below carry no case number: the commit that holds them does.


class ForwardCase(_Model):
    """A seals the applicant for the processing region and writes the `forwarded` event with
    the case's materials as they stand after formal review (补正 included)."""

    kind: Literal["forward"] = "forward"
    materials: tuple[MaterialRef, ...] = ()
    # Set when the case is a leg of a 多地联办 route: what the leg's region is told of it.
    leg: LegBrief | None = None


class OpenLeg(_Model):
    """The route's hub opens one leg as a case of its own in the accepting region (decision
    0035): the route's applicant (sealed for this region, as kept) and case file, plus the
    documents issued by the legs it waits for, so they travel on to the leg's region."""

    kind: Literal["open-leg"] = "open-leg"
    case_no: CaseNo  # the leg's
    processing_region: RegionCode
    after: tuple[CaseNo, ...] = ()  # the case numbers of the legs whose documents it gets


class RegisterForwarded(_Model):
    """B records the case from the forwarded event stored in its inbox."""

    kind: Literal["register"] = "register"
    event_id: str


class AddMaterials(_Model):
    """补正 materials join the region's case file (the `cases` row), once each."""

    kind: Literal["materials"] = "materials"
    materials: tuple[MaterialRef, ...]


class SendDecision(_Model):
    """B issues the decision document (kept in B; only its digest travels) and tells A."""

    kind: Literal["decision"] = "decision"
    origin_region: RegionCode
    outcome: Literal["approved", "denied"]
    reason: str
    step: str = "decided"  # a decision repeated to answer a recall is a second event


class SendEvent(_Model):
    """One lifecycle event for the outbox."""

    kind: Literal["event"] = "event"
    step: str  # unique per case and sender: the event id derives from it
    event_type: EventType
    recipient: RegionCode
    data: dict[str, object]


class ApplyEffect(_Model):
    kind: Literal["effect"] = "effect"
    effect: Effect
    key: str  # unique per case: "refund-fee", "notify-applicant:2" ...
    amount_fen: int = 0
    detail: str = Field(default="", max_length=2000)


CaseWrite = Annotated[
    ApplyEffect
    | SendEvent
    | ForwardCase
    | SendDecision
    | RegisterForwarded
    | AddMaterials
    | OpenLeg,
    Field(discriminator="kind"),
]


class CommitSteps(_Model):
    """The writes of the steps a workflow took since it last committed, in the order it took
    them, then the status the case rests in (None: unchanged). One transaction: each write is
    idempotent per case and key or event id, so a retried commit changes nothing twice."""

    case_no: CaseNo
    writes: tuple[CaseWrite, ...] = ()
    status: str | None = None
    # How many steps the case had taken on reaching `status`: the row keeps the status of the
    # most steps, so an attempt that outlives a newer commit cannot move the case back.
    steps: int = Field(ge=0)


# --- Effects carried out by the region's systems (decision 0029) ------------------------------


class EffectCall(_Model):
    """Carry out these ordered effects of a case (their orders were committed by the step)."""

    case_no: CaseNo
    keys: tuple[str, ...] = Field(min_length=1)


EffectOutcome = Literal["done", "refused", "pending", "dead"]


class EffectSettled(_Model):
    """What became of one effect: done, refused by the system, pending its callback (due by
    `answer_due`), or dead (no usable answer after the adapter's attempts)."""

    key: str
    series: int = Field(ge=1)
    outcome: EffectOutcome
    reason: str = ""
    reference: str = ""
    answer_due: AwareDatetime | None = None


class Committed(_Model):
    """What a commit did beyond its writes: the effects it ordered whose adapter reaches no
    outside system, carried out at once (decision 0044). A commit with none answers None."""

    settled: tuple[EffectSettled, ...] = Field(min_length=1)
