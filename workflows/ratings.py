"""差评整改: the follow-up of a bad rating in the region responsible for it (decision 0039).

回访 (contact the applicant), then 整改 (the fix, with the answer to the applicant), each due a
number of working days after the rating; a missed deadline escalates once and the follow-up
goes on. 申诉复核 may set the rating aside at any point, which ends the follow-up with the
reviewer's reason as the answer. A workflow of its own, started beside the case's intake or
processing workflow, so their histories are unchanged.

邀评 (the invitation to rate a concluded case nobody rated) is a smaller workflow beside them:
the ratings sweeper orders the SMS as an effect and starts it to carry that order out through
the effects activity, with its retries and dead letters (decision 0029).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import EffectCall
    from activities.effects import EffectActivities
    from activities.ratings import RatingActivities
    from events.models import SealedBox
    from events.ratings import (
        AppealDecision,
        Escalation,
        FollowUpAnswer,
        FollowUpNote,
        FollowUpStart,
        FollowUpView,
        OpenFollowUp,
        SetAside,
        StageDone,
    )
    from workflows.deadlines import DeadlineClock
    from workflows.driver import EFFECT_OPTIONS

Stage = Literal["revisit", "rectify"]
_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
    ),
}


def follow_up_workflow_id(rating_id: str) -> str:
    return f"rating-follow-up-{rating_id}"


def invitation_workflow_id(case_no: str) -> str:
    return f"rating-invitation-{case_no}"


def follow_up_due(start: FollowUpStart, rated: datetime) -> dict[str, datetime]:
    """When 回访 and 整改 are due: working days after the rating, on the holiday calendar
    (workflows/deadlines.py), or on the scaled clock of tests."""
    clock = DeadlineClock(start.working_day)
    return {
        "revisit": clock.deadline(rated, start.revisit_working_days).at,
        "rectify": clock.deadline(rated, start.rectify_working_days).at,
    }


@workflow.defn(name="RatingFollowUp")
class RatingFollowUpWorkflow:
    def __init__(self) -> None:
        self._stage: Literal["revisit", "rectify", "answered", "set-aside"] = "revisit"
        self._due: dict[str, datetime] = {}
        self._done_at: dict[str, datetime] = {}
        self._answer: SealedBox | None = None
        self._appeal: AppealDecision | None = None
        self._escalated: list[str] = []
        self._rating_id = ""

    @workflow.run
    async def run(self, start: FollowUpStart) -> str:
        self._rating_id = start.rating_id
        self._due = follow_up_due(start, start.rated_at or workflow.now())
        await workflow.execute_activity_method(
            RatingActivities.open_follow_up,
            OpenFollowUp(
                rating_id=start.rating_id,
                revisit_due=self._due["revisit"],
                rectify_due=self._due["rectify"],
            ),
            **_OPTIONS,
        )
        for stage in ("revisit", "rectify"):
            self._stage = stage
            await self._until_done(start, stage)
            if self._appeal is not None:
                return await self._set_aside(start, self._appeal)
        assert self._answer is not None  # the 整改 Update's validator requires it
        on_time = all(self._done_at[s] <= self._due[s] for s in ("revisit", "rectify"))
        await workflow.execute_activity_method(
            RatingActivities.answer,
            FollowUpAnswer(
                rating_id=start.rating_id,
                case_no=start.case_no,
                origin_region=start.origin_region,
                outcome="rectified",
                answer=self._answer,
                on_time=on_time,
                at=self._done_at["rectify"],
            ),
            **_OPTIONS,
        )
        self._stage = "answered"
        return "answered" if on_time else "answered-late"

    async def _until_done(self, start: FollowUpStart, stage: Stage) -> None:
        def finished() -> bool:
            return stage in self._done_at or self._appeal is not None

        left = self._due[stage] - workflow.now()
        try:
            await workflow.wait_condition(finished, timeout=max(left, timedelta(seconds=1)))
        except TimeoutError:
            self._escalated.append(stage)
            await workflow.execute_activity_method(
                RatingActivities.escalate,
                Escalation(
                    rating_id=start.rating_id,
                    case_no=start.case_no,
                    stage=stage,
                    due=self._due[stage],
                ),
                **_OPTIONS,
            )
            await workflow.wait_condition(finished)

    async def _set_aside(self, start: FollowUpStart, appeal: AppealDecision) -> str:
        now = workflow.now()
        await workflow.execute_activity_method(
            RatingActivities.set_aside,
            SetAside(rating_id=start.rating_id, at=now, by=appeal.by, reason=appeal.reason),
            **_OPTIONS,
        )
        await workflow.execute_activity_method(
            RatingActivities.answer,
            FollowUpAnswer(
                rating_id=start.rating_id,
                case_no=start.case_no,
                origin_region=start.origin_region,
                outcome="set-aside",
                answer=appeal.reason,
                on_time=True,
                at=now,
            ),
            **_OPTIONS,
        )
        self._stage = "set-aside"
        return "set-aside"

    async def _record(self, stage: Stage, note: FollowUpNote) -> str:
        self._done_at[stage] = workflow.now()
        await workflow.execute_activity_method(
            RatingActivities.record_stage,
            StageDone(
                rating_id=self._rating_id,
                stage=stage,
                at=self._done_at[stage],
                note=note.note,
            ),
            **_OPTIONS,
        )
        return stage

    @workflow.update
    async def revisit(self, note: FollowUpNote) -> str:
        """回访 done: the applicant was contacted."""
        return await self._record("revisit", note)

    @revisit.validator
    def _revisit_allowed(self, note: FollowUpNote) -> None:
        if self._stage != "revisit" or "revisit" in self._done_at or self._appeal is not None:
            raise ValueError(f"回访 is not open: the follow-up is at {self._stage}")

    @workflow.update
    async def rectify(self, note: FollowUpNote) -> str:
        """整改 done, with the answer the applicant is given."""
        self._answer = note.answer
        return await self._record("rectify", note)

    @rectify.validator
    def _rectify_allowed(self, note: FollowUpNote) -> None:
        open_ = "revisit" in self._done_at and "rectify" not in self._done_at
        if not open_ or self._appeal is not None:
            raise ValueError(f"整改 is not open: the follow-up is at {self._stage}")
        if note.answer is None:
            raise ValueError("整改 needs the answer the applicant is given")

    @workflow.update
    async def set_aside(self, appeal: AppealDecision) -> str:
        """申诉复核 upheld: the follow-up ends once the rating is set aside."""
        self._appeal = appeal
        await workflow.wait_condition(lambda: self._stage == "set-aside")
        return "set-aside"

    @set_aside.validator
    def _appeal_allowed(self, appeal: AppealDecision) -> None:
        if self._appeal is not None or "rectify" in self._done_at:
            raise ValueError(f"no appeal is open: the follow-up is {self._stage}")

    @workflow.query
    def progress(self) -> FollowUpView:
        return FollowUpView(
            stage=self._stage,
            revisit_due=self._due.get("revisit"),
            rectify_due=self._due.get("rectify"),
            escalated=tuple(self._escalated),
        )


@workflow.defn(name="RatingInvitation")
class RatingInvitationWorkflow:
    """Carry out a case's ordered 邀评 once; answers what became of it. A `pending` answer
    ends the workflow too: the system's callback settles the order, which nothing here
    waits on (an unanswered invitation is the operators' list, not a case to escalate)."""

    @workflow.run
    async def run(self, call: EffectCall) -> str:
        settled = await workflow.execute_activity_method(
            EffectActivities.carry_out_effects, call, **EFFECT_OPTIONS
        )
        return ", ".join(f"{s.key}: {s.outcome}" for s in settled)
