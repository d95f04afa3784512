"""The accepting region's (A, 收件地) lifecycle: phases, triggers, the table and the state.

A takes the application, reviews it (with the applicant's 补正 loop), forwards it and waits
for B's answers, relaying B's 补正 requests (before B accepts as after). Its own 补正 is one
complete list (一次性告知); a missed one ends the case as 视为撤回 unless the item's rules say it
is refused; B ending a case on a missed 补正 is 视为撤回 on both sides. It ends only on an
answer from B (or before B ever had the case): when it stops waiting (no answer in time,
resends ran out) it recalls the case and B's answer to the recall (cancelled, or B's decision
again) decides how A ends.
Compensation undoes A's effects in reverse order, one step at a time.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from events.envelope import event_id_for
from events.models import (
    CaseAccepted,
    CaseDecided,
    CaseNo,
    CaseNotAccepted,
    DeadlineNotice,
    DeliveryFailure,
    EventType,
    InboundEvent,
    LegBrief,
    MaterialRef,
    RegionCode,
    SupplementRequested,
    leg_case_no,
)
from workflows.deadlines import CST, DeadlineClock
from workflows.lifecycle.engine import (
    CaseRecord,
    Handler,
    Result,
    Table,
    Trigger,
    Tx,
    apply,
    rows,
)
from workflows.lifecycle.engine import (
    receive as receive,
)
from workflows.lifecycle.route import (
    Answer,
    LegStatus,
    MoveKind,
    RouteOutcome,
    RoutePlan,
    RouteProgress,
    RouteSignal,
    moved,
    next_moves,
)
from workflows.lifecycle.vocabulary import (
    COMPENSATION_OF,
    DEEMED_WITHDRAWN_STEP,
    ONLINE,
    Actor,
    AddMaterials,
    AutoPolicy,
    CaseMode,
    CaseTimings,
    DeliveryConfirmation,
    Effect,
    FormalReview,
    ForwardCase,
    MissedSupplement,
    OpenLeg,
    RuleBroken,
    SupplementMaterials,
    Withdrawal,
    follow_up_reason,
    implied_mode,
    one_time_notice,
)


class Phase(StrEnum):
    """Where an intake case rests (each is also the status it shows)."""

    RECEIVED = "received"
    FORMAL_REVIEW = "formal-review"
    SUPPLEMENT_PENDING = "supplement-pending"  # A's own 补正 with the applicant
    IN_TRANSIT = "in-transit"  # forwarded; B's accept/not-accept awaited
    SUPPLEMENT_BEFORE_ACCEPTANCE = "supplement-before-acceptance"  # B's 补正 before 受理
    PROCESSING = "processing"  # B accepted; its clock runs
    SUPPLEMENT_REQUESTED = "supplement-requested"  # B's 补正, relayed to the applicant
    WITHDRAWAL_REQUESTED = "withdrawal-requested"
    RECALL_REQUESTED = "recall-requested"
    RESULT_RECEIVED = "result-received"  # approved; delivery to the applicant awaited
    ROUTE = "route"  # 多地联办: the route's legs run in their regions (decision 0035)
    REVOKING = "revocation-requested"  # a 联办 leg: its region is asked to revoke its approval
    COMPENSATING = "compensating"
    CLOSED = "closed"
    CLOSED_REJECTED = "closed-rejected"  # refused, not accepted, denied, transfer failed
    CLOSED_WITHDRAWN = "closed-withdrawn"  # the applicant withdrew (撤回)
    CLOSED_DEEMED_WITHDRAWN = "closed-deemed-withdrawn"  # a 补正 missed (视为撤回)


class Status(StrEnum):
    """Every status an intake case shows: its phases and the steps passed on the way."""

    RECEIVED = "received"
    FORMAL_REVIEW = "formal-review"
    SUPPLEMENT_PENDING = "supplement-pending"
    REFUSED_AT_INTAKE = "refused-at-intake"
    FORMAL_REVIEW_PASSED = "formal-review-passed"
    FORWARDED = "forwarded"
    IN_TRANSIT = "in-transit"
    SUPPLEMENT_BEFORE_ACCEPTANCE = "supplement-before-acceptance"
    PROCESSING = "processing"
    SUPPLEMENT_REQUESTED = "supplement-requested"
    DEEMED_WITHDRAWN = "deemed-withdrawn"
    WITHDRAWAL_REQUESTED = "withdrawal-requested"
    RECALL_REQUESTED = "recall-requested"
    NOT_ACCEPTED = "not-accepted"
    RESULT_RECEIVED = "result-received"
    RESULT_DELIVERED = "result-delivered"
    TRANSFER_FAILED = "transfer-failed"
    ROUTE = "route"
    ROUTE_APPROVED = "route-approved"
    ROUTE_FAILED = "route-failed"
    REVOCATION_REQUESTED = "revocation-requested"
    REVOKED = "revoked"
    COMPENSATING = "compensating"
    CLOSED = "closed"
    CLOSED_REJECTED = "closed-rejected"
    CLOSED_WITHDRAWN = "closed-withdrawn"
    CLOSED_DEEMED_WITHDRAWN = "closed-deemed-withdrawn"


LABELS: dict[Status, str] = {
    Status.RECEIVED: "收件",
    Status.FORMAL_REVIEW: "形式审查",
    Status.SUPPLEMENT_PENDING: "待补正（窗口）",
    Status.REFUSED_AT_INTAKE: "不予收件",
    Status.FORMAL_REVIEW_PASSED: "形式审查通过",
    Status.FORWARDED: "已转办",
    Status.IN_TRANSIT: "待受理",
    Status.SUPPLEMENT_BEFORE_ACCEPTANCE: "待补正（受理前）",
    Status.PROCESSING: "办理中",
    Status.SUPPLEMENT_REQUESTED: "待补正（办理地）",
    Status.DEEMED_WITHDRAWN: "视为撤回",
    Status.WITHDRAWAL_REQUESTED: "撤回中",
    Status.RECALL_REQUESTED: "收回中",
    Status.NOT_ACCEPTED: "不予受理",
    Status.RESULT_RECEIVED: "已收到结果",
    Status.RESULT_DELIVERED: "已送达",
    Status.TRANSFER_FAILED: "流转失败",
    Status.ROUTE: "联办中",
    Status.ROUTE_APPROVED: "联办通过",
    Status.ROUTE_FAILED: "联办未成",
    Status.REVOCATION_REQUESTED: "撤销中（联办）",
    Status.REVOKED: "已撤销（联办）",
    Status.COMPENSATING: "退件处理",
    Status.CLOSED: "办结",
    Status.CLOSED_REJECTED: "退件办结",
    Status.CLOSED_WITHDRAWN: "撤回办结",
    Status.CLOSED_DEEMED_WITHDRAWN: "视为撤回办结",
}
TERMINAL = frozenset(
    {Phase.CLOSED, Phase.CLOSED_REJECTED, Phase.CLOSED_WITHDRAWN, Phase.CLOSED_DEEMED_WITHDRAWN}
)


class On(StrEnum):
    """What moves an intake case."""

    SUBMITTED = "submitted"
    APPLIED_ONLINE = "applied-online"
    REVIEW_PASSED = "review-passed"
    REVIEW_SUPPLEMENT = "review-supplement"
    REVIEW_REFUSED = "review-refused"
    SUPPLEMENT_PROVIDED = "supplement-provided"
    SUPPLEMENT_DUE = "supplement-due"
    SUPPLEMENT_DUE_REFUSED = "supplement-due-refused"
    WITHDRAW = "withdraw"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not-accepted"
    SUPPLEMENT_REQUESTED = "supplement-requested"
    APPROVED = "decided-approved"
    DENIED = "decided-denied"
    CANCELLED = "cancelled"
    DEEMED_WITHDRAWN = "deemed-withdrawn"
    DEADLINE_NOTICE = "deadline-notice"
    ANSWER_DUE = "answer-due"
    DELIVERY_FAILED = "delivery-failed"
    DELIVERED = "delivered"
    UNDO = "undo"
    COMPENSATED = "compensated"
    COMPENSATED_WITHDRAWN = "compensated-withdrawn"
    COMPENSATED_DEEMED_WITHDRAWN = "compensated-deemed-withdrawn"
    ROUTE_PASSED = "route-review-passed"
    LEG_OPENED = "leg-opened"
    LEG_ANSWERED = "leg-answered"
    ROUTE_APPROVED = "route-approved"
    ROUTE_REFUSED = "route-refused"
    REVOKE = "revoke"
    REVOKED = "revoked"
    ROUTE_DONE = "route-done"
    OTHER = "other-event"


TRIGGER_LABELS: dict[On, str] = {
    On.SUBMITTED: "窗口收件 (the window took the application)",
    On.APPLIED_ONLINE: "网上申请 (全程网办: the applicant applied online, signed in with the "
    "region's identity provider)",
    On.REVIEW_PASSED: "形式审查通过: Update `record_formal_review(pass)` or policy",
    On.REVIEW_SUPPLEMENT: "一次性告知补正: Update `record_formal_review(supplement)` or policy",
    On.REVIEW_REFUSED: "不予收件: Update `record_formal_review(refuse)`",
    On.SUPPLEMENT_PROVIDED: "补正材料: Update `provide_supplement`",
    On.SUPPLEMENT_DUE: "补正期限届满 (timer: the item's 补正 working days / B's due time)",
    On.SUPPLEMENT_DUE_REFUSED: "补正期限届满 at the window, the item's rules refuse "
    "(`on_missed_supplement: refused`)",
    On.WITHDRAW: "申请人撤回: Update `withdraw`",
    On.ACCEPTED: "B's `accepted` event",
    On.NOT_ACCEPTED: "B's `not-accepted` event",
    On.SUPPLEMENT_REQUESTED: "B's `supplement-requested` event",
    On.APPROVED: "B's `decided` event (approved)",
    On.DENIED: "B's `decided` event (denied)",
    On.CANCELLED: "B's `cancelled` event",
    On.DEEMED_WITHDRAWN: "B's `cancelled` event for a missed 补正 (sent under step "
    "`deemed-withdrawn`)",
    On.DEADLINE_NOTICE: "B's `deadline-warning` / `deadline-breached` event",
    On.ANSWER_DUE: "答复超时 (timer: `answer_timeout`; `cancel_timeout` once A asked B to cancel)",
    On.DELIVERY_FAILED: "`delivery_failed` signal (resends of an event ran out)",
    On.DELIVERED: "结果送达: Update `confirm_delivery` or policy",
    On.UNDO: "补偿一步 (one effect undone; `compensation_step_delay` apart)",
    On.COMPENSATED: "补偿完成 (nothing left to undo)",
    On.COMPENSATED_WITHDRAWN: "补偿完成, the applicant having withdrawn (outcome `withdrawn`)",
    On.COMPENSATED_DEEMED_WITHDRAWN: "补偿完成 after 视为撤回 (outcome `deemed-withdrawn`)",
    On.ROUTE_PASSED: "形式审查通过, 多地联办 (the same Update or policy as `review-passed`)",
    On.LEG_OPENED: "联办段开始 (a leg's own workflow, started by the route's hub)",
    On.LEG_ANSWERED: "a leg's answer (`route_signal` from the leg's workflow: approved, "
    "refused, cancelled, revoked)",
    On.ROUTE_APPROVED: "every leg approved (the hub's route model)",
    On.ROUTE_REFUSED: "a leg refused or the applicant withdrew, and the route is unwound",
    On.REVOKE: "the hub asks a leg to have its approval revoked (`route_signal`)",
    On.REVOKED: "the leg region's `revoked` event",
    On.ROUTE_DONE: "the route's result delivered: the hub closes its legs (`route_signal`)",
    On.OTHER: "any other event",
}


class IntakeState(CaseRecord):
    """Everything an intake workflow keeps between two steps, and carries across
    continue-as-new as it is: the workflow holds no other case state."""

    phase: Phase = Phase.RECEIVED
    materials: tuple[MaterialRef, ...] = ()  # the case file: application plus 补正
    done: tuple[Effect, ...] = ()  # what compensation undoes, in the order it was done
    due: datetime | None = None  # the one timer the phase runs (see `due`)
    reason: str = ""  # why the case is being closed rejected, or withdrawn
    notifications: int = 0
    supplements_sent: int = 0
    review_rounds: int = 0  # 补正 requests of A's own formal review (一次性告知)
    last_supplied: tuple[str, ...] = ()  # the materials the last 补正 at A's review brought
    escalations: int = 0
    route: RouteProgress | None = None  # 多地联办: the legs' progress (the hub only)
    # What the workflow has told the route's other workflows: legs started, instructions sent
    # (the hub), answers reported (a leg); each once, across continue-as-new.
    route_told: tuple[str, ...] = ()

    @property
    def closed(self) -> bool:
        return self.phase in TERMINAL


class IntakeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_no: CaseNo
    item_code: str
    item_version: int
    origin_region: RegionCode
    processing_region: RegionCode
    required_materials: tuple[str, ...] = ()  # mandatory and not obtainable by data sharing
    materials: tuple[MaterialRef, ...] = ()
    fee_fen: int = Field(default=0, ge=0)
    # From the catalog item (decision 0026): the applicant's 补正 time at the window in working
    # days (None: the timings' default) and what a missed 补正 means there.
    supplement_working_days: int | None = Field(default=None, ge=1, le=60)
    on_missed_supplement: MissedSupplement = "withdrawn"
    policy: AutoPolicy = AutoPolicy()
    timings: CaseTimings = CaseTimings()
    carry: IntakeState | None = None  # the state handed over by continue-as-new
    # The clerk who took the application at the window, or (全程网办) the applicant.
    received_by: Actor | None = None
    # How the case runs (decision 0034); absent in cases started before cases named their
    # mode: the mode the region pair implies, as it was then.
    mode: CaseMode = "异地代收代办"
    # 全程网办: how the applicant chose to receive the result (网上送达 or 邮寄).
    delivery: Literal["online", "mail"] | None = None
    # 多地联办 (decision 0035): the route the case runs (the hub), or the leg this case is of
    # a route whose hub is the case `leg.route_case_no` in this region.
    route: RoutePlan | None = None
    leg: LegBrief | None = None

    @model_validator(mode="before")
    @classmethod
    def _implied_mode(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("mode") is None:
            origin, processing = data.get("origin_region"), data.get("processing_region")
            if isinstance(origin, str) and isinstance(processing, str):
                return {**data, "mode": implied_mode(origin, processing)}
        return data

    @property
    def online(self) -> bool:
        return self.mode == ONLINE


def start(request: IntakeRequest) -> IntakeState:
    return request.carry or IntakeState(
        case_no=request.case_no,
        region=request.origin_region,
        status=Status.RECEIVED,
        materials=request.materials,
    )


P = Phase
_BEFORE_FORWARDING = (P.FORMAL_REVIEW, P.SUPPLEMENT_PENDING)
# B has or may have the case
_WITH_B = (P.IN_TRANSIT, P.SUPPLEMENT_BEFORE_ACCEPTANCE, P.PROCESSING, P.SUPPLEMENT_REQUESTED)
_B_SUPPLEMENT = (P.SUPPLEMENT_BEFORE_ACCEPTANCE, P.SUPPLEMENT_REQUESTED)
_ASKED_TO_CANCEL = (P.WITHDRAWAL_REQUESTED, P.RECALL_REQUESTED)
_UNDECIDED = (*_WITH_B, *_ASKED_TO_CANCEL)
_S = Status
_E = Effect
_T = EventType
N = _E.NOTIFY_APPLICANT

TABLE: Table[Phase, On] = Table(
    [
        *rows(
            [P.RECEIVED],
            On.SUBMITTED,
            P.FORMAL_REVIEW,
            (_S.RECEIVED, _S.FORMAL_REVIEW),
            effects=(_E.TAKE_MATERIALS,),
            says="materials taken",
        ),
        *rows(
            [P.RECEIVED],
            On.APPLIED_ONLINE,
            P.IN_TRANSIT,
            (_S.RECEIVED, _S.FORMAL_REVIEW_PASSED, _S.FORWARDED, _S.IN_TRANSIT),
            effects=(_E.ISSUE_RECEIPT, _E.CHARGE_FEE),
            sends=(_T.FORWARDED,),
            says="全程网办: no window review (the processing region reviews) and no materials "
            "taken or returned (the files are uploaded); electronic receipt, fee (if any) and "
            "the `forwarded` event in one transaction",
        ),
        *rows(
            [P.FORMAL_REVIEW],
            On.REVIEW_PASSED,
            P.IN_TRANSIT,
            (_S.FORMAL_REVIEW_PASSED, _S.FORWARDED, _S.IN_TRANSIT),
            effects=(_E.ISSUE_RECEIPT, _E.CHARGE_FEE),
            sends=(_T.FORWARDED,),
            says="receipt, fee (if any) and the `forwarded` event with the case file as it "
            "stands (补正 included) in one transaction; B's answer due in `answer_timeout`",
        ),
        *rows(
            [P.FORMAL_REVIEW],
            On.REVIEW_SUPPLEMENT,
            P.SUPPLEMENT_PENDING,
            (_S.SUPPLEMENT_PENDING,),
            effects=(N, _E.ISSUE_SUPPLEMENT_NOTICE),
            says="applicant told what is missing, as one complete list; due in the item's 补正 "
            "working days; a further request only for what the last 补正 raised",
        ),
        *rows(
            [P.FORMAL_REVIEW],
            On.REVIEW_REFUSED,
            P.COMPENSATING,
            (_S.REFUSED_AT_INTAKE, _S.COMPENSATING),
            says="nothing was sent to B",
        ),
        *rows(
            [P.SUPPLEMENT_PENDING],
            On.SUPPLEMENT_PROVIDED,
            P.FORMAL_REVIEW,
            (_S.FORMAL_REVIEW,),
            says="materials join the case file (and the `cases` row); review again",
        ),
        *rows(
            [P.SUPPLEMENT_PENDING],
            On.SUPPLEMENT_DUE,
            P.COMPENSATING,
            (_S.DEEMED_WITHDRAWN, _S.COMPENSATING),
            says="视为撤回: 补正 not provided in time; compensated as a withdrawal",
        ),
        *rows(
            [P.SUPPLEMENT_PENDING],
            On.SUPPLEMENT_DUE_REFUSED,
            P.COMPENSATING,
            (_S.REFUSED_AT_INTAKE, _S.COMPENSATING),
            says="不予收件: 补正 not provided in time",
        ),
        *rows(
            _BEFORE_FORWARDING,
            On.WITHDRAW,
            P.COMPENSATING,
            (_S.COMPENSATING,),
            says="nothing was sent to B",
        ),
        *rows(
            _WITH_B,
            On.WITHDRAW,
            P.WITHDRAWAL_REQUESTED,
            (_S.WITHDRAWAL_REQUESTED,),
            sends=(_T.WITHDRAWN,),
            says="B cancels if it has not decided, else answers with its decision",
        ),
        *rows(
            [P.IN_TRANSIT],
            On.ACCEPTED,
            P.PROCESSING,
            (_S.PROCESSING,),
            says="B's deadline recorded",
        ),
        *rows(
            [P.IN_TRANSIT, P.SUPPLEMENT_BEFORE_ACCEPTANCE, *_ASKED_TO_CANCEL],
            On.NOT_ACCEPTED,
            P.COMPENSATING,
            (_S.NOT_ACCEPTED, _S.COMPENSATING),
            says="B's answer ends the case",
        ),
        *rows(
            [P.IN_TRANSIT],
            On.SUPPLEMENT_REQUESTED,
            P.SUPPLEMENT_BEFORE_ACCEPTANCE,
            (_S.SUPPLEMENT_BEFORE_ACCEPTANCE,),
            effects=(N,),
            says="B asks before accepting: applicant told what B needs and by when",
        ),
        *rows(
            [P.PROCESSING],
            On.SUPPLEMENT_REQUESTED,
            P.SUPPLEMENT_REQUESTED,
            (_S.SUPPLEMENT_REQUESTED,),
            effects=(N,),
            says="applicant told what B needs and by when",
        ),
        *rows(
            [P.SUPPLEMENT_BEFORE_ACCEPTANCE],
            On.ACCEPTED,
            P.SUPPLEMENT_REQUESTED,
            (_S.SUPPLEMENT_REQUESTED,),
            says="B had accepted before it asked (its events crossed): B's deadline recorded",
        ),
        *rows(
            [P.SUPPLEMENT_BEFORE_ACCEPTANCE],
            On.SUPPLEMENT_PROVIDED,
            P.IN_TRANSIT,
            (_S.IN_TRANSIT,),
            sends=(_T.SUPPLEMENT_PROVIDED,),
            says="materials join A's case file and go to B in `supplement-provided`; B's "
            "answer due in `answer_timeout`",
        ),
        *rows(
            [P.SUPPLEMENT_REQUESTED],
            On.SUPPLEMENT_PROVIDED,
            P.PROCESSING,
            (_S.PROCESSING,),
            sends=(_T.SUPPLEMENT_PROVIDED,),
            says="materials join A's case file and go to B in `supplement-provided`",
        ),
        *rows(
            [P.SUPPLEMENT_BEFORE_ACCEPTANCE],
            On.SUPPLEMENT_DUE,
            P.IN_TRANSIT,
            (_S.IN_TRANSIT,),
            says="no more 补正 taken; B ends the case (视为撤回, or 不予受理 by the item's rules); "
            "B's answer due in `answer_timeout`",
        ),
        *rows(
            [P.SUPPLEMENT_REQUESTED],
            On.SUPPLEMENT_DUE,
            P.PROCESSING,
            (_S.PROCESSING,),
            says="no more 补正 taken; B ends the case (视为撤回, or 不予许可 by the item's rules)",
        ),
        *rows(
            [P.PROCESSING, P.SUPPLEMENT_REQUESTED],
            On.DEADLINE_NOTICE,
            None,
            says="noted; a breach marks the case overdue",
        ),
        *rows(
            _UNDECIDED,
            On.APPROVED,
            P.RESULT_RECEIVED,
            (_S.RESULT_RECEIVED,),
            effects=(N, _E.POST_RESULT),
            says="B's decision stands, also over a withdrawal or recall; applicant told; "
            "全程网办 by post: the result goes to the post adapter (`post-result`)",
        ),
        *rows(
            _UNDECIDED,
            On.DENIED,
            P.COMPENSATING,
            (_S.RESULT_RECEIVED, _S.COMPENSATING),
            says="B's decision stands, also over a withdrawal or recall",
        ),
        *rows(
            _ASKED_TO_CANCEL,
            On.CANCELLED,
            P.COMPENSATING,
            (_S.COMPENSATING,),
            says="B cancelled its side: outcome `withdrawn` or `transfer-failed`",
        ),
        *rows(
            _UNDECIDED,
            On.DEEMED_WITHDRAWN,
            P.COMPENSATING,
            (_S.DEEMED_WITHDRAWN, _S.COMPENSATING),
            says="视为撤回 at B (a missed 补正): compensated as a withdrawal, also over a "
            "withdrawal or recall",
        ),
        *rows(
            [P.IN_TRANSIT],
            On.ANSWER_DUE,
            P.RECALL_REQUESTED,
            (_S.TRANSFER_FAILED, _S.RECALL_REQUESTED),
            sends=(_T.RECALLED,),
            says="no answer from B: `recalled` event; A waits for B's answer to it",
        ),
        *rows(
            _WITH_B,
            On.DELIVERY_FAILED,
            P.RECALL_REQUESTED,
            (_S.TRANSFER_FAILED, _S.RECALL_REQUESTED),
            sends=(_T.RECALLED,),
            says="an event never receipted: `recalled` event; A waits for B's answer to it",
        ),
        *rows(
            _ASKED_TO_CANCEL,
            On.ANSWER_DUE,
            None,
            effects=(_E.ESCALATE_UNANSWERED,),
            says="operators alarmed; A keeps waiting (closing now could split the case)",
        ),
        *rows(
            _ASKED_TO_CANCEL,
            On.DELIVERY_FAILED,
            None,
            says="noted; A keeps waiting for B's answer",
        ),
        *rows(
            [P.RESULT_RECEIVED],
            On.DELIVERED,
            P.CLOSED,
            (_S.RESULT_DELIVERED, _S.CLOSED),
            sends=(_T.RESULT_DELIVERED,),
            says="`result-delivered` event to B (mail needs a tracking number); 全程网办 "
            "online: taken by the workflow as the result arrives (电子送达)",
        ),
        # --- 多地联办: the hub (the route's case) -------------------------------------------
        *rows(
            [P.FORMAL_REVIEW],
            On.ROUTE_PASSED,
            P.ROUTE,
            (_S.FORMAL_REVIEW_PASSED, _S.ROUTE),
            effects=(_E.ISSUE_RECEIPT, _E.CHARGE_FEE),
            says="receipt and fee (if any); the legs that wait for none opened as cases of their "
            "own (`-1` …) in the same transaction, each forwarded to its region by its workflow",
        ),
        *rows(
            [P.ROUTE],
            On.LEG_ANSWERED,
            None,
            says="the route model takes the answer: legs whose legs are approved start (with "
            "their documents); after a refusal legs under way are cancelled and approved ones "
            "revoked, the last approved first",
        ),
        *rows(
            [P.ROUTE],
            On.WITHDRAW,
            None,
            (_S.WITHDRAWAL_REQUESTED, _S.ROUTE),
            says="the route is given up and unwound as after a refusal",
        ),
        *rows(
            [P.ROUTE],
            On.ROUTE_APPROVED,
            P.RESULT_RECEIVED,
            (_S.ROUTE_APPROVED, _S.RESULT_RECEIVED),
            effects=(N,),
            says="every leg approved: applicant told; the legs close when the result is delivered",
        ),
        *rows(
            [P.ROUTE],
            On.ROUTE_REFUSED,
            P.COMPENSATING,
            (_S.ROUTE_FAILED, _S.COMPENSATING),
            says="the route is unwound in every region; the accepting region compensates its own",
        ),
        # --- 多地联办: a leg, in the accepting region -----------------------------------------
        *rows(
            [P.RECEIVED],
            On.LEG_OPENED,
            P.IN_TRANSIT,
            (_S.RECEIVED, _S.FORWARDED, _S.IN_TRANSIT),
            sends=(_T.FORWARDED,),
            says="no review and no effects of its own (the hub's case has them): `forwarded` "
            "with the leg's brief; the answer due in `answer_timeout`",
        ),
        *rows(
            [P.RESULT_RECEIVED],
            On.REVOKE,
            P.REVOKING,
            (_S.REVOCATION_REQUESTED,),
            sends=(_T.REVOCATION_REQUESTED,),
            says="`revocation-requested` to the leg's region; its answer due in `cancel_timeout`",
        ),
        *rows(
            [P.REVOKING],
            On.REVOKED,
            P.CLOSED_REJECTED,
            (_S.REVOKED, _S.CLOSED_REJECTED),
            says="the leg's region revoked its approval",
        ),
        *rows(
            [P.REVOKING],
            On.ANSWER_DUE,
            None,
            effects=(_E.ESCALATE_UNANSWERED,),
            says="operators alarmed; the leg keeps waiting for the revocation",
        ),
        *rows(
            [P.RESULT_RECEIVED],
            On.ROUTE_DONE,
            P.CLOSED,
            (_S.RESULT_DELIVERED, _S.CLOSED),
            sends=(_T.RESULT_DELIVERED,),
            says="the route's result reached the applicant: `result-delivered` (channel "
            "`route`) closes the leg's region too",
        ),
        *rows(
            [P.COMPENSATING],
            On.UNDO,
            None,
            effects=tuple(COMPENSATION_OF.values()),
            says="the last effect not yet undone: refund-fee, void-receipt, return-materials",
        ),
        *rows(
            [P.COMPENSATING],
            On.COMPENSATED,
            P.CLOSED_REJECTED,
            (_S.CLOSED_REJECTED,),
            effects=(N,),
            sends=(_T.RESULT_DELIVERED,),
            says="applicant told why; a denial is reported to B as delivered with the notice",
        ),
        *rows(
            [P.COMPENSATING],
            On.COMPENSATED_WITHDRAWN,
            P.CLOSED_WITHDRAWN,
            (_S.CLOSED_WITHDRAWN,),
            effects=(N,),
            says="applicant told the withdrawal is done: its own ending, not a refusal",
        ),
        *rows(
            [P.COMPENSATING],
            On.COMPENSATED_DEEMED_WITHDRAWN,
            P.CLOSED_DEEMED_WITHDRAWN,
            (_S.CLOSED_DEEMED_WITHDRAWN,),
            effects=(N,),
            says="applicant told the case is deemed withdrawn: its own ending, not a refusal",
        ),
    ]
)

# The people's steps: which Update takes each, and which policy field can take it instead.
PERSON_STEPS: dict[On, str] = {
    On.REVIEW_PASSED: "record_formal_review",
    On.REVIEW_SUPPLEMENT: "record_formal_review",
    On.REVIEW_REFUSED: "record_formal_review",
    On.SUPPLEMENT_PROVIDED: "provide_supplement",
    On.WITHDRAW: "withdraw",
    On.DELIVERED: "confirm_delivery",
}
# The steps the applicant of a 全程网办 case takes (through /applicant/...).
APPLICANT_STEPS = frozenset({On.SUPPLEMENT_PROVIDED, On.WITHDRAW, On.DELIVERED})
# The steps an item's automatic policy (`AutoPolicy`) can take instead of a person.
POLICY_STEPS = frozenset({On.REVIEW_PASSED, On.REVIEW_SUPPLEMENT, On.DELIVERED})

IntakeInput = FormalReview | SupplementMaterials | Withdrawal | DeliveryConfirmation


def input_trigger(given: IntakeInput) -> Trigger[On]:
    if isinstance(given, FormalReview):
        kind = {
            "pass": On.REVIEW_PASSED,
            "supplement": On.REVIEW_SUPPLEMENT,
            "refuse": On.REVIEW_REFUSED,
        }[given.outcome]
    elif isinstance(given, SupplementMaterials):
        kind = On.SUPPLEMENT_PROVIDED
    elif isinstance(given, Withdrawal):
        kind = On.WITHDRAW
    else:
        kind = On.DELIVERED
    return Trigger(kind, "person", given, actor=given.actor)


def allows(request: IntakeRequest, state: IntakeState, kind: On) -> bool:
    """May a person take this step now? (Update validators ask this.)"""
    reviews = (On.REVIEW_PASSED, On.REVIEW_SUPPLEMENT, On.REVIEW_REFUSED)
    if kind in reviews and request.policy.formal_review != "manual":
        return False
    if kind is On.DELIVERED and not _delivered_by_person(request):
        return False
    return TABLE.allows(state.phase, kind)


def _delivered_by_person(request: IntakeRequest) -> bool:
    """全程网办: the applicant confirms a posted result (online delivery is the workflow's);
    otherwise a person at the window, unless the item's policy delivers."""
    if request.online:
        return request.delivery == "mail"
    return request.policy.delivery == "manual"


ONLINE_REVIEW = "全程网办：由办理地审查"
ONLINE_DELIVERY = "电子送达"


def refusal(request: IntakeRequest, state: IntakeState, given: object) -> RuleBroken | None:
    """A rule of law that refuses a person's step the table allows now (Update validators ask
    this after `allows`): the formal review's 补正 is one complete list (一次性告知)."""
    if isinstance(given, FormalReview) and given.outcome == "supplement":
        return one_time_notice(state.review_rounds, state.last_supplied, given)
    return None


def deemed_withdrawal(request: IntakeRequest, event: InboundEvent) -> bool:
    """B's `cancelled` for a missed 补正 (视为撤回), told from its answer to a withdrawal or a
    recall by the event id its step gives it."""
    sent_as = event_id_for(request.case_no, DEEMED_WITHDRAWN_STEP, request.processing_region)
    return event.type is EventType.CANCELLED and event.event_id == sent_as


_EVENT_TRIGGERS = {
    EventType.ACCEPTED: On.ACCEPTED,
    EventType.NOT_ACCEPTED: On.NOT_ACCEPTED,
    EventType.SUPPLEMENT_REQUESTED: On.SUPPLEMENT_REQUESTED,
    EventType.CANCELLED: On.CANCELLED,
    EventType.DEADLINE_WARNING: On.DEADLINE_NOTICE,
    EventType.DEADLINE_BREACHED: On.DEADLINE_NOTICE,
    EventType.REVOKED: On.REVOKED,
}


def _route_signal(item: RouteSignal) -> Trigger[On]:
    """The hub's instruction to a leg, or a leg's answer to the hub: the workflow's own."""
    if item.kind == "answer":
        return Trigger(On.LEG_ANSWERED, "workflow", item, event_id=item.event_id, queued=True)
    if item.kind == "cancel":
        given = Withdrawal(reason=f"联办终止：{item.reason or '其他联办事项未成'}")
        return Trigger(On.WITHDRAW, "workflow", given, event_id=item.event_id, queued=True)
    kind = On.REVOKE if item.kind == "revoke" else On.ROUTE_DONE
    return Trigger(kind, "workflow", item, event_id=item.event_id, queued=True)


def _queued(
    request: IntakeRequest, item: InboundEvent | DeliveryFailure | RouteSignal
) -> Trigger[On]:
    if isinstance(item, DeliveryFailure):
        return Trigger(On.DELIVERY_FAILED, "event", item, queued=True)
    if isinstance(item, RouteSignal):
        return _route_signal(item)
    if deemed_withdrawal(request, item):
        kind = On.DEEMED_WITHDRAWN
    elif item.type is EventType.DECIDED:
        approved = item.data.get("outcome") == "approved"
        kind = On.APPROVED if approved else On.DENIED
    else:
        kind = _EVENT_TRIGGERS.get(item.type, On.OTHER)
    return Trigger(kind, "event", item, event_id=item.event_id, queued=True)


def automatic(request: IntakeRequest, state: IntakeState) -> Trigger[On] | None:
    """The step the case takes now without a person or a timer, if any."""
    phase = state.phase
    if phase is P.RECEIVED and request.leg is not None:
        return Trigger(On.LEG_OPENED, "workflow")
    if phase is P.ROUTE and state.route is not None:
        outcome = state.route.outcome()
        if outcome is RouteOutcome.APPROVED:
            return Trigger(On.ROUTE_APPROVED, "workflow")
        if outcome is RouteOutcome.REFUSED:
            return Trigger(On.ROUTE_REFUSED, "workflow")
        return None
    if phase is P.RESULT_RECEIVED and request.leg is not None:
        return None  # the hub closes the leg or has it revoked
    if phase is P.RECEIVED:
        taken_by = request.received_by
        kind = On.APPLIED_ONLINE if request.online else On.SUBMITTED
        return Trigger(kind, "person" if taken_by else "workflow", actor=taken_by)
    if phase is P.FORMAL_REVIEW and request.policy.formal_review == "pass":
        have = {m.name for m in state.materials}
        missing = tuple(m for m in request.required_materials if m not in have)
        if missing:
            # A second round asks again for what the last 补正 did not bring: it concerns those
            # materials (一次性告知).
            again = state.review_rounds > 0
            review = FormalReview(
                outcome="supplement",
                missing=missing,
                reason="mandatory materials missing",
                concerns_new_materials=again,
                concerning=state.last_supplied if again else (),
            )
            return Trigger(On.REVIEW_SUPPLEMENT, "policy", review)
        review = FormalReview(outcome="pass", reason="automatic policy: materials complete")
        return Trigger(On.REVIEW_PASSED, "policy", review)
    if phase is P.RESULT_RECEIVED and request.online:
        if request.delivery == "mail":
            return None  # the applicant confirms the posted result
        return Trigger(On.DELIVERED, "workflow", DeliveryConfirmation(channel="online"))
    if phase is P.RESULT_RECEIVED and request.policy.delivery != "manual":
        confirmation = DeliveryConfirmation(channel=request.policy.delivery, tracking_no=None)
        return Trigger(On.DELIVERED, "policy", confirmation)
    if phase is P.COMPENSATING:
        if not state.done:
            return Trigger(ENDINGS.get(state.outcome or "", On.COMPENSATED), "workflow")
        if not request.timings.compensation_step_delay:
            return Trigger(On.UNDO, "workflow")
    return None


def due(request: IntakeRequest, state: IntakeState) -> tuple[datetime, Trigger[On]] | None:
    """The timer the case runs in its phase: when, and what it does then."""
    if state.due is None:
        return None
    phase = state.phase
    if phase is P.COMPENSATING and state.done:
        return state.due, Trigger(On.UNDO, "timer")
    if phase is P.SUPPLEMENT_PENDING and request.on_missed_supplement == "refused":
        return state.due, Trigger(On.SUPPLEMENT_DUE_REFUSED, "timer")
    if phase in (P.SUPPLEMENT_PENDING, *_B_SUPPLEMENT):
        return state.due, Trigger(On.SUPPLEMENT_DUE, "timer")
    if phase in (P.IN_TRANSIT, P.REVOKING, *_ASKED_TO_CANCEL):
        return state.due, Trigger(On.ANSWER_DUE, "timer")
    return None


def next_trigger(request: IntakeRequest, state: IntakeState, now: datetime) -> Trigger[On] | None:
    """What the case does next without waiting: the oldest arrived event, a step the policy
    or the workflow takes, or a timer already due. None: it waits.

    An event that arrived before the case reached the phase that answers it waits behind the
    steps the case takes on its own: a workflow whose first task is retried (its worker died)
    starts from the beginning with every signal already in its history, B's `accepted` and
    `decided` included. Only when the case rests is such an event taken, and noted as ignored."""
    first = _queued(request, state.queue[0]) if state.queue else None
    if first is not None and TABLE.allows(state.phase, first.kind):
        return first
    taken = automatic(request, state)
    if taken is not None:
        return taken
    timer = due(request, state)
    if timer is not None and timer[0] <= now:
        return timer[1]
    return first


def step(
    request: IntakeRequest, state: IntakeState, trigger: Trigger[On], now: datetime
) -> Result[IntakeState]:
    if request.route is not None and trigger.kind is On.REVIEW_PASSED:
        # The same review (a person's Update or the policy) passes a 多地联办 case into its route.
        trigger = dataclasses.replace(trigger, kind=On.ROUTE_PASSED)
    return apply(TABLE, HANDLERS, request, state, trigger, now)


# --- handlers: the details of each move ------------------------------------------------------

R = IntakeRequest
St = IntakeState
Tr = Trigger[On]


def _notify(state: St, tx: Tx, message: str) -> None:
    """What the applicant is told, in Chinese: what happened and what to do next (the adapter
    adds the case number; no personal data here, the phone is opened only in the call)."""
    count = tx.changes.get("notifications", state.notifications) + 1
    tx.effect(N, key=f"notify-applicant:{count}", detail=message)
    tx.set(notifications=count)


def _reject(request: R, tx: Tx, outcome: str, reason: str) -> None:
    tx.step(_S.COMPENSATING, detail=f"{outcome}: {reason}")
    tx.set(outcome=outcome, reason=reason, due=tx.now + request.timings.compensation_step_delay)


def _submitted(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    tx.step(_S.RECEIVED, detail=f"item {request.item_code} v{request.item_version}")
    tx.effect(_E.TAKE_MATERIALS, detail=f"{len(state.materials)} materials")
    tx.step(_S.FORMAL_REVIEW)
    tx.set(done=(*state.done, _E.TAKE_MATERIALS))


def _applied_online(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    tx.step(
        _S.RECEIVED,
        detail=f"item {request.item_code} v{request.item_version}; {request.mode}, "
        f"{len(state.materials)} files uploaded",
    )
    _forward(request, state, tx, ONLINE_REVIEW)


def _receipt_and_fee(request: R, state: St, tx: Tx) -> tuple[Effect, ...]:
    done = [*state.done, _E.ISSUE_RECEIPT]
    tx.effect(_E.ISSUE_RECEIPT)
    if request.fee_fen:
        tx.effect(_E.CHARGE_FEE, amount_fen=request.fee_fen)
        done.append(_E.CHARGE_FEE)
    return tuple(done)


def _forward(request: R, state: St, tx: Tx, why: str) -> None:
    """The review passed (the window's, or none: 全程网办): receipt, fee, `forwarded`."""
    tx.step(_S.FORMAL_REVIEW_PASSED, detail=why)
    done = _receipt_and_fee(request, state, tx)
    tx.write(ForwardCase(materials=state.materials))
    tx.step(
        _S.FORWARDED,
        event_id=tx.event_id("forwarded"),
        detail=f"to {request.processing_region}",
    )
    tx.step(_S.IN_TRANSIT)
    tx.set(done=done, due=tx.now + request.timings.answer_timeout)


def _review(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    review = trigger.payload
    assert isinstance(review, FormalReview)
    if review.outcome == "pass":
        _forward(request, state, tx, review.reason or "materials complete")
        return
    if review.outcome == "supplement":
        days = request.supplement_working_days or request.timings.supplement_working_days
        until = DeadlineClock(request.timings.working_day).deadline(tx.now, days).at
        listed = ", ".join(review.missing)
        reason = follow_up_reason(review, listed)
        _notify(state, tx, f"材料需要补正：{reason}。请按一次性告知书所列期限到受理窗口一次补齐。")
        # The 一次性告知书 the window hands over: the complete list, the due day, the reason.
        notice = {"missing": list(review.missing), "due": until.isoformat(), "reason": reason}
        tx.effect(
            _E.ISSUE_SUPPLEMENT_NOTICE,
            key=f"issue-supplement-notice:{state.review_rounds + 1}",
            detail=json.dumps(notice, ensure_ascii=False),
        )
        follow_up = (
            f" (concerns the last 补正: {', '.join(review.concerning)})"
            if review.concerns_new_materials
            else ""
        )
        tx.step(
            _S.SUPPLEMENT_PENDING,
            detail=f"{listed}{follow_up}; due {until.astimezone(CST):%Y-%m-%d %H:%M}",
        )
        tx.set(due=until, review_rounds=state.review_rounds + 1)
    else:
        tx.step(_S.REFUSED_AT_INTAKE, detail=review.reason)
        _reject(request, tx, "refused-at-intake", review.reason)


def _supplement_provided(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    given = trigger.payload
    assert isinstance(given, SupplementMaterials)
    tx.write(AddMaterials(materials=given.materials))
    tx.set(materials=state.materials + given.materials, due=None)
    if state.phase is P.SUPPLEMENT_PENDING:
        tx.note(f"补正 provided: {len(given.materials)} materials")
        tx.step(_S.FORMAL_REVIEW)
        tx.set(last_supplied=tuple(m.name for m in given.materials))
        return
    sent_round = state.supplements_sent + 1
    sent = tx.send(
        f"supplement-provided:{sent_round}",
        EventType.SUPPLEMENT_PROVIDED,
        request.processing_region,
        {"materials": [m.model_dump(mode="json") for m in given.materials]},
    )
    detail = f"补正 sent: {len(given.materials)} materials"
    if state.phase is P.SUPPLEMENT_BEFORE_ACCEPTANCE:
        tx.step(_S.IN_TRANSIT, event_id=sent, detail=detail)
        tx.set(supplements_sent=sent_round, due=tx.now + request.timings.answer_timeout)
        return
    tx.step(_S.PROCESSING, event_id=sent, detail=detail)
    tx.set(supplements_sent=sent_round)


MISSED_SUPPLEMENT = "补正 not provided in time"


def _supplement_due(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    if state.phase is P.SUPPLEMENT_PENDING:
        tx.step(_S.DEEMED_WITHDRAWN, detail=f"视为撤回: {MISSED_SUPPLEMENT}")
        _reject(request, tx, "deemed-withdrawn", MISSED_SUPPLEMENT)
        return
    detail = "补正 deadline passed; the processing region ends the case"
    if state.phase is P.SUPPLEMENT_BEFORE_ACCEPTANCE:
        tx.step(_S.IN_TRANSIT, detail=detail)
        tx.set(due=tx.now + request.timings.answer_timeout)
        return
    tx.step(_S.PROCESSING, detail=detail)
    tx.set(due=None)


def _supplement_due_refused(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    tx.step(_S.REFUSED_AT_INTAKE, detail=MISSED_SUPPLEMENT)
    _reject(request, tx, "refused-at-intake", MISSED_SUPPLEMENT)


def _withdraw(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    withdrawal = trigger.payload
    assert isinstance(withdrawal, Withdrawal)
    if state.phase is P.ROUTE:
        assert state.route is not None
        tx.step(_S.WITHDRAWAL_REQUESTED, detail=withdrawal.reason)
        tx.step(_S.ROUTE, detail="the route is unwound")
        given_up = state.route.abandon(withdrawal.reason)
        tx.set(reason=withdrawal.reason, route=_route_moves(request, given_up, tx))
        return
    if state.phase in _BEFORE_FORWARDING:
        _reject(request, tx, "withdrawn", withdrawal.reason)
        return
    sent = tx.send(
        "withdrawn", EventType.WITHDRAWN, request.processing_region, {"reason": withdrawal.reason}
    )
    tx.step(_S.WITHDRAWAL_REQUESTED, event_id=sent)
    tx.set(reason=withdrawal.reason, due=tx.now + request.timings.cancel_timeout)


def _event(trigger: Tr) -> InboundEvent:
    event = trigger.payload
    assert isinstance(event, InboundEvent)
    return event


def _accepted(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    accepted = CaseAccepted.model_validate(event.data)
    if state.phase is P.SUPPLEMENT_BEFORE_ACCEPTANCE:
        tx.step(
            _S.SUPPLEMENT_REQUESTED,
            event_id=event.event_id,
            detail=f"accepted before its 补正 request; deadline {accepted.deadline:%Y-%m-%d %H:%M}",
        )
        tx.set(deadline=accepted.deadline)  # the 补正 due time stays
        return
    tx.step(
        _S.PROCESSING,
        event_id=event.event_id,
        detail=f"accepted; deadline {accepted.deadline:%Y-%m-%d %H:%M}",
    )
    tx.set(deadline=accepted.deadline, due=None)


def _not_accepted(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    reason = CaseNotAccepted.model_validate(event.data).reason
    tx.step(_S.NOT_ACCEPTED, event_id=event.event_id, detail=reason)
    _reject(request, tx, "not-accepted", reason)


def _supplement_requested(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    asked = SupplementRequested.model_validate(event.data)
    _notify(
        state,
        tx,
        f"办理部门要求补正材料：{'、'.join(asked.missing)}。请按补正材料通知书所列期限补交。",
    )
    before = state.phase is P.IN_TRANSIT  # B has not (to A's knowledge) accepted yet
    tx.step(
        _S.SUPPLEMENT_BEFORE_ACCEPTANCE if before else _S.SUPPLEMENT_REQUESTED,
        event_id=event.event_id,
        detail=", ".join(asked.missing),
    )
    tx.set(due=asked.due)


def _decided(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    decision = CaseDecided.model_validate(event.data)
    tx.step(
        _S.RESULT_RECEIVED,
        event_id=event.event_id,
        detail=f"{decision.outcome}: {decision.reason}",
    )
    tx.set(deadline=None, due=None)  # decided: the 承诺时限 no longer runs
    if decision.outcome == "approved":
        tx.set(outcome="approved")
        if request.leg is not None:
            return  # the route's hub tells the applicant when the whole route is done
        if request.online and request.delivery == "mail":
            # The post adapter opens the applicant's address for this call only.
            tx.effect(_E.POST_RESULT, detail="全程网办：邮寄送达")
            _notify(state, tx, "办理结果已出，将邮寄给您；收到后请在网上确认签收。")
        elif request.online:
            _notify(state, tx, "办理结果已出，请登录网上办事大厅查看并下载电子证照（电子送达）。")
        else:
            _notify(state, tx, "办理结果已出，请按约定的方式领取（窗口领取、邮寄或网上送达）。")
    else:
        _reject(request, tx, "denied", decision.reason)


def _cancelled(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    tx.note("processing region cancelled its side", event_id=event.event_id)
    recalled = state.phase is P.RECALL_REQUESTED
    _reject(
        request, tx, "transfer-failed" if recalled else "withdrawn", state.reason or "cancelled"
    )


def _deemed_withdrawn(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    tx.step(
        _S.DEEMED_WITHDRAWN,
        event_id=event.event_id,
        detail=f"视为撤回 at the processing region: {MISSED_SUPPLEMENT}",
    )
    tx.set(deadline=None)
    _reject(request, tx, "deemed-withdrawn", MISSED_SUPPLEMENT)


def _deadline_notice(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    notice = DeadlineNotice.model_validate(event.data)
    if notice.kind == "breached":
        tx.set(overdue=True)
    tx.note(f"deadline {notice.kind} ({notice.deadline:%Y-%m-%d})", event_id=event.event_id)


def _recall(request: R, tx: Tx, cause: str, reason: str) -> None:
    sent = tx.send(
        "recalled",
        EventType.RECALLED,
        request.processing_region,
        {"cause": cause, "reason": reason},
    )
    tx.step(_S.RECALL_REQUESTED, event_id=sent, detail=reason)
    tx.set(reason=reason, due=tx.now + request.timings.cancel_timeout)


def _answer_due(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    if state.phase is P.IN_TRANSIT:
        reason = "no answer from the processing region"
        tx.step(_S.TRANSFER_FAILED, detail=reason)
        _recall(request, tx, "answer-timeout", reason)
        return
    count = state.escalations + 1
    tx.effect(
        _E.ESCALATE_UNANSWERED,
        key=f"escalate-unanswered:{count}",
        detail=f"no answer from the processing region in {state.status}",
    )
    tx.set(escalations=count, due=None)


def _delivery_failed(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    failure = trigger.payload
    assert isinstance(failure, DeliveryFailure)
    detail = f"{failure.event_type.value}: {failure.reason}"
    if state.phase in _ASKED_TO_CANCEL:
        tx.note(f"not receipted ({detail}); still waiting for the processing region")
        return
    tx.step(_S.TRANSFER_FAILED, detail=detail)
    _recall(request, tx, "delivery-failed", f"{failure.event_type.value} never receipted")


def _delivered(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    confirmation = trigger.payload
    assert isinstance(confirmation, DeliveryConfirmation)
    if request.route is not None:
        # The route's legs tell their regions themselves when the hub closes them.
        tx.step(_S.RESULT_DELIVERED, detail=f"by {confirmation.channel}; 联办 legs closed")
        tx.step(_S.CLOSED, detail=state.outcome or "")
        return
    sent = tx.send(
        "result-delivered",
        EventType.RESULT_DELIVERED,
        request.processing_region,
        # Who confirmed it stays in A's step record; B's event says only how it was delivered.
        confirmation.model_dump(mode="json", exclude={"actor"}),
    )
    tracking = f" {confirmation.tracking_no}" if confirmation.tracking_no else ""
    online = f" ({ONLINE_DELIVERY})" if request.online and confirmation.channel == "online" else ""
    tx.step(
        _S.RESULT_DELIVERED,
        event_id=sent,
        detail=f"by {confirmation.channel}{tracking}{online}",
    )
    tx.step(_S.CLOSED, detail=state.outcome or "")


def _undo(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    undo = COMPENSATION_OF[state.done[-1]]
    amount = request.fee_fen if undo is _E.REFUND_FEE else 0
    tx.effect(undo, amount_fen=amount, detail=state.reason)
    tx.set(done=state.done[:-1], due=tx.now + request.timings.compensation_step_delay)


# A withdrawal and a 视为撤回 end in their own status, not as a refusal (issue 24 item 5): the
# outcome the compensation ran for picks the trigger, and the trigger the ending.
ENDINGS: dict[str, On] = {
    "withdrawn": On.COMPENSATED_WITHDRAWN,
    "deemed-withdrawn": On.COMPENSATED_DEEMED_WITHDRAWN,
}
CLOSED_BY: dict[On, Status] = {
    On.COMPENSATED: _S.CLOSED_REJECTED,
    On.COMPENSATED_WITHDRAWN: _S.CLOSED_WITHDRAWN,
    On.COMPENSATED_DEEMED_WITHDRAWN: _S.CLOSED_DEEMED_WITHDRAWN,
}


def _compensated(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    returned = "" if request.online else "，收取的原件将退还给您"
    if request.leg is None:  # a leg's end is told by its route's hub
        _notify(state, tx, f"申请已终结：{state.reason}。已缴纳的费用将退还{returned}。")
    if state.outcome == "denied":
        # The denial is B's result too: tell B it reached the applicant, so B can close.
        sent = tx.send(
            "result-delivered",
            EventType.RESULT_DELIVERED,
            request.processing_region,
            {"channel": "notice"},
        )
        tx.note("denial delivered with the closing notice", event_id=sent)
    tx.step(CLOSED_BY[trigger.kind], detail=state.outcome or "")
    tx.set(due=None)


# --- 多地联办 (decision 0035) -----------------------------------------------------------------

_MOVES = {
    MoveKind.START: "开始办理",
    MoveKind.CANCEL: "请求终止",
    MoveKind.SKIP: "不再启动",
    MoveKind.REVOKE: "请求撤销",
    MoveKind.KEEP: "无需撤销",
}
_ANSWERS = {
    Answer.APPROVED: "已办结",
    Answer.REFUSED: "不予办理",
    Answer.CANCELLED: "已终止",
    Answer.REVOKED: "已撤销",
}


def _plan(request: R) -> RoutePlan:
    assert request.route is not None
    return request.route


def _leg_no(request: R, step: str) -> tuple[int, str]:
    """A leg's place in the route (1-based) and its case number."""
    plan = _plan(request)
    index = plan.number(step)
    return index, leg_case_no(request.case_no, index)


def _route_moves(request: R, progress: RouteProgress, tx: Tx) -> RouteProgress:
    """Make every move the route model asks for now; a leg started is opened as a case."""
    plan = _plan(request)
    while moves := next_moves(plan, progress):
        for move in moves:
            leg = plan.leg(move.step)
            index, case_no = _leg_no(request, move.step)
            if move.kind is MoveKind.START:
                after = tuple(_leg_no(request, a)[1] for a in leg.after)
                tx.write(OpenLeg(case_no=case_no, processing_region=leg.region, after=after))
            undo = f"（{leg.revoked_by}）" if move.kind is MoveKind.REVOKE else ""
            tx.note(
                f"第{index}段 {leg.label}（{leg.place} {leg.region}）：{_MOVES[move.kind]}{undo}"
            )
            progress = moved(progress, move)
    return progress


def _route_passed(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    review = trigger.payload
    why = review.reason if isinstance(review, FormalReview) and review.reason else ""
    tx.step(_S.FORMAL_REVIEW_PASSED, detail=why or "materials complete")
    done = _receipt_and_fee(request, state, tx)
    plan = _plan(request)
    tx.step(_S.ROUTE, detail=" → ".join(f"{leg.label}（{leg.region}）" for leg in plan.legs))
    tx.set(done=done, route=_route_moves(request, RouteProgress.start(plan), tx), due=None)


def _leg_answered(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    signal = trigger.payload
    assert isinstance(signal, RouteSignal)
    assert signal.answer is not None
    assert state.route is not None
    index, _ = _leg_no(request, signal.step)
    label = _plan(request).leg(signal.step).label
    tx.note(f"第{index}段 {label}：{_ANSWERS[signal.answer]}", event_id=signal.event_id)
    progress = state.route.answered(signal.step, signal.answer)
    tx.set(route=_route_moves(request, progress, tx))


def _route_approved(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    tx.step(_S.ROUTE_APPROVED, detail="every leg of the route approved")
    tx.step(_S.RESULT_RECEIVED)
    tx.set(outcome="route-approved")
    _notify(state, tx, "联办事项已全部办结，请按约定的方式领取办理结果。")


def _route_refused(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    assert state.route is not None
    if state.route.abandoned:
        tx.step(_S.ROUTE_FAILED, detail=f"withdrawn: {state.route.abandoned}")
        _reject(request, tx, "withdrawn", state.route.abandoned)
        return
    plan = _plan(request)
    refused = "、".join(
        f"第{_leg_no(request, leg.step)[0]}段 {plan.leg(leg.step).label}"
        for leg in state.route.legs
        if leg.status is LegStatus.REFUSED
    )
    reason = f"{refused}不予办理；已办结的各段已由其所在地撤销"
    tx.step(_S.ROUTE_FAILED, detail=reason)
    _reject(request, tx, "route-failed", reason)


def _leg_opened(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    leg = request.leg
    assert leg is not None
    tx.step(
        _S.RECEIVED,
        detail=f"联办 {leg.route_case_no} 第{leg.index}/{leg.count}段：{leg.label}",
    )
    tx.write(ForwardCase(materials=state.materials, leg=leg))
    tx.step(
        _S.FORWARDED, event_id=tx.event_id("forwarded"), detail=f"to {request.processing_region}"
    )
    tx.step(_S.IN_TRANSIT)
    tx.set(due=tx.now + request.timings.answer_timeout)


def _revoke(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    signal = trigger.payload
    assert isinstance(signal, RouteSignal)
    sent = tx.send(
        "revocation-requested",
        EventType.REVOCATION_REQUESTED,
        request.processing_region,
        {"reason": signal.reason},
    )
    tx.step(_S.REVOCATION_REQUESTED, event_id=sent, detail=signal.reason)
    tx.set(reason=signal.reason, due=tx.now + request.timings.cancel_timeout)


def _revoked(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    tx.step(_S.REVOKED, event_id=event.event_id, detail=str(event.data.get("reason", "")))
    tx.step(_S.CLOSED_REJECTED, detail="revoked")
    tx.set(outcome="revoked", due=None)


def _route_done(request: R, state: St, trigger: Tr, tx: Tx) -> None:
    sent = tx.send(
        "result-delivered",
        EventType.RESULT_DELIVERED,
        request.processing_region,
        {"channel": "route"},
    )
    tx.step(_S.RESULT_DELIVERED, event_id=sent, detail="联办事项已办结")
    tx.step(_S.CLOSED, detail=state.outcome or "")


HANDLERS: dict[On, Handler] = {
    On.SUBMITTED: _submitted,
    On.APPLIED_ONLINE: _applied_online,
    On.REVIEW_PASSED: _review,
    On.REVIEW_SUPPLEMENT: _review,
    On.REVIEW_REFUSED: _review,
    On.SUPPLEMENT_PROVIDED: _supplement_provided,
    On.SUPPLEMENT_DUE: _supplement_due,
    On.SUPPLEMENT_DUE_REFUSED: _supplement_due_refused,
    On.WITHDRAW: _withdraw,
    On.ACCEPTED: _accepted,
    On.NOT_ACCEPTED: _not_accepted,
    On.SUPPLEMENT_REQUESTED: _supplement_requested,
    On.APPROVED: _decided,
    On.DENIED: _decided,
    On.CANCELLED: _cancelled,
    On.DEEMED_WITHDRAWN: _deemed_withdrawn,
    On.DEADLINE_NOTICE: _deadline_notice,
    On.ANSWER_DUE: _answer_due,
    On.DELIVERY_FAILED: _delivery_failed,
    On.DELIVERED: _delivered,
    On.UNDO: _undo,
    On.COMPENSATED: _compensated,
    On.COMPENSATED_WITHDRAWN: _compensated,
    On.COMPENSATED_DEEMED_WITHDRAWN: _compensated,
    On.ROUTE_PASSED: _route_passed,
    On.LEG_ANSWERED: _leg_answered,
    On.ROUTE_APPROVED: _route_approved,
    On.ROUTE_REFUSED: _route_refused,
    On.LEG_OPENED: _leg_opened,
    On.REVOKE: _revoke,
    On.REVOKED: _revoked,
    On.ROUTE_DONE: _route_done,
}
