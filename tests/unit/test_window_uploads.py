"""The window takes materials as files: multipart/form-data beside the JSON body, each file read
with its cap and refused by rule (422) before anything is recorded; 核验原件 names the clerk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from catalog.catalog import default_catalog
from events.credentials import RegionCredentials
from events.models import MAX_FILE_BYTES, MaterialRef
from regions.api import uploads, window_routes
from regions.api.app import create_app
from regions.api.services import ApiServices
from regions.demo import demo_application
from regions.material_files import MAX_FILES, MaterialFile
from regions.tokens import Role, TokenStore
from regions.window import ApplicationRefused
from tests.support.workflow_fakes import described_at_rest
from workflows.models import StepAck, SupplementMaterials

A = "350000"
CASE = "350000-20261130-ZZET7HWB"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


class _Handle:
    id = f"intake-{CASE}"

    def __init__(self, sent: list[tuple[str, Any]]) -> None:
        self._sent = sent

    async def describe(self) -> SimpleNamespace:
        return described_at_rest()

    async def execute_update(self, update: str, arg: Any, *, result_type: type) -> StepAck:
        self._sent.append((update, arg))
        return StepAck(case_no=CASE, status="formal-review")


class _Client:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self.sent)


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path)


@pytest.fixture
def client() -> _Client:
    return _Client()


@pytest.fixture
def api(tokens: TokenStore, client: _Client, fujian: RegionCredentials) -> TestClient:
    none = cast(Any, None)
    services = ApiServices(
        region=A,
        pool=none,
        client=cast(Any, client),
        credentials=fujian,
        catalog=default_catalog(),
        policies=none,
        tokens=tokens,
    )
    return TestClient(create_app(services))


def _auth(tokens: TokenStore, role: Role = Role.WINDOW_CLERK) -> dict[str, str]:
    token, _ = tokens.issue(
        region=A,
        role=role,
        window="fz-01",
        valid_for=timedelta(days=1),
        now=datetime.now(UTC),
        person_id="FZ1001",
        person_name="王芳",
    )
    return {"Authorization": f"Bearer {token}"}


def _application() -> str:
    # The mandatory materials come as files, not as declared references.
    return demo_application().model_copy(update={"materials": ()}).model_dump_json()


def _form(
    files: list[tuple[str, bytes]], originals: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    data: dict[str, Any] = {
        "application": _application(),
        "material_names": [name for name, _ in files],
    }
    if originals:
        data["originals_checked"] = list(originals)
    parts = [("material", (f"scan{i}.bin", content)) for i, (_, content) in enumerate(files)]
    return data, parts


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the route hands to submit_case (which needs Temporal and Postgres)."""
    calls: list[dict[str, Any]] = []

    async def fake_submit_case(**kwargs: Any) -> _Handle:
        calls.append(kwargs)
        return _Handle([])

    monkeypatch.setattr(window_routes, "submit_case", fake_submit_case)
    return calls


def test_multipart_hands_each_file_with_its_name_and_the_clerks_originals_check(
    api: TestClient, tokens: TokenStore, submitted: list[dict[str, Any]]
) -> None:
    data, files = _form([("居民身份证", PDF), ("社会保障卡申领登记表", PNG)], ("居民身份证",))
    answer = api.post("/window/cases", data=data, files=files, headers=_auth(tokens))
    assert answer.status_code == 201, answer.text
    assert answer.json()["case_no"] == CASE
    (call,) = submitted
    given: tuple[MaterialFile, ...] = call["files"]
    assert [(f.name, f.content) for f in given] == [
        ("居民身份证", PDF),
        ("社会保障卡申领登记表", PNG),
    ]
    checked = given[0].originals_checked
    assert checked is not None
    assert checked.by == "王芳（工号 FZ1001，fz-01）"
    assert given[1].originals_checked is None
    assert call["application"].applicant_name == demo_application().applicant_name
    assert call["received_by"].person_id == "FZ1001"


def test_the_json_body_still_works(
    api: TestClient, tokens: TokenStore, submitted: list[dict[str, Any]]
) -> None:
    body = json.loads(demo_application().model_dump_json())
    answer = api.post("/window/cases", json=body, headers=_auth(tokens))
    assert answer.status_code == 201, answer.text
    assert submitted[0]["files"] == ()


def _refusal(api: TestClient, tokens: TokenStore, files: list[tuple[str, bytes]]) -> str:
    data, parts = _form(files)
    answer = api.post("/window/cases", data=data, files=parts, headers=_auth(tokens))
    assert answer.status_code == 422, answer.text
    return str(answer.json()["rule"])


# The real submit_case: each refusal comes before it touches Temporal or Postgres (None here).
@pytest.mark.parametrize(
    ("files", "rule"),
    [
        ([("居民身份证", b"MZ\x90\x00 not a pdf")], "file_type_not_allowed"),
        ([("居民身份证", b"")], "empty_file"),
        ([("居民身份证", PDF), ("居民身份证", PNG)], "duplicate_material"),
        ([("居民身份证", PDF + bytes(MAX_FILE_BYTES))], "file_too_large"),
        ([(f"材料{i}", PDF) for i in range(MAX_FILES + 1)], "too_many_files"),
        (
            [(f"材料{i}", PDF + bytes(MAX_FILE_BYTES - 100)) for i in range(3)],
            "case_files_too_large",
        ),
    ],
)
def test_a_file_the_window_does_not_take_is_a_422_naming_the_rule(
    api: TestClient, tokens: TokenStore, files: list[tuple[str, bytes]], rule: str
) -> None:
    assert _refusal(api, tokens, files) == rule


async def test_the_body_is_read_only_up_to_the_cap() -> None:
    """The form reader stops pulling the body once a file passes its cap: a client sending
    more is refused without the rest ever being read (or held)."""
    boundary = "tb-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="material"; filename="a.pdf"'
        "\r\nContent-Type: application/pdf\r\n\r\n"
    ).encode()
    chunk = 64 * 1024
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        body = head + PDF if pulled == 0 else bytes(chunk)
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": True}  # never ends

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/window/cases",
        "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
    }
    with pytest.raises(ApplicationRefused) as refused:
        await uploads._read_form(Request(scope, receive))
    assert refused.value.rule == "file_too_large"
    assert MAX_FILE_BYTES < pulled <= MAX_FILE_BYTES + 2 * chunk


def test_a_declared_length_over_the_form_cap_is_refused_before_reading(
    api: TestClient, tokens: TokenStore
) -> None:
    headers = {
        **_auth(tokens),
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(uploads.MAX_FORM_BYTES + 1),
    }
    answer = api.post("/window/cases", content=b"--x--\r\n", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["rule"] == "case_files_too_large"


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ({"application": "{}", "material_names": ["a", "b"]}, "material_names_mismatch"),
        (
            {"application": "{}", "material_names": ["a"], "originals_checked": ["b"]},
            "unknown_original",
        ),
        ({"application": "{}", "material_names": ["a"], "other": "x"}, "unknown_part"),
    ],
)
def test_a_form_that_does_not_follow_the_scheme_is_refused(
    api: TestClient,
    tokens: TokenStore,
    submitted: list[dict[str, Any]],
    data: dict[str, Any],
    rule: str,
) -> None:
    answer = api.post(
        "/window/cases", data=data, files=[("material", ("a.pdf", PDF))], headers=_auth(tokens)
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == rule
    assert submitted == []


def test_an_invalid_application_in_the_form_names_its_rule(
    api: TestClient, tokens: TokenStore, submitted: list[dict[str, Any]]
) -> None:
    application = json.loads(_application())
    application["applicant_id_number"] = "350102199001011239"
    answer = api.post(
        "/window/cases",
        data={"application": json.dumps(application), "material_names": ["居民身份证"]},
        files=[("material", ("a.pdf", PDF))],
        headers=_auth(tokens),
    )
    assert answer.status_code == 422
    assert answer.json()["rule"] == "id_number_checksum"
    assert submitted == []


def test_nothing_is_read_for_a_caller_who_is_not_a_clerk(
    api: TestClient, tokens: TokenStore, submitted: list[dict[str, Any]]
) -> None:
    data, parts = _form([("居民身份证", PDF)])
    assert api.post("/window/cases", data=data, files=parts).status_code == 401
    officer = _auth(tokens, Role.OPERATOR)
    assert api.post("/window/cases", data=data, files=parts, headers=officer).status_code == 403
    assert submitted == []


def test_a_supplement_keeps_its_files_then_passes_their_descriptions_to_the_step(
    api: TestClient, tokens: TokenStore, client: _Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: list[tuple[str, list[tuple[MaterialRef, bytes]]]] = []

    async def own_case(svc: object, case_no: str, side: str) -> None:
        assert side == "origin"

    async def keep_files(pool: object, case_no: str, described: Any) -> None:
        assert client.sent == []  # the bytes are kept before the step
        kept.append((case_no, list(described)))

    monkeypatch.setattr(window_routes, "own_case", own_case)
    monkeypatch.setattr(window_routes, "keep_files", keep_files)
    answer = api.post(
        f"/window/cases/{CASE}/supplement",
        data={"material_names": ["户口簿"], "originals_checked": ["户口簿"]},
        files=[("material", ("hukou.png", PNG))],
        headers=_auth(tokens),
    )
    assert answer.status_code == 200, answer.text
    ((case_no, described),) = kept
    assert case_no == CASE
    ((ref, content),) = described
    assert content == PNG
    assert ref.media_type == "image/png"
    assert ref.size == len(PNG)
    assert ref.originals_checked is not None
    ((update, step),) = client.sent
    assert update == "provide_supplement"
    assert isinstance(step, SupplementMaterials)
    assert step.materials == (ref,)
    assert step.actor is not None
    assert step.actor.person_id == "FZ1001"


def test_a_supplement_file_refused_takes_no_step(
    api: TestClient, tokens: TokenStore, client: _Client
) -> None:
    answer = api.post(
        f"/window/cases/{CASE}/supplement",
        data={"material_names": ["户口簿"]},
        files=[("material", ("hukou.exe", b"MZ\x90\x00"))],
        headers=_auth(tokens),
    )
    assert answer.status_code == 422
    assert answer.json()["rule"] == "file_type_not_allowed"
    assert client.sent == []


def test_the_published_document_offers_the_form_beside_the_json(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path, field in (
        ("/window/cases", "application"),
        ("/window/cases/{case_no}/supplement", "supplement"),
    ):
        content = paths[path]["post"]["requestBody"]["content"]
        assert "application/json" in content
        form = content["multipart/form-data"]["schema"]["properties"]
        assert {field, "material", "material_names", "originals_checked"} <= set(form)


@pytest.mark.parametrize(
    "body",
    [
        b"not multipart at all",
        b'--x\r\nContent-Disposition: form-data; name="application"\r\n\r\n{}',  # no end
        b"--x\r\nContent-Type: text/plain\r\n\r\nno name\r\n--x--\r\n",
    ],
)
def test_a_malformed_form_is_a_422_not_a_server_error(
    api: TestClient, tokens: TokenStore, submitted: list[dict[str, Any]], body: bytes
) -> None:
    headers = {**_auth(tokens), "Content-Type": "multipart/form-data; boundary=x"}
    answer = api.post("/window/cases", content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "malformed_upload"
    assert submitted == []
