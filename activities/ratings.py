"""差评整改's effects (decision 0039): the follow-up's record in the ratings table, its
escalations, and the answer, sent back to the accepting region when it is another region.

Idempotent per rating and stage: the first record of each stands, and the answer's event id
is fixed by the case and rating, so a retried activity writes nothing twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from temporalio import activity

from events.credentials import RegionCredentials
from events.models import EventType, RatingAnswered, SealedBox
from events.outbox import DEFAULT_ENVELOPE_BUDGET, enqueue, signed_envelope
from events.ratings import Escalation, FollowUpAnswer, OpenFollowUp, SetAside, StageDone
from events.sealing import open_box, seal
from events.stores import ratings as store
from events.trust import sealing_key

log = logging.getLogger(__name__)


def reseal(
    credentials: RegionCredentials, box: SealedBox, case_no: str, recipient: str, now: datetime
) -> SealedBox:
    """A box this region holds (sealed for itself), sealed for `recipient` instead."""
    text = open_box(box, case_no=case_no, private_key=credentials.own_sealing_key(box.key_id))
    key_id, public = sealing_key(credentials.directory(), recipient, now)
    return seal(text, case_no=case_no, recipient=recipient, key_id=key_id, recipient_public=public)


class RatingActivities:
    def __init__(
        self,
        pool: asyncpg.Pool,
        credentials: RegionCredentials,
        *,
        envelope_budget: int = DEFAULT_ENVELOPE_BUDGET,
    ) -> None:
        self._pool = pool
        self._credentials = credentials
        self._region = credentials.region
        self._budget = envelope_budget

    @activity.defn(name="open_rating_follow_up")
    async def open_follow_up(self, request: OpenFollowUp) -> None:
        async with self._pool.acquire() as conn:
            await store.set_due(conn, request.rating_id, request.revisit_due, request.rectify_due)

    @activity.defn(name="record_rating_stage")
    async def record_stage(self, request: StageDone) -> None:
        async with self._pool.acquire() as conn:
            await store.record_stage(
                conn, request.rating_id, request.stage, request.at, request.note.model_dump()
            )

    @activity.defn(name="escalate_rating_follow_up")
    async def escalate(self, request: Escalation) -> None:
        """A missed 回访 or 整改 deadline: recorded on the rating (the report counts it as not
        on time) and told to the region's supervisors through the log; never the comment."""
        async with self._pool.acquire() as conn:
            await store.add_escalation(conn, request.rating_id, request.stage)
        log.warning(
            "好差评 %s: %s of rating %s (case %s) missed its deadline %s; escalated",
            self._region,
            request.stage,
            request.rating_id,
            request.case_no,
            request.due.isoformat(),
        )

    @activity.defn(name="set_rating_aside")
    async def set_aside(self, request: SetAside) -> None:
        async with self._pool.acquire() as conn:
            await store.set_aside(
                conn, request.rating_id, request.at, request.by, request.reason.model_dump()
            )

    @activity.defn(name="answer_rating")
    async def answer(self, request: FollowUpAnswer) -> None:
        """Keep the answer; when the applicant's region is another, send it there sealed, in
        the same transaction (the outbox)."""
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            await store.set_answer(
                conn, request.rating_id, request.at, request.answer.model_dump(), request.on_time
            )
            if request.origin_region == self._region:
                return
            payload = RatingAnswered(
                case_no=request.case_no,
                rating_id=request.rating_id,
                outcome=request.outcome,
                answer=reseal(
                    self._credentials,
                    request.answer,
                    request.case_no,
                    request.origin_region,
                    now,
                ),
                on_time=request.on_time,
                answered_at=request.at,
            )
            envelope = signed_envelope(
                self._credentials.signer(now),
                event_type=EventType.RATING_ANSWERED,
                case_no=request.case_no,
                step=f"rating-answered-{request.rating_id}",
                recipient=request.origin_region,
                data=payload.model_dump(mode="json"),
                now=now,
            )
            await enqueue(conn, envelope, budget=self._budget)

    def all(self) -> list[Callable[..., Any]]:
        return [self.open_follow_up, self.record_stage, self.escalate, self.set_aside, self.answer]
