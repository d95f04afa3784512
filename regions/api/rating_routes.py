"""好差评 routes (decision 0039): the applicant rates (online with their identity token, or at
the window with the one-time code the clerk gave them); the responsible region's people take
回访 and 整改; an operator records a 申诉复核. Refusals are 4xx with the rule named."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from events.models import CaseNo, SealedBox
from events.ratings import (
    LEVEL_LABELS,
    STEP_LABELS,
    AppealDecision,
    Level,
    RatedStep,
    RatingInput,
    RatingRefused,
)
from events.sealing import open_box
from events.stores import ratings as store
from regions.api.applicant_cases import ONLINE_CHANNEL, own_case
from regions.api.applicant_routes import SignedIn
from regions.api.auth import Caller, Clerk, Services
from regions.api.models import Problem
from regions.api.ownership import CaseNoPath
from regions.api.services import ApiServices
from regions.ratings import (
    RatingDesk,
    RatingTaken,
    by_person,
    issue_code,
    rate,
    record_follow_up,
    responsible_rating,
    seal_text,
    set_aside,
)
from regions.tokens import Role

router = APIRouter(tags=["好差评 ratings"])
applicant_router = APIRouter(prefix="/applicant", tags=["好差评 ratings"])
_REFUSALS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "description": "refused; `rule` names why"}
    for code in (403, 404, 409, 422, 429)
}
_NOTE = Field(min_length=1, max_length=1000)


def desk(svc: ApiServices) -> RatingDesk:
    return RatingDesk(svc.region, svc.pool, svc.client, svc.credentials, svc.ratings, svc.effects)


class Rated(BaseModel):
    """A rating as kept: who answers for it and whether a follow-up runs."""

    rating_id: str
    case_no: str
    step: RatedStep
    step_label: str
    level: Level
    level_label: str
    responsible_region: str
    side: str
    follow_up: bool

    @classmethod
    def of(cls, taken: RatingTaken) -> Rated:
        return cls(
            rating_id=taken.rating_id,
            case_no=taken.case_no,
            step=taken.step,
            step_label=STEP_LABELS[taken.step],
            level=taken.level,
            level_label=LEVEL_LABELS[taken.level],
            responsible_region=taken.responsible_region,
            side=taken.side,
            follow_up=taken.follow_up,
        )


class OnlineRating(RatingInput):
    """The applicant's rating of one step of their case, online (一事一评)."""

    step: RatedStep


class WindowRating(RatingInput):
    """A rating at the window's terminal with the code from the receipt (一次一评)."""

    case_no: CaseNo
    code: str = Field(min_length=10, max_length=12)


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: RatedStep = RatedStep.RECEIVED


class RatingCode(BaseModel):
    case_no: str
    step: RatedStep
    code: str  # printed on the receipt for the applicant; never kept in the clear


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = _NOTE


class Rectification(Note):
    answer: str = _NOTE  # what the applicant is told


class Appeal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = _NOTE


class ApplicantRating(BaseModel):
    """What the applicant sees of their rating: the level, and the answer once given."""

    step: RatedStep
    step_label: str
    level_label: str
    rated_at: datetime
    answer: str | None
    answered_on_time: bool | None
    set_aside: bool


def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RatingRefused)
    body = {"detail": exc.message, "rule": exc.rule}
    return JSONResponse(status_code=exc.status, content=jsonable_encoder(body))


@applicant_router.post(
    "/cases/{case_no}/ratings", status_code=status.HTTP_201_CREATED, responses=_REFUSALS
)
async def rate_online(
    case_no: CaseNoPath, rating: OnlineRating, applicant: SignedIn, svc: Services
) -> Rated:
    """Rate 收件 or 办结 of one's own case, once per step; 办结 once the case is concluded."""
    await own_case(svc, applicant, case_no)
    given = RatingInput(level=rating.level, reasons=rating.reasons, comment=rating.comment)
    taken = await rate(
        desk(svc), case_no, rating.step, given, channel="online", window=ONLINE_CHANNEL
    )
    return Rated.of(taken)


@applicant_router.get("/cases/{case_no}/ratings", responses=_REFUSALS)
async def my_ratings(
    case_no: CaseNoPath, applicant: SignedIn, svc: Services
) -> list[ApplicantRating]:
    """The applicant's ratings of their case, each with the responsible region's answer."""
    await own_case(svc, applicant, case_no)
    async with svc.pool.acquire() as conn:
        rows = await store.of_case(conn, case_no)
    return [_applicant_view(svc, row) for row in rows]


def _applicant_view(svc: ApiServices, row: store.RatingRow) -> ApplicantRating:
    answer = None
    if row.answer_sealed is not None:
        box = SealedBox.model_validate(row.answer_sealed)
        key = svc.credentials.own_sealing_key(box.key_id)
        answer = open_box(box, case_no=row.case_no, private_key=key).decode()
    step = RatedStep(row.step)
    return ApplicantRating(
        step=step,
        step_label=STEP_LABELS[step],
        level_label=LEVEL_LABELS[Level(row.level)],
        rated_at=row.rated_at,
        answer=answer,
        answered_on_time=row.answered_on_time,
        set_aside=row.set_aside_at is not None,
    )


@router.post(
    "/window/cases/{case_no}/rating-codes",
    status_code=status.HTTP_201_CREATED,
    responses=_REFUSALS,
)
async def rating_code(
    case_no: CaseNoPath, request: CodeRequest, caller: Clerk, svc: Services
) -> RatingCode:
    """A one-time code for the applicant to rate the step at the window's terminal (printed
    with the receipt). The clerk cannot rate with their own token."""
    code = await issue_code(desk(svc), case_no, request.step, caller.window, caller.person_id)
    return RatingCode(case_no=case_no, step=request.step, code=code)


@router.post(
    "/ratings/window",
    status_code=status.HTTP_201_CREATED,
    responses=_REFUSALS,
    openapi_extra={"security": []},
)
async def rate_at_window(
    rating: WindowRating,
    svc: Services,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Rated:
    """The applicant's rating with their one-time code. A request carrying any bearer token
    (a clerk's) is refused: only the applicant rates (403 `staff_cannot_rate`). After 5 wrong
    codes for a case in 15 minutes, it is refused until then or until the clerk issues a new
    code (429 `rating_code_tries`)."""
    if authorization:
        raise RatingRefused(
            403, "staff_cannot_rate", "a rating is the applicant's own: no staff token rates"
        )
    given = RatingInput(level=rating.level, reasons=rating.reasons, comment=rating.comment)
    taken = await rate(
        desk(svc), rating.case_no, None, given, channel="window", window="", code=rating.code
    )
    return Rated.of(taken)


@router.post("/ratings/{rating_id}/revisit", responses=_REFUSALS)
async def revisit(rating_id: str, body: Note, caller: Caller, svc: Services) -> dict[str, str]:
    """回访 done: the applicant was contacted (the note is sealed for this region)."""
    return {"stage": await record_follow_up(desk(svc), caller, rating_id, "revisit", body.note)}


@router.post("/ratings/{rating_id}/rectification", responses=_REFUSALS)
async def rectification(
    rating_id: str, body: Rectification, caller: Caller, svc: Services
) -> dict[str, str]:
    """整改 done, with the answer the applicant is given (sent to A when this is B)."""
    stage = await record_follow_up(
        desk(svc), caller, rating_id, "rectify", body.note, answer=body.answer
    )
    return {"stage": stage}


@router.post(
    "/ratings/{rating_id}/appeal-review",
    status_code=status.HTTP_200_OK,
    responses=_REFUSALS,
)
async def appeal_review(
    rating_id: str, body: Appeal, caller: Caller, svc: Services
) -> dict[str, str]:
    """申诉复核 upheld by the region's 好差评 supervisor (an operator token): the rating is set
    aside with the recorded reason, and the applicant is told."""
    if caller.role is not Role.OPERATOR:
        raise RatingRefused(403, "reviewer_only", "申诉复核 is recorded by an operator")
    row = await responsible_rating(desk(svc), rating_id)
    appeal = AppealDecision(
        by=by_person(caller), reason=seal_text(desk(svc), body.reason, row.case_no)
    )
    await set_aside(desk(svc), rating_id, appeal)
    return {"stage": "set-aside"}


def install(app: FastAPI, services: ApiServices) -> None:
    app.add_exception_handler(RatingRefused, _refused)
    app.include_router(router)
    if services.identity is not None:
        app.include_router(applicant_router)
