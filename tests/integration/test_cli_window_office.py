"""A clerk and an officer run a whole case from `tongban window` / `tongban office` alone."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from regions.cli import app
from regions.demo import synthetic_id_number
from regions.tokens import Role
from tests.integration.api_nodes import API, CARRIED, ITEM, A, ApiPair, B
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def tongban(env: dict[str, str], *args: str) -> str:
    # CliRunner runs in this thread; the nodes run in their own processes.
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


async def status_of(env: dict[str, str], api: str, case_no: str, wanted: str) -> None:
    async def shown() -> str:
        args = ["window", "show", case_no, "--api", api, "--json"]
        result = CliRunner().invoke(app, args, env=env)
        if result.exit_code != 0 and "unknown_case" in result.output:
            return "not here yet"  # B holds the case only once the forwarded event arrived
        assert result.exit_code == 0, (args, result.output)
        return str(json.loads(result.stdout)["summary"]["status"])

    await eventually(
        shown, until=lambda s: s == wanted, timeout=60, every=0.5, what=f"{case_no} {wanted}"
    )


async def test_a_case_from_the_command_line(nodes: ApiPair) -> None:
    clerk = {"CLERK_TOKEN": nodes.token(A, Role.WINDOW_CLERK)}
    officer = {"OFFICE_TOKEN": nodes.token(B, Role.PROCESSING_OFFICER)}
    on_a = ("--api", API[A], "--token-env", "CLERK_TOKEN")
    on_b = ("--api", API[B], "--token-env", "OFFICE_TOKEN")
    case_no = tongban(
        clerk,
        "window",
        "submit",
        "--item",
        ITEM,
        "--to",
        B,
        "--name",
        "李四",
        "--id-number",
        synthetic_id_number(serial="456"),
        "--phone",
        "13900000000",
        *(arg for name in CARRIED for arg in ("--material", name)),
        *on_a,
    ).strip()
    assert case_no.startswith(f"{A}-")
    show_env = {**clerk, "TONGBAN_TOKEN": clerk["CLERK_TOKEN"]}
    await status_of(show_env, API[A], case_no, "formal-review")
    tongban(clerk, "window", "review", case_no, "--outcome", "pass", *on_a)
    b_env = {**officer, "TONGBAN_TOKEN": officer["OFFICE_TOKEN"]}
    await status_of(b_env, API[B], case_no, "received")
    tongban(officer, "office", "accept", case_no, *on_b)
    await status_of(b_env, API[B], case_no, "processing")
    tongban(officer, "office", "approve", case_no, "--reason", "符合条件", *on_b)
    await status_of(show_env, API[A], case_no, "result-received")
    delivered = json.loads(tongban(clerk, "window", "deliver", case_no, *on_a, "--json"))
    assert delivered["case_no"] == case_no
    await status_of(show_env, API[A], case_no, "closed")
    table = tongban(clerk, "window", "show", case_no, *on_a)
    assert "result-delivered" in table
    assert "李四" not in table


async def test_a_refusal_exits_non_zero_with_the_rule(nodes: ApiPair) -> None:
    env = {"CLERK_TOKEN": nodes.token(A, Role.WINDOW_CLERK)}
    result = CliRunner().invoke(
        app,
        [
            "window", "submit", "--item", ITEM, "--to", B, "--name", "李四",
            "--id-number", synthetic_id_number(serial="457"), "--phone", "13900000000",
            "--material", CARRIED[0], "--api", API[A], "--token-env", "CLERK_TOKEN",
        ],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "missing_materials" in result.stderr
    wrong_role = CliRunner().invoke(
        app,
        ["office", "accept", f"{A}-20260101-ZZZZZZZZ", "--api", API[A]],
        env={"TONGBAN_TOKEN": env["CLERK_TOKEN"]},
    )
    assert wrong_role.exit_code == 1
    assert "403" in wrong_role.stderr
