"""The cluster profile beside the default stack: its own state and ports, Temporal's config
(several history shards, mTLS), three brokers' configs, and a build cache used as it is."""

from __future__ import annotations

import fcntl
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deploy.stack import certs, cluster_kafka, cluster_temporal
from deploy.stack.cli import app
from deploy.stack.cluster_layout import BROKER_IDS, TEMPORAL_SERVICES, ClusterLayout
from deploy.stack.cluster_postgres import ClusterPostgres
from deploy.stack.settings import StackSettings
from deploy.stack.temporal_build import TemporalBuild, ensure_built


def _layout(tmp_path: Path) -> ClusterLayout:
    return ClusterLayout.of(StackSettings(state_dir=tmp_path, stack_profile="cluster"))


def _properties(text: str) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_profile_selects_the_record_under_state_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert StackSettings(state_dir=tmp_path).stack_file == tmp_path / "stack.json"
    monkeypatch.setenv("TONGBAN_STACK_PROFILE", "cluster")
    assert StackSettings(state_dir=tmp_path).stack_file == tmp_path / "cluster" / "stack.json"


def test_no_cluster_port_is_one_the_default_stack_uses(tmp_path: Path) -> None:
    default = StackSettings(state_dir=tmp_path)
    taken = {
        default.kafka_port,
        default.kafka_controller_port,
        default.sasl_port,
        default.temporal_port,
        default.temporal_port + 10,  # the dev server's HTTP port
        default.temporal_ui_port,
        5432,
    }
    layout = _layout(tmp_path)
    ports = [
        layout.postgres_port,
        layout.temporal_http_port,
        layout.temporal_internal_http_port,
        layout.temporal_ui_port,
    ]
    for service in TEMPORAL_SERVICES:
        ports += layout.temporal_ports(service)
    for broker in BROKER_IDS:
        ports += [
            layout.client_port(broker),
            layout.internal_port(broker),
            layout.controller_port(broker),
        ]
    assert len(set(ports)) == len(ports), "two cluster members share a port"
    assert not taken & set(ports)


def _temporal_config(tmp_path: Path) -> dict[str, Any]:
    layout = _layout(tmp_path)
    server = ClusterPostgres.of(layout)
    server.root.mkdir(parents=True)
    server.password_file.write_text("not-a-real-password\n")
    config: dict[str, Any] = json.loads(cluster_temporal.render_config(layout, server))
    return config


def test_temporal_runs_several_shards_on_postgres(tmp_path: Path) -> None:
    config = _temporal_config(tmp_path)
    persistence = config["persistence"]
    assert persistence["numHistoryShards"] > 1
    stores = persistence["datastores"]
    assert {s["sql"]["pluginName"] for s in stores.values()} == {"postgres12"}
    assert {s["sql"]["databaseName"] for s in stores.values()} == {
        "temporal",
        "temporal_visibility",
    }
    assert set(config["services"]) == set(TEMPORAL_SERVICES)


def test_the_frontend_and_internode_require_client_certificates_of_separate_cas(
    tmp_path: Path,
) -> None:
    tls = _temporal_config(tmp_path)["global"]["tls"]
    ca = str(tmp_path / "cluster" / "certs" / "ca.crt")
    inner_ca = str(tmp_path / "cluster" / "certs" / "internode" / "ca.crt")
    for group, authority in (("frontend", ca), ("internode", inner_ca)):
        assert tls[group]["server"]["requireClientAuth"] is True
        assert tls[group]["server"]["clientCaFiles"] == [authority]
        assert tls[group]["client"]["rootCaFiles"] == [authority]
    assert tls["internode"]["server"]["certFile"].endswith(
        f"internode/{certs.TEMPORAL_INTERNODE}.crt"
    )
    # Without these the worker service would dial the public frontend, where it has no token.
    assert "systemWorker" not in tls


def test_the_public_frontend_authorizes_by_token_and_the_cluster_has_an_internal_one(
    tmp_path: Path,
) -> None:
    config = _temporal_config(tmp_path)
    authorization = config["global"]["authorization"]
    assert authorization["authorizer"] == "default"
    assert authorization["claimMapper"] == "default"
    jwks = _layout(tmp_path).temporal_auth / "jwks.json"
    assert authorization["jwtKeyProvider"]["keySourceURIs"] == [jwks.as_uri()]
    assert "internal-frontend" in config["services"]
    assert "publicClient" not in config
    layout = _layout(tmp_path)
    build = TemporalBuild(tmp_path / "build")
    for service in TEMPORAL_SERVICES:
        assert "--allow-no-auth" not in cluster_temporal.service_command(build, layout, service)


def test_each_temporal_service_is_its_own_process(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    build = TemporalBuild(tmp_path / "build")
    commands = [cluster_temporal.service_command(build, layout, s) for s in TEMPORAL_SERVICES]
    assert [cmd[-1] for cmd in commands] == list(TEMPORAL_SERVICES)
    assert all(cmd[-2] == "--service" for cmd in commands)


def test_the_web_ui_reaches_the_internal_frontend_with_its_own_client_certificate(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    cluster_temporal.write_ui_config(layout)
    command = cluster_temporal.ui_command(TemporalBuild(tmp_path / "build"), layout)
    env = command[command.index("--env") + 1]
    config_dir = Path(command[command.index("--root") + 1]) / command[command.index("--config") + 1]
    config = json.loads((config_dir / f"{env}.yaml").read_text())
    assert config["temporalGrpcAddress"] == layout.temporal_internal_address
    assert config["port"] == layout.temporal_ui_port
    assert config["tls"]["certFile"].endswith(f"internode/{certs.TEMPORAL_UI}.crt")
    assert config["tls"]["caFile"].endswith("internode/ca.crt")
    assert config["tls"]["enableHostVerification"] is True


def test_three_brokers_form_one_quorum_with_tls_and_durable_topics(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    configs = [_properties(cluster_kafka.rendered_config(layout, b)) for b in BROKER_IDS]
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert len({c["controller.quorum.voters"] for c in configs}) == 1
    assert configs[0]["controller.quorum.voters"].count("@") == 3
    for config in configs:
        assert config["listener.security.protocol.map"] == (
            "INTERNAL:SSL,CONTROLLER:SSL,CLIENT:SASL_SSL"
        )
        assert config["listener.name.internal.ssl.client.auth"] == "required"
        assert config["min.insync.replicas"] == "2"
        assert config["default.replication.factor"] == "3"
        assert config["unclean.leader.election.enable"] == "false"
        assert config["ssl.principal.mapping.rules"] == "RULE:^CN=([^,]+).*$/$1/,DEFAULT"
    assert len({c["log.dirs"] for c in configs}) == 3
    assert cluster_kafka.INBOX_TOPIC.replication_factor == 3
    assert cluster_kafka.INBOX_TOPIC.configs == {"min.insync.replicas": "2"}


def _complete(build: TemporalBuild) -> None:
    for kind in ("temporal", "visibility"):
        (build.schema / kind / "versioned").mkdir(parents=True)
    for binary in (build.server, build.sql_tool, build.ui_server):
        binary.write_bytes(b"")


def test_a_complete_build_cache_is_used_without_the_go_toolchain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = TemporalBuild(tmp_path / "temporal-1.32.2")
    _complete(build)
    monkeypatch.setenv("PATH", str(tmp_path / "no-go-here"))
    assert build.complete()
    assert ensure_built(build=build) == 0.0


def test_a_second_builder_waits_for_the_first_and_uses_its_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without Go on the PATH a second build would fail: it must wait, then find the cache whole.
    build = TemporalBuild(tmp_path / "temporal-1.32.2")
    monkeypatch.setenv("PATH", str(tmp_path / "no-go-here"))
    lock = tmp_path / "temporal-1.32.2.lock"
    with lock.open("w") as first:
        fcntl.flock(first, fcntl.LOCK_EX)
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(ensure_built, build=build)
            time.sleep(0.3)
            assert not second.done()  # waiting for the first builder's lock
            _complete(build)
            fcntl.flock(first, fcntl.LOCK_UN)
            assert second.result(timeout=10) == 0.0


def test_an_incomplete_cache_is_not_taken_for_a_build(tmp_path: Path) -> None:
    build = TemporalBuild(tmp_path / "temporal-1.32.2")
    build.root.mkdir()
    build.server.write_bytes(b"")
    assert not build.complete()


def test_stack_certs_issues_into_the_given_folder_once(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["certs", "--dir", str(tmp_path / "certs"), "--region", "350000"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (tmp_path / "certs" / "region-350000.crt").is_file()
    assert not (tmp_path / "certs" / "region-440000.crt").exists()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "nothing (all valid)" in again.output


def test_an_unknown_profile_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["status", "--profile", "production"])
    assert result.exit_code == 2
    assert "production" in result.output
