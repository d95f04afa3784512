"""Rendering console pages: the templates, the base layout's context, refusals shown on forms.

A page module renders with `render(request, "window/queue.html", {...})`: the base layout gets
the region, the signed-in person, their navigation and `csrf_field()` without the page passing
them. A refused step re-renders its form with `render_form(..., form=form, error=exc)`: the
person's input stays, the refusal (why, and the rule) is shown above the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request, status
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.datastructures import FormData, UploadFile
from starlette.responses import HTMLResponse

from console.auth import CSRF_FIELD, PREFIX, ConsoleUser
from console.config import ConsoleState
from regions import beijing_time
from regions.api.cases import CaseNotFound
from regions.api.steps import StepRefused
from regions.submission_keys import RULE as KEY_REUSED
from regions.submission_keys import SubmissionKeyReused
from regions.window import ApplicationRefused

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
# Times as people read them: Beijing time, `2026-11-27 14:05`.
templates.env.filters["beijing"] = beijing_time.show
templates.env.filters["beijing_iso"] = beijing_time.show_iso


@dataclass(frozen=True)
class Refusal:
    """What a person reads when something is refused: a title, why, the rule (a code others can
    look up) and what to do about it."""

    status: int
    title: str
    message: str
    rule: str | None = None
    fix: str | None = None


def refusal_of(error: Refusal | Exception | str) -> Refusal:
    """The refusal a step's exception means to the person at the counter."""
    if isinstance(error, Refusal):
        return error
    if isinstance(error, str):
        return Refusal(status.HTTP_422_UNPROCESSABLE_CONTENT, "未能办理", error)
    if isinstance(error, StepRefused):
        return Refusal(
            status.HTTP_409_CONFLICT,
            "这一步未被接受",
            error.reason,
            error.rule,
            "请按下面的原因核对案件的当前状态后再操作；页面已保留您填写的内容。",
        )
    if isinstance(error, ApplicationRefused):
        return Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "申请未被受理",
            error.message,
            error.rule,
            "请按规则改正标出的内容后重新提交；页面已保留您填写的内容。",
        )
    if isinstance(error, SubmissionKeyReused):
        return Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "重复提交",
            str(error),
            KEY_REUSED,
            "这份表单已经提交过。请回到队列查看已建立的案件。",
        )
    if isinstance(error, CaseNotFound):
        return Refusal(
            status.HTTP_404_NOT_FOUND,
            "没有找到这个案件",
            f"本地区没有案件 {error.case_no}。",
            "unknown_case",
            "请核对案件编号（例如 350000-20261127-ABCDEFGH）。",
        )
    raise TypeError(f"{type(error).__name__} is not a refusal a page shows")


class KeptInput:
    """The text a person submitted, to fill the form in again (files are never kept)."""

    def __init__(self, form: FormData | Mapping[str, str] | None = None) -> None:
        self._values: dict[str, list[str]] = {}
        if isinstance(form, FormData):
            for key, value in form.multi_items():
                if key != CSRF_FIELD and not isinstance(value, UploadFile):
                    self._values.setdefault(key, []).append(value)
        elif form is not None:
            self._values = {k: [v] for k, v in form.items() if k != CSRF_FIELD}

    def get(self, name: str, default: str = "") -> str:
        values = self._values.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def checked(self, name: str, value: str = "on") -> bool:
        return value in self._values.get(name, ())


def _user(request: Request) -> ConsoleUser | None:
    found = getattr(request.state, "console_user", None)
    return found if isinstance(found, ConsoleUser) else None


def _section(request: Request) -> str | None:
    # /console/window/... → "window": the navigation marks the section a page belongs to.
    parts = request.url.path.removeprefix(PREFIX).strip("/").split("/")
    return parts[0] or None


def csrf_input(value: str) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(value))


def base_context(request: Request) -> dict[str, Any]:
    state: ConsoleState = request.app.state.console
    user = _user(request)
    return {
        "region_code": state.region,
        "region_name": state.region_name,
        "user": user,
        "nav": user.sections if user is not None else (),
        "section": _section(request),
        "prefix": PREFIX,
        "csrf_field": (lambda: csrf_input(user.csrf)) if user is not None else _no_csrf,
        "form": KeptInput(),
        "error": None,
    }


def _no_csrf() -> Markup:
    raise RuntimeError("csrf_field() on a page without a session: use the sign-in form's own")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    """A page in the base layout. `context` adds to (or overrides) the base context."""
    full = {**base_context(request), **(context or {})}
    return templates.TemplateResponse(request, template, full, status_code=status_code)


def render_form(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    form: FormData | Mapping[str, str] | None,
    error: Refusal | Exception | str,
    status_code: int | None = None,
) -> HTMLResponse:
    """The form page again, filled with what the person submitted (`form` in the template, a
    `KeptInput`) and the refusal (`error`, a `Refusal`) shown above it; the status is the
    refusal's (409 step refused, 422 rule broken, 404 unknown case) unless given."""
    refusal = refusal_of(error)
    full = {**(context or {}), "form": KeptInput(form), "error": refusal}
    return render(request, template, full, status_code=status_code or refusal.status)
