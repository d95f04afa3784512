"""A regional node's settings, read once at the edge.

Precedence: values passed in code, then `TONGBAN_NODE_*` environment variables, then the TOML
file named by `TONGBAN_NODE_CONFIG`, then (on the local stack only) the stack's addresses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from effects.settings import EffectRouting
from events.models import RegionCode
from events.outbox import DEFAULT_ENVELOPE_BUDGET
from regions.identity import IdentityProvider
from regions.kafka_security import KafkaSecurity, Protocol
from regions.naming import namespace
from regions.policies import CasePolicies
from regions.rating_rules import RatingRules
from regions.temporal_security import TemporalSecurity


class NodeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_NODE_", frozen=True)

    region: RegionCode
    # Workflows kept in the worker's memory between tasks. Each costs ~0.3 MB in the Python
    # sandbox; one evicted is replayed from its short history when its next event arrives.
    max_cached_workflows: int = Field(default=250, ge=0)
    # Connections in the node's Postgres pool, and the activities (regular and local, each
    # bound) the worker runs at once. Fewer activities than connections: a burst waits in
    # Temporal's queue, outside its start-to-close timeout, instead of timing out in the
    # pool's queue (2026-12-01: 268 + 475 local activities cancelled that way opening 10,000
    # cases with the SDK's default of 100 against 10 connections). The exchange's loops (relay,
    # bridge, dispatcher, sweepers) take the connections the activities leave.
    postgres_pool_size: int = Field(default=10, ge=2)
    max_concurrent_activities: int = Field(default=8, ge=1)
    # "worker": only the Temporal worker, to add capacity beside the region's one full node.
    role: Literal["full", "worker"] = "full"
    temporal_address: str
    temporal_namespace: str = ""
    # Temporal's frontend over mutual TLS on a cluster (regions/temporal_security.py); none set:
    # in the clear, as the local dev server speaks.
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    kafka_bootstrap: str
    postgres_dsn: SecretStr
    trust_dir: Path
    # The id of the root key pinned in `trust_dir/root.pub`: a directory naming another root
    # is refused (decision 0017).
    root_key_id: str = Field(default="root-1", min_length=1)
    key_passphrase: SecretStr | None = None
    # Per-item automatic policies and case timings: JSON in TONGBAN_NODE_POLICIES or a
    # [policies] table in the TOML file. None given: people take every step (decision 0024);
    # a policy takes only the steps it names (regions/policies.py).
    policies: CasePolicies = CasePolicies()
    # Which of the region's systems carries out which effect ([effects] in the TOML file or
    # JSON in TONGBAN_NODE_EFFECTS): every effect goes to the `log` adapter unless routed.
    effects: EffectRouting = EffectRouting()
    # 好差评's follow-up deadlines in working days ([ratings] in the TOML file or JSON in
    # TONGBAN_NODE_RATINGS); regions/rating_rules.py names where each default comes from.
    ratings: RatingRules = RatingRules()
    # Records larger than this are quarantined unread (the broker's own limit is ~1 MiB).
    max_record_bytes: int = Field(default=1024 * 1024, gt=0)
    # Quarantine keeps this much of each refused record (its digest and length always), and
    # `tongban quarantine prune` removes rows older than the retention.
    quarantine_raw_bytes: int = Field(default=64 * 1024, ge=0)
    quarantine_retention_days: int = Field(default=90, ge=1)
    # The largest envelope this node's steps may write to its outbox; a larger one fails its
    # step (non-retryable) instead of blocking the outbox. Keep it under the peers'
    # max_record_bytes; the cap leaves the producer's 1 MiB room for key, headers and batch.
    max_envelope_bytes: int = Field(default=DEFAULT_ENVELOPE_BUDGET, gt=0, le=960 * 1024)
    # Reception awareness: wait this long for a receipt, then resend with backoff; give up
    # (mark failed, tell the workflow, raise an alarm) after this many sends.
    receipt_timeout_s: float = Field(default=30.0, gt=0)
    resend_backoff: float = Field(default=2.0, ge=1.0)
    max_send_attempts: int = Field(default=10, ge=1)
    # Crash tests only: a named point (events/crash.py) where the node dies as if killed.
    crash_at: str | None = None
    # How long the broker waits for a silent consumer before handing its partitions to a
    # restarted node (the broker's floor is 6 s by default).
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    # The exchange: PLAINTEXT on the local stack; SASL_SSL with the region's own SCRAM principal
    # (`region-<code>`) in production, where ACLs decide what the node may read and write.
    kafka_security_protocol: Protocol = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # The service catalog (national.json + regions/*.json); None: the one shipped in the package.
    catalog_dir: Path | None = None
    # The window HTTP API. 0: `api_port_base` + the region's offset (regions.api.ports), so
    # nodes of several regions on one machine do not collide.
    api_port: int = Field(default=0, ge=0, le=65535)
    api_port_base: int = Field(default=8000, ge=1, le=65000)
    api_host: str = "127.0.0.1"
    # The console (/console): a signed-in person idle this long signs in again; however active,
    # a session ends after `console_session_hours` (decision 0032).
    console_idle_minutes: int = Field(default=15, ge=1, le=24 * 60)
    console_session_hours: int = Field(default=8, ge=1, le=24)
    # The applicants' identity provider (全程网办, decision 0034): its issuer, the audience its
    # ID tokens name for this node, where it publishes its keys (JWKS) and, for the console's
    # sign-in, its authorization endpoint. No issuer: the node serves no /applicant routes.
    identity_issuer: str | None = None
    identity_audience: str | None = None
    identity_jwks_url: str | None = None
    identity_authorize_url: str | None = None
    # A token naming a key id not yet known refreshes the provider's keys at most this often.
    identity_jwks_min_refresh_s: float = Field(default=30.0, ge=0)
    # Bearer tokens (SHA-256 hashes only); None: `<trust_dir>/../tokens`.
    tokens_dir: Path | None = None
    # Telemetry (regions/telemetry.py): OTLP over HTTP (traces and metrics) when an endpoint is
    # set, e.g. http://collector:4318; finished spans appended as JSONL to a file (tests).
    otlp_endpoint: str | None = None
    trace_file: Path | None = None
    metric_interval_s: float = Field(default=30.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = os.environ.get("TONGBAN_NODE_CONFIG")
        if not config:
            return init_settings, env_settings
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, Path(config))

    @model_validator(mode="after")
    def _activities_leave_connections(self) -> NodeSettings:
        if self.max_concurrent_activities >= self.postgres_pool_size:
            raise ValueError(
                "max_concurrent_activities must stay below postgres_pool_size: the exchange's"
                " loops need connections too"
            )
        return self

    @property
    def identity(self) -> IdentityProvider | None:
        """The identity provider, when the node names one (issuer, audience and keys)."""
        if self.identity_issuer is None:
            return None
        return IdentityProvider(
            issuer=self.identity_issuer,
            audience=self.identity_audience or "",
            jwks_url=self.identity_jwks_url or "",
            authorize_url=self.identity_authorize_url,
            jwks_min_refresh_s=self.identity_jwks_min_refresh_s,
        )

    @property
    def kafka(self) -> KafkaSecurity:
        return KafkaSecurity(
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_cafile=self.kafka_ssl_cafile,
        )

    @property
    def temporal(self) -> TemporalSecurity:
        return TemporalSecurity(
            tls_ca=self.temporal_tls_ca,
            tls_cert=self.temporal_tls_cert,
            tls_key=self.temporal_tls_key,
            tls_server_name=self.temporal_tls_server_name,
            api_key=self.temporal_api_key,
        )

    @property
    def namespace(self) -> str:
        return self.temporal_namespace or namespace(self.region)

    @property
    def tokens_path(self) -> Path:
        return self.tokens_dir or self.trust_dir.parent / "tokens"

    @property
    def passphrase(self) -> bytes | None:
        return self.key_passphrase.get_secret_value().encode() if self.key_passphrase else None
