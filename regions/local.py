"""Node settings and keys for regions running on the local stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource

from deploy.stack.manager import StackState
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
            **cluster_access(stack, region),
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


def cluster_access(stack: StackSettings, region: str) -> dict[str, Any]:
    """On the cluster profile, what the region's node needs beyond addresses, as `tongban stack
    up --profile cluster` recorded it: its Temporal client certificate (mTLS) and token (which
    namespace it may use), and its SCRAM principal over TLS (secrets read from their files).
    Nothing on the local dev stack."""
    if stack.stack_profile != "cluster" or not stack.stack_file.is_file():
        return {}
    access = StackState.load(stack.stack_file).access
    node = access.get("nodes", {}).get(region)
    if node is None:
        return {}
    password = Path(node["kafka_sasl_password_file"]).read_text().strip()
    token = node.get("temporal_api_key_file")  # absent in what an older `up` recorded
    return {
        **({"temporal_api_key": Path(token).read_text().strip()} if token else {}),
        "temporal_tls_ca": access["ca"],
        "temporal_tls_cert": node["temporal_tls_cert"],
        "temporal_tls_key": node["temporal_tls_key"],
        "temporal_tls_server_name": access["temporal_tls_server_name"],
        "kafka_security_protocol": access["kafka_security_protocol"],
        "kafka_sasl_mechanism": access["kafka_sasl_mechanism"],
        "kafka_sasl_username": node["kafka_sasl_username"],
        "kafka_sasl_password": password,
        "kafka_ssl_cafile": access["ca"],
    }
