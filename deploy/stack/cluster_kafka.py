"""The cluster profile's exchange: three combined broker+controller KRaft nodes with mutual TLS
among themselves, SASL/SCRAM over TLS for the regions, the regions' ACLs, and inbox topics with
replication factor 3 and `min.insync.replicas=2`."""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path
from string import Template

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.stack import certs, kafka_acls
from deploy.stack.cluster_layout import BROKER_IDS, ClusterLayout
from deploy.stack.kafka import DEPLOY_DIR, INBOX_PARTITIONS, KafkaPaths, ensure_libs

REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
INBOX_TOPIC = kafka_acls.TopicSpec(
    INBOX_PARTITIONS, REPLICATION_FACTOR, {"min.insync.replicas": str(MIN_INSYNC_REPLICAS)}
)


def service_name(broker: int) -> str:
    return f"kafka-{broker}"


def config_path(layout: ClusterLayout, broker: int) -> Path:
    return layout.kafka_root(broker) / "server.properties"


def data_dir(layout: ClusterLayout, broker: int) -> Path:
    return layout.kafka_root(broker) / "data"


def log_dir(layout: ClusterLayout, broker: int) -> Path:
    return layout.kafka_root(broker) / "logs"


def stdout_log(layout: ClusterLayout, broker: int) -> Path:
    return log_dir(layout, broker) / "stdout.log"


def admin_properties(layout: ClusterLayout) -> Path:
    return layout.root / "kafka" / "admin.properties"


def rendered_config(layout: ClusterLayout, broker: int) -> str:
    authority = certs.CertificateAuthority(layout.certs)
    voters = ",".join(f"{b}@localhost:{layout.controller_port(b)}" for b in BROKER_IDS)
    template = Template((DEPLOY_DIR / "cluster.properties").read_text())
    return template.substitute(
        node_id=broker,
        voters=voters,
        internal_port=layout.internal_port(broker),
        controller_port=layout.controller_port(broker),
        client_port=layout.client_port(broker),
        keystore=authority.files(certs.KAFKA_BROKER).keystore,
        truststore=authority.ca_cert,
        data_dir=data_dir(layout, broker),
    )


def _jvm(layout: ClusterLayout, broker: int, java: str) -> list[str]:
    return [
        java,
        f"-Dkafka.logs.dir={log_dir(layout, broker)}",
        f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}",
        "-cp",
        f"{layout.kafka_libs}/*",
    ]


def prepare(layout: ClusterLayout, java: str) -> None:
    """Jars, configs, the admin's client properties, and storage formatted once per broker
    with one cluster id (blocking: Maven the first time, one StorageTool JVM per broker)."""
    ensure_libs(KafkaPaths(layout.kafka_libs.parent))
    cluster_id_file = layout.root / "kafka" / "cluster.id"
    if not cluster_id_file.is_file():
        # StorageTool's random-uuid is a base64 URL-safe UUID; the same comes from Python.
        raw = uuid.uuid4().bytes
        cluster_id_file.write_text(base64.urlsafe_b64encode(raw).decode().rstrip("=") + "\n")
    cluster_id = cluster_id_file.read_text().strip()
    _write_admin_properties(layout)
    for broker in BROKER_IDS:
        log_dir(layout, broker).mkdir(parents=True, exist_ok=True)
        config_path(layout, broker).write_text(rendered_config(layout, broker))
        if (data_dir(layout, broker) / "meta.properties").is_file():
            continue
        data_dir(layout, broker).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *_jvm(layout, broker, java),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config_path(layout, broker)),
            ],
            check=True,
            capture_output=True,
            text=True,
        )


def _write_admin_properties(layout: ClusterLayout) -> None:
    authority = certs.CertificateAuthority(layout.certs)
    admin_properties(layout).write_text(
        "# The exchange admin: mutual TLS on the INTERNAL listeners as User:exchange-admin.\n"
        "security.protocol=SSL\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={authority.files(certs.EXCHANGE_ADMIN).keystore}\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={authority.ca_cert}\n"
    )


def broker_command(layout: ClusterLayout, broker: int, java: str, heap: str) -> list[str]:
    base = _jvm(layout, broker, java)
    return [
        base[0],
        f"-Xmx{heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:ActiveProcessorCount=1",
        "-Djava.awt.headless=true",
        *base[1:],
        "kafka.Kafka",
        str(config_path(layout, broker)),
    ]


def admin_ssl_context(layout: ClusterLayout) -> ssl.SSLContext:
    authority = certs.CertificateAuthority(layout.certs)
    files = authority.files(certs.EXCHANGE_ADMIN)
    context = ssl.create_default_context(cafile=str(authority.ca_cert))
    context.load_cert_chain(str(files.cert), str(files.key))
    return context


async def brokers_answering(layout: ClusterLayout, *, timeout_s: float = 5.0) -> int:
    """How many brokers the cluster's metadata lists (0: none answers the admin)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=layout.kafka_admin_bootstrap,
        security_protocol="SSL",
        ssl_context=admin_ssl_context(layout),
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        described = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    except (KafkaError, OSError, TimeoutError):
        return 0
    finally:
        await admin.close()
    return len(described.get("brokers", []))


async def broker_listens(layout: ClusterLayout, broker: int, *, timeout_s: float = 2.0) -> bool:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("localhost", layout.client_port(broker)), timeout_s
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def join_regions(layout: ClusterLayout, regions: Iterable[str]) -> list[str]:
    """Inbox topics (RF 3, min ISR 2), SCRAM credentials and ACLs, through the exchange admin.
    Passwords are made once and kept 0600 under `<state>/cluster/kafka/credentials`."""
    passwords: dict[str, str | None] = {
        region: kafka_acls.local_password(layout.root, region) for region in regions
    }
    plan = "".join(
        kafka_acls.access_plan(region, pw, INBOX_TOPIC) for region, pw in passwords.items()
    )
    return kafka_acls.apply_plan(
        layout.kafka_libs, layout.kafka_admin_bootstrap, plan, admin_properties(layout)
    )


def password_file(layout: ClusterLayout, region: str) -> Path:
    return kafka_acls.password_path(layout.root, region)


async def partition_leader(layout: ClusterLayout, topic: str, partition: int) -> tuple[int, int]:
    """The broker leading `topic`'s `partition`, and how many replicas are in sync with it (for
    the fault drills that kill exactly the broker a region's inbox depends on)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=layout.kafka_admin_bootstrap,
        security_protocol="SSL",
        ssl_context=admin_ssl_context(layout),
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    (entry,) = [p for p in described["partitions"] if p["partition"] == partition]
    return int(entry["leader"]), len(entry["isr"])
