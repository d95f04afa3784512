"""The applicant's identity (全程网办, decision 0034): a signed ID token from the region's
identity provider, verified against the provider's published keys.

One boundary: `IdentityVerifier.verify` turns every token, however malformed, into an
`Applicant` or an `IdentityRefused` with a reason code; nothing else escapes it. The rules:
the algorithm is one of those pinned here (never `none`, never an HMAC, which a public key
would let anyone forge) and the one the key is for; the key is the provider's, found by the
token's `kid`; issuer and audience are the configured ones; `exp`, `nbf` and `iat` hold with a
small leeway; the subject and the person's name and ID number are present and valid.

The subject is the provider's pseudonym for the person; this node keeps only its digest (with
the issuer, so two providers' subjects never meet). Name and ID number are personal data: the
`Applicant` does not show them in its repr, and they are sealed like a window's applicant data
the moment the case is recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, Field
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from regions.identity_keys import JwksCache, KeysUnavailable

Algorithm = Literal["RS256", "ES256", "EdDSA"]
PINNED: tuple[Algorithm, ...] = ("RS256", "ES256", "EdDSA")
# A token longer than this is not an ID token (RS256 with these claims is about 1 KB).
MAX_TOKEN_CHARS = 8192

Reason = Literal[
    "token_missing",
    "token_too_large",
    "token_malformed",
    "algorithm_not_allowed",
    "unknown_key",
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "expired",
    "not_yet_valid",
    "claims_missing",
    "claims_invalid",
    "nonce_mismatch",
    "token_invalid",
]


class IdentityRefused(Exception):
    """The token does not identify an applicant: 401 with `reason`."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message


class IdentityUnavailable(Exception):
    """The provider's keys cannot be read: nobody can be verified now (503)."""


class IdentityProvider(BaseModel):
    """Where the region's identity provider is and what its tokens must say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(min_length=1, max_length=500)
    audience: str = Field(min_length=1, max_length=200)
    jwks_url: str = Field(pattern=r"^https?://")
    # The console's sign-in: the provider's authorization endpoint (OIDC, form_post).
    authorize_url: str | None = Field(default=None, pattern=r"^https?://")
    algorithms: tuple[Algorithm, ...] = Field(default=PINNED, min_length=1)
    leeway_s: int = Field(default=30, ge=0, le=300)
    jwks_ttl_s: float = Field(default=3600.0, gt=0)
    jwks_min_refresh_s: float = Field(default=30.0, ge=0)


def subject_digest(issuer: str, subject: str) -> str:
    """The pseudonym this node keeps for an applicant: 32 hex digits of SHA-256."""
    return hashlib.sha256(f"{issuer}\x00{subject}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Applicant:
    """A verified applicant. `subject` is the digest, never the provider's subject."""

    subject: str
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str | None = field(default=None, repr=False)


_REASONS: tuple[tuple[type[Exception], Reason], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.MissingRequiredClaimError, "claims_missing"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed"),
    (jwt.DecodeError, "token_malformed"),
    (jwt.InvalidIssuedAtError, "claims_invalid"),
    (jwt.PyJWTError, "token_invalid"),
)


def _reason_of(exc: jwt.PyJWTError) -> Reason:
    return next(reason for kind, reason in _REASONS if isinstance(exc, kind))


class IdentityVerifier:
    def __init__(self, provider: IdentityProvider, keys: JwksCache | None = None) -> None:
        self.provider = provider
        self._keys = keys or JwksCache(
            provider.jwks_url,
            ttl_s=provider.jwks_ttl_s,
            min_refresh_s=provider.jwks_min_refresh_s,
        )

    async def verify(self, token: str | None, nonce: str | None = None) -> Applicant:
        """The applicant the token names; raises `IdentityRefused` or `IdentityUnavailable`.
        `nonce`: the sign-in's own (OIDC), which the token must carry."""
        if not token:
            raise IdentityRefused("token_missing", "an identity token is required")
        if len(token) > MAX_TOKEN_CHARS:
            raise IdentityRefused("token_too_large", f"at most {MAX_TOKEN_CHARS} characters")
        try:
            return await self._verify(token, nonce)
        except (IdentityRefused, IdentityUnavailable):
            raise
        except jwt.PyJWTError as exc:
            raise IdentityRefused(_reason_of(exc), type(exc).__name__) from None
        except Exception as exc:  # noqa: BLE001 - the boundary: whatever a token does, it is refused
            raise IdentityRefused("token_malformed", type(exc).__name__) from None

    async def _verify(self, token: str, nonce: str | None) -> Applicant:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in self.provider.algorithms:
            raise IdentityRefused(
                "algorithm_not_allowed",
                f"algorithm {str(algorithm)[:20]!r} is not one of "
                f"{', '.join(self.provider.algorithms)}",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise IdentityRefused("unknown_key", "the token names no key id")
        try:
            key = await self._keys.key(kid)
        except KeysUnavailable as exc:
            raise IdentityUnavailable(str(exc)) from exc
        if key is None:
            raise IdentityRefused("unknown_key", "the provider publishes no key by that id")
        if key.algorithm_name != algorithm:
            # An RSA key's token claiming ES256 (or the other way round): refused before use.
            raise IdentityRefused(
                "algorithm_not_allowed", f"the key is for {key.algorithm_name}, not {algorithm}"
            )
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=self.provider.audience,
            issuer=self.provider.issuer,
            leeway=self.provider.leeway_s,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        if nonce is not None and claims.get("nonce") != nonce:
            raise IdentityRefused("nonce_mismatch", "the token is not the answer to this sign-in")
        return self._applicant(claims)

    def _applicant(self, claims: dict[str, object]) -> Applicant:
        subject, name = claims.get("sub"), claims.get("name")
        id_number, phone = claims.get("id_number"), claims.get("phone_number")
        if not isinstance(subject, str) or not 1 <= len(subject) <= 255:
            raise IdentityRefused("claims_invalid", "sub is not a subject identifier")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            raise IdentityRefused("claims_missing", "the token names no person (name)")
        if not isinstance(id_number, str):
            raise IdentityRefused("claims_missing", "the token carries no id_number")
        try:
            valid_id = str(ric.validate(id_number))
        except StdnumError:
            raise IdentityRefused("claims_invalid", "id_number fails its checksum") from None
        if phone is not None and not (isinstance(phone, str) and 5 <= len(phone) <= 20):
            raise IdentityRefused("claims_invalid", "phone_number is not a phone number")
        return Applicant(
            subject=subject_digest(self.provider.issuer, subject),
            name=name.strip(),
            id_number=valid_id,
            phone=phone,
        )
