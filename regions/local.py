"""Node settings and keys for regions running on the local stack."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from events.keystore import KeyStore
from events.trust import TrustDirectory
from regions.codes import region as region_info
from regions.node_settings import NodeSettings
from regions.stack.settings import StackEndpoints, StackSettings, load_endpoints, region_dsn

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
    """Local stack defaults; any `TONGBAN_NODE_*` variable set in the environment wins."""
    endpoints = endpoints or load_endpoints(stack)
    defaults: dict[str, object] = {
        "region": region,
        "temporal_address": endpoints.temporal_address,
        "kafka_bootstrap": endpoints.kafka_bootstrap,
        "postgres_dsn": region_dsn(endpoints.postgres_dsn, region),
        "trust_dir": trust_dir(stack),
    }
    overridden = {name for name in defaults if f"TONGBAN_NODE_{name.upper()}" in os.environ}
    return NodeSettings(**{k: v for k, v in defaults.items() if k not in overridden})  # type: ignore[arg-type]
