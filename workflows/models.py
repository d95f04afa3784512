"""Pure models the workflows, their callers and their activities exchange. No I/O imports.

The lifecycle's own vocabulary (effects, policies, inputs, writes, requests and states) lives
in `workflows.lifecycle` and is re-exported here for the callers that know it by this name.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from activities.contracts import CommitSteps
from events.models import CaseNo, RegionCode
from workflows.lifecycle.effects import EffectWatch
from workflows.lifecycle.intake import IntakeRequest, IntakeState
from workflows.lifecycle.processing import ProcessingStart, ProcessingState
from workflows.lifecycle.route import RouteLegView
from workflows.lifecycle.vocabulary import (
    COMPENSATION_OF,
    REVOCATION_OF,
    AcceptanceDecision,
    Actor,
    AddMaterials,
    ApplyEffect,
    AutoPolicy,
    CaseStep,
    CaseTimings,
    CaseWrite,
    Decision,
    DeliveryConfirmation,
    Effect,
    FormalReview,
    ForwardCase,
    PersonInput,
    RegisterForwarded,
    SendDecision,
    SendEvent,
    SupplementMaterials,
    SupplementRequest,
    Withdrawal,
)

__all__ = [
    "COMPENSATION_OF",
    "REVOCATION_OF",
    "AcceptanceDecision",
    "Actor",
    "AddMaterials",
    "ApplyEffect",
    "AutoPolicy",
    "CaseOutcome",
    "CaseProgress",
    "CaseStep",
    "CaseTimings",
    "CaseWrite",
    "CommitSteps",
    "Decision",
    "DeliveryConfirmation",
    "Effect",
    "FormalReview",
    "ForwardCase",
    "IntakeRequest",
    "IntakeState",
    "PersonInput",
    "ProcessingStart",
    "ProcessingState",
    "RegisterForwarded",
    "SendDecision",
    "SendEvent",
    "StepAck",
    "SupplementMaterials",
    "SupplementRequest",
    "Withdrawal",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepAck(_Model):
    """What an Update returns: the status the case reached."""

    case_no: CaseNo
    status: str


# --- Timeline and progress ------------------------------------------------------------------


class CaseProgress(_Model):
    case_no: CaseNo
    region: RegionCode
    status: str
    closed: bool
    outcome: str | None = None
    deadline: datetime | None = None  # 承诺时限
    statutory_deadline: datetime | None = None  # 法定时限
    overdue: bool = False
    steps: tuple[CaseStep, ...] = ()
    # Effects not done yet (decision 0029): refused, dead or late ones need an operator.
    effects_open: tuple[EffectWatch, ...] = ()
    # 多地联办 (decision 0035): the route's legs, on the hub's case only.
    route: tuple[RouteLegView, ...] = ()


class CaseOutcome(_Model):
    case_no: CaseNo
    status: str
    outcome: str | None = None
