"""Which region may use which namespace on the cluster's Temporal (decision 0052).

mTLS tells the public frontend that a caller holds a certificate of the stack's CA; it does not
say which region's namespace the caller may touch. The frontend runs Temporal's default claim
mapper and authorizer: every call carries a JWT (the node's API key, sent as `authorization:
Bearer …`) whose `permissions` claim names the namespaces and roles it grants. `stack up` signs
one token per region, granting `region-<code>:write` (start, signal, query, poll, respond; no
admin call, no other namespace), with a P-256 key made once; the frontend reads the key's public
half as a JWKS file and re-reads it every minute.

Tokens are issued and kept like the certificates (`deploy.stack.certs`): valid for
`LEAF_VALIDITY`, issued again when due within `RENEW_BEFORE`; a node reads its token when it
connects. The signing key and the tokens are 0600 under `<cluster>/temporal-auth/`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.stack.certs import LEAF_VALIDITY, RENEW_BEFORE, key_pem, load_key, write_private
from deploy.stack.cluster_layout import ClusterLayout
from deploy.stack.temporal import namespace

ALGORITHM = "ES256"  # one of the two Temporal's key provider reads (RS256, ES256)
PERMISSIONS_CLAIM = "permissions"
ROLE = "write"


def permission(region: str) -> str:
    return f"{namespace(region)}:{ROLE}"


def signing_key_path(layout: ClusterLayout) -> Path:
    return layout.temporal_auth / "signing.key"


def jwks_path(layout: ClusterLayout) -> Path:
    return layout.temporal_auth / "jwks.json"


def token_path(layout: ClusterLayout, region: str) -> Path:
    return layout.temporal_auth / f"token-{region}"


def key_id(public: ec.EllipticCurvePublicKey) -> str:
    """The key's RFC 7638 thumbprint: the same key always has the same id."""
    jwk = _public_jwk(public)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def ensure_tokens(
    layout: ClusterLayout, regions: Iterable[str], *, now: datetime | None = None
) -> list[str]:
    """The signing key and its JWKS (once), and every region's token that is missing, due, or
    signed by another key; returns the regions whose tokens were issued."""
    at = now or datetime.now(UTC)
    layout.temporal_auth.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = _signing_key(layout)
    kid = key_id(key.public_key())
    jwk = {**_public_jwk(key.public_key()), "kid": kid, "use": "sig", "alg": ALGORITHM}
    jwks_path(layout).write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    issued: list[str] = []
    for region in regions:
        path = token_path(layout, region)
        if _still_good(path, key, region, at):
            continue
        write_private(path, issue(key, region, at).encode())
        issued.append(region)
    return issued


def issue(key: ec.EllipticCurvePrivateKey, region: str, at: datetime) -> str:
    claims = {
        "sub": namespace(region),
        PERMISSIONS_CLAIM: [permission(region)],
        "iat": int(at.timestamp()),
        "exp": int((at + LEAF_VALIDITY).timestamp()),
    }
    headers = {"kid": key_id(key.public_key())}
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers=headers)


def _still_good(path: Path, key: ec.EllipticCurvePrivateKey, region: str, at: datetime) -> bool:
    if not path.is_file():
        return False
    try:
        claims = jwt.decode(
            path.read_text().strip(),
            key.public_key(),
            algorithms=[ALGORITHM],
            options={"require": ["exp"]},
        )
    except jwt.PyJWTError:
        return False  # expired, without an expiry, or signed by a key made since: issue again
    due = datetime.fromtimestamp(claims["exp"], UTC) - RENEW_BEFORE
    return bool(claims.get(PERMISSIONS_CLAIM) == [permission(region)] and due > at)


def _signing_key(layout: ClusterLayout) -> ec.EllipticCurvePrivateKey:
    path = signing_key_path(layout)
    if path.is_file():
        return load_key(path)
    key = ec.generate_private_key(ec.SECP256R1())
    write_private(path, key_pem(key))
    return key


def _public_jwk(public: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    return jwk
