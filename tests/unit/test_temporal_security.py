"""A node's Temporal connection settings (issue 23): in the clear by default, mutual TLS from
files on a cluster, and the cluster profile's recorded access filling a local node's settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.local import cluster_access, local_node_settings
from regions.temporal_security import TemporalSecurity

REGION = "350000"


def _files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for name, path in paths.items():
        path.write_bytes(f"-----{name}-----".encode())
    return paths


def test_nothing_set_is_in_the_clear() -> None:
    security = TemporalSecurity()
    assert security.tls() is False
    assert security.key() is None


def test_mutual_tls_reads_the_files_and_names_the_server(tmp_path: Path) -> None:
    f = _files(tmp_path)
    tls = TemporalSecurity(
        tls_ca=f["ca"], tls_cert=f["cert"], tls_key=f["key"], tls_server_name="temporal.cluster"
    ).tls()
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == b"-----ca-----"
    assert tls.client_cert == b"-----cert-----"
    assert tls.client_private_key == b"-----key-----"
    assert tls.domain == "temporal.cluster"


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        TemporalSecurity(tls_cert=_files(tmp_path)["cert"])


def test_an_api_key_never_travels_in_the_clear() -> None:
    security = TemporalSecurity(api_key="k-123")
    assert isinstance(security.tls(), TLSConfig)
    assert security.key() == "k-123"
    assert "k-123" not in repr(security)


def _cluster(tmp_path: Path) -> StackSettings:
    stack = StackSettings(state_dir=tmp_path / "state", stack_profile="cluster")
    f = _files(tmp_path)
    password = tmp_path / "kafka-password"
    password.write_text("s3cret\n")
    token = tmp_path / "temporal-token"
    token.write_text("header.claims.signature\n")
    stack.stack_file.parent.mkdir(parents=True)
    access = {
        "ca": str(f["ca"]),
        "temporal_tls_server_name": "temporal.cluster",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "nodes": {
            REGION: {
                "temporal_tls_cert": str(f["cert"]),
                "temporal_tls_key": str(f["key"]),
                "temporal_api_key_file": str(token),
                "kafka_sasl_username": f"region-{REGION}",
                "kafka_sasl_password_file": str(password),
            }
        },
    }
    stack.stack_file.write_text(json.dumps({"access": access}))
    return stack


def test_a_node_on_the_cluster_profile_gets_its_certificate_token_and_principal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TONGBAN_NODE_CONFIG", "TONGBAN_NODE_TEMPORAL_TLS_CERT"):
        monkeypatch.delenv(name, raising=False)
    stack = _cluster(tmp_path)
    endpoints = StackEndpoints("127.0.0.1:19091", "127.0.0.1:17233", None, "postgresql://h/db")
    settings = local_node_settings(REGION, stack, endpoints)
    tls = settings.temporal.tls()
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == b"-----cert-----"
    assert tls.domain == "temporal.cluster"
    assert settings.temporal.key() == "header.claims.signature"
    assert settings.kafka.sasl_username == f"region-{REGION}"
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret"
    # Another region has no certificate recorded: nothing is guessed for it.
    assert cluster_access(stack, "440000") == {}


def test_the_default_profile_adds_nothing(tmp_path: Path) -> None:
    stack = _cluster(tmp_path).model_copy(update={"stack_profile": "default"})
    assert cluster_access(stack, REGION) == {}
