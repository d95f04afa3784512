"""The applicant's console session (全程网办, decision 0034): signed in through the region's
identity provider (OIDC, response_mode=form_post), kept apart from staff sessions.

The session is the ID token itself, in an HttpOnly cookie of its own (`tongban_applicant`,
path /console/applicant): every request verifies it again (signature, issuer, audience, expiry),
so the session ends when the token does. A staff session (cookie `tongban_console`) opens no
page here, and this cookie opens no staff page. Each form carries a CSRF value derived from
the token, which no other site can read; the sign-in carries `state` and `nonce` in a cookie
scoped to the callback, checked against what the provider posts back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request

from console.auth import PREFIX
from regions.api.services import ApiServices
from regions.identity import Applicant, IdentityRefused, IdentityUnavailable

HOME = f"{PREFIX}/applicant/"
COOKIE = "tongban_applicant"
SIGN_IN_COOKIE = "tongban_applicant_signin"
CALLBACK = f"{PREFIX}/applicant/callback"
CSRF_FIELD = "csrf"


class ApplicantSignInRequired(Exception):
    """No live applicant session: 303 to the applicant's sign-in page (`reason` shown there)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "no session")
        self.reason = reason


class ApplicantCsrfRefused(Exception):
    """A form without the session's CSRF value: nothing is done (403 page)."""


@dataclass(frozen=True)
class ApplicantSession:
    applicant: Applicant
    token: str

    @property
    def csrf(self) -> str:
        return csrf_of(self.token)

    @property
    def masked_name(self) -> str:
        name = self.applicant.name
        return name[:1] + "*" * max(len(name) - 1, 1)


def csrf_of(token: str) -> str:
    return hashlib.sha256(b"tongban applicant csrf\0" + token.encode()).hexdigest()


def check_csrf(session: ApplicantSession, submitted: object) -> None:
    if not isinstance(submitted, str) or not hmac.compare_digest(
        submitted.encode(), session.csrf.encode()
    ):
        raise ApplicantCsrfRefused()


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def applicant_session(request: Request) -> ApplicantSession:
    svc: ApiServices = request.app.state.services
    token = request.cookies.get(COOKIE)
    if not token or svc.identity is None:
        raise ApplicantSignInRequired()
    try:
        applicant = await svc.identity.verify(token)
    except IdentityRefused as exc:
        raise ApplicantSignInRequired("expired" if exc.reason == "expired" else "invalid") from None
    except IdentityUnavailable:
        raise ApplicantSignInRequired("unavailable") from None
    return ApplicantSession(applicant, token)


SignedInApplicant = Annotated[ApplicantSession, Depends(applicant_session)]


@dataclass(frozen=True)
class SignInStart:
    """Where the browser goes to sign in, and the cookie value (`state.nonce`) it carries."""

    url: str
    cookie: str


def sign_in_start(authorize_url: str, client_id: str, callback_url: str) -> SignInStart:
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": callback_url,
            "response_type": "id_token",
            "response_mode": "form_post",
            "scope": "openid",
            "state": state,
            "nonce": nonce,
        }
    )
    return SignInStart(f"{authorize_url}?{query}", f"{state}.{nonce}")


def nonce_for(cookie: str | None, state: str) -> str | None:
    """The nonce the sign-in started with, when `state` is the one it sent; else None."""
    if not cookie or "." not in cookie:
        return None
    sent, nonce = cookie.split(".", 1)
    return nonce if hmac.compare_digest(sent.encode(), state.encode()) else None
