"""Local Kafka: a single KRaft node run with `java` from Maven-resolved jars, and its topics."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from deploy.stack.settings import REPO_ROOT, StackSettings

DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
INBOX_PARTITIONS = 3
_TOPIC_ALREADY_EXISTS = 36
# Stamp written next to the jars: the libs are re-resolved whenever the pom changes.
_POM_STAMP = ".pom.sha256"


@dataclass(frozen=True)
class KafkaPaths:
    root: Path

    @classmethod
    def under(cls, state_dir: Path) -> KafkaPaths:
        return cls(state_dir / "kafka")

    @property
    def libs(self) -> Path:
        return self.root / "libs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.logs / "stdout.log"


def bootstrap(settings: StackSettings) -> str:
    return f"localhost:{settings.kafka_port}"


def ensure_libs(paths: KafkaPaths) -> None:
    """Resolve the broker jars with Maven unless the libs match the current pom."""
    pom = DEPLOY_DIR / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    stamp = paths.libs / _POM_STAMP
    has_broker = any(paths.libs.glob("kafka_2.13-*.jar"))
    if has_broker and stamp.is_file() and stamp.read_text().strip() == digest:
        return
    # Resolve into a fresh folder and swap: copy-dependencies never deletes stale jars, and a
    # stale second SLF4J binding or Kafka version on the classpath fails in confusing ways.
    staging = paths.root / "libs.new"
    shutil.rmtree(staging, ignore_errors=True)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed once to resolve the Kafka jars")
    resolved = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-Dkafka.libs.dir={staging}",
        ],
        capture_output=True,
        text=True,
    )
    if resolved.returncode != 0:
        raise RuntimeError(
            f"mvn could not resolve the Kafka jars:\n{resolved.stdout}{resolved.stderr}"
        )
    (staging / _POM_STAMP).write_text(digest + "\n")
    shutil.rmtree(paths.libs, ignore_errors=True)
    staging.rename(paths.libs)


def sasl_bootstrap(settings: StackSettings) -> str:
    """The SCRAM listener, where region principals and their ACLs apply."""
    return f"localhost:{settings.sasl_port}"


def rendered_config(settings: StackSettings, paths: KafkaPaths) -> str:
    template = Template((DEPLOY_DIR / "server.properties").read_text())
    return template.substitute(
        data_dir=str(paths.data),
        broker_port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        sasl_port=settings.sasl_port,
    )


def render_config(settings: StackSettings, paths: KafkaPaths) -> None:
    paths.config.write_text(rendered_config(settings, paths))


def config_is_stale(settings: StackSettings) -> bool:
    """True when the running broker was started from an older template (e.g. before the
    SASL listener existed): a broker reads its config only at start."""
    paths = KafkaPaths.under(settings.state_dir)
    if not paths.config.is_file():
        return False
    return paths.config.read_text() != rendered_config(settings, paths)


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java (17 or newer) is needed on PATH for the local Kafka broker")
    return java


def _jvm_base(paths: KafkaPaths) -> list[str]:
    return [
        _java(),
        f"-Dkafka.logs.dir={paths.logs}",
        f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}",
        "-cp",
        f"{paths.libs}/*",
    ]


def format_storage_once(paths: KafkaPaths) -> None:
    """KRaft storage is formatted exactly once; meta.properties marks a formatted log dir."""
    if (paths.data / "meta.properties").is_file():
        return
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    base = _jvm_base(paths)
    cluster_id = (
        subprocess.run(
            [*base, "kafka.tools.StorageTool", "random-uuid"],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    subprocess.run(
        [
            *base,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(paths.config),
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def broker_command(settings: StackSettings, paths: KafkaPaths) -> list[str]:
    base = _jvm_base(paths)
    return [
        base[0],
        f"-Xmx{settings.kafka_heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        *base[1:],
        "kafka.Kafka",
        str(paths.config),
    ]


def prepare(settings: StackSettings) -> tuple[KafkaPaths, list[str]]:
    """Everything before launch (blocking: Maven, StorageTool); returns the broker command."""
    paths = KafkaPaths.under(settings.state_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    ensure_libs(paths)
    render_config(settings, paths)
    format_storage_once(paths)
    return paths, broker_command(settings, paths)


async def answers(bootstrap_servers: str, *, timeout_s: float = 5.0) -> bool:
    """True when a metadata request to the cluster succeeds."""
    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return True


async def ensure_topics(bootstrap_servers: str, topics: Iterable[str]) -> None:
    """Create the topics that are missing; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=topic, num_partitions=INBOX_PARTITIONS, replication_factor=1)
            for topic in topics
            if topic not in existing
        ]
        if not wanted:
            return
        response = await admin.create_topics(wanted)
        # aiokafka reports per-topic failures in the response instead of raising.
        # Entries are (topic, error_code[, error_message]) depending on the response version.
        failures = [
            f"{entry[0]}: {entry[2] if len(entry) > 2 and entry[2] else entry[1]}"
            for entry in response.topic_errors
            if entry[1] not in (0, _TOPIC_ALREADY_EXISTS)
        ]
        if failures:
            raise RuntimeError("could not create Kafka topics: " + "; ".join(failures))
    finally:
        await admin.close()
