"""Bearer-token authentication and the role/region rules of each kind of step.

401: no token, or one that is malformed, unknown, expired or revoked (read from the token file
on every request, so a revocation holds without a restart). 403: a valid token whose role
may not take the step, or whose region does not hold the case's side of the step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from regions.api.services import ApiServices
from regions.tokens import Principal, Role, TokenRejected
from workflows.models import Actor

_bearer = HTTPBearer(auto_error=False, description="tongban token: tb_<region>_<secret>")


def services(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


Services = Annotated[ApiServices, Depends(services)]


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


def principal(
    svc: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required")
    try:
        found = svc.tokens.verify(credentials.credentials)
    except TokenRejected as exc:
        raise _unauthorized(str(exc)) from None
    if found.region != svc.region:
        # Each node serves its own region; a token of another region acts on nothing here.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"a token of region {found.region} cannot act at region {svc.region}'s node",
        )
    return found


Caller = Annotated[Principal, Depends(principal)]


def _role(required: Role) -> Callable[[Principal], Principal]:
    def check(caller: Caller) -> Principal:
        if caller.role is not required:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {caller.role.value} cannot take {required.value} steps",
            )
        return caller

    return check


Clerk = Annotated[Principal, Depends(_role(Role.WINDOW_CLERK))]
Officer = Annotated[Principal, Depends(_role(Role.PROCESSING_OFFICER))]


def step_actor(caller: Principal) -> Actor:
    """The person taking a step, as the case's workflow records it: from the token, never from
    the request body. A token issued before tokens named their person gives only its window."""
    return Actor(
        kind="person",
        person_id=caller.person_id,
        name=caller.person_name,
        region=caller.region,
        window=caller.window,
    )
