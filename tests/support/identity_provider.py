"""A real identity provider for tests: publishes its JWKS, mints signed ID tokens, signs people
in for the console (OIDC authorization endpoint with response_mode=form_post) and rotates its
key on request.

In the test process (no HTTP): `TokenMint` signs tokens and gives the JWKS.

As its own process:

    python -m tests.support.identity_provider --port=0 --audience=AUD [--algorithm=RS256]

prints `identity provider listening on http://127.0.0.1:PORT` once it listens; its issuer is
that URL. `spawn_identity_provider` does this and gives an `IdentityProviderProcess`:

- `GET /jwks.json` — the published keys (after a rotation: the new key and the old one, or the
  new one alone with `drop_old`);
- `POST /_idp/token` — mint a token: `{"sub", "name", "id_number", "phone_number"?,
  "audience"?, "issuer"?, "expires_in"?, "not_before_in"?, "issued_in"?}` → `{"id_token"}`;
- `POST /_idp/rotate` — a new key with a new kid (`{"drop_old": bool}`) → `{"kid"}`;
- `POST /_idp/people` — a person who can sign in at `/authorize` (`sub`, `name`, `id_number`);
- `GET /authorize?client_id&redirect_uri&state&nonce&response_mode=form_post` — the sign-in
  page: choose a person, then `POST /authorize` answers an auto-submitting form that posts
  `id_token` and `state` to `redirect_uri` (OIDC form_post).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.support.http_server import LocalServer

Algorithm = Literal["RS256", "ES256", "EdDSA"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
LISTENING = "identity provider listening on "


def _new_key(algorithm: Algorithm) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(key: PrivateKey, kid: str, algorithm: Algorithm) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(public))
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(public))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(public))
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


@dataclass
class TokenMint:
    """Signs ID tokens with its current key; `rotate` makes a new one (new kid)."""

    issuer: str
    audience: str
    algorithm: Algorithm = "RS256"
    keys: dict[str, PrivateKey] = field(default_factory=dict)
    kid: str = ""

    def __post_init__(self) -> None:
        if not self.keys:
            self.rotate()

    def rotate(self, *, drop_old: bool = False) -> str:
        self.kid = f"{self.algorithm.lower()}-{uuid.uuid4().hex[:12]}"
        if drop_old:
            self.keys.clear()
        self.keys[self.kid] = _new_key(self.algorithm)
        return self.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(k, kid, self.algorithm) for kid, k in self.keys.items()]}

    def token(
        self,
        sub: str,
        name: str = "张三",
        id_number: str = "11010519491231002X",
        *,
        phone_number: str | None = "13800000000",
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: int = 600,
        not_before_in: int | None = None,
        issued_in: int = 0,
        nonce: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "sub": sub,
            "name": name,
            "id_number": id_number,
            "iat": now + issued_in,
            "exp": now + expires_in,
            **({"phone_number": phone_number} if phone_number else {}),
            **({"nbf": now + not_before_in} if not_before_in is not None else {}),
            **({"nonce": nonce} if nonce else {}),
            **(extra or {}),
        }
        return jwt.encode(
            claims, self.keys[self.kid], algorithm=self.algorithm, headers={"kid": self.kid}
        )


@dataclass(frozen=True)
class Person:
    sub: str
    name: str
    id_number: str
    phone_number: str | None = None


def _form_post(redirect_uri: str, fields: dict[str, str]) -> HTMLResponse:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return HTMLResponse(
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><title>登录中</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form method="post" action="{html.escape(redirect_uri)}">{inputs}'
        "<noscript><button>继续</button></noscript></form></body></html>"
    )


def provider_app(mint: TokenMint) -> FastAPI:
    app = FastAPI()
    people: dict[str, Person] = {}

    @app.get("/jwks.json")
    async def jwks() -> JSONResponse:
        return JSONResponse(mint.jwks())

    @app.post("/_idp/token")
    async def token(request: Request) -> JSONResponse:
        asked = await request.json()
        sub = asked.pop("sub")
        return JSONResponse({"id_token": mint.token(sub, **asked)})

    @app.post("/_idp/rotate")
    async def rotate(request: Request) -> JSONResponse:
        asked = await request.json() if await request.body() else {}
        return JSONResponse({"kid": mint.rotate(drop_old=bool(asked.get("drop_old")))})

    @app.post("/_idp/people")
    async def person(request: Request) -> JSONResponse:
        given = Person(**(await request.json()))
        people[given.sub] = given
        return JSONResponse({"sub": given.sub})

    @app.get("/authorize")
    async def authorize(
        client_id: str,
        redirect_uri: str,
        state: str,
        nonce: str = "",
        response_mode: str = Query(default="form_post"),
        response_type: str = Query(default="id_token"),
    ) -> HTMLResponse:
        if response_mode != "form_post" or response_type != "id_token":
            return HTMLResponse("unsupported response_mode/response_type", status_code=400)
        options = "".join(
            f'<option value="{html.escape(p.sub)}">{html.escape(p.name)}</option>'
            for p in people.values()
        )
        hidden = {"client_id": client_id, "redirect_uri": redirect_uri, "state": state}
        kept = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
            for k, v in {**hidden, "nonce": nonce}.items()
        )
        return HTMLResponse(
            "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
            "<title>统一身份认证（测试）</title></head><body><h1>统一身份认证（测试）</h1>"
            f'<form method="post" action="/authorize">{kept}'
            f'<label for="person">登录人</label><select id="person" name="sub">{options}</select>'
            '<button type="submit">登录</button></form></body></html>'
        )

    @app.post("/authorize")
    async def signed_in(
        sub: str = Form(),
        client_id: str = Form(),
        redirect_uri: str = Form(),
        state: str = Form(),
        nonce: str = Form(default=""),
    ) -> HTMLResponse:
        who = people.get(sub)
        if who is None or client_id != mint.audience:
            return HTMLResponse("unknown person or client", status_code=400)
        id_token = mint.token(
            who.sub,
            who.name,
            who.id_number,
            phone_number=who.phone_number,
            nonce=nonce or None,
        )
        return _form_post(redirect_uri, {"id_token": id_token, "state": state})

    return app


class IdentityProviderProcess:
    """The provider running as its own process (`spawn_identity_provider`)."""

    def __init__(self, process: subprocess.Popen[str], url: str, audience: str) -> None:
        self.process = process
        self.url = url
        self.issuer = url
        self.audience = audience
        self.jwks_url = f"{url}/jwks.json"
        self.authorize_url = f"{url}/authorize"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}{path}", json=body, trust_env=False, timeout=10)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def token(self, sub: str, **claims: Any) -> str:
        return str(self._post("/_idp/token", {"sub": sub, **claims})["id_token"])

    def rotate(self, *, drop_old: bool = False) -> str:
        return str(self._post("/_idp/rotate", {"drop_old": drop_old})["kid"])

    def add_person(self, person: Person) -> None:
        self._post("/_idp/people", person.__dict__)

    def node_env(self) -> dict[str, str]:
        """The node settings that point a region's node at this provider."""
        return {
            "TONGBAN_NODE_IDENTITY_ISSUER": self.issuer,
            "TONGBAN_NODE_IDENTITY_AUDIENCE": self.audience,
            "TONGBAN_NODE_IDENTITY_JWKS_URL": self.jwks_url,
            "TONGBAN_NODE_IDENTITY_AUTHORIZE_URL": self.authorize_url,
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> IdentityProviderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_identity_provider(
    audience: str, *, algorithm: Algorithm = "RS256", start_timeout_s: float = 30.0
) -> IdentityProviderProcess:
    """Start `python -m tests.support.identity_provider` and wait until it listens."""
    command = [
        sys.executable,
        "-m",
        "tests.support.identity_provider",
        "--port=0",
        f"--audience={audience}",
        f"--algorithm={algorithm}",
    ]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        command,
        cwd=root,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(start_timeout_s):
            process.kill()
            process.wait(timeout=10)
            raise RuntimeError(f"the identity provider did not listen within {start_timeout_s}s")
    line = process.stdout.readline().strip()
    if not line.startswith(LISTENING):
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError(f"the identity provider did not start (said {line!r})")
    return IdentityProviderProcess(process, line.removeprefix(LISTENING), audience)


async def _serve(arguments: argparse.Namespace) -> None:
    # The issuer is the URL, known once the port is bound: the app reads it from the mint.
    mint = TokenMint(issuer="", audience=arguments.audience, algorithm=arguments.algorithm)
    server = LocalServer(provider_app(mint), host=arguments.host, port=arguments.port)
    await server.start(quiet_signals=False)
    mint.issuer = server.url
    print(f"{LISTENING}{server.url}", flush=True)
    try:
        await server.serve_until_stopped()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--algorithm", default="RS256", choices=["RS256", "ES256", "EdDSA"])
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
