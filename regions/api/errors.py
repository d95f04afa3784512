"""Exceptions → HTTP answers: 422 names the rule, 409 gives the refusal's reason, 404 unknown."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from regions.api.cases import CaseNotFound
from regions.api.steps import StepRefused
from regions.window import ApplicationRefused


def _problem(code: int, detail: str, rule: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "rule": rule, **extra}
    return JSONResponse(status_code=code, content=jsonable_encoder(body))


def _safe(error: dict[str, Any]) -> dict[str, Any]:
    # The offending input is left out: it may be an ID number or a name.
    return {k: v for k, v in error.items() if k in ("type", "loc", "msg")}


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_safe(dict(e)) for e in exc.errors()]
    rule = str(errors[0]["type"]) if errors else None
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, detail, rule, errors=errors)


async def _refused_application(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApplicationRefused)
    return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, exc.message, exc.rule)


async def _refused_step(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StepRefused)
    return _problem(status.HTTP_409_CONFLICT, exc.reason, "step_not_allowed")


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CaseNotFound)
    return _problem(status.HTTP_404_NOT_FOUND, str(exc), "unknown_case")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApplicationRefused, _refused_application)
    app.add_exception_handler(StepRefused, _refused_step)
    app.add_exception_handler(CaseNotFound, _not_found)
