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
    OpenLeg,
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
    "OpenLeg",
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
    Effect.ISSUE_DEEMED_ACCEPTANCE_NOTICE: Effect.REVOKE_ACCEPTANCE_NOTICE,
}
# What a cancellation may revoke, each once.
REVOCATIONS: tuple[Effect, ...] = tuple(dict.fromkeys(REVOCATION_OF.values()))

Manual = Literal["manual"]
# How a case runs (国办发〔2020〕35号), by the catalog's names (catalog.models.CrossRegionMode,
# which workflows may not import; a unit test keeps the two equal).
CaseMode = Literal["全程网办", "异地代收代办", "多地联办", "省内通办"]
ONLINE: CaseMode = "全程网办"
PROXY: CaseMode = "异地代收代办"
IN_PROVINCE: CaseMode = "省内通办"


def implied_mode(origin: str, processing: str) -> CaseMode:
    """The mode a region pair implies when the case does not name one (cases recorded before
    cases named their mode): 省内通办 within one province (GB/T 2260: the same first two
    digits), else 异地代收代办. `catalog.catalog.implied_mode` says the same from the code
    table; a unit test checks they agree."""
    return IN_PROVINCE if origin[:2] == processing[:2] else PROXY


# The step B's `cancelled` is sent under when a missed 补正 ends the case (视为撤回): A tells it
# from an answer to a withdrawal or a recall by the event id the step gives it.
DEEMED_WITHDRAWN_STEP = "deemed-withdrawn"
# What a missed 补正 means (catalog item `on_missed_supplement`, decision 0026): 视为撤回, or,
# where the item's rules say so, refused (不予收件 at A's window, 不予受理 before B accepts,
# 不予许可 after).
MissedSupplement = Literal["withdrawn", "refused"]


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
    # Not used since decision 0026 (补正 is due in working days); inputs recorded before it
    # still carry it.
    supplement_timeout: timedelta = timedelta(days=15)
    # An applicant's time to provide a 补正, in working days, where the item sets none.
    supplement_working_days: int = Field(default=15, ge=1, le=60)
    # A waits this long for B's answer to a withdrawal or recall before it alarms (it keeps
    # waiting: only B's answer ends the case, so the two sides cannot split).
    cancel_timeout: timedelta = timedelta(days=3)
    delivery_wait: timedelta = timedelta(days=60)  # B waits for A to confirm result delivery
    # 行政许可法 Art. 32: B accepts, refuses or asks for 补正 within this many working days of
    # receiving the complete file; after it the case counts as accepted on the receipt day.
    acceptance_working_days: int = Field(default=5, ge=1, le=60)
    working_day: timedelta | None = None  # None: real working days (holiday calendar)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    compensation_step_delay: timedelta = timedelta(0)  # lets tests stop a worker mid-compensation
    history_limit: int = Field(default=10_000, ge=20)  # continue-as-new beyond this many events


# --- Who takes a step ------------------------------------------------------------------------

# A staff number (工号): short and without whitespace, so it prints in one column and cannot
# smuggle a line into a listing.
PERSON_ID_PATTERN = r"^\S{1,32}$"

ActorKind = Literal["person", "applicant", "policy", "region", "system"]


class Actor(_Model):
    """Who took a step, kept in the step's own record (and so in the state a workflow carries
    across continue-as-new). `person`: a clerk or officer, named by the node from the bearer
    token of the request (工号, name, window or office); `policy`: the item's automatic policy;
    `region`: the other region's event; `system`: the workflow itself (timers, compensation,
    bookkeeping); `applicant`: the applicant of a 全程网办 case, named only by the digest of
    their identity provider's pseudonymous subject (`person_id`), never by name or ID number."""

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
        if self.kind == "applicant":
            return f"申请人（网办 {(self.person_id or '?')[:8]}）"
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


class FollowUp(PersonInput):
    """A 补正 request after the first (一次性告知, decision 0026): the first request lists
    everything missing at once; a further one may only ask for what the materials the applicant
    handed in for the last one themselves raise, says so, and names them."""

    concerns_new_materials: bool = False
    concerning: tuple[str, ...] = Field(default=(), max_length=50)


class RuleBroken(_Model):
    """A step a person may take now, refused by a rule of law: the rule's name and why."""

    rule: str
    message: str


def one_time_notice(rounds: int, last_given: tuple[str, ...], asked: FollowUp) -> RuleBroken | None:
    """一次性告知: may this 补正 request go out, `rounds` requests having gone out before, the
    applicant's answer to the last one being the materials `last_given`?"""
    if rounds == 0:
        if asked.concerns_new_materials or asked.concerning:
            return RuleBroken(
                rule="supplement_without_earlier_round",
                message="the first 补正 request lists everything missing; there are no "
                "materials from an earlier 补正 it could concern",
            )
        return None
    if not asked.concerns_new_materials:
        return RuleBroken(
            rule="one_time_notice",
            message="补正 is notified once, as one complete list (一次性告知): a further request "
            "may only concern the materials the applicant provided for the last one "
            "(concerns_new_materials, concerning)",
        )
    unknown = [name for name in asked.concerning if name not in last_given]
    if not asked.concerning or unknown:
        given = "、".join(last_given) or "none"
        return RuleBroken(
            rule="supplement_concerns_other_materials",
            message=f"a further 补正 request names the materials of the last 补正 it concerns "
            f"(provided then: {given}); not among them: {'、'.join(unknown) or 'none named'}",
        )
    return None


def follow_up_reason(asked: FollowUp, reason: str) -> str:
    """The notice of a further 补正 says what it concerns."""
    if not asked.concerns_new_materials:
        return reason
    about = f"本次补正仅涉及申请人上次补正提交的材料（{'、'.join(asked.concerning)}）所引出的问题"
    return (f"{about}：{reason}" if reason else about)[:2000]


class FormalReview(FollowUp):
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


class SupplementRequest(FollowUp):
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
