"""The case file at the API: the officer (B) or the clerk (A) opens the applicant and the files of
their own side's case; the bytes only of a material listed and complete; every opening is in the
access log before the answer, and an opening the log cannot hold is not answered."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from catalog.catalog import default_catalog
from events.credentials import RegionCredentials
from events.evidence import EvidenceType, RequestStatus
from events.models import Applicant, OriginalsChecked
from events.sealing import seal
from events.stores.cases import NewCase
from events.stores.files import CaseFile
from events.stores.memory import MemoryStores
from events.trust import sealing_key
from regions.access_log import MemoryAccessLog
from regions.api import file_routes
from regions.api.app import create_app
from regions.api.services import ApiServices
from regions.evidence.requesting import RequestRow
from regions.tokens import Role, TokenStore, token_id
from tests.unit.conftest import NOW
from workflows.models import Actor, CaseProgress, CaseStep

A, B = "350000", "440000"
CASE = "350000-20261130-ZZET7HWB"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + bytes(1000)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PDF_SHA = hashlib.sha256(PDF).hexdigest()
PNG_SHA = hashlib.sha256(PNG).hexdigest()
APPLICANT = Applicant(name="林小梅", id_number="11010519491231002X", phone="13800000000")
OFFICER = Actor(kind="person", person_id="GD2002", name="陈明", region=B, window="gz-office")


class _Handle:
    async def query(self, name: str, *, result_type: type) -> CaseProgress:
        assert name == "progress"
        return CaseProgress(
            case_no=CASE,
            region=B,
            status="processing",
            closed=False,
            steps=(
                CaseStep(at=NOW, region=B, status="accepted"),
                CaseStep(
                    at=NOW + timedelta(hours=1),
                    region=B,
                    status="supplement-requested",
                    detail="clock paused; 户口簿",
                    actor=OFFICER,
                ),
                CaseStep(
                    at=NOW + timedelta(hours=5),
                    region=B,
                    status="processing",
                    detail="补正 received; clock resumes; deadline 2026-12-04 17:00",
                ),
            ),
        )


class _Client:
    def __init__(self) -> None:
        self.workflows: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        self.workflows.append(workflow_id)
        return _Handle()


def _seed(stores: MemoryStores, guangdong: RegionCredentials) -> None:
    key_id, public = sealing_key(guangdong.directory(), B, NOW)
    box = seal(
        APPLICANT.model_dump_json().encode(),
        case_no=CASE,
        recipient=B,
        key_id=key_id,
        recipient_public=public,
    )
    checked = OriginalsChecked(by="王芳（工号 FZ1001，fz-01）", at=NOW)

    async def seed() -> None:
        async with stores.transaction() as tx:
            await tx.cases.add(
                NewCase(
                    case_no=CASE,
                    role="processing",
                    item_code="GG-00102-000",
                    item_version=1,
                    origin_region=A,
                    processing_region=B,
                    applicant_sealed=box.model_dump(mode="json"),
                )
            )
            await tx.blobs.put(PDF_SHA, PDF)
            for sha, name, size, media in (
                (PDF_SHA, "居民身份证", len(PDF), "application/pdf"),
                (PNG_SHA, "户口簿", len(PNG), "image/png"),
            ):
                await tx.files.add(
                    CaseFile(
                        case_no=CASE,
                        sha256=sha,
                        name=name,
                        size=size,
                        media_type=media,
                        chunk_digests=(sha,),
                        originals_checked_by=checked.by if sha == PDF_SHA else None,
                        originals_checked_at=checked.at if sha == PDF_SHA else None,
                    )
                )
            # The identity card's bytes are whole; the household register's still arriving.
            await tx.files.mark_complete(CASE, PDF_SHA)

    asyncio.run(seed())


async def _evidence(case_no: str) -> list[RequestRow]:
    """广东 asked 北京 for the 居民户口簿, and the applicant declined its use online."""
    declined = RequestRow(
        request_id="d" * 32,
        case_no=CASE,
        evidence_type=EvidenceType.HOUSEHOLD_REGISTER.value,
        material="居民户口簿",
        item_code="GG-00102-000",
        provider_region="110000",
        consent={},
        status=RequestStatus.DECLINED,
        refusal=None,
        document_sha256=None,
        requested_at=NOW,
        answer_by=NOW + timedelta(hours=8),
        answered_at=NOW + timedelta(minutes=1),
        applicant_preview=True,
        decided_at=NOW + timedelta(minutes=5),
    )
    return [declined] if case_no == CASE else []


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path)


@pytest.fixture
def log() -> MemoryAccessLog:
    return MemoryAccessLog()


@pytest.fixture
def api(
    tokens: TokenStore, log: MemoryAccessLog, guangdong: RegionCredentials
) -> Iterator[TestClient]:
    stores = MemoryStores()
    _seed(stores, guangdong)
    none = cast(Any, None)
    app = create_app(
        ApiServices(
            region=B,
            pool=none,
            client=cast(Any, _Client()),
            credentials=guangdong,
            catalog=default_catalog(),
            policies=none,
            tokens=tokens,
        )
    )
    app.dependency_overrides[file_routes.case_stores] = lambda: stores
    app.dependency_overrides[file_routes.access_log] = lambda: log
    app.dependency_overrides[file_routes.case_evidence] = lambda: _evidence
    with TestClient(app) as client:
        yield client


def _token(tokens: TokenStore, role: Role) -> str:
    token, _ = tokens.issue(
        region=B,
        role=role,
        window="gz-office",
        valid_for=timedelta(days=1),
        now=datetime.now(UTC),
        person_id="GD2002",
        person_name="陈明",
    )
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_officer_opens_the_case_file_and_the_opening_is_logged(
    api: TestClient, tokens: TokenStore, log: MemoryAccessLog
) -> None:
    token = _token(tokens, Role.PROCESSING_OFFICER)
    answer = api.get(f"/cases/{CASE}/file", headers=_auth(token))
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["applicant"]["name"] == "林小梅"
    assert view["applicant"]["id_number"] == APPLICANT.id_number
    assert (view["item_code"], view["item_version"]) == ("GG-00102-000", 1)
    materials = {m["name"]: m for m in view["materials"]}
    assert materials["居民身份证"]["complete"] is True
    assert materials["居民身份证"]["size"] == len(PDF)
    assert materials["居民身份证"]["originals_checked"]["by"] == "王芳（工号 FZ1001，fz-01）"
    assert materials["户口簿"]["complete"] is False
    assert materials["户口簿"]["originals_checked"] is None
    assert [(s["kind"], s["by"]) for s in view["supplements"]] == [
        ("asked", "陈明（工号 GD2002，gz-office）"),
        ("provided", None),
    ]
    # The material asked of 北京 by data sharing is due on paper: the applicant declined it.
    assert [(e["material"], e["on_paper"], e["status_label_zh"]) for e in view["evidence"]] == [
        ("居民户口簿", True, "申请人不同意使用，需自行提交材料")
    ]
    ((entry),) = log.entries
    assert entry.access.case_no == CASE
    assert entry.access.what == "case-file"
    assert entry.access.fields == file_routes.APPLICANT_FIELDS
    assert entry.access.reader.token_id == token_id(token)
    assert entry.access.reader.person_id == "GD2002"
    assert entry.access.route == file_routes.FILE_ROUTE


def test_the_bytes_of_a_listed_complete_material_with_its_type_and_a_log_row(
    api: TestClient, tokens: TokenStore, log: MemoryAccessLog
) -> None:
    headers = _auth(_token(tokens, Role.PROCESSING_OFFICER))
    answer = api.get(f"/cases/{CASE}/materials/{PDF_SHA}", headers=headers)
    assert answer.status_code == 200
    assert answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    ((entry),) = log.entries
    assert (entry.access.what, entry.access.material_sha256) == ("material", PDF_SHA)


@pytest.mark.parametrize(
    "sha256",
    [
        PNG_SHA,  # listed, still arriving
        hashlib.sha256(b"not in this case").hexdigest(),  # not listed
    ],
)
def test_no_bytes_for_a_material_not_listed_and_complete(
    api: TestClient, tokens: TokenStore, log: MemoryAccessLog, sha256: str
) -> None:
    headers = _auth(_token(tokens, Role.PROCESSING_OFFICER))
    assert api.get(f"/cases/{CASE}/materials/{sha256}", headers=headers).status_code == 404
    assert log.entries == []


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.WINDOW_CLERK])
def test_only_the_sides_own_role_opens_it(
    api: TestClient, tokens: TokenStore, log: MemoryAccessLog, role: Role
) -> None:
    # At B the case is on its processing side: B's window clerks did not take it.
    headers = _auth(_token(tokens, role))
    assert api.get(f"/cases/{CASE}/file", headers=headers).status_code == 403
    assert api.get(f"/cases/{CASE}/materials/{PDF_SHA}", headers=headers).status_code == 403
    assert api.get(f"/cases/{CASE}/file").status_code == 401
    assert log.entries == []


def test_an_unknown_case_is_404(api: TestClient, tokens: TokenStore) -> None:
    headers = _auth(_token(tokens, Role.PROCESSING_OFFICER))
    answer = api.get("/cases/350000-20261130-AAAAAAAA/file", headers=headers)
    assert answer.status_code == 404
    assert answer.json()["rule"] == "unknown_case"


def test_an_opening_the_log_cannot_hold_is_not_answered(
    api: TestClient, tokens: TokenStore, log: MemoryAccessLog
) -> None:
    log.unavailable = True
    headers = _auth(_token(tokens, Role.PROCESSING_OFFICER))
    for path in (f"/cases/{CASE}/file", f"/cases/{CASE}/materials/{PDF_SHA}"):
        answer = api.get(path, headers=headers)
        assert answer.status_code == 503
        assert APPLICANT.name not in answer.text
        assert answer.content != PDF
        assert answer.json()["rule"] == "service_unavailable"
