"""Node settings and keys for regions running on the local stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource

from deploy.stack.settings import (
    StackEndpoints,
    StackNotAvailableError,
    StackSettings,
    load_endpoints,
    region_dsn,
)
from events.keystore import KeyStore
from events.trust import TrustDirectory
from regions.codes import region as region_info
from regions.node_settings import NodeSettings

LOCAL_KEY_VALIDITY = timedelta(days=365)


def trust_dir(stack: StackSettings) -> Path:
    return stack.state_dir / "trust"


def ensure_local_keys(stack: StackSettings, regions: tuple[str, ...]) -> TrustDirectory:
    """Create a development root and region keys once; add regions that joined since."""
    described = {code: (region_info(code).name, region_info(code).parent) for code in regions}
    return KeyStore(trust_dir(stack)).bootstrap(
        described, validity=LOCAL_KEY_VALIDITY, now=datetime.now(UTC)
    )


def local_node_settings(
    region: str, stack: StackSettings, endpoints: StackEndpoints | None = None
) -> NodeSettings:
    """The local stack's addresses as the last resort: `TONGBAN_NODE_*` variables and the
    `TONGBAN_NODE_CONFIG` file win, and without a local stack they must give everything."""
    try:
        endpoints = endpoints or load_endpoints(stack)
    except StackNotAvailableError:
        return NodeSettings(region=region)  # the rest from env/file, or a clear error
    fallback = InitSettingsSource(
        NodeSettings,
        init_kwargs={
            "temporal_address": endpoints.temporal_address,
            "kafka_bootstrap": endpoints.kafka_bootstrap,
            "postgres_dsn": region_dsn(endpoints.postgres_dsn, region),
            "trust_dir": trust_dir(stack),
        },
    )

    class LocalNodeSettings(NodeSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            configured = super().settings_customise_sources(
                settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
            )
            return (*configured, fallback)

    return LocalNodeSettings(region=region)
