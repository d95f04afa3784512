"""/docs works on a network without internet access (issue 24): the page and every file it
references come from the node itself (Swagger UI from the installed package), and nothing on
the page names another host."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from regions.api.app import create_app
from regions.api.services import ApiServices
from regions.tokens import TokenStore

URL = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")


def _client(tmp_path: Path) -> TestClient:
    none = cast(Any, None)
    services = ApiServices(
        region="350000",
        pool=none,
        client=none,
        credentials=none,
        catalog=none,
        policies=none,
        tokens=TokenStore(tmp_path),
    )
    return TestClient(create_app(services), base_url="http://node.test")


def test_docs_reference_only_the_nodes_own_files_and_they_answer(tmp_path: Path) -> None:
    client = _client(tmp_path)
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert not re.search(r"https?://", html), "an absolute URL on /docs"
    referenced = URL.findall(html)
    assert "/openapi.json" in referenced
    assets = [r for r in referenced if r.startswith("/docs/assets/")]
    assert {Path(a).name for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for ref in referenced:
        assert urlsplit(ref).netloc == "", ref
        answer = client.get(ref)
        assert answer.status_code == 200, ref
        if ref in assets:
            assert answer.content == (swagger_ui_path / Path(ref).name).read_bytes()
    css = client.get("/docs/assets/swagger-ui.css").text
    assert not re.findall(r"url\(\s*['\"]?https?://", css)


def test_the_openapi_document_is_3_1_and_redoc_is_not_served(tmp_path: Path) -> None:
    client = _client(tmp_path)
    # Swagger UI 5 (the package's) renders OpenAPI 3.1, which FastAPI writes.
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert "swagger-ui-5." in str(swagger_ui_path)
    assert client.get("/redoc").status_code == 404
