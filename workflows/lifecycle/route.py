"""A 多地联办 case's route as the accepting region runs it: the plan and the legs' progress.

Pure and deterministic (decision 0035). The window turns the catalog's route and the places the
application binds into a `RoutePlan` carried in the case's request, so a running case keeps the
route it started with whatever the catalog says later. The accepting region is the hub: it
starts each leg in its region when the legs it waits for are approved, passes their documents
on, and when any leg refuses it unwinds the route: legs under way are asked to stop, legs not
started are skipped, and approved legs are revoked one at a time by their own regions, the
last approved first, only once no leg is still deciding (a leg that approves late is revoked
too). Answers may come twice or late: recording the same answer again changes nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from events.models import RegionCode, leg_case_no


class PlannedLeg(BaseModel):
    """One leg as the case runs it: the catalog's leg with its place bound to a region."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    label: str
    place: str
    region: RegionCode
    after: tuple[str, ...] = ()
    issues: str
    revoked_by: str | None = None
    promised_days: int = Field(ge=0)


class RoutePlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    legs: tuple[PlannedLeg, ...] = Field(min_length=2)

    def leg(self, step: str) -> PlannedLeg:
        for leg in self.legs:
            if leg.step == step:
                return leg
        raise KeyError(step)

    def number(self, step: str) -> int:
        """The leg's place in the route, from 1: its case number's suffix."""
        return 1 + self.legs.index(self.leg(step))


class LegStatus(StrEnum):
    WAITING = "waiting"  # the legs it waits for are not all approved yet
    UNDER_WAY = "under-way"  # forwarded to its region, which has not decided
    APPROVED = "approved"
    REFUSED = "refused"  # not accepted or denied: the route fails
    CANCELLING = "cancelling"  # asked to stop before deciding (another leg refused)
    CANCELLED = "cancelled"
    REVOKING = "revoking"  # its region is asked to undo its approval
    REVOKED = "revoked"
    KEPT = "kept"  # approved with nothing to undo: it stands after the route failed
    SKIPPED = "skipped"  # never started: the route failed first


LEG_LABELS: dict[LegStatus, str] = {
    LegStatus.WAITING: "待启动",
    LegStatus.UNDER_WAY: "办理中",
    LegStatus.APPROVED: "已办结",
    LegStatus.REFUSED: "不予办理",
    LegStatus.CANCELLING: "撤回中",
    LegStatus.CANCELLED: "已撤回",
    LegStatus.REVOKING: "撤销中",
    LegStatus.REVOKED: "已撤销",
    LegStatus.KEPT: "无需撤销",
    LegStatus.SKIPPED: "未启动",
}


class Answer(StrEnum):
    """What a leg's region answered."""

    APPROVED = "approved"
    REFUSED = "refused"
    CANCELLED = "cancelled"  # it stopped before deciding, as asked
    REVOKED = "revoked"  # it undid its approval, as asked


class RouteOutcome(StrEnum):
    UNDER_WAY = "under-way"
    APPROVED = "approved"  # every leg approved
    REFUSED = "refused"  # a leg refused and the route is unwound


class RouteSignal(BaseModel):
    """What the hub and a leg's own workflow in the accepting region tell each other: a leg's
    answer (to the hub), or the hub's instruction (to a leg). Queued and applied once by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    step: str
    kind: Literal["answer", "cancel", "revoke", "deliver"]
    answer: Answer | None = None
    reason: str = Field(default="", max_length=500)

    @classmethod
    def answered(cls, step: str, answer: Answer) -> RouteSignal:
        return cls(event_id=f"leg/{step}/{answer.value}", step=step, kind="answer", answer=answer)

    @classmethod
    def instruct(
        cls, step: str, kind: Literal["cancel", "revoke", "deliver"], reason: str = ""
    ) -> RouteSignal:
        return cls(event_id=f"hub/{step}/{kind}", step=step, kind=kind, reason=reason)


class LegProgress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    status: LegStatus = LegStatus.WAITING
    # The order legs were approved in: approvals are revoked in the reverse order.
    approved_as: int | None = None


class RouteProgress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    legs: tuple[LegProgress, ...]
    # Why the accepting region gave the route up (the applicant withdrew), if it did: the
    # route then unwinds as after a refusal.
    abandoned: str = ""

    @classmethod
    def start(cls, plan: RoutePlan) -> RouteProgress:
        return cls(legs=tuple(LegProgress(step=leg.step) for leg in plan.legs))

    def status(self, step: str) -> LegStatus:
        return self._leg(step).status

    def _leg(self, step: str) -> LegProgress:
        for leg in self.legs:
            if leg.step == step:
                return leg
        raise KeyError(step)

    def _with(self, step: str, status: LegStatus, approved_as: int | None = None) -> RouteProgress:
        return self.model_copy(
            update={
                "legs": tuple(
                    leg.model_copy(
                        update={
                            "status": status,
                            "approved_as": approved_as
                            if approved_as is not None
                            else leg.approved_as,
                        }
                    )
                    if leg.step == step
                    else leg
                    for leg in self.legs
                )
            }
        )

    @property
    def failed(self) -> bool:
        return bool(self.abandoned) or any(leg.status is LegStatus.REFUSED for leg in self.legs)

    def abandon(self, reason: str) -> RouteProgress:
        return self.model_copy(update={"abandoned": reason or "abandoned"})

    def started(self, step: str) -> RouteProgress:
        """The leg was forwarded to its region."""
        if self.status(step) is not LegStatus.WAITING:
            return self
        return self._with(step, LegStatus.UNDER_WAY)

    def answered(self, step: str, answer: Answer) -> RouteProgress:
        """Record a leg region's answer. One the leg's state does not expect (a repeat, or a
        revocation for a leg never approved) changes nothing."""
        status = self.status(step)
        if answer is Answer.APPROVED and status in (LegStatus.UNDER_WAY, LegStatus.CANCELLING):
            order = 1 + max((leg.approved_as or 0 for leg in self.legs), default=0)
            return self._with(step, LegStatus.APPROVED, approved_as=order)
        if answer in (Answer.REFUSED, Answer.CANCELLED) and status is LegStatus.UNDER_WAY:
            # Cancelled unasked (its region ended it, e.g. 视为撤回 after a missed 补正): the leg
            # ended without an approval, which fails the route as a refusal does.
            return self._with(step, LegStatus.REFUSED)
        if answer is Answer.REFUSED and status is LegStatus.CANCELLING:
            return self._with(step, LegStatus.CANCELLED)  # it stopped either way
        if answer is Answer.CANCELLED and status is LegStatus.CANCELLING:
            return self._with(step, LegStatus.CANCELLED)
        if answer is Answer.REVOKED and status is LegStatus.REVOKING:
            return self._with(step, LegStatus.REVOKED)
        return self

    def outcome(self) -> RouteOutcome:
        if not self.abandoned and all(leg.status is LegStatus.APPROVED for leg in self.legs):
            return RouteOutcome.APPROVED
        settled = (
            LegStatus.REFUSED,
            LegStatus.CANCELLED,
            LegStatus.REVOKED,
            LegStatus.KEPT,
            LegStatus.SKIPPED,
        )
        if self.failed and all(leg.status in settled for leg in self.legs):
            return RouteOutcome.REFUSED
        return RouteOutcome.UNDER_WAY


class MoveKind(StrEnum):
    START = "start"  # forward the leg to its region, with the documents of the legs before it
    CANCEL = "cancel"  # ask its region to stop before deciding
    SKIP = "skip"  # never start it
    REVOKE = "revoke"  # ask its region to undo its approval
    KEEP = "keep"  # an approval with nothing to undo stands


class RouteLegView(BaseModel):
    """One leg of a route as people see it: where it runs, its own case number, how far it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    step: str
    label: str
    place: str
    region: RegionCode
    case_no: str
    status: LegStatus

    @property
    def status_label(self) -> str:
        return LEG_LABELS[self.status]

    def line(self) -> str:
        """`第1段 审核并签发准予迁入证明 · 迁入地 110000 · <case> · 已办结`, for listings."""
        where = f"{self.place} {self.region}"
        return f"第{self.index}段 {self.label} · {where} · {self.case_no} · {self.status_label}"


def route_view(
    case_no: str, plan: RoutePlan | None, progress: RouteProgress | None
) -> tuple[RouteLegView, ...]:
    """The route of the hub's case `case_no`, leg by leg; empty for any other case."""
    if plan is None or progress is None:
        return ()
    return tuple(
        RouteLegView(
            index=index,
            step=leg.step,
            label=leg.label,
            place=leg.place,
            region=leg.region,
            case_no=leg_case_no(case_no, index),
            status=progress.status(leg.step),
        )
        for index, leg in enumerate(plan.legs, start=1)
    )


class Move(BaseModel):
    """What the accepting region does next for one leg."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MoveKind
    step: str


def next_moves(plan: RoutePlan, progress: RouteProgress) -> tuple[Move, ...]:
    """The legs to act on now, in order. Empty: wait for an answer (or the route is over).

    Going forward, every waiting leg whose legs are all approved starts (parallel legs together).
    After a refusal: under-way legs are asked to stop, waiting legs are skipped; once none is
    deciding any more, the last approved leg is revoked (or, with nothing to undo, kept), and
    the next only after its region answered."""
    if not progress.failed:
        return tuple(
            Move(kind=MoveKind.START, step=leg.step)
            for leg in plan.legs
            if progress.status(leg.step) is LegStatus.WAITING
            and all(progress.status(a) is LegStatus.APPROVED for a in leg.after)
        )
    moves = [
        Move(
            kind=MoveKind.CANCEL
            if progress.status(leg.step) is LegStatus.UNDER_WAY
            else MoveKind.SKIP,
            step=leg.step,
        )
        for leg in plan.legs
        if progress.status(leg.step) in (LegStatus.UNDER_WAY, LegStatus.WAITING)
    ]
    if moves:
        return tuple(moves)
    busy = any(leg.status in (LegStatus.CANCELLING, LegStatus.REVOKING) for leg in progress.legs)
    approved = [leg for leg in progress.legs if leg.status is LegStatus.APPROVED]
    if busy or not approved:
        return ()
    last = max(approved, key=lambda leg: leg.approved_as or 0)
    return (
        Move(
            kind=MoveKind.REVOKE if plan.leg(last.step).revoked_by else MoveKind.KEEP,
            step=last.step,
        ),
    )


def moved(progress: RouteProgress, move: Move) -> RouteProgress:
    """The progress once `move` is made (its events are in the same transaction)."""
    status = progress.status(move.step)
    if move.kind is MoveKind.START:
        return progress.started(move.step)
    if move.kind is MoveKind.CANCEL and status is LegStatus.UNDER_WAY:
        return progress._with(move.step, LegStatus.CANCELLING)
    if move.kind is MoveKind.SKIP and status is LegStatus.WAITING:
        return progress._with(move.step, LegStatus.SKIPPED)
    if move.kind is MoveKind.REVOKE and status is LegStatus.APPROVED:
        return progress._with(move.step, LegStatus.REVOKING)
    if move.kind is MoveKind.KEEP and status is LegStatus.APPROVED:
        return progress._with(move.step, LegStatus.KEPT)
    return progress
