"""The region's systems answer an effect later (a `pending` answer's callback).

Not a person's route: no bearer token. The system signs the exact body with the secret shared
with that adapter (effects/callbacks.py, docs/effects-webhooks.md); the order the callback
names says which adapter, and so which secret, must have signed it. Anything else is refused
with the check that failed, and nothing changes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status

from effects import orders
from effects.callbacks import MAX_CALLBACK_BYTES, CallbackRefused, parse_callback, verify_callback
from effects.orders import OrderRefused
from effects.settings import WebhookTarget
from regions.api.auth import Services
from regions.api.models import Problem, _Out
from regions.effect_actions import CaseUnreachable, answer

log = logging.getLogger(__name__)
router = APIRouter(tags=["effects"])

EFFECT_CALLBACK_PATH = "/effects/callback"


class CallbackTaken(_Out):
    effect_id: int
    state: str
    changed: bool  # False: this answer was already recorded (a repeated callback)


@router.post(
    EFFECT_CALLBACK_PATH,
    responses={
        400: {"model": Problem, "description": "not a callback"},
        401: {"model": Problem, "description": "signature missing, wrong or stale"},
        404: {"model": Problem, "description": "no effect with that idempotency key here"},
        409: {"model": Problem, "description": "the effect already has another answer"},
        413: {"model": Problem, "description": "body too large"},
        503: {"model": Problem, "description": "recorded; the case could not be told yet"},
    },
)
async def effect_callback(request: Request, svc: Services) -> CallbackTaken:
    body = await _bounded_body(request)
    try:
        claimed = parse_callback(body)
    except CallbackRefused as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    async with svc.pool.acquire() as conn:
        order = await orders.by_idempotency_key(conn, claimed.idempotency_key)
    target = svc.effects.adapters.get(order.adapter) if order is not None else None
    if order is None or not isinstance(target, WebhookTarget) or target.callback_secret is None:
        # The same answer whether the key is unknown or its adapter takes no callbacks.
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no effect awaits this callback")
    secret = target.callback_secret.get_secret_value().encode()
    try:
        callback = verify_callback(request.headers, body, secret, now=datetime.now(UTC))
    except CallbackRefused as exc:
        log.warning("effect callback for %s refused: %s", order.case_no, exc.problem.value)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=str(exc)) from exc
    try:
        told = await answer(svc.pool, svc.client, svc.region, order, callback)
    except OrderRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except CaseUnreachable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "5"}
        ) from exc
    return CallbackTaken(effect_id=told.order.id, state=told.order.state, changed=told.changed)


async def _bounded_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CALLBACK_BYTES:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail="too large")
    return body
