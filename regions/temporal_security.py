"""How a node reaches Temporal: in the clear on the local dev server; mutual TLS (and an API key
where the service asks for one) on a cluster (issue 23, decision 0037).

The certificate files are read when the node connects, so a rotated certificate is picked up by
the next start; the key file's content never appears in settings dumps or logs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator
from temporalio.service import TLSConfig


class TemporalSecurity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tls_ca: Path | None = None  # the CA that signed the frontend's certificate
    tls_cert: Path | None = None  # this node's client certificate (mTLS)
    tls_key: Path | None = None
    tls_server_name: str | None = None  # the name in the frontend's certificate
    api_key: SecretStr | None = None

    @model_validator(mode="after")
    def _pairs(self) -> TemporalSecurity:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("a Temporal client certificate and its key go together")
        return self

    @property
    def uses_tls(self) -> bool:
        return any(
            v is not None for v in (self.tls_ca, self.tls_cert, self.tls_server_name, self.api_key)
        )

    def tls(self) -> TLSConfig | bool:
        """`tls` for `Client.connect`: False in the clear; an API key alone still goes over TLS
        with the system's roots (a key must never travel in the clear)."""
        if not self.uses_tls:
            return False
        return TLSConfig(
            server_root_ca_cert=self.tls_ca.read_bytes() if self.tls_ca else None,
            client_cert=self.tls_cert.read_bytes() if self.tls_cert else None,
            client_private_key=self.tls_key.read_bytes() if self.tls_key else None,
            domain=self.tls_server_name,
        )

    def key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None
