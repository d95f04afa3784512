"""Where the local stack lives and which services it is given instead of starting them.

Settings are read once, at the edge (the CLI or a test fixture), and passed down.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REGIONS = ("350000", "440000", "350100", "350200", "110000")
STACK_FILE = "stack.json"
_REGION_CODE = re.compile(r"^\d{6}$")


class StackNotAvailableError(RuntimeError):
    """The stack has not been started and no service addresses were configured."""


class StackSettings(BaseSettings):
    """`TONGBAN_*` environment variables, else keys of the file named by `TONGBAN_CONFIG`."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", extra="ignore", frozen=True)

    state_dir: Path = REPO_ROOT / "state"
    migrations_dir: Path = REPO_ROOT / "deploy" / "migrations"
    kafka_bootstrap: str | None = None
    temporal_address: str | None = None
    postgres_dsn: str | None = None
    # NoDecode: accept "350000,440000" from the environment as well as a JSON list.
    regions: Annotated[tuple[str, ...], NoDecode] = DEFAULT_REGIONS

    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # SASL_PLAINTEXT (SCRAM-SHA-512) listener where region principals and ACLs apply;
    # default: kafka_port + 2, so stacks with different ports do not collide.
    kafka_sasl_port: int | None = None
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    kafka_heap: str = "512m"
    start_timeout_s: float = Field(default=120.0, gt=0)
    # `cluster`: Temporal's own server on PostgreSQL and three Kafka brokers with TLS, under
    # <state_dir>/cluster/ on their own ports (decision 0037); `default`: the dev stack.
    stack_profile: Literal["default", "cluster"] = "default"

    @field_validator("regions", mode="before")
    @classmethod
    def _split_regions(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return value

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [code for code in value if not _REGION_CODE.match(code)]
        if bad:
            raise ValueError(f"region codes must be 6-digit GB/T 2260 codes, got {bad}")
        if not value:
            raise ValueError("at least one region is needed")
        return tuple(dict.fromkeys(value))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The config file's name is itself configuration, so it can only be known here,
        # when the settings object is built, not in model_config at import time.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("TONGBAN_CONFIG")
        if config:
            path = Path(config)
            if not path.is_file():
                raise FileNotFoundError(f"TONGBAN_CONFIG names {path}, which is not a file")
            if path.suffix == ".json":
                sources.append(JsonConfigSettingsSource(settings_cls, json_file=path))
            else:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def sasl_port(self) -> int:
        return self.kafka_sasl_port or self.kafka_port + 2

    @property
    def cluster_dir(self) -> Path:
        return self.state_dir / "cluster"

    @property
    def stack_file(self) -> Path:
        """The profile's record of processes and endpoints."""
        if self.stack_profile == "cluster":
            return self.cluster_dir / STACK_FILE
        return self.state_dir / STACK_FILE


@dataclass(frozen=True)
class StackEndpoints:
    kafka_bootstrap: str
    temporal_address: str
    temporal_ui: str | None
    postgres_dsn: str

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def region_dsn(server_dsn: str, region: str) -> str:
    """The DSN of database `tongban_<region>` on the server that `server_dsn` points at."""
    parts = urlsplit(server_dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("only postgresql:// URLs are supported as server DSNs")
    return urlunsplit(parts._replace(path=f"/{database_name(region)}"))


def database_name(region: str) -> str:
    return f"tongban_{region}"


def load_endpoints(settings: StackSettings) -> StackEndpoints:
    """Configured addresses win; the rest come from what `tongban stack up` recorded."""
    recorded: dict[str, Any] = {}
    if settings.stack_file.is_file():
        recorded = json.loads(settings.stack_file.read_text()).get("endpoints", {})
    kafka = settings.kafka_bootstrap or recorded.get("kafka_bootstrap")
    temporal = settings.temporal_address or recorded.get("temporal_address")
    postgres = settings.postgres_dsn or recorded.get("postgres_dsn")
    if not (kafka and temporal and postgres):
        missing = [
            env
            for env, value in (
                ("TONGBAN_KAFKA_BOOTSTRAP", kafka),
                ("TONGBAN_TEMPORAL_ADDRESS", temporal),
                ("TONGBAN_POSTGRES_DSN", postgres),
            )
            if not value
        ]
        raise StackNotAvailableError(
            f"no address for {', '.join(missing)}: run `tongban stack up` "
            f"(state dir {settings.state_dir}) or set those variables"
        )
    ui = recorded.get("temporal_ui") if not settings.temporal_address else None
    return StackEndpoints(
        kafka_bootstrap=kafka,
        temporal_address=temporal,
        temporal_ui=ui,
        postgres_dsn=postgres,
    )
