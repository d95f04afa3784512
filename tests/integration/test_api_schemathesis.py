"""Schemathesis against the published OpenAPI document of a real node: no answer is a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Ok

from regions.tokens import Role
from tests.integration.api_nodes import API, A, ApiPair, auth

pytestmark = pytest.mark.integration

# Per operation and token; bounded so the run stays well under a minute on a busy machine.
EXAMPLES = 15


def test_no_operation_answers_with_a_server_error(nodes: ApiPair) -> None:
    schema = schemathesis.openapi.from_url(f"{API[A]}/openapi.json")
    tokens = {role: auth(nodes.token(A, role)) for role in (Role.WINDOW_CLERK, Role.OPERATOR)}
    tokens_list = [*tokens.values(), {}]  # and without a token
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) >= 11
    calls: list[int] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case[Any]) -> None:
            headers = tokens_list[len(calls) % len(tokens_list)]
            response = case.call(headers=headers, timeout=60)
            calls.append(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} → {response.status_code}: {response.text}"
            )

        run()
    # The run reached past authentication and validation, not only 401s and 422s.
    assert {200, 401, 422} <= set(calls), sorted(set(calls))
    print(f"schemathesis: {len(calls)} calls over {len(operations)} operations, no 5xx")
