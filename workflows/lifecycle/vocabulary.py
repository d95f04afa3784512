"""The words both sides' lifecycles share: effects, policies, timings, people's inputs, the
timeline line, and the database writes a step leaves behind. Pure: no I/O imports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

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


# --- Who takes a step ------------------------------------------------------------------------

# A staff number (工号): short and without whitespace, so it prints in one column and cannot
# smuggle a line into a listing.
PERSON_ID_PATTERN = r"^\S{1,32}$"

ActorKind = Literal["person", "policy", "region", "system"]


class Actor(_Model):
    """Who took a step, kept in the step's own record (and so in the state a workflow carries
    across continue-as-new). `person`: a clerk or officer, named by the node from the bearer
    token of the request (工号, name, window or office); `policy`: the item's automatic policy;
    `region`: the other region's event; `system`: the workflow itself (timers, compensation,
    bookkeeping). Staff data only: an applicant is never an actor."""

    kind: ActorKind
    person_id: str | None = Field(default=None, pattern=PERSON_ID_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=64)
    region: RegionCode | None = None
    window: str | None = Field(default=None, min_length=1, max_length=64)

    @property
    def label(self) -> str:
        """Who, as people read it (经办人)."""
        if self.kind == "person":
            if self.person_id is None:  # a token issued before tokens named their person
                return f"未登记经办人（{self.window}）" if self.window else "未登记经办人"
            at = f"，{self.window}" if self.window else ""
            return f"{self.name or ''}（工号 {self.person_id}{at}）"
        if self.kind == "policy":
            return "自动（策略）"
        if self.kind == "region":
            return f"{self.region or '?'} 来件"
        return "系统"


# --- People's inputs (Temporal Updates) -----------------------------------------------------


class PersonInput(_Model):
    """A person's input to a step. The node sets `actor` from the caller's bearer token; the
    HTTP API neither shows it in its schema nor takes it from a request body. Absent in
    histories recorded before steps named their person (they replay with None)."""

    actor: SkipJsonSchema[Actor | None] = None


class FormalReview(PersonInput):
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


class SupplementMaterials(PersonInput):
    # The window's limit for an application (regions/window.py MAX_MATERIALS), so a 补正's
    # event stays within the outbox budget too; the API answers 422 before any workflow sees it.
    materials: tuple[MaterialRef, ...] = Field(min_length=1, max_length=50)


class Withdrawal(PersonInput):
    reason: str = Field(min_length=1, max_length=2000)


class DeliveryConfirmation(PersonInput):
    channel: Literal["window", "mail", "online"]
    tracking_no: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _mail_is_tracked(self) -> DeliveryConfirmation:
        if self.channel == "mail" and not self.tracking_no:
            raise ValueError("mail delivery needs the courier tracking number")
        return self


class AcceptanceDecision(PersonInput):
    accept: bool
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _explained(self) -> AcceptanceDecision:
        if not self.accept and not self.reason:
            raise ValueError("not accepting a case needs a reason")
        return self


class SupplementRequest(PersonInput):
    missing: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(default="", max_length=2000)


class Decision(PersonInput):
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
    # Who took the step: the person, the policy, the other region or the workflow. None only
    # in steps recorded before steps named their actor.
    actor: Actor | None = None
