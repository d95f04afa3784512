"""A regional node's settings, read once at the edge (environment, then CLI overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.models import RegionCode
from regions.naming import namespace
from workflows.models import AutoPolicy


class NodeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_NODE_", frozen=True)

    region: RegionCode
    temporal_address: str
    temporal_namespace: str = ""
    kafka_bootstrap: str
    postgres_dsn: SecretStr
    trust_dir: Path
    key_passphrase: SecretStr | None = None
    auto_decision: Literal["approve", "deny"] = "approve"

    @property
    def namespace(self) -> str:
        return self.temporal_namespace or namespace(self.region)

    @property
    def policy(self) -> AutoPolicy:
        return AutoPolicy(decision=self.auto_decision)

    @property
    def passphrase(self) -> bytes | None:
        return self.key_passphrase.get_secret_value().encode() if self.key_passphrase else None
