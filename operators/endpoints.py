"""Where an operator reaches each region: its Temporal frontend and namespace, its Postgres.

Locally every region lives on the one stack (`tongban stack up`). In production each region
runs its own cluster and database; an operator names them in a JSON file:

    {"trust_dir": "/etc/tongban/trust",
     "regions": {"350000": {"temporal_address": "temporal.fj.example:7233",
                            "postgres_dsn": "postgresql://ops@db.fj.example/tongban_350000"},
                 "440000": {...}}}

(`namespace` defaults to `region-<code>`). On the local cluster profile (decision 0037) each
region's Temporal client certificate is the one `tongban stack up --profile cluster` recorded
for its node. Credentials belong in the DSN's password file or
environment (PGPASSFILE), never on the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from deploy.stack.settings import StackSettings, load_endpoints, region_dsn
from regions.local import cluster_access
from regions.local import trust_dir as local_trust_dir
from regions.naming import namespace as default_namespace
from regions.temporal_security import TemporalSecurity


@dataclass(frozen=True)
class RegionEndpoint:
    region: str
    temporal_address: str
    namespace: str
    postgres_dsn: str
    temporal: TemporalSecurity = field(default_factory=TemporalSecurity)


@dataclass(frozen=True)
class OperatorEndpoints:
    trust_dir: Path
    regions: dict[str, RegionEndpoint]

    def for_region(self, region: str) -> RegionEndpoint:
        try:
            return self.regions[region]
        except KeyError:
            raise LookupError(f"no endpoints configured for region {region}") from None


def local_endpoints(stack: StackSettings) -> OperatorEndpoints:
    found = load_endpoints(stack)
    return OperatorEndpoints(
        trust_dir=local_trust_dir(stack),
        regions={
            code: RegionEndpoint(
                code,
                found.temporal_address,
                default_namespace(code),
                region_dsn(found.postgres_dsn, code),
                _local_temporal(stack, code),
            )
            for code in stack.regions
        },
    )


def _local_temporal(stack: StackSettings, region: str) -> TemporalSecurity:
    """In the clear on the dev stack; the region's client certificate and token on the cluster
    profile."""
    access = cluster_access(stack, region)
    return TemporalSecurity(
        tls_ca=access.get("temporal_tls_ca"),
        tls_cert=access.get("temporal_tls_cert"),
        tls_key=access.get("temporal_tls_key"),
        tls_server_name=access.get("temporal_tls_server_name"),
        api_key=access.get("temporal_api_key"),
    )


def endpoints_from_file(path: Path) -> OperatorEndpoints:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return OperatorEndpoints(
        trust_dir=Path(raw["trust_dir"]),
        regions={
            code: RegionEndpoint(
                code,
                spec["temporal_address"],
                spec.get("namespace") or default_namespace(code),
                spec["postgres_dsn"],
            )
            for code, spec in raw["regions"].items()
        },
    )
