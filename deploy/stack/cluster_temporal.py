"""Temporal's own server for the cluster profile: schemas on PostgreSQL through its SQL tool,
one rendered config, and frontend, history, matching and worker as separate processes.

mTLS everywhere: the nodes show a certificate of the stack's CA to the public frontend, which
also authorizes each call by the node's token (`deploy.stack.temporal_tokens`: its own
namespace, nothing else). Temporal's services show certificates of the internode CA to each
other; the cluster's own callers (the worker service, `stack up`, the Web UI) reach an internal
frontend that admits only those, as the system's admin (decision 0052).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, TLSConfig

from deploy.stack import certs, temporal_tokens
from deploy.stack.cluster_layout import TEMPORAL_SERVICES, ClusterLayout
from deploy.stack.cluster_postgres import SUPERUSER, ClusterPostgres
from deploy.stack.temporal import namespace
from deploy.stack.temporal_build import TemporalBuild

NUM_HISTORY_SHARDS = 4
DATABASES = {"temporal": "temporal", "visibility": "temporal_visibility"}
SYSTEM_NAMESPACE = "temporal-system"
TLS_SERVER_NAME = "localhost"


class SchemaError(RuntimeError):
    """Temporal's SQL tool could not create or update a schema."""


@dataclass(frozen=True)
class TemporalClientTLS:
    """What a client of the cluster's frontend needs (recorded in stack.json for the nodes)."""

    ca: Path
    cert: Path
    key: Path
    server_name: str = TLS_SERVER_NAME

    def config(self) -> TLSConfig:
        return TLSConfig(
            server_root_ca_cert=self.ca.read_bytes(),
            client_cert=self.cert.read_bytes(),
            client_private_key=self.key.read_bytes(),
            domain=self.server_name,
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "ca": str(self.ca),
            "cert": str(self.cert),
            "key": str(self.key),
            "server_name": self.server_name,
        }


def client_tls(layout: ClusterLayout, client_name: str) -> TemporalClientTLS:
    """A client of the public frontend (a region's node): the stack's CA."""
    authority = certs.CertificateAuthority(layout.certs)
    files = authority.files(client_name)
    return TemporalClientTLS(authority.ca_cert, files.cert, files.key)


def internal_tls(layout: ClusterLayout) -> TemporalClientTLS:
    """The cluster's own client of the internal frontend (`stack up`): the internode CA."""
    authority = certs.CertificateAuthority(layout.internode_certs)
    files = authority.files(certs.TEMPORAL_INTERNODE)
    return TemporalClientTLS(authority.ca_cert, files.cert, files.key)


async def refusal_of_region(layout: ClusterLayout, region: str) -> str | None:
    """Connect to the public frontend as the region's node (certificate and token) and describe
    its namespace: None when admitted, else what the frontend said."""
    token = temporal_tokens.token_path(layout, region).read_text().strip()
    name = namespace(region)
    tls = client_tls(layout, certs.node_client(region)).config()
    try:
        client = await Client.connect(
            layout.temporal_address, namespace=name, tls=tls, api_key=token
        )
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=name), timeout=timedelta(seconds=10)
        )
    except (RPCError, RuntimeError) as err:
        return str(err)
    return None


# ------------------------------------------------------------------------------- schema


async def ensure_schemas(build: TemporalBuild, server: ClusterPostgres) -> list[str]:
    """Create the two databases if missing, set up versioning once, update to the latest
    version the schema files know (a no-op when current). Returns what was done."""
    done: list[str] = []
    conn = await asyncpg.connect(server.socket_dsn)
    try:
        for database in DATABASES.values():
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                # Identifiers cannot be bound; these are the two constants above.
                await conn.execute(f'CREATE DATABASE "{database}"')
                done.append(f"created database {database}")
    finally:
        await conn.close()
    for kind, database in DATABASES.items():
        if not await _has_versioning(server, database):
            _sql_tool(build, server, database, ["setup-schema", "-v", "0.0"])
        _sql_tool(
            build,
            server,
            database,
            ["update-schema", "--schema-dir", str(build.schema / kind / "versioned")],
        )
        done.append(f"{database}: schema at {await _schema_version(server, database)}")
    return done


async def _has_versioning(server: ClusterPostgres, database: str) -> bool:
    conn = await asyncpg.connect(server.socket_dsn.replace("/postgres?", f"/{database}?"))
    try:
        return bool(await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"))
    finally:
        await conn.close()


async def _schema_version(server: ClusterPostgres, database: str) -> str:
    conn = await asyncpg.connect(server.socket_dsn.replace("/postgres?", f"/{database}?"))
    try:
        return str(await conn.fetchval("SELECT curr_version FROM schema_version LIMIT 1"))
    finally:
        await conn.close()


def _sql_tool(
    build: TemporalBuild, server: ClusterPostgres, database: str, command: list[str]
) -> None:
    # The password goes through the environment: a command line is visible to every user.
    env = {**os.environ, "SQL_PASSWORD": server.password()}
    done = subprocess.run(
        [
            str(build.sql_tool),
            "--plugin",
            "postgres12",
            "--endpoint",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--user",
            SUPERUSER,
            "--database",
            database,
            *command,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SchemaError(f"temporal-sql-tool {command[0]} on {database}: {done.stderr[-2000:]}")


# ------------------------------------------------------------------------------- config


def config_path(layout: ClusterLayout) -> Path:
    return layout.temporal_root / "config.yaml"


def dynamic_config_path(layout: ClusterLayout) -> Path:
    return layout.temporal_root / "dynamicconfig.yaml"


def log_path(layout: ClusterLayout, service: str) -> Path:
    return layout.temporal_root / "logs" / f"{service}.log"


def render_config(layout: ClusterLayout, server: ClusterPostgres) -> str:
    """The server's YAML. JSON is YAML, so the config is built as data and dumped as JSON."""
    authority = certs.CertificateAuthority(layout.certs)
    ca = str(authority.ca_cert)
    frontend = authority.files(certs.TEMPORAL_FRONTEND)
    inner = certs.CertificateAuthority(layout.internode_certs)
    inner_ca = str(inner.ca_cert)
    internode = inner.files(certs.TEMPORAL_INTERNODE)

    def store(database: str, max_conns: int) -> dict[str, object]:
        return {
            "sql": {
                "pluginName": "postgres12",
                "databaseName": database,
                "connectAddr": f"127.0.0.1:{server.port}",
                "connectProtocol": "tcp",
                "user": SUPERUSER,
                "password": server.password(),
                "maxConns": max_conns,
                "maxIdleConns": max_conns,
                "maxConnLifetime": "1h",
            }
        }

    services: dict[str, object] = {}
    for service in TEMPORAL_SERVICES:
        grpc, membership = layout.temporal_ports(service)
        rpc: dict[str, object] = {
            "grpcPort": grpc,
            "membershipPort": membership,
            "bindOnIP": "127.0.0.1",
        }
        if service == "frontend":
            rpc["httpPort"] = layout.temporal_http_port
        if service == "internal-frontend":
            rpc["httpPort"] = layout.temporal_internal_http_port
        services[service] = {"rpc": rpc}
    config = {
        "log": {"stdout": True, "level": "warn"},
        "persistence": {
            "defaultStore": "default",
            "visibilityStore": "visibility",
            "numHistoryShards": NUM_HISTORY_SHARDS,
            "datastores": {
                "default": store(DATABASES["temporal"], 20),
                "visibility": store(DATABASES["visibility"], 10),
            },
        },
        "global": {
            "membership": {"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
            # The internal frontend and the services among themselves: the internode CA only.
            # The worker service finds the internal frontend through membership and dials it
            # with this config (there is an `internal-frontend` service and no publicClient).
            "tls": {
                "internode": {
                    "server": {
                        "certFile": str(internode.cert),
                        "keyFile": str(internode.key),
                        "requireClientAuth": True,
                        "clientCaFiles": [inner_ca],
                    },
                    "client": {"serverName": TLS_SERVER_NAME, "rootCaFiles": [inner_ca]},
                },
                "frontend": {
                    "server": {
                        "certFile": str(frontend.cert),
                        "keyFile": str(frontend.key),
                        "requireClientAuth": True,
                        "clientCaFiles": [ca],
                    },
                    "client": {"serverName": TLS_SERVER_NAME, "rootCaFiles": [ca]},
                },
            },
            # The public frontend: each call's token says which namespace it may touch.
            "authorization": {
                "jwtKeyProvider": {
                    "keySourceURIs": [temporal_tokens.jwks_path(layout).as_uri()],
                    "refreshInterval": "1m",
                },
                "permissionsClaimName": temporal_tokens.PERMISSIONS_CLAIM,
                "authorizer": "default",
                "claimMapper": "default",
            },
        },
        "services": services,
        "clusterMetadata": {
            "enableGlobalNamespace": False,
            "failoverVersionIncrement": 10,
            "masterClusterName": "active",
            "currentClusterName": "active",
            "clusterInformation": {
                "active": {
                    "enabled": True,
                    "initialFailoverVersion": 1,
                    "rpcName": "frontend",
                    "rpcAddress": layout.temporal_address,
                }
            },
        },
        "dcRedirectionPolicy": {"policy": "noop"},
        "archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}},
        "namespaceDefaults": {
            "archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}}
        },
        "dynamicConfigClient": {
            "filepath": str(dynamic_config_path(layout)),
            "pollInterval": "10s",
        },
    }
    return json.dumps(config, indent=2) + "\n"


# `stack up` registers namespaces and search attributes moments before nodes start workflows
# that set them: read attributes from the database instead of a cache that may lag. The
# window's submission asks for its first workflow task with the start (decision 0048); the
# server grants it only where eager start is on, as on the dev server.
_DYNAMIC_CONFIG = (
    "system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n"
    "system.enableEagerWorkflowStart:\n  - value: true\n"
)


def write_config(layout: ClusterLayout, server: ClusterPostgres) -> None:
    """Write the config (it holds the database password: 0600)."""
    layout.temporal_root.mkdir(parents=True, exist_ok=True)
    dynamic_config_path(layout).write_text(_DYNAMIC_CONFIG)
    path = config_path(layout)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(render_config(layout, server))
    tmp.replace(path)


def ui_config_dir(layout: ClusterLayout) -> Path:
    return layout.temporal_root / "ui"


def write_ui_config(layout: ClusterLayout) -> None:
    """The Web UI's server: the internal frontend through mTLS (its certificate of the internode
    CA). The UI is the operators' view of every namespace, on loopback only; a deployment puts
    its own sign-in in front of it (docs/runbook.md)."""
    authority = certs.CertificateAuthority(layout.internode_certs)
    files = authority.files(certs.TEMPORAL_UI)
    config = {
        "temporalGrpcAddress": layout.temporal_internal_address,
        "host": "127.0.0.1",
        "port": layout.temporal_ui_port,
        "enableUi": True,
        "defaultNamespace": "default",
        "tls": {
            "caFile": str(authority.ca_cert),
            "certFile": str(files.cert),
            "keyFile": str(files.key),
            "serverName": TLS_SERVER_NAME,
            "enableHostVerification": True,
        },
    }
    folder = ui_config_dir(layout) / "config"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cluster.yaml").write_text(json.dumps(config, indent=2) + "\n")


def ui_command(build: TemporalBuild, layout: ClusterLayout) -> list[str]:
    root = ui_config_dir(layout)
    return [
        str(build.ui_server),
        "--root",
        str(root),
        "--config",
        "config",
        "--env",
        "cluster",
        "start",
    ]


def service_command(build: TemporalBuild, layout: ClusterLayout, service: str) -> list[str]:
    return [
        str(build.server),
        "--config-file",
        str(config_path(layout)),
        "start",
        "--service",
        service,
    ]
