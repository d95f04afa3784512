"""What a 多地联办 case's workflows in the accepting region must tell each other after a commit.

Pure (decision 0035). The hub starts a workflow for each leg it opened and sends the leg its
instructions (stop, revoke, close); a leg reports its answers to the hub. Each call has a key,
kept in `IntakeState.route_told` once made, so a call is made once across replays and
continue-as-new; the workflow (workflows/intake.py) makes them right after the commit that
decided them, so a leg's case row exists before its workflow starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from events.models import LegBrief, leg_case_no
from workflows.lifecycle import intake
from workflows.lifecycle.route import Answer, LegStatus, RoutePlan, RouteSignal

Phase = intake.Phase


@dataclass(frozen=True)
class StartLeg:
    key: str
    request: intake.IntakeRequest  # the leg's own intake request


@dataclass(frozen=True)
class Signal:
    key: str
    case_no: str  # whose intake workflow is signalled
    signal: RouteSignal


Call = StartLeg | Signal


def leg_request(route: intake.IntakeRequest, step: str) -> intake.IntakeRequest:
    """The intake request of one leg of the hub's route: the same item, applicant and policy,
    its own case number and region, no fee (the hub's case charged it)."""
    assert route.route is not None
    plan = route.route
    leg = plan.leg(step)
    index = plan.number(step)
    return intake.IntakeRequest(
        case_no=leg_case_no(route.case_no, index),
        item_code=route.item_code,
        item_version=route.item_version,
        origin_region=route.origin_region,
        processing_region=leg.region,
        fee_fen=0,
        policy=route.policy,
        timings=route.timings,
        received_by=route.received_by,
        mode=route.mode,
        leg=LegBrief(
            route_case_no=route.case_no,
            step=leg.step,
            label=leg.label,
            issues=leg.issues,
            revocable=leg.revoked_by is not None,
            index=index,
            count=len(plan.legs),
        ),
    )


def leg_answers(state: intake.IntakeState) -> tuple[Answer, ...]:
    """What a leg has to report, in order, from where its case stands."""
    if state.outcome in ("approved", "revoked") and state.phase in (
        Phase.RESULT_RECEIVED,
        Phase.REVOKING,
        Phase.CLOSED,
        Phase.CLOSED_REJECTED,
    ):
        return (
            (Answer.APPROVED, Answer.REVOKED) if state.outcome == "revoked" else (Answer.APPROVED,)
        )
    if state.phase in (Phase.CLOSED_WITHDRAWN, Phase.CLOSED_DEEMED_WITHDRAWN):
        return (Answer.CANCELLED,)
    if state.phase is Phase.CLOSED_REJECTED:
        stopped = state.outcome == "transfer-failed"
        return (Answer.CANCELLED,) if stopped else (Answer.REFUSED,)
    return ()


_ASKED: dict[LegStatus, Literal["cancel", "revoke", "deliver"]] = {
    LegStatus.CANCELLING: "cancel",
    LegStatus.REVOKING: "revoke",
    LegStatus.KEPT: "deliver",  # an approval with nothing to undo stands: its leg closes
}


def _why(plan: RoutePlan, state: intake.IntakeState) -> str:
    """Why the route stops, as the legs' regions are told: the withdrawal, or who refused."""
    assert state.route is not None
    if state.route.abandoned:
        return f"申请人撤回：{state.route.abandoned}"
    refused = [
        plan.leg(leg.step).label for leg in state.route.legs if leg.status is LegStatus.REFUSED
    ]
    return f"{'、'.join(refused)}不予办理" if refused else "联办已办结"


def pending(request: intake.IntakeRequest, state: intake.IntakeState) -> tuple[Call, ...]:
    """The calls decided and not yet made, in the order to make them."""
    told = set(state.route_told)
    calls: list[Call] = []
    if request.leg is not None:
        for answer in leg_answers(state):
            key = f"report:{answer.value}"
            if key not in told:
                signal = RouteSignal.answered(request.leg.step, answer)
                calls.append(Signal(key, request.leg.route_case_no, signal))
        return tuple(calls)
    if request.route is None or state.route is None:
        return ()
    plan = request.route
    route_done = state.phase is Phase.CLOSED and state.outcome == "route-approved"
    for index, progress in enumerate(state.route.legs, start=1):
        step = progress.step
        started = progress.status not in (LegStatus.WAITING, LegStatus.SKIPPED)
        if started and f"start:{step}" not in told:
            calls.append(StartLeg(f"start:{step}", leg_request(request, step)))
        kind = "deliver" if route_done else _ASKED.get(progress.status)
        if kind is not None and f"{kind}:{step}" not in told:
            reason = _why(plan, state)
            if kind == "revoke":
                reason = f"{plan.leg(step).revoked_by}：{reason}"
            signal = RouteSignal.instruct(step, kind, reason[:500])
            calls.append(Signal(f"{kind}:{step}", leg_case_no(request.case_no, index), signal))
    return tuple(calls)
