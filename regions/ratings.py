"""好差评 at a node (decision 0039): the applicant rates a step of their case, the rating goes
to the region that answers for it (谁办理谁负责), and a bad one starts its follow-up there.

The API, the inbox dispatcher and the console call these; no route holds a rule of its own.
Every refusal is a `RatingRefused` with its HTTP status and rule. The comment is sealed for
the responsible region before anything is kept; it is never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import Effect, EffectCall
from effects import orders
from effects.settings import EffectRouting
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.models import CaseRated, EventType, RatingAnswered, SealedBox
from events.outbox import enqueue, signed_envelope
from events.pg import DATABASE_UNAVAILABLE, Conn
from events.ratings import (
    BAD_LEVELS,
    INVITATION_KEY,
    INVITATION_NOTICE,
    LEVEL_LABELS,
    STEP_LABELS,
    AppealDecision,
    Channel,
    FollowUpNote,
    FollowUpStart,
    Level,
    RatedStep,
    RatingInput,
    RatingRefused,
    check_reasons,
    rating_id,
    responsible_side,
    too_many_wrong_codes,
)
from events.sealing import seal
from events.stores import ratings as store
from events.stores.postgres import PostgresCaseStore
from events.trust import sealing_key
from regions.naming import task_queue
from regions.rating_rules import RatingRules
from regions.tokens import Principal, Role
from workflows.lifecycle import intake
from workflows.ratings import (
    RatingFollowUpWorkflow,
    RatingInvitationWorkflow,
    follow_up_workflow_id,
    invitation_workflow_id,
)

log = logging.getLogger(__name__)

# A's case is 办结, and its processing can be rated, once it is in an end state of its
# lifecycle (the model's own list: closed, closed-rejected, …).
CONCLUDED_STATUSES = frozenset(phase.value for phase in intake.TERMINAL)
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a receipt
_CODE_LENGTH = 10
_TRANSIENT: tuple[type[Exception], ...] = (RPCError, *DATABASE_UNAVAILABLE)


@dataclass(frozen=True)
class RatingDesk:
    """What rating needs of a node: its region, database, Temporal client, keys and rules,
    and where its effects go (the 邀评 SMS)."""

    region: str
    pool: asyncpg.Pool
    client: Client
    credentials: RegionCredentials
    rules: RatingRules
    effects: EffectRouting = field(default_factory=EffectRouting)


@dataclass(frozen=True)
class RatingTaken:
    rating_id: str
    case_no: str
    step: RatedStep
    level: Level
    responsible_region: str
    side: str
    follow_up: bool  # a 差评: its follow-up runs in the responsible region

    @property
    def summary(self) -> str:
        return f"{STEP_LABELS[self.step]} {LEVEL_LABELS[self.level]}"


def new_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def code_digest(code: str) -> bytes:
    """A code as kept: its SHA-256, read as typed in any case and with or without the dash."""
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).digest()


def _sealed_for(desk: RatingDesk, text: str, case_no: str, recipient: str) -> SealedBox:
    key_id, public = sealing_key(desk.credentials.directory(), recipient, datetime.now(UTC))
    return seal(
        text.encode(), case_no=case_no, recipient=recipient, key_id=key_id, recipient_public=public
    )


def seal_text(desk: RatingDesk, text: str, case_no: str) -> SealedBox:
    """Free text of a follow-up (a note, an answer, a reason), sealed for this region."""
    return _sealed_for(desk, text, case_no, desk.region)


async def _origin_case(conn: Conn, case_no: str, step: RatedStep) -> tuple[str, str]:
    """(item, processing region) of a case this region accepted and whose `step` has been
    reached; refused otherwise."""
    case = await PostgresCaseStore(conn).get(case_no)
    if case is None or case.role != "origin":
        raise RatingRefused(404, "unknown_case", f"no case {case_no} accepted here")
    if step is RatedStep.CONCLUDED and case.status not in CONCLUDED_STATUSES:
        raise RatingRefused(
            409, "step_not_reached", "办结 can be rated once the case is concluded (办结)"
        )
    return case.item_code, case.processing_region


async def issue_code(
    desk: RatingDesk, case_no: str, step: RatedStep, window: str, issued_by: str | None
) -> str:
    """The one-time code the window prints for the applicant (一次一评); only its digest is
    kept. A code not yet spent is replaced; a rated step gets none (409 `already_rated`)."""
    code = new_code()
    async with desk.pool.acquire() as conn:
        await _origin_case(conn, case_no, step)
        if not await store.issue_code(
            conn, code_digest(code), case_no, step.value, window, issued_by
        ):
            raise RatingRefused(409, "already_rated", f"{STEP_LABELS[step]} of {case_no} is rated")
    return code


async def rate(
    desk: RatingDesk,
    case_no: str,
    step: RatedStep | None,
    given: RatingInput,
    *,
    channel: Channel,
    window: str,
    code: str | None = None,
) -> RatingTaken:
    """Keep the applicant's rating of `step` (a window's code names the step itself); a
    rating of B's processing goes to B sealed, in the same transaction (the outbox). A case
    whose code was entered wrong too often lately is refused (429 `rating_code_tries`)."""
    if code is not None:
        async with desk.pool.acquire() as conn:
            if (await store.wrong_codes(conn, case_no)).blocks(datetime.now(UTC)):
                raise too_many_wrong_codes()
    try:
        return await _rate(desk, case_no, step, given, channel=channel, window=window, code=code)
    except RatingRefused as refused:
        if refused.rule == "rating_code_invalid":
            await _count_wrong_code(desk, case_no)
        raise


async def _count_wrong_code(desk: RatingDesk, case_no: str) -> None:
    async with desk.pool.acquire() as conn, conn.transaction():
        wrong = await store.wrong_codes(conn, case_no, lock=True)
        await store.set_wrong_codes(conn, case_no, wrong.after_another(datetime.now(UTC)))


async def _rate(
    desk: RatingDesk,
    case_no: str,
    step: RatedStep | None,
    given: RatingInput,
    *,
    channel: Channel,
    window: str,
    code: str | None,
) -> RatingTaken:
    async with desk.pool.acquire() as conn, conn.transaction():
        if code is not None:
            spent = await store.spend_code(conn, code_digest(code), case_no)
            if spent is None:
                raise RatingRefused(
                    403, "rating_code_invalid", "the code is unknown, spent, or of another case"
                )
            step, window = RatedStep(spent[0]), spent[1]
        if step is None:
            raise RatingRefused(422, "step_required", "name the step rated")
        item_code, processing_region = await _origin_case(conn, case_no, step)
        check_reasons(channel, given.reasons)
        side = responsible_side(step)
        responsible = desk.region if side == "A" else processing_region
        comment = _sealed_for(desk, given.comment, case_no, responsible) if given.comment else None
        now = datetime.now(UTC)
        record = store.RatingRecord(
            rating_id=rating_id(case_no, step),
            case_no=case_no,
            step=step.value,
            level=int(given.level),
            reasons=given.reasons,
            comment_sealed=comment.model_dump() if comment else None,
            channel=channel,
            window_name=window,
            item_code=item_code,
            origin_region=desk.region,
            processing_region=processing_region,
            responsible_region=responsible,
            side=side,
            rated_at=now,
        )
        if not await store.add(conn, record):
            # The transaction is rolled back: a window's code stays unspent.
            raise RatingRefused(
                409, "already_rated", f"{STEP_LABELS[step]} of this case is rated already"
            )
        if responsible != desk.region:
            await enqueue(conn, _rated_envelope(desk, record, comment, now))
    taken = RatingTaken(
        record.rating_id, case_no, step, given.level, responsible, side, given.level in BAD_LEVELS
    )
    if taken.follow_up and responsible == desk.region:
        await start_follow_up(
            desk, record.rating_id, case_no, desk.region, given.level, record.rated_at
        )
    return taken


def _rated_envelope(
    desk: RatingDesk, record: store.RatingRecord, comment: SealedBox | None, now: datetime
) -> Envelope:
    payload = CaseRated(
        case_no=record.case_no,
        rating_id=record.rating_id,
        step=RatedStep(record.step).value,
        level=record.level,
        reasons=record.reasons,
        comment=comment,
        channel=record.channel,
        window=record.window_name,
        item_code=record.item_code,
        rated_at=record.rated_at,
    )
    return signed_envelope(
        desk.credentials.signer(now),
        event_type=EventType.RATED,
        case_no=record.case_no,
        step=f"rated-{record.step}",
        recipient=record.responsible_region,
        data=payload.model_dump(mode="json"),
        now=now,
    )


async def start_follow_up(
    desk: RatingDesk, rid: str, case_no: str, origin_region: str, level: Level, rated_at: datetime
) -> None:
    """Start the 差评 follow-up once per rating; a second start finds the first."""
    start = FollowUpStart(
        rating_id=rid,
        case_no=case_no,
        region=desk.region,
        origin_region=origin_region,
        level=level,
        revisit_working_days=desk.rules.revisit_working_days,
        rectify_working_days=desk.rules.rectify_working_days,
        working_day=desk.rules.working_day,
        rated_at=rated_at,
    )
    try:
        await desk.client.start_workflow(
            RatingFollowUpWorkflow.run,
            start,
            id=follow_up_workflow_id(rid),
            task_queue=task_queue(desk.region),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        return  # started before and closed since: this rating's follow-up is done


async def sweep_follow_ups(desk: RatingDesk, older_than: timedelta) -> int:
    """Start the follow-up of every 差评 this region answers for that has none yet (a start
    that failed after its rating committed); returns how many were found."""
    async with desk.pool.acquire() as conn:
        found = await store.without_follow_up(conn, desk.region, datetime.now(UTC) - older_than)
    for row in found:
        await start_follow_up(
            desk, row.rating_id, row.case_no, row.origin_region, Level(row.level), row.rated_at
        )
    return len(found)


async def sweep_invitations(desk: RatingDesk, now: datetime) -> int:
    """邀评: order one invitation for every case this region accepted that was concluded
    `invite_after_days` ago and that nobody rated, and start the workflow that carries it out.
    Once per case: the order is unique per case and key, and a case whose invitation was
    answered is not found again. One found with its order still `ordered` (the node stopped
    before its workflow ran, or an operator retried it) has its workflow started again; a
    running one is left to run. Returns how many cases were found."""
    window = desk.rules.invitation_window(now)
    if window is None:
        return 0
    adapter = desk.effects.adapter_for(Effect.NOTIFY_APPLICANT)
    async with desk.pool.acquire() as conn:
        found = await store.invitations_due(conn, CONCLUDED_STATUSES, *window, INVITATION_KEY)
        for case_no in found:
            await orders.place(
                conn,
                case_no=case_no,
                key=INVITATION_KEY,
                effect=Effect.NOTIFY_APPLICANT,
                amount_fen=0,
                detail=INVITATION_NOTICE,
                adapter=adapter,
            )
    for case_no in found:
        await desk.client.start_workflow(
            RatingInvitationWorkflow.run,
            EffectCall(case_no=case_no, keys=(INVITATION_KEY,)),
            id=invitation_workflow_id(case_no),
            task_queue=task_queue(desk.region),
            # A new run only for an order back in `ordered`; the activity calls no system
            # for an order already answered, so a second run sends nothing twice.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    return len(found)


async def run_ratings_sweeper(desk: RatingDesk, interval_s: float = 30.0) -> None:
    """The node's loop for what no request starts: lost follow-up starts, and 邀评."""
    while True:
        try:
            await sweep_follow_ups(desk, timedelta(seconds=interval_s))
            await sweep_invitations(desk, datetime.now(UTC))
        except _TRANSIENT as exc:
            log.warning("ratings %s: sweep failed, will retry: %s", desk.region, exc)
        await asyncio.sleep(interval_s)


async def take_inbound(desk: RatingDesk, envelope: Envelope) -> str | None:
    """A verified `rated` or `rating-answered` event from the inbox (the dispatcher's part).
    Idempotent: a redelivered event finds its rating kept and its follow-up started."""
    if envelope.type is EventType.RATED:
        rated = CaseRated.model_validate(envelope.data)
        async with desk.pool.acquire() as conn:
            case = await PostgresCaseStore(conn).get(rated.case_no)
            if case is None or (case.role, case.origin_region) != (
                "processing",
                envelope.senderregion,
            ):
                return "rating of a case not processed here for its sender; not applied"
            await store.add(
                conn,
                store.RatingRecord(
                    rating_id=rated.rating_id,
                    case_no=rated.case_no,
                    step=rated.step,
                    level=rated.level,
                    reasons=rated.reasons,
                    comment_sealed=rated.comment.model_dump() if rated.comment else None,
                    channel=rated.channel,
                    window_name=rated.window,
                    item_code=rated.item_code,
                    origin_region=envelope.senderregion,
                    processing_region=desk.region,
                    responsible_region=desk.region,
                    side="B",
                    rated_at=rated.rated_at,
                ),
            )
        if Level(rated.level) in BAD_LEVELS:
            await start_follow_up(
                desk,
                rated.rating_id,
                rated.case_no,
                envelope.senderregion,
                Level(rated.level),
                rated.rated_at,
            )
        return "rating kept"
    answered = RatingAnswered.model_validate(envelope.data)
    async with desk.pool.acquire() as conn:
        row = await store.get(conn, answered.rating_id)
        if row is None or (row.case_no, row.responsible_region) != (
            answered.case_no,
            envelope.senderregion,
        ):
            return "answer to a rating this region did not send its sender; not applied"
        await store.set_answer(
            conn,
            answered.rating_id,
            answered.answered_at,
            answered.answer.model_dump(),
            answered.on_time,
        )
        if answered.outcome == "set-aside":
            await store.set_aside(
                conn,
                answered.rating_id,
                answered.answered_at,
                envelope.senderregion,
                answered.answer.model_dump(),
            )
    return "rating answer kept"


# --- The responsible region's people: 回访, 整改, 申诉复核 ---------------------------------------


async def responsible_rating(desk: RatingDesk, rid: str) -> store.RatingRow:
    """A rating this region answers for; any other (unknown, or A's copy of B's) is 404."""
    async with desk.pool.acquire() as conn:
        row = await store.get(conn, rid)
    if row is None or row.responsible_region != desk.region:
        raise RatingRefused(404, "unknown_rating", "no rating this region answers for")
    return row


def by_person(caller: Principal) -> str:
    """Who took a step, as the follow-up records it: name, staff number, window or office."""
    who = caller.person_name or "未登记经办人"
    return f"{who}（工号 {caller.person_id or '—'}，{caller.window}）"[:100]


async def record_follow_up(
    desk: RatingDesk,
    caller: Principal,
    rid: str,
    stage: Literal["revisit", "rectify"],
    note: str,
    answer: str | None = None,
) -> str:
    """回访 or 整改 (with the answer) taken by a person of the responsible side: a window
    clerk for A's 收件, a processing officer for B's 办结 (else 403 `not_responsible`). The
    free text is sealed for this region before it reaches the workflow. The API and the
    console both record through here."""
    row = await responsible_rating(desk, rid)
    needed = Role.WINDOW_CLERK if row.side == "A" else Role.PROCESSING_OFFICER
    if caller.role is not needed:
        raise RatingRefused(
            403, "not_responsible", f"the follow-up of this rating is taken by {needed.value}"
        )
    sealed = FollowUpNote(
        by=by_person(caller),
        note=seal_text(desk, note, row.case_no),
        answer=None if answer is None else seal_text(desk, answer, row.case_no),
    )
    return await follow_up_step(desk, rid, stage, sealed)


async def follow_up_step(desk: RatingDesk, rid: str, update: str, note: FollowUpNote) -> str:
    """回访 (`revisit`) or 整改 (`rectify`) on the rating's follow-up workflow."""
    await responsible_rating(desk, rid)
    handle = desk.client.get_workflow_handle(follow_up_workflow_id(rid))
    try:
        done: str = await handle.execute_update(update, note, result_type=str)
    except WorkflowUpdateFailedError as exc:
        raise RatingRefused(409, "follow_up_step_not_open", str(exc.cause or exc)) from exc
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        raise RatingRefused(409, "no_follow_up", "this rating has no follow-up running") from exc
    return done


async def set_aside(desk: RatingDesk, rid: str, appeal: AppealDecision) -> None:
    """申诉复核 upheld: a 差评 whose follow-up runs ends it (the applicant is answered); any
    other rating is set aside in the record alone. Once only (409 `already_set_aside`)."""
    row = await responsible_rating(desk, rid)
    if row.set_aside_at is not None:
        raise RatingRefused(409, "already_set_aside", "the rating was set aside before")
    if Level(row.level) in BAD_LEVELS and row.answered_at is None:
        handle = desk.client.get_workflow_handle(follow_up_workflow_id(rid))
        try:
            await handle.execute_update("set_aside", appeal, result_type=str)
            return
        except WorkflowUpdateFailedError as exc:
            raise RatingRefused(409, "appeal_not_open", str(exc.cause or exc)) from exc
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
    async with desk.pool.acquire() as conn:
        if not await store.set_aside(
            conn, rid, datetime.now(UTC), appeal.by, appeal.reason.model_dump()
        ):
            raise RatingRefused(409, "already_set_aside", "the rating was set aside before")
