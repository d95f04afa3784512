"""The production files validate: compose with docker-compose's own `config` (no copied
schema), Kubernetes manifests with kubernetes-validate,
plus the properties the topology promises (official images, loopback-only host ports,
3 brokers with RF 3 / min ISR 2, non-root image with a health check)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.stack.kafka_acls import access_plan, principal_name, region_acls
from events.topics import inbox_topic

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.33.0"
OFFICIAL = re.compile(
    r"^(apache/kafka|temporalio/(auto-setup|server|admin-tools|ui)|postgres|"
    r"otel/opentelemetry-collector|jaegertracing/jaeger|tongban-node):"
)


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    return loaded


def _properties(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def _compose_config(tmp_path: Path, compose: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config -q` (Debian's docker-compose, which validates against the
    compose specification it ships; no engine is needed) on `compose`, in a directory with empty
    stand-ins for the git-ignored secrets the file names (docs/runbook.md says how they are
    made): the file is checked, not this machine's secrets."""
    services = compose["services"].values()
    named = [s["env_file"] for s in services if isinstance(s.get("env_file"), str)]
    named += [s["file"] for s in compose.get("secrets", {}).values() if "file" in s]
    for relative in named:
        stand_in = tmp_path / relative
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.touch()
    for config in (DEPLOY / "compose").glob("*.yaml"):
        (tmp_path / config.name).write_text(config.read_text())
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(compose))
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: `make test` installs it (system_packages.sh)"
    return subprocess.run(
        [binary, "-f", "compose.yaml", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_matches_the_compose_specification(tmp_path: Path) -> None:
    checked = _compose_config(tmp_path, _compose())
    assert checked.returncode == 0, checked.stderr


def test_the_compose_check_can_fail(tmp_path: Path) -> None:
    broken = _compose()
    broken["services"]["node-350000"]["stop_grace_perid"] = "60s"
    checked = _compose_config(tmp_path, broken)
    assert checked.returncode != 0
    assert "stop_grace_perid" in checked.stderr


def test_compose_uses_official_images_and_loopback_host_ports() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        assert OFFICIAL.match(service["image"]), f"{name}: {service['image']}"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {
        "jaeger",
        "temporal-ui-350000",
        "temporal-ui-440000",
        "node-350000",
        "node-440000",
    }


def test_each_region_has_its_own_temporal_postgres_and_node() -> None:
    services = _compose()["services"]
    for region in ("350000", "440000"):
        temporal = services[f"temporal-{region}"]
        assert temporal["environment"]["POSTGRES_SEEDS"] == f"temporal-db-{region}"
        node = services[f"node-{region}"]
        assert node["environment"]["TONGBAN_TEMPORAL_ADDRESS"] == f"temporal-{region}:7233"
        assert node["command"] == ["--region", region]
        # A region's databases are on its own network only: the other region cannot reach them.
        other = "440000" if region == "350000" else "350000"
        assert f"region-{other}" not in services[f"tongban-db-{region}"]["networks"]


def test_exchange_is_three_brokers_replicated_and_authenticated() -> None:
    services = _compose()["services"]
    brokers = [
        s
        for s in services.values()
        if s["image"].startswith("apache/kafka") and "KAFKA_NODE_ID" in s.get("environment", {})
    ]
    assert sorted(b["environment"]["KAFKA_NODE_ID"] for b in brokers) == ["1", "2", "3"]
    props = _properties(DEPLOY / "kafka" / "exchange" / "server.properties")
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["listener.security.protocol.map"] == (
        "INTERNAL:SSL,CONTROLLER:SSL,CLIENT:SASL_SSL"
    )
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert "allow.everyone.if.no.acl.found" not in props


def test_the_shell_join_script_grants_what_the_tested_plan_grants() -> None:
    script = (DEPLOY / "kafka" / "exchange" / "join-region.sh").read_text()
    kinds = {(r.permission, r.operation, r.pattern_type) for r in region_acls("350000")}
    assert kinds == {
        ("ALLOW", "READ", "LITERAL"),
        ("ALLOW", "WRITE", "PREFIXED"),
        ("DENY", "WRITE", "LITERAL"),
    }
    assert '--deny-principal "User:$user" --operation Write --topic "$topic"' in script
    assert "--operation Write --topic tongban.inbox." in script
    assert "--resource-pattern-type prefixed" in script
    assert '--operation Read --topic "$topic" --group "$group"' in script


def test_access_plan_never_lets_a_region_write_its_own_inbox() -> None:
    plan = access_plan("320000", "pw").splitlines()
    assert plan[0] == f"topic {inbox_topic('320000')} 3 1"
    assert f"scram {principal_name('320000')} pw" in plan
    assert "acl DENY WRITE TOPIC LITERAL tongban.inbox.320000 User:region-320000" in plan
    with pytest.raises(ValueError, match="one line"):
        access_plan("320000", "pw\nacl ALLOW ALL TOPIC PREFIXED x User:x")


def _k8s_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_manifests_validate() -> None:
    docs = _k8s_documents()
    assert {d["kind"] for d in docs} >= {
        "Deployment",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "Service",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_validation_can_fail() -> None:
    deployment = next(d for d in _k8s_documents() if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_node_deployment_shuts_down_gracefully_and_probes_health() -> None:
    deployment = next(d for d in _k8s_documents() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    node = pod["containers"][0]
    assert node["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert node["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "preStop" in node["lifecycle"]
    assert node["resources"]["requests"]
    assert node["resources"]["limits"]


def test_dockerfile_is_multi_stage_non_root_with_health_check() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert "python:3.11-slim" in text
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.MULTILINE)
    assert 'ENTRYPOINT ["tongban", "node", "run"]' in text
