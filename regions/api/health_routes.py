"""Kubernetes probes: /healthz (the process answers), /readyz (Postgres and Temporal answer,
and the trust directory in force has not expired: past it every inbound record is refused)."""

from __future__ import annotations

import asyncio

import asyncpg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from events.trust import DirectoryError
from regions.api.auth import Services

router = APIRouter(tags=["probes"])

_PROBE_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "a dependency does not answer, or the directory expired"}},
)
async def readyz(svc: Services) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(svc.pool.fetchval("SELECT 1"), _PROBE_TIMEOUT_S)
        checks["postgres"] = "ok"
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        checks["postgres"] = type(exc).__name__
    try:
        healthy = await asyncio.wait_for(svc.client.service_client.check_health(), _PROBE_TIMEOUT_S)
        checks["temporal"] = "ok" if healthy else "not serving"
    except (RPCError, OSError, TimeoutError) as exc:
        checks["temporal"] = type(exc).__name__
    try:
        checks["trust_directory"] = svc.credentials.expiry_problem() or "ok"
    except DirectoryError as exc:
        checks["trust_directory"] = str(exc)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, **checks})
