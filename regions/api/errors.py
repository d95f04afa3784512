"""Exceptions → HTTP answers: 422 names the rule (also `idempotency_key_reused`), 409 gives the
refusal's reason, 404 unknown, 503 (with Retry-After) while Temporal, the region's database or
the access log does not answer."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from regions.access_log import AccessLogUnavailable
from regions.api.cases import CaseNotFound
from regions.api.steps import CaseCatchingUp, StepRefused
from regions.identity import IdentityRefused, IdentityUnavailable
from regions.submission_keys import RULE as KEY_REUSED
from regions.submission_keys import SubmissionKeyReused
from regions.window import ApplicationRefused

# How long a client should wait before trying again while a dependency restarts: the stack's
# services come back within seconds, and a window clerk's client retries the same step.
RETRY_AFTER_S = 2

# Temporal answers these while its server restarts or is overloaded; a retry may succeed.
_TEMPORAL_TRANSIENT = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
)

# The region's database going away or coming back, not a query that is wrong: a unique
# violation or a syntax error stays a 500.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # the connection was lost or refused
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.InterfaceError,  # a pooled connection closed under us
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    # A local server's Unix socket is gone while it restarts: connecting finds no file.
    FileNotFoundError,
)


def _problem(
    code: int,
    detail: str,
    rule: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "rule": rule, **extra}
    return JSONResponse(status_code=code, content=jsonable_encoder(body), headers=headers)


def _unavailable(what: str) -> JSONResponse:
    # Whether the step was taken is unknown when an Update's answer was lost: the client reads
    # the case and tries again; a step already taken is then refused with 409, never repeated.
    return _problem(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{what} does not answer right now; try again",
        "service_unavailable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


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
    # The context names what the rule is about (the item, the mode asked, the modes allowed).
    body = {"detail": exc.message, "rule": exc.rule, **exc.context}
    return JSONResponse(status_code=422, content=jsonable_encoder(body))


async def _identity_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdentityRefused)
    why = exc.reason
    # `rule` is the reason code (expired, wrong_audience …); the token itself is never echoed.
    return _problem(
        status.HTTP_401_UNAUTHORIZED,
        f"the identity token is refused: {exc.message}",
        exc.reason,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{why}"'},
    )


async def _identity_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return _unavailable("the identity provider")


async def _key_reused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SubmissionKeyReused)
    return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), KEY_REUSED)


async def _refused_step(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StepRefused)
    return _problem(status.HTTP_409_CONFLICT, exc.reason, exc.rule)


async def _catching_up(request: Request, exc: Exception) -> JSONResponse:
    return _problem(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the case is catching up with news after a restart; try again in a moment",
        "case_catching_up",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CaseNotFound)
    return _problem(status.HTTP_404_NOT_FOUND, str(exc), "unknown_case")


async def _temporal_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    if exc.status in _TEMPORAL_TRANSIENT:
        return _unavailable("the workflow service")
    # The status names the failure; the message may quote workflow input, so it stays out.
    return _problem(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        f"the workflow service refused the call ({exc.status.name})",
        "workflow_service_error",
    )


async def _temporal_timeout(request: Request, exc: Exception) -> JSONResponse:
    return _unavailable("the workflow service")


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    return _unavailable("the region's database")


async def _access_log_down(request: Request, exc: Exception) -> JSONResponse:
    # Fail closed: an opening the access log cannot hold is not answered (decision 0022).
    return _unavailable("the access log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApplicationRefused, _refused_application)
    app.add_exception_handler(SubmissionKeyReused, _key_reused)
    app.add_exception_handler(IdentityRefused, _identity_refused)
    app.add_exception_handler(IdentityUnavailable, _identity_unavailable)
    app.add_exception_handler(StepRefused, _refused_step)
    app.add_exception_handler(CaseCatchingUp, _catching_up)
    app.add_exception_handler(CaseNotFound, _not_found)
    app.add_exception_handler(AccessLogUnavailable, _access_log_down)
    app.add_exception_handler(RPCError, _temporal_error)
    # Also an Update whose answer did not come in time (WorkflowUpdateRPCTimeoutOrCancelledError).
    app.add_exception_handler(RPCTimeoutOrCancelledError, _temporal_timeout)
    for down in DATABASE_DOWN:
        app.add_exception_handler(down, _database_down)
