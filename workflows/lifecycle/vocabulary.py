"""The words both sides' lifecycles share: effects, policies, timings, people's inputs, the
timeline line, and the database writes a step leaves behind. Pure: no I/O imports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from activities.contracts import (
    AddMaterials,
    ApplyEffect,
    CaseWrite,
    Effect,
    ForwardCase,
    RegisterForwarded,
    SendDecision,
    SendEvent,
)
from events.models import MaterialRef, RegionCode

# The writes and effects are the activities' contract (activities/contracts.py); the lifecycle
# speaks of them by these names too.
__all__ = [
    "AddMaterials",
    "ApplyEffect",
    "CaseWrite",
    "Effect",
    "ForwardCase",
    "RegisterForwarded",
    "SendDecision",
    "SendEvent",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# What undoes what, for A's compensation (walked in reverse order of doing).
COMPENSATION_OF: dict[Effect, Effect] = {
    Effect.TAKE_MATERIALS: Effect.RETURN_MATERIALS,
    Effect.ISSUE_RECEIPT: Effect.VOID_RECEIPT,
    Effect.CHARGE_FEE: Effect.REFUND_FEE,
}
REVOCATION_OF: dict[Effect, Effect] = {
    Effect.ISSUE_ACCEPTANCE_NOTICE: Effect.REVOKE_ACCEPTANCE_NOTICE,
}

Manual = Literal["manual"]


class AutoPolicy(_Model):
    """How an item's steps are decided when no person decides them (demo, benchmarks).

    "manual" leaves the step to a person, through the workflow's Update of that step.
    """

    formal_review: Literal["pass"] | Manual = "pass"
    acceptance: Literal["accept", "not-accept"] | Manual = "accept"
    decision: Literal["approve", "deny"] | Manual = "approve"
    delivery: Literal["window", "mail", "online"] | Manual = "window"


class CaseTimings(_Model):
    """Durations are inputs so tests run real timers in seconds."""

    answer_timeout: timedelta = timedelta(days=30)  # A waits this long for B's accept/not-accept
    supplement_timeout: timedelta = timedelta(days=15)  # an applicant's time to provide 补正
    # A waits this long for B's answer to a withdrawal or recall before it alarms (it keeps
    # waiting: only B's answer ends the case, so the two sides cannot split).
    cancel_timeout: timedelta = timedelta(days=3)
    delivery_wait: timedelta = timedelta(days=60)  # B waits for A to confirm result delivery
    # B accepts or not within this many working days of receipt; after it, B answers
    # not-accepted itself, so A never waits on a case nobody will accept.
    acceptance_working_days: int = Field(default=5, ge=1, le=60)
    working_day: timedelta | None = None  # None: real working days (holiday calendar)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    compensation_step_delay: timedelta = timedelta(0)  # lets tests stop a worker mid-compensation
    history_limit: int = Field(default=10_000, ge=20)  # continue-as-new beyond this many events


# --- People's inputs (Temporal Updates) -----------------------------------------------------


class FormalReview(_Model):
    """The window's formal review (形式审查) of the application and its materials."""

    outcome: Literal["pass", "supplement", "refuse"]
    missing: tuple[str, ...] = ()
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _explained(self) -> FormalReview:
        if self.outcome == "supplement" and not self.missing:
            raise ValueError("a 补正 request must name the missing materials")
        if self.outcome == "refuse" and not self.reason:
            raise ValueError("a refusal must give its reason")
        return self


class SupplementMaterials(_Model):
    # The window's limit for an application (regions/window.py MAX_MATERIALS), so a 补正's
    # event stays within the outbox budget too; the API answers 422 before any workflow sees it.
    materials: tuple[MaterialRef, ...] = Field(min_length=1, max_length=50)


class Withdrawal(_Model):
    reason: str = Field(min_length=1, max_length=2000)


class DeliveryConfirmation(_Model):
    channel: Literal["window", "mail", "online"]
    tracking_no: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _mail_is_tracked(self) -> DeliveryConfirmation:
        if self.channel == "mail" and not self.tracking_no:
            raise ValueError("mail delivery needs the courier tracking number")
        return self


class AcceptanceDecision(_Model):
    accept: bool
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _explained(self) -> AcceptanceDecision:
        if not self.accept and not self.reason:
            raise ValueError("not accepting a case needs a reason")
        return self


class SupplementRequest(_Model):
    missing: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(default="", max_length=2000)


class Decision(_Model):
    approve: bool
    reason: str = Field(min_length=1, max_length=2000)


# --- The timeline ------------------------------------------------------------------------------


class CaseStep(_Model):
    """One line of a case's timeline as its workflow saw it."""

    at: datetime
    region: RegionCode
    status: str
    event_id: str | None = None
    detail: str = ""
