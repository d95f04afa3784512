"""The command line as people meet it (issue 24): it starts without the heavy libraries, every
failure a person can cause is one line on stderr with a documented exit code (a traceback
only with --debug), the window/office commands find the node's API from the token's region,
and `stack status` answers 0 whatever the stack's state (3 with --check)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from regions import cli, window_cli
from regions.api_client import local_api
from regions.cli_errors import EXIT_CODES_HELP, REFUSED, UNEXPECTED, UNREACHABLE, USAGE
from regions.node_lock import region_lock

HEAVY = ("temporalio", "aiokafka", "fastapi", "pyhanko", "reportlab", "asyncpg", "uvicorn")
CASE = "350000-20261130-ZZET7HWB"
TOKEN = "tb_350000_" + "A" * 43
SUBMIT = [
    "window",
    "submit",
    "--item",
    "GG-00102-000",
    "--to",
    "440000",
    "--name",
    "林小梅",
    "--id-number",
    "11010519491231002X",
    "--phone",
    "13800000000",
]


def _run(args: list[str], **env: str) -> Result:
    return CliRunner().invoke(cli.app, args, env={"TONGBAN_TOKEN": TOKEN, **env})


def _one_line_failure(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_importing_the_cli_loads_no_heavy_library() -> None:
    shown = f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    found = subprocess.run(
        [sys.executable, "-c", f"import regions.cli, sys; {shown}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == ""


def test_the_check_above_sees_a_heavy_import() -> None:
    """The same probe over a module that does import them: the test above can fail."""
    shown = f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    found = subprocess.run(
        [sys.executable, "-c", f"import regions.node, sys; {shown}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert {"temporalio", "aiokafka", "asyncpg"} <= set(found.split(","))


def test_the_exit_codes_are_in_the_top_level_help() -> None:
    result = CliRunner().invoke(cli.app, ["--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    assert " ".join(EXIT_CODES_HELP.split()) in " ".join(result.output.split())
    assert "--debug" in result.output


def test_a_missing_material_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "id.pdf"
    result = _run([*SUBMIT, "--material", f"居民身份证={missing}", "--api", "http://127.0.0.1:9"])
    line = _one_line_failure(result, USAGE)
    assert f"cannot read {missing}" in line


def test_an_api_that_does_not_answer_is_one_line() -> None:
    api = f"http://127.0.0.1:{_free_port()}"
    line = _one_line_failure(_run(["window", "show", CASE, "--api", api]), UNREACHABLE)
    assert f"cannot reach {api}" in line


def test_no_token_is_one_line() -> None:
    result = CliRunner().invoke(
        cli.app, ["window", "show", CASE, "--token-env", "TONGBAN_NO_SUCH_TOKEN"]
    )
    assert "set the environment variable TONGBAN_NO_SUCH_TOKEN" in _one_line_failure(result, USAGE)


def test_a_bad_option_value_is_one_line_naming_the_option() -> None:
    line = _one_line_failure(_run(["window", "list", "--limit", "0", "--api", "x"]), USAGE)
    assert "--limit" in line
    assert "tongban window list --help" in line


class _Refusing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"detail": "第一步由窗口人员办理：案件尚未受理", "rule": "not_yet"})
        self.send_response(409)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def refusing_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_api_refusal_is_one_line_with_its_reason_and_rule(refusing_api: str) -> None:
    line = _one_line_failure(_run(["window", "show", CASE, "--api", refusing_api]), REFUSED)
    assert "409 [not_yet]: 第一步由窗口人员办理：案件尚未受理" in line


def test_a_defect_is_one_line_and_its_traceback_comes_with_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr(window_cli, "call", broken)
    line = _one_line_failure(_run(["window", "show", CASE]), UNEXPECTED)
    assert line == "error: unexpected error (run with --debug for details)"
    debugged = _run(["--debug", "window", "show", CASE])
    assert isinstance(debugged.exception, ZeroDivisionError)


def test_a_second_demo_beside_a_running_node_is_refused(tmp_path: Path) -> None:
    with region_lock(tmp_path / "nodes", "440000"):
        result = _run(["demo"], TONGBAN_STATE_DIR=str(tmp_path))
    line = _one_line_failure(result, REFUSED)
    assert "a node of region 440000 already runs on this machine" in line


def test_the_api_comes_from_the_tokens_region_on_this_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No local stack here: the node's settings come from its variables, as on any machine.
    monkeypatch.setenv("TONGBAN_STATE_DIR", str(tmp_path))
    for name, value in {
        "TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "POSTGRES_DSN": "postgresql://tongban@127.0.0.1/r",
        "TRUST_DIR": str(tmp_path),
        "API_PORT_BASE": "9100",
    }.items():
        monkeypatch.setenv(f"TONGBAN_NODE_{name}", value)
    assert local_api("tb_440000_" + "B" * 43) == "http://127.0.0.1:9102"  # 广东's offset
    monkeypatch.setenv("TONGBAN_NODE_API_PORT", "9555")
    assert local_api(TOKEN) == "http://127.0.0.1:9555"


def test_a_token_without_a_region_asks_for_api() -> None:
    result = CliRunner().invoke(
        cli.app, ["window", "show", CASE], env={"TONGBAN_TOKEN": "opaque", "TONGBAN_API": ""}
    )
    assert "give the API with --api URL" in _one_line_failure(result, USAGE)


def test_stack_status_is_zero_when_the_stack_is_down_and_check_says_three(
    tmp_path: Path,
) -> None:
    down = {
        "TONGBAN_STATE_DIR": str(tmp_path),
        "TONGBAN_KAFKA_BOOTSTRAP": f"127.0.0.1:{_free_port()}",
        "TONGBAN_TEMPORAL_ADDRESS": f"127.0.0.1:{_free_port()}",
    }
    shown = CliRunner().invoke(cli.app, ["stack", "status", "--json"], env=down)
    assert shown.exit_code == 0, shown.output
    assert not any(row["up"] for row in json.loads(shown.stdout))
    checked = CliRunner().invoke(cli.app, ["stack", "status", "--check"], env=down)
    assert checked.exit_code == UNREACHABLE


def test_an_operator_command_with_its_database_down_is_one_line(tmp_path: Path) -> None:
    # The node's settings from its variables (no local stack needed); nothing on the port.
    node = {
        "TONGBAN_STATE_DIR": str(tmp_path),
        "TONGBAN_NODE_TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "TONGBAN_NODE_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "TONGBAN_NODE_TRUST_DIR": str(tmp_path),
        "TONGBAN_NODE_POSTGRES_DSN": f"postgresql://tongban@127.0.0.1:{_free_port()}/r",
    }
    result = _run(["outbox", "parked", "--region", "350000"], **node)
    assert "cannot reach Postgres" in _one_line_failure(result, UNREACHABLE)


def test_an_operator_command_without_a_stack_says_to_start_it(tmp_path: Path) -> None:
    result = _run(["effects", "list", "--region", "350000"], TONGBAN_STATE_DIR=str(tmp_path))
    line = _one_line_failure(result, UNREACHABLE)
    assert "the node's settings lack temporal_address" in line
    assert "tongban stack up" in line
