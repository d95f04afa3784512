"""`tongban case documents CASE_NO [--out DIR]` against a window API (a local HTTP server that
answers as the API does): listed, or each document that is here saved as <number>.pdf byte for
byte with the caller's token; one still arriving is named, not saved."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from operators.case_cli import app

CASE = "350000-20261130-KWGDXZFB"
HERE, ARRIVING = "440000-2026-SL-000123", "440000-2026-JD-000007"
PDF = b"%PDF-1.7 signed acceptance notice \x00\xff"
TOKEN = "tb_clerk-secret"
LISTING = [
    {"number": HERE, "title": "受理通知书", "issuing_region": "440000", "here": True,
     "issued_at": "2026-11-30T01:30:00Z"},
    {"number": ARRIVING, "title": "准予行政许可决定书", "issuing_region": "440000",
     "here": False, "issued_at": "2026-11-30T02:00:00Z"},
]  # fmt: skip


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, b'{"detail":"no token"}', "application/json")
        elif self.path == f"/cases/{CASE}/documents":
            self._answer(200, json.dumps(LISTING).encode(), "application/json")
        elif self.path == f"/cases/{CASE}/documents/{HERE}":
            self._answer(200, PDF, "application/pdf")
        else:
            self._answer(404, b'{"detail":"not here"}', "application/json")

    def _answer(self, code: int, body: bytes, media_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_documents_are_listed(api: str) -> None:
    result = CliRunner().invoke(
        app, ["documents", CASE, "--api", api], env={"TONGBAN_TOKEN": TOKEN}
    )
    assert result.exit_code == 0, result.output
    assert f"{HERE}  受理通知书  440000" in result.output
    assert f"{ARRIVING}  准予行政许可决定书  440000" in result.output
    assert "(arriving)" in result.output


def test_out_saves_each_document_here_and_names_the_one_still_arriving(
    api: str, tmp_path: Path
) -> None:
    out = tmp_path / "docs"
    result = CliRunner().invoke(
        app, ["documents", CASE, "--out", str(out), "--api", api], env={"TONGBAN_TOKEN": TOKEN}
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"{HERE}.pdf"]
    assert (out / f"{HERE}.pdf").read_bytes() == PDF
    assert f"{ARRIVING} 准予行政许可决定书: not arrived whole yet" in result.output


def test_a_refused_token_saves_nothing_and_fails(api: str, tmp_path: Path) -> None:
    out = tmp_path / "docs"
    result = CliRunner().invoke(
        app, ["documents", CASE, "--out", str(out), "--api", api], env={"TONGBAN_TOKEN": "tb_x"}
    )
    assert result.exit_code == 1
    assert not out.exists()
