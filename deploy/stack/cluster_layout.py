"""Where the cluster profile lives: its state under `<state>/cluster/` and its ports, chosen
apart from the default stack's (Temporal 7233/8233, Kafka 9092-9094) so both run side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy.stack.certs import internode_root
from deploy.stack.settings import StackSettings

BROKER_IDS = (1, 2, 3)
# `internal-frontend` serves the cluster's own callers (the worker service, `stack up`, the Web
# UI) over internode mTLS, so the public frontend can authorize every call by its token.
TEMPORAL_SERVICES = ("frontend", "history", "matching", "worker", "internal-frontend")
# gRPC and membership (ringpop) ports of each Temporal service.
_TEMPORAL_PORTS = {
    "frontend": (17233, 16933),
    "history": (17234, 16934),
    "matching": (17235, 16935),
    "worker": (17239, 16939),
    "internal-frontend": (17237, 16937),
}


@dataclass(frozen=True)
class ClusterLayout:
    root: Path
    postgres_port: int = 15432
    temporal_http_port: int = 17243
    temporal_internal_http_port: int = 17247
    temporal_ui_port: int = 18233

    @classmethod
    def of(cls, settings: StackSettings) -> ClusterLayout:
        return cls(settings.cluster_dir.resolve())

    @property
    def stack_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def internode_certs(self) -> Path:
        """The internode CA (`deploy.stack.certs`): Temporal's services among themselves."""
        return internode_root(self.certs)

    @property
    def temporal_auth(self) -> Path:
        """The key that signs the regions' Temporal tokens, and its public JWKS."""
        return self.root / "temporal-auth"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    @property
    def postgres_root(self) -> Path:
        return self.root / "postgres"

    @property
    def temporal_root(self) -> Path:
        return self.root / "temporal"

    def kafka_root(self, broker: int) -> Path:
        return self.root / "kafka" / f"broker-{broker}"

    @property
    def kafka_libs(self) -> Path:
        return self.root / "kafka" / "libs"

    @staticmethod
    def temporal_ports(service: str) -> tuple[int, int]:
        return _TEMPORAL_PORTS[service]

    @property
    def temporal_ui_url(self) -> str:
        return f"http://localhost:{self.temporal_ui_port}"

    @property
    def temporal_address(self) -> str:
        return f"localhost:{_TEMPORAL_PORTS['frontend'][0]}"

    @property
    def temporal_internal_address(self) -> str:
        return f"localhost:{_TEMPORAL_PORTS['internal-frontend'][0]}"

    @staticmethod
    def client_port(broker: int) -> int:
        """SASL_SSL: the regions' listener."""
        return 19090 + broker

    @staticmethod
    def internal_port(broker: int) -> int:
        """SSL with client certificates: brokers among themselves and the exchange admin."""
        return 19190 + broker

    @staticmethod
    def controller_port(broker: int) -> int:
        return 19290 + broker

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"localhost:{self.client_port(b)}" for b in BROKER_IDS)

    @property
    def kafka_admin_bootstrap(self) -> str:
        return ",".join(f"localhost:{self.internal_port(b)}" for b in BROKER_IDS)
