"""People decide by default; a policy file turns on only the steps it names (decision 0024)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from deploy.stack.settings import StackSettings
from regions.local import local_node_settings
from regions.policies import AUTOMATIC, MANUAL, STEPS, CasePolicies
from workflows.models import AutoPolicy

ITEM, OTHER = "GG-00102-000", "GG-00101-000"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> StackSettings:
    for name, value in {
        "TONGBAN_STATE_DIR": str(tmp_path / "state"),
        "TONGBAN_KAFKA_BOOTSTRAP": "stack-kafka:9092",
        "TONGBAN_TEMPORAL_ADDRESS": "stack-temporal:7233",
        "TONGBAN_POSTGRES_DSN": "postgresql://tongban@stack-pg/postgres",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("TONGBAN_NODE_CONFIG", "TONGBAN_NODE_POLICIES"):
        monkeypatch.delenv(name, raising=False)
    return StackSettings()


def test_a_node_without_policies_leaves_every_step_to_people(stack: StackSettings) -> None:
    policies = local_node_settings("350000", stack).policies
    for item in (ITEM, OTHER):
        policy = policies.for_item(item)
        assert {step: getattr(policy, step) for step in STEPS} == dict.fromkeys(STEPS, "manual")
        assert policies.automatic_steps(item) == ()
    # The workflows' own AutoPolicy keeps its automatic field defaults (histories replay with
    # them); only the node's settings start from people.
    assert AutoPolicy() == AUTOMATIC
    assert CasePolicies().default == MANUAL


def test_a_policy_file_turns_on_one_step_for_one_item(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'[policies.items."{ITEM}"]\ndecision = "approve"\n')
    monkeypatch.setenv("TONGBAN_NODE_CONFIG", str(config))
    policies = local_node_settings("440000", stack).policies
    assert policies.automatic_steps(ITEM) == ("decision",)
    assert policies.for_item(ITEM) == MANUAL.model_copy(update={"decision": "approve"})
    assert policies.automatic_steps(OTHER) == ()


def test_the_environment_variable_names_steps_the_same_way(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TONGBAN_NODE_POLICIES",
        '{"default": {"formal_review": "pass", "delivery": "mail"},'
        f' "items": {{"{ITEM}": {{"acceptance": "not-accept"}}}}}}',
    )
    policies = local_node_settings("350000", stack).policies
    assert policies.automatic_steps(OTHER) == ("formal_review", "delivery")
    assert policies.for_item(OTHER).delivery == "mail"
    # An item's policy replaces the default for that item: what it does not name is people's.
    assert policies.automatic_steps(ITEM) == ("acceptance",)
    assert policies.for_item(ITEM).acceptance == "not-accept"


def test_policies_survive_the_round_trip_through_the_environment() -> None:
    built = CasePolicies(
        default=AutoPolicy(decision="manual"), items={ITEM: MANUAL, OTHER: AUTOMATIC}
    )
    assert CasePolicies.model_validate_json(built.model_dump_json()) == built
    assert CasePolicies.automatic().automatic_steps(ITEM) == STEPS
    assert CasePolicies.model_validate_json(CasePolicies().model_dump_json()).default == MANUAL


def test_an_unknown_step_or_value_is_refused(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[policies.default]\ndecisoin = "approve"\n')
    monkeypatch.setenv("TONGBAN_NODE_CONFIG", str(config))
    with pytest.raises(ValidationError, match="decisoin"):
        local_node_settings("350000", stack)
    config.write_text('[policies.default]\ndecision = "yes"\n')
    with pytest.raises(ValidationError, match="decision"):
        local_node_settings("350000", stack)


def test_the_readmes_policy_files_turn_on_what_they_say(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    examples = [e for e in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[policies" in e]
    assert len(examples) == 2, "the README shows a policy file for each region"
    turned_on = []
    for example in examples:
        region = re.search(r"node-(\d{6})\.toml", example)
        assert region, example
        config = tmp_path / f"node-{region.group(1)}.toml"
        config.write_text(example)
        monkeypatch.setenv("TONGBAN_NODE_CONFIG", str(config))
        policies = local_node_settings(region.group(1), stack).policies
        turned_on.append((policies.automatic_steps(ITEM), policies.automatic_steps(OTHER)))
    assert turned_on == [(("acceptance", "decision"), ()), (("formal_review",), ("formal_review",))]


def test_the_readmes_effects_file_routes_what_it_says(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (example,) = [e for e in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[effects" in e]
    config = tmp_path / "node-350000.toml"
    config.write_text(example)
    monkeypatch.setenv("TONGBAN_NODE_CONFIG", str(config))
    effects = local_node_settings("350000", stack).effects
    routed = {e: effects.adapter_for(e) for e in ("charge-fee", "refund-fee", "notify-applicant")}
    assert routed == {"charge-fee": "payments", "refund-fee": "payments", "notify-applicant": "sms"}
    assert effects.adapter_for("escalate-overdue") == "log"  # unrouted: the default
    assert {n: t.kind for n, t in effects.adapters.items()} == {
        "log": "log",
        "payments": "webhook",
        "sms": "webhook",
    }
