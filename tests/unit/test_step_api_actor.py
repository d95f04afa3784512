"""The API names the person taking a step from the bearer token, never from the request body:
the Update the workflow receives carries the token's person; a body naming an actor is refused
(422 `actor_from_token`); the published schema does not offer the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse

from regions.api import errors
from regions.api.app import create_app
from regions.api.auth import Clerk, Services, step_actor
from regions.api.models import StepResult
from regions.api.services import ApiServices
from regions.api.steps import take_step
from regions.tokens import Role, TokenStore
from workflows.models import Actor, FormalReview, StepAck

A = "350000"
CASE = "350000-20261130-ZZET7HWB"


class _Handle:
    def __init__(self, sent: list[tuple[str, Any]]) -> None:
        self._sent = sent

    async def describe(self) -> SimpleNamespace:
        return SimpleNamespace(raw_description=DescribeWorkflowExecutionResponse())

    async def execute_update(self, update: str, arg: Any, *, result_type: type) -> StepAck:
        self._sent.append((update, arg))
        return StepAck(case_no=CASE, status="in-transit")


class _Client:
    """Stands in for Temporal: keeps what each Update would have carried."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self.sent)


def _services(tokens: TokenStore, client: object) -> ApiServices:
    none = cast(Any, None)
    return ApiServices(
        region=A,
        pool=none,
        client=cast(Any, client),
        credentials=none,
        catalog=none,
        policies=none,
        tokens=tokens,
    )


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path)


def _clerk(tokens: TokenStore) -> dict[str, str]:
    token, _ = tokens.issue(
        region=A,
        role=Role.WINDOW_CLERK,
        window="fz-01",
        valid_for=timedelta(days=1),
        now=datetime.now(UTC),
        person_id="FZ1001",
        person_name="王芳",
    )
    return {"Authorization": f"Bearer {token}"}


def _app(tokens: TokenStore, client: _Client) -> TestClient:
    app = FastAPI()
    errors.install(app)
    app.state.services = _services(tokens, client)

    @app.post("/review")
    async def review(body: FormalReview, caller: Clerk, svc: Services) -> StepResult:
        return await take_step(
            svc.client, f"intake-{CASE}", "record_formal_review", body, step_actor(caller)
        )

    return TestClient(app)


def test_the_update_carries_the_tokens_person(tokens: TokenStore) -> None:
    client = _Client()
    answer = _app(tokens, client).post("/review", json={"outcome": "pass"}, headers=_clerk(tokens))
    assert answer.status_code == 200, answer.text
    ((update, sent),) = client.sent
    assert update == "record_formal_review"
    assert isinstance(sent, FormalReview)
    assert sent.actor == Actor(
        kind="person", person_id="FZ1001", name="王芳", region=A, window="fz-01"
    )


def test_a_body_naming_an_actor_is_refused_and_no_step_is_taken(tokens: TokenStore) -> None:
    client = _Client()
    claimed = {"kind": "person", "person_id": "BOSS01", "name": "别人", "region": A}
    answer = _app(tokens, client).post(
        "/review", json={"outcome": "pass", "actor": claimed}, headers=_clerk(tokens)
    )
    assert answer.status_code == 422
    assert answer.json()["rule"] == "actor_from_token"
    assert client.sent == []


def test_the_published_schema_offers_no_actor_in_any_step_body(tokens: TokenStore) -> None:
    schemas = create_app(_services(tokens, _Client())).openapi()["components"]["schemas"]
    bodies = (
        "FormalReview",
        "SupplementMaterials",
        "Withdrawal",
        "DeliveryConfirmation",
        "AcceptanceDecision",
        "SupplementRequest",
        "Decision",
    )
    for body in bodies:
        assert "actor" not in schemas[body]["properties"], body
    # The case view's steps do show who took them, and each status's Chinese name.
    assert "actor" in schemas["StepView"]["properties"]
    assert "status_label_zh" in schemas["StepView"]["properties"]
