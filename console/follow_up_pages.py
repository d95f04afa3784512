"""差评整改 for the people who take it (decision 0039): the open follow-ups this region answers
for on the signed-in person's side — 收件 (A) in the 窗口 section for window clerks, 办结 (B) in
the 办理 section for processing officers — with their deadlines, and the forms that record
回访 and 整改.

No rule is written twice: each form goes through `regions.ratings.record_follow_up`, as the
API's `/ratings/{id}/revisit` and `/rectification` do (who may take it, sealing the text, the
workflow's Update and its validator), with the API's own limits on the text (`Note`,
`Rectification`). The page reads the ratings table, which the follow-up's activities keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, status
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from console.auth import (
    PREFIX,
    CheckedForm,
    ConsoleServices,
    ConsoleUser,
    OfficerPage,
    WindowClerkPage,
)
from console.auth import console_state as state_of
from console.pages import Refusal, render, render_form
from events.ratings import LEVEL_LABELS, STEP_LABELS, Level, RatedStep, RatingRefused
from events.stores import ratings as store
from events.stores.ratings import RatingRow
from regions.api.rating_routes import Note, Rectification, desk
from regions.api.services import ApiServices
from regions.ratings import record_follow_up

router = APIRouter()
Section = Literal["window", "office"]
Stage = Literal["revisit", "rectify"]
SIDES: dict[Section, str] = {"window": "A", "office": "B"}
STAGE_LABELS: dict[Stage, str] = {"revisit": "回访", "rectify": "整改"}
DONE: dict[str, str] = {
    "revisit": "回访已记录。",
    "rectify": "整改已记录，答复已送达申请人（办理地的答复经收件地转达）。",
}


@dataclass(frozen=True)
class OpenFollowUp:
    """One 差评 as the page lists it."""

    row: RatingRow
    now: datetime

    @property
    def title(self) -> str:
        return f"{STEP_LABELS[RatedStep(self.row.step)]} {LEVEL_LABELS[Level(self.row.level)]}"

    @property
    def stage(self) -> Stage | None:
        """The stage open now: None until the follow-up has set its deadlines."""
        if self.row.revisit_due is None:
            return None
        return "revisit" if self.row.revisited_at is None else "rectify"

    def overdue(self, stage: Stage) -> bool:
        due = self.row.revisit_due if stage == "revisit" else self.row.rectify_due
        return due is not None and due < self.now

    @property
    def escalated(self) -> str:
        return "、".join(STAGE_LABELS[s] for s in self.row.escalations if s in STAGE_LABELS)


async def _open(svc: ApiServices, side: str) -> list[RatingRow]:
    async with svc.pool.acquire() as conn:
        return await store.open_follow_ups(conn, svc.region, side)


async def _page(
    request: Request,
    svc: ApiServices,
    section: Section,
    *,
    form: dict[str, str] | None = None,
    error: Refusal | None = None,
    posted: str | None = None,
) -> Response:
    now = state_of(request).now()
    listed = [OpenFollowUp(row, now) for row in await _open(svc, SIDES[section])]
    context = {
        "rows": listed,
        "now": now,
        "base": f"{PREFIX}/{section}/ratings",
        "page": "ratings",
        "done": DONE.get(request.query_params.get("done", "")),
        "stage_labels": STAGE_LABELS,
        "posted": posted,  # the rating whose form comes back filled in
    }
    if error is not None:
        return render_form(request, "ratings/follow_ups.html", context, form=form, error=error)
    return render(request, "ratings/follow_ups.html", context)


def _refusal(exc: RatingRefused) -> Refusal:
    return Refusal(
        exc.status,
        "未能记录",
        exc.message,
        exc.rule,
        "请刷新列表，核对该差评当前所处的环节后再记录；页面已保留您填写的内容。",
    )


async def _record(
    request: Request,
    user: ConsoleUser,
    svc: ApiServices,
    section: Section,
    rating_id: str,
    stage: Stage,
    form: CheckedForm,
) -> Response:
    kept = {k: str(v) for k, v in form.items() if k != "csrf"}
    try:
        if stage == "revisit":
            note, answer = Note(note=kept.get("note", "")).note, None
        else:
            filled = Rectification(note=kept.get("note", ""), answer=kept.get("answer", ""))
            note, answer = filled.note, filled.answer
    except ValidationError:
        refused = Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "未能记录",
            "记录和答复都要填写，各不超过 1000 字。",
            "note_required",
            "请补全后重新提交。",
        )
        return await _page(request, svc, section, form=kept, error=refused, posted=rating_id)
    try:
        await record_follow_up(desk(svc), user.principal(), rating_id, stage, note, answer=answer)
    except RatingRefused as exc:
        return await _page(request, svc, section, form=kept, error=_refusal(exc), posted=rating_id)
    return RedirectResponse(
        f"{PREFIX}/{section}/ratings?done={stage}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/window/ratings", name="window_follow_ups")
async def window_follow_ups(
    request: Request, user: WindowClerkPage, svc: ConsoleServices
) -> Response:
    return await _page(request, svc, "window")


@router.get("/office/ratings", name="office_follow_ups")
async def office_follow_ups(request: Request, user: OfficerPage, svc: ConsoleServices) -> Response:
    return await _page(request, svc, "office")


@router.post("/window/ratings/{rating_id}/{stage}")
async def window_record(
    request: Request,
    rating_id: str,
    stage: Stage,
    user: WindowClerkPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    return await _record(request, user, svc, "window", rating_id, stage, form)


@router.post("/office/ratings/{rating_id}/{stage}")
async def office_record(
    request: Request,
    rating_id: str,
    stage: Stage,
    user: OfficerPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    return await _record(request, user, svc, "office", rating_id, stage, form)
