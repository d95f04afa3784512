"""Pure models the workflows and their activities exchange. No I/O imports."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from events.models import CaseNo, RegionCode


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntakeStatus(StrEnum):
    RECEIVED = "received"
    FORMAL_REVIEW_PASSED = "formal-review-passed"
    FORWARDED = "forwarded"
    IN_TRANSIT = "in-transit"
    RESULT_RECEIVED = "result-received"
    RESULT_DELIVERED = "result-delivered"
    TRANSFER_FAILED = "transfer-failed"
    CLOSED = "closed"


class ProcessingStatus(StrEnum):
    WAITING = "waiting-for-case"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    APPROVED = "approved"
    DENIED = "denied"
    RESULT_SENT = "result-sent"
    CLOSED = "closed"


class AutoPolicy(_Model):
    """How an item's steps are decided without a person (demo, benchmarks)."""

    formal_review: Literal["pass"] = "pass"
    accept: Literal["accept"] = "accept"
    decision: Literal["approve", "deny"] = "approve"


class IntakeRequest(_Model):
    case_no: CaseNo
    item_code: str
    item_version: int
    origin_region: RegionCode
    processing_region: RegionCode
    policy: AutoPolicy = AutoPolicy()
    # How long A waits for B's answer before treating the transfer as failed.
    answer_timeout: timedelta = timedelta(days=30)


class ProcessingStart(_Model):
    case_no: CaseNo
    processing_region: RegionCode
    policy: AutoPolicy = AutoPolicy()


class CaseStep(_Model):
    """One line of a case's timeline as its workflow saw it."""

    at: datetime
    region: RegionCode
    status: str
    event_id: str | None = None
    detail: str = ""


class CaseProgress(_Model):
    case_no: CaseNo
    region: RegionCode
    status: str
    closed: bool
    steps: tuple[CaseStep, ...] = Field(default=())


class SetStatus(_Model):
    case_no: CaseNo
    status: str


class ForwardCase(_Model):
    case_no: CaseNo


class RegisterForwarded(_Model):
    """B records the case from the forwarded event stored in its inbox."""

    case_no: CaseNo
    event_id: str


class SendDecision(_Model):
    case_no: CaseNo
    origin_region: RegionCode
    outcome: Literal["approved", "denied"]
    reason: str


class CaseOutcome(_Model):
    case_no: CaseNo
    status: str
    outcome: Literal["approved", "denied"] | None = None
