"""The outbox's size budget: what the window lets in always fits, and what does not fit is
refused where it is written, with a failure no retry repeats."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import rfc8785
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.exceptions import ApplicationError

from activities.cases import ENVELOPE_TOO_LARGE, CaseActivities
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.models import CHUNK_BYTES, MAX_FILE_BYTES, CaseForwarded, EventType
from events.outbox import DEFAULT_ENVELOPE_BUDGET, EnvelopeTooLarge, enqueue, signed_envelope
from events.pg import Conn
from events.sealing import seal
from events.trust import sealing_key
from regions.api import errors
from regions.material_files import MAX_CASE_FILE_BYTES
from regions.window import (
    MAX_MATERIAL_NAME,
    MAX_MATERIAL_REF,
    MAX_MATERIALS,
    Application,
)
from tests.unit.conftest import NOW
from workflows.models import CommitSteps, SendEvent

CASE = "350000-20261127-ABCDEFGH"
# The character that costs most in canonical JSON (and in the sealed applicant's JSON): a
# control character is written as a six-byte \u escape.
COSTLIEST = "\x01"
ID_NUMBER = "11010519491231002X"
CREDIT_CODE = "91350100MA2Y00000E"


def test_a_control_character_is_the_costliest_to_encode() -> None:
    worst = len(rfc8785.dumps(COSTLIEST))
    for code_point in [*range(0xD800), *range(0xE000, 0x10000), 0x1F600, 0x10FFFF]:
        assert len(rfc8785.dumps(chr(code_point))) <= worst


def largest_application() -> Application:
    return Application.model_validate(
        {
            "item_code": COSTLIEST * 64,
            "item_version": 999_999,
            "processing_region": "440000",
            "applicant_name": COSTLIEST * 100,
            "applicant_id_number": ID_NUMBER,
            "applicant_phone": COSTLIEST * 20,
            "applicant_address": COSTLIEST * 300,
            "applicant_credit_code": CREDIT_CODE,
            "materials": [
                {"name": COSTLIEST * MAX_MATERIAL_NAME, "sha256": "f" * 64, "ref": COSTLIEST * n}
                for n in [MAX_MATERIAL_REF] * MAX_MATERIALS
            ],
            "fee_fen": 999_999_999,
            "evidence_consent": {
                "given_by": "委托代理人",
                "method": "window-signature",
                "at": NOW.isoformat(),
                "recorded_by": COSTLIEST * 100,
            },
        }
    )


def forwarded_envelope(creds: RegionCredentials, application: Application) -> Envelope:
    """Built as the `forward_case` activity builds it: the applicant sealed for B."""
    key_id, public = sealing_key(creds.directory(), application.processing_region, NOW)
    payload = CaseForwarded(
        case_no=CASE,
        item_code=application.item_code,
        item_version=application.item_version or 1,
        origin_region="350000",
        processing_region=application.processing_region,
        applicant=seal(
            application.applicant().model_dump_json().encode(),
            case_no=CASE,
            recipient=application.processing_region,
            key_id=key_id,
            recipient_public=public,
        ),
        materials=application.materials,
        fee_fen=application.fee_fen,
        evidence_consent=application.evidence_consent,
    )
    return signed_envelope(
        creds.signer(NOW),
        event_type=EventType.FORWARDED,
        case_no=CASE,
        step="forwarded",
        recipient=application.processing_region,
        data=payload.model_dump(mode="json"),
        now=NOW,
    )


def test_the_largest_application_the_window_takes_forwards_within_the_budget(
    fujian: RegionCredentials,
) -> None:
    wire = forwarded_envelope(fujian, largest_application()).to_wire()
    assert len(wire) <= DEFAULT_ENVELOPE_BUDGET
    # The limits are not vacuous: the window's largest case uses most of the budget.
    assert len(wire) > DEFAULT_ENVELOPE_BUDGET // 2


class _NoDatabase:
    """A connection that fails the test if anything is written."""

    async def fetchval(self, *args: object) -> object:
        if str(args[0]).startswith("SELECT 1 FROM outbox"):
            return None  # already_enqueued: not yet
        raise AssertionError(f"nothing may be written: {args[0]}")

    async def execute(self, *args: object) -> str:
        raise AssertionError(f"nothing may be written: {args[0]}")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class _OnePool:
    def __init__(self, conn: _NoDatabase) -> None:
        self._conn = conn

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[_NoDatabase]:
        yield self._conn


async def test_enqueue_refuses_an_envelope_over_the_budget_before_writing(
    fujian: RegionCredentials,
) -> None:
    envelope = forwarded_envelope(fujian, largest_application())
    size = len(envelope.to_wire())
    with pytest.raises(EnvelopeTooLarge) as refused:
        await enqueue(cast(Conn, _NoDatabase()), envelope, budget=size - 1)
    assert (refused.value.size, refused.value.budget) == (size, size - 1)
    assert refused.value.event_id == envelope.id


async def test_a_step_whose_event_is_too_large_fails_for_good(fujian: RegionCredentials) -> None:
    activities = CaseActivities(
        cast(Any, _OnePool(_NoDatabase())), fujian, envelope_budget=2 * 1024
    )
    step = SendEvent(
        step="withdrawn",
        event_type=EventType.WITHDRAWN,
        recipient="440000",
        data={"case_no": CASE, "reason": "撤回" * 1000},
    )
    with pytest.raises(ApplicationError) as failed:
        await activities.commit_steps(CommitSteps(case_no=CASE, writes=(step,), steps=1))
    assert failed.value.non_retryable
    assert failed.value.type == ENVELOPE_TOO_LARGE
    assert "over the outbox budget of 2048 bytes" in failed.value.message
    assert "撤回" not in failed.value.message  # sizes and ids only, never the payload


@pytest.fixture
def window() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.post("/cases")
    async def submit(application: Application) -> dict[str, int]:
        return {"materials": len(application.materials)}

    return TestClient(app)


def _body(materials: list[dict[str, str]]) -> dict[str, object]:
    return {
        "item_code": "GG-00102-000",
        "processing_region": "440000",
        "applicant_name": "张三",
        "applicant_id_number": ID_NUMBER,
        "applicant_phone": "13800000000",
        "materials": materials,
    }


def _material(name: str = "居民身份证", ref: str = "window://materials/1") -> dict[str, str]:
    return {"name": name, "sha256": "a" * 64, "ref": ref}


def test_the_window_takes_as_many_materials_as_the_limit(window: TestClient) -> None:
    response = window.post("/cases", json=_body([_material()] * MAX_MATERIALS))
    assert response.status_code == 200
    assert response.json() == {"materials": MAX_MATERIALS}


@pytest.mark.parametrize(
    ("materials", "rule", "limit"),
    [
        ([_material()] * (MAX_MATERIALS + 1), "too_many_materials", MAX_MATERIALS),
        ([_material(name="证" * (MAX_MATERIAL_NAME + 1))], "material_entry_too_long", 200),
        (
            [_material(), _material(ref="r" * (MAX_MATERIAL_REF + 1))],
            "material_entry_too_long",
            500,
        ),
    ],
)
def test_the_window_refuses_materials_over_its_limits_naming_the_limit(
    window: TestClient, materials: list[dict[str, str]], rule: str, limit: int
) -> None:
    response = window.post("/cases", json=_body(materials))
    assert response.status_code == 422
    problem = response.json()
    assert problem["rule"] == rule
    assert str(limit) in problem["detail"]
    assert "张三" not in response.text


def test_the_largest_application_with_files_forwards_within_the_budget(
    fujian: RegionCredentials,
) -> None:
    """Files add their chunk digests to the manifest: the case's files together are bounded
    (MAX_CASE_FILE_BYTES), so the most digests one forwarded event lists is bounded too."""
    most_chunks = MAX_CASE_FILE_BYTES // CHUNK_BYTES
    per_file = MAX_FILE_BYTES // CHUNK_BYTES
    files = []
    while most_chunks > 0:
        chunks = min(per_file, most_chunks)
        files.append(
            {
                "name": COSTLIEST * MAX_MATERIAL_NAME,
                "sha256": "e" * 64,
                "ref": "sha256:" + "e" * 64,
                "size": MAX_FILE_BYTES,
                "media_type": "application/pdf",
                "chunks": ["d" * 64] * chunks,
                "originals_checked": {"by": COSTLIEST * 100, "at": NOW.isoformat()},
            }
        )
        most_chunks -= chunks
    largest = largest_application()
    materials = [*largest.materials[: MAX_MATERIALS - len(files)], *files]
    application = Application.model_validate({**largest.model_dump(), "materials": materials})
    wire = forwarded_envelope(fujian, application).to_wire()
    assert len(wire) <= DEFAULT_ENVELOPE_BUDGET
