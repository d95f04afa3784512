"""`--wait` (TONGBAN_WAIT): a step sent before the case has reached it is asked again until it
has, and a node still starting is waited for; without it the first answer stands. Nothing is
asked again that the node may have recorded: a submission only after a refused connection."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner, Result

from regions import cli
from regions.cli_errors import REFUSED

CASE = "350000-20261130-ZZET7HWB"
TOKEN = "tb_350000_" + "A" * 43


@dataclass
class _Node:
    """Answers each POST with the next of `answers` (the last one from then on)."""

    answers: list[int]
    asked: list[str] = field(default_factory=list)


def _handler(node: _Node) -> type[BaseHTTPRequestHandler]:
    class Answering(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            node.asked.append(self.path)
            code = node.answers[min(len(node.asked), len(node.answers)) - 1]
            body = (
                {"case_no": CASE, "status": "in-transit", "status_label_zh": "待受理"}
                if code < 400
                else {"detail": "the case is not at this step", "rule": "not_expected_now"}
            )
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Answering


@pytest.fixture
def node() -> Iterator[tuple[_Node, str]]:
    state = _Node(answers=[409, 404, 200])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _review(api: str, *extra: str, **env: str) -> Result:
    args = ["window", "review", CASE, "--outcome", "pass", "--api", api, *extra]
    return CliRunner().invoke(cli.app, args, env={"TONGBAN_TOKEN": TOKEN, **env})


def test_without_wait_the_first_refusal_stands(node: tuple[_Node, str]) -> None:
    state, api = node
    result = _review(api)
    assert result.exit_code == REFUSED
    assert "409" in result.stderr
    assert len(state.asked) == 1


def test_with_wait_a_step_is_asked_again_until_the_case_is_there(
    node: tuple[_Node, str],
) -> None:
    state, api = node
    result = _review(api, "--wait", "30")
    assert result.exit_code == 0, result.output
    assert f"{CASE} 待受理 (in-transit)" in result.stdout
    assert state.asked == [f"/window/cases/{CASE}/formal-review"] * 3


def test_tongban_wait_in_the_environment_does_the_same(node: tuple[_Node, str]) -> None:
    state, api = node
    assert _review(api, TONGBAN_WAIT="30").exit_code == 0
    assert len(state.asked) == 3


def test_a_submission_refused_by_the_node_is_not_sent_again(node: tuple[_Node, str]) -> None:
    state, api = node
    args = [
        *("window", "submit", "--item", "GG-00102-000", "--to", "440000", "--name", "林小梅"),
        *("--id-number", "11010519491231002X", "--phone", "13800000000"),
        *("--api", api, "--wait", "30"),
    ]
    result = CliRunner().invoke(cli.app, args, env={"TONGBAN_TOKEN": TOKEN})
    assert result.exit_code == REFUSED
    assert state.asked == ["/window/cases"]


def test_with_wait_a_node_that_is_not_up_yet_is_waited_for(node: tuple[_Node, str]) -> None:
    """A port nobody listens on until the node comes: the step goes through once it does."""
    state, _ = node
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    state.answers = [200]
    late = ThreadingHTTPServer(("127.0.0.1", port), _handler(state), bind_and_activate=False)

    up = threading.Event()

    def come_up() -> None:
        late.server_bind()
        late.server_activate()
        up.set()
        late.serve_forever()

    # Comes up a second after the command started asking (refused connections meanwhile).
    coming = threading.Timer(1.0, come_up)
    coming.daemon = True
    coming.start()
    try:
        result = _review(f"http://127.0.0.1:{port}", "--wait", "60")
    finally:
        coming.cancel()
        if up.is_set():
            late.shutdown()
        late.server_close()
    assert result.exit_code == 0, result.output
    assert state.asked == [f"/window/cases/{CASE}/formal-review"]
