"""The identity provider's published signing keys (JWKS), fetched and cached by key id.

An unknown `kid` refreshes the set (a provider that rotated its key publishes the new one
before it signs with it), at most once per `min_refresh`, so a flood of tokens naming made-up
key ids costs one request to the provider per interval, not one per token. A failed refresh
keeps the keys already known; with none known, verification cannot happen at all
(`KeysUnavailable`, which the API answers 503, not 401: the applicant did nothing wrong).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import jwt

# A JWKS document larger than this is not a key set.
MAX_JWKS_BYTES = 64 * 1024

Fetch = Callable[[str], Awaitable[bytes]]


class KeysUnavailable(Exception):
    """The provider's keys could not be read, and none are known from before."""


async def fetch_over_http(url: str, timeout_s: float = 5.0) -> bytes:
    """GET the JWKS; any failure is `KeysUnavailable` with a reason that names no secret."""
    try:
        async with (
            httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as got,
        ):
            if got.status_code != 200:
                raise KeysUnavailable(f"the identity provider's keys: HTTP {got.status_code}")
            body = bytearray()
            async for chunk in got.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise KeysUnavailable("the identity provider's key set is too large")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise KeysUnavailable(f"the identity provider's keys: {type(exc).__name__}") from exc


def parse_jwks(raw: bytes) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS by kid. Keys without a kid, not for signatures, or of a type
    PyJWT cannot use are left out (a provider may publish encryption keys beside them)."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise KeysUnavailable("the identity provider's key set is not JSON") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeysUnavailable("the identity provider's key set has no `keys` list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
    return keys


class JwksCache:
    """The keys by kid, refreshed when stale (`ttl`) or when a token names an unknown kid."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Fetch = fetch_over_http,
        ttl_s: float = 3600.0,
        min_refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._ttl = ttl_s
        self._min_refresh = min_refresh_s
        self._clock = clock
        self._keys: Mapping[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0  # how often the provider was asked (tests, metrics)

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named `kid`, refreshing the set if it is stale or lacks the kid (rate
        limited); None when the provider does not publish it."""
        if self._stale() or kid not in self._keys:
            await self._refresh()
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._ttl

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._tried_at is not None and now - self._tried_at < self._min_refresh:
                if not self._keys and self._fetched_at is None:
                    raise KeysUnavailable("the identity provider's keys are not known yet")
                return
            self._tried_at = now
            self.refreshes += 1
            try:
                keys = parse_jwks(await self._fetch(self._url))
            except KeysUnavailable:
                if not self._keys:
                    raise
                return  # keep the keys known; the next interval tries again
            self._keys = keys
            self._fetched_at = now

    @property
    def known(self) -> Mapping[str, Any]:
        return dict(self._keys)
