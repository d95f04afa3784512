"""Where a node's settings come from: environment, then the config file, then the local stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from deploy.stack.settings import StackSettings
from regions.local import local_node_settings


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> StackSettings:
    for name, value in {
        "TONGBAN_STATE_DIR": str(tmp_path / "state"),
        "TONGBAN_KAFKA_BOOTSTRAP": "stack-kafka:9092",
        "TONGBAN_TEMPORAL_ADDRESS": "stack-temporal:7233",
        "TONGBAN_POSTGRES_DSN": "postgresql://tongban@stack-pg/postgres",
    }.items():
        monkeypatch.setenv(name, value)
    return StackSettings()


def test_the_local_stack_fills_in_what_nothing_else_gives(stack: StackSettings) -> None:
    settings = local_node_settings("350000", stack)
    assert settings.temporal_address == "stack-temporal:7233"
    assert (
        settings.postgres_dsn.get_secret_value() == "postgresql://tongban@stack-pg/tongban_350000"
    )
    assert settings.namespace == "region-350000"


def test_environment_beats_config_file_beats_stack(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        'temporal_address = "file-temporal:7233"\n'
        'kafka_bootstrap = "file-kafka:9092"\n'
        'kafka_security_protocol = "SASL_SSL"\n'
        'kafka_sasl_username = "region-350000"\n'
    )
    monkeypatch.setenv("TONGBAN_NODE_CONFIG", str(config))
    monkeypatch.setenv("TONGBAN_NODE_KAFKA_BOOTSTRAP", "env-kafka:9093")
    monkeypatch.setenv("TONGBAN_NODE_KAFKA_SASL_PASSWORD", "from-a-secret")
    settings = local_node_settings("350000", stack)
    assert settings.temporal_address == "file-temporal:7233"
    assert settings.kafka_bootstrap == "env-kafka:9093"
    options = settings.kafka.client_options()
    assert options["sasl_plain_username"] == "region-350000"
    assert options["sasl_plain_password"] == "from-a-secret"
    assert "ssl_context" in options


def test_sasl_without_credentials_is_refused(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBAN_NODE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match="needs a SASL username and password"):
        local_node_settings("350000", stack).kafka.client_options()


def test_without_a_stack_every_address_must_be_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TONGBAN_STATE_DIR", str(tmp_path / "nothing-here"))
    for name in ("TONGBAN_KAFKA_BOOTSTRAP", "TONGBAN_TEMPORAL_ADDRESS", "TONGBAN_POSTGRES_DSN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="temporal_address"):
        local_node_settings("350000", StackSettings())


def test_activities_at_once_stay_below_the_pool(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = local_node_settings("350000", stack)
    assert settings.max_concurrent_activities < settings.postgres_pool_size
    monkeypatch.setenv("TONGBAN_NODE_MAX_CONCURRENT_ACTIVITIES", "10")
    with pytest.raises(ValidationError, match="below postgres_pool_size"):
        local_node_settings("350000", stack)
    monkeypatch.setenv("TONGBAN_NODE_POSTGRES_POOL_SIZE", "16")
    assert local_node_settings("350000", stack).max_concurrent_activities == 10


def test_the_worker_runs_no_more_activities_than_the_settings_allow(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import regions.node

    seen: dict[str, object] = {}

    def worker(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return object()

    monkeypatch.setattr(regions.node, "Worker", worker)
    monkeypatch.setattr(regions.node, "node_activities", lambda *a, **k: [])
    monkeypatch.setattr(regions.node, "RegionDocuments", lambda *a, **k: None)
    monkeypatch.setattr(regions.node, "signed_pdfs", lambda *a, **k: None)
    settings = local_node_settings("350000", stack)
    services = regions.node.NodeServices(None, None, None, None)  # type: ignore[arg-type]
    regions.node.build_worker(settings, services)
    assert seen["max_concurrent_activities"] == settings.max_concurrent_activities
    assert seen["max_concurrent_local_activities"] == settings.max_concurrent_activities
