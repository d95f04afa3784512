"""The case file through the API, as the clerk and the officer meet it: three scanned files
uploaded at 福建's window (one over 1 MiB, one original checked), a 补正 file from A's review
and one B asks for; at 广东 the officer's file view shows the applicant opened and every
material complete, each file's bytes are served identical, and the access log lists every
opening with the officer's name."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import httpx
import pytest

from regions.demo import synthetic_id_number
from regions.tokens import Role
from tests.integration.api_nodes import API, ITEM, ApiPair, auth
from tests.integration.exchange_support import tongban
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
CLERK = ("FZ1001", "王芳")
OFFICER = ("GD2002", "李强")
TIMEOUT = httpx.Timeout(60.0)


def _scan(magic: bytes, size: int) -> bytes:
    return magic + os.urandom(size)


PDF, JPEG, PNG = b"%PDF-1.7\n", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n"


def _multipart(
    field: str, body: dict[str, Any], files: dict[str, bytes], originals: tuple[str, ...] = ()
) -> tuple[list[tuple[str, tuple[str | None, bytes, str]]], dict[str, list[str]]]:
    parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        (field, (None, json.dumps(body, ensure_ascii=False).encode(), "application/json"))
    ]
    data: dict[str, list[str]] = {"material_names": [], "originals_checked": list(originals)}
    for name, content in files.items():
        parts.append(("material", (f"{hashlib.sha256(content).hexdigest()[:8]}", content, "x")))
        data["material_names"].append(name)
    return parts, data


async def _post(
    client: httpx.AsyncClient,
    url: str,
    token: str,
    field: str,
    body: dict[str, Any],
    files: dict[str, bytes],
    originals: tuple[str, ...] = (),
) -> dict[str, Any]:
    parts, data = _multipart(field, body, files, originals)
    response = await client.post(url, files=parts, data=data, headers=auth(token))
    assert response.status_code in (200, 201), response.text[:500]
    answer: dict[str, Any] = response.json()
    return answer


async def _status(client: httpx.AsyncClient, region: str, case_no: str, token: str) -> str | None:
    response = await client.get(f"{API[region]}/cases/{case_no}", headers=auth(token))
    return response.json()["summary"]["status"] if response.status_code == 200 else None


async def test_the_officer_opens_the_case_file_and_every_opening_is_logged(
    nodes: ApiPair,
) -> None:
    clerk = nodes.token(A, Role.WINDOW_CLERK, person=CLERK, window="fz-01")
    officer = nodes.token(B, Role.PROCESSING_OFFICER, person=OFFICER, window="gd-05")
    watch_a, watch_b = nodes.token(A, Role.OPERATOR), nodes.token(B, Role.OPERATOR)
    files = {
        "居民身份证": _scan(PDF, 1_300_000),
        "社会保障卡申领登记表": _scan(JPEG, 150_000),
        "照片": _scan(PNG, 30_000),
    }
    applicant = {"name": "张三丰", "id_number": synthetic_id_number(serial="417")}
    application = {
        "item_code": ITEM,
        "processing_region": B,
        "applicant_name": applicant["name"],
        "applicant_id_number": applicant["id_number"],
        "applicant_phone": "13800000000",
        "fee_fen": 0,
    }
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:

        async def a_status() -> str | None:
            return await _status(client, A, case_no, watch_a)

        async def b_status() -> str | None:
            return await _status(client, B, case_no, watch_b)

        created = await _post(
            client,
            f"{API[A]}/window/cases",
            clerk,
            "application",
            application,
            files,
            originals=("居民身份证",),
        )
        case_no = created["case_no"]
        window = f"{API[A]}/window/cases/{case_no}"
        await eventually(a_status, until=lambda s: s == "formal-review", what="A's review")
        step = await client.post(
            f"{window}/formal-review",
            json={"outcome": "supplement", "missing": ["户口簿"], "reason": "缺户口簿"},
            headers=auth(clerk),
        )
        assert step.status_code == 200, step.text
        household = _scan(PDF, 200_000)
        await _post(client, f"{window}/supplement", clerk, "supplement", {}, {"户口簿": household})
        step = await client.post(
            f"{window}/formal-review", json={"outcome": "pass"}, headers=auth(clerk)
        )
        assert step.status_code == 200, step.text

        await eventually(b_status, until=lambda s: s == "received", what="the case at B")
        view = await client.get(f"{API[B]}/cases/{case_no}/file", headers=auth(officer))
        assert view.status_code == 200, view.text
        file = view.json()
        assert file["applicant"]["name"] == applicant["name"]
        assert file["applicant"]["id_number"] == applicant["id_number"]
        by_name = {m["name"]: m for m in file["materials"]}
        for name, content in {**files, "户口簿": household}.items():
            listed = by_name[name]
            assert listed["sha256"] == hashlib.sha256(content).hexdigest()
            assert (listed["size"], listed["complete"]) == (len(content), True)
            got = await client.get(
                f"{API[B]}/cases/{case_no}/materials/{listed['sha256']}", headers=auth(officer)
            )
            assert got.status_code == 200
            assert got.content == content, name
        checked = by_name["居民身份证"]["originals_checked"]
        assert checked is not None
        assert CLERK[0] in checked["by"]
        assert by_name["照片"]["originals_checked"] is None

        # B asks for a 补正 through the office API; the file A's window takes arrives too.
        office = f"{API[B]}/office/cases/{case_no}"
        step = await client.post(
            f"{office}/acceptance", json={"accept": True}, headers=auth(officer)
        )
        assert step.status_code == 200, step.text
        await eventually(b_status, until=lambda s: s == "processing", what="B processing")
        step = await client.post(
            f"{office}/supplement-request",
            json={"missing": ["婚姻状况证明"], "reason": "需补充"},
            headers=auth(officer),
        )
        assert step.status_code == 200, step.text
        await eventually(a_status, until=lambda s: s == "supplement-requested", what="A asked")
        marriage = _scan(JPEG, 90_000)
        await _post(
            client, f"{window}/supplement", clerk, "supplement", {}, {"婚姻状况证明": marriage}
        )

        async def marriage_at_b() -> bytes | None:
            got = await client.get(
                f"{API[B]}/cases/{case_no}/materials/{hashlib.sha256(marriage).hexdigest()}",
                headers=auth(officer),
            )
            return got.content if got.status_code == 200 else None

        assert await eventually(marriage_at_b, what="the 补正 file at B") == marriage

        # B's 受理通知书 and 补正材料通知书 reach A's window; anyone checks a number at B.
        async def documents_at_a() -> list[dict[str, Any]]:
            got = await client.get(f"{API[A]}/cases/{case_no}/documents", headers=auth(clerk))
            listed: list[dict[str, Any]] = got.json()
            return [d for d in listed if d["issuing_region"] == B and d["here"]]

        from_b = await eventually(
            documents_at_a, until=lambda d: len(d) >= 2, what="B's notices at A's window"
        )
        assert {d["title"] for d in from_b} >= {"受理通知书", "补正材料通知书"}
        for entry in from_b:
            pdf = await client.get(
                f"{API[A]}/cases/{case_no}/documents/{entry['number']}", headers=auth(clerk)
            )
            assert pdf.status_code == 200
            assert hashlib.sha256(pdf.content).hexdigest() == entry["sha256"]
            public = await client.get(f"{API[B]}/documents/{entry['number']}")
            assert public.status_code == 200
            assert public.json()["sha256"] == entry["sha256"]
            assert applicant["name"] not in public.text
        own = await client.get(f"{API[A]}/cases/{case_no}/documents", headers=auth(clerk))
        assert "收件凭证" in {d["title"] for d in own.json() if d["issuing_region"] == A}

    listed = await tongban("case", "access", case_no, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    at_b = [r for r in rows if r["region"] == B]
    assert any(r["what"] == "case-file" for r in at_b)
    opened_files = {r["material_sha256"] for r in at_b if r["what"] == "material"}
    assert hashlib.sha256(household).hexdigest() in opened_files
    assert all(OFFICER[0] in json.dumps(r, ensure_ascii=False) for r in at_b)
    assert applicant["name"] not in listed.stdout
    assert applicant["id_number"] not in listed.stdout
