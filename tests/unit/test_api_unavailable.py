"""While Temporal or the region's database restarts, the window API answers 503 with
Retry-After (a clerk's client tries again), not 500; real faults stay 500 without details."""

from __future__ import annotations

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from regions.api import errors

FAILURES: dict[str, Exception] = {
    "temporal-unavailable": RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""),
    "temporal-deadline": RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""),
    "update-timeout": WorkflowUpdateRPCTimeoutOrCancelledError(),
    "db-connection-lost": asyncpg.ConnectionDoesNotExistError("connection was closed"),
    "db-shutting-down": asyncpg.exceptions.AdminShutdownError("terminating connection"),
    "db-starting": asyncpg.exceptions.CannotConnectNowError("the database system is starting"),
    "db-pool-closed": asyncpg.InterfaceError("connection is closed"),
    "db-refused": ConnectionRefusedError(111, "Connection refused"),
    # What connecting to a local server's Unix socket raises while the server restarts.
    "db-socket-gone": FileNotFoundError(2, "No such file or directory"),
    "temporal-invalid": RPCError("申请人 张三 invalid", RPCStatusCode.INVALID_ARGUMENT, b""),
    "db-unique": asyncpg.UniqueViolationError("duplicate key 350000"),
}


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/fail/{name}")
    async def fail(name: str) -> None:
        raise FAILURES[name]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    "name",
    [
        "temporal-unavailable",
        "temporal-deadline",
        "update-timeout",
        "db-connection-lost",
        "db-shutting-down",
        "db-starting",
        "db-pool-closed",
        "db-refused",
        "db-socket-gone",
    ],
)
def test_a_dependency_restarting_is_503_with_retry_after(client: TestClient, name: str) -> None:
    response = client.get(f"/fail/{name}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(errors.RETRY_AFTER_S)
    assert response.json()["rule"] == "service_unavailable"


def test_a_refused_workflow_call_is_500_without_its_message(client: TestClient) -> None:
    response = client.get("/fail/temporal-invalid")
    assert response.status_code == 500
    assert response.json()["rule"] == "workflow_service_error"
    assert "张三" not in response.text  # the RPC message may quote input; it is not echoed


def test_a_query_fault_is_not_mistaken_for_an_outage(client: TestClient) -> None:
    response = client.get("/fail/db-unique")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
