"""Documents issued at the right step in the right region, on the real stack: each one a
signed PDF in Chinese whose text (pdftotext) names the case, the applicant, the item and the
reasons, that renders (pdftoppm), and whose B-issued copies reach A's window byte for byte.

With TONGBAN_DOC_IMAGES=DIR set, the 受理通知书 and the 不予行政许可决定书 are also rendered to
DIR as PNG (the README shows them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from documents.verify import verify_document
from events.keystore import KeyStore
from events.models import Applicant, SealedBox
from events.sealing import open_box
from regions.documents_cli import local_records
from regions.local import ensure_local_keys, local_node_settings, trust_dir
from regions.node_settings import NodeSettings
from tests.integration.exchange_support import credentials, rows, tongban
from tests.integration.lifecycle import (
    POLICY_ENV,
    T_B_DECIDES_FEE,
    T_BEFORE_ACCEPTANCE,
    T_DENY,
    T_FEE,
    T_LATE_ACCEPTANCE,
    T_MISSING,
    T_NOT_ACCEPT,
    a_closed,
    a_reaches,
    b_closed,
    b_until,
    intake,
    material,
    processing,
    submit,
)
from tests.integration.pair import ProvincePair, start_pair
from tests.waiting import eventually
from workflows.models import SupplementRequest, Withdrawal

pytestmark = pytest.mark.integration

A, B = "350000", "440000"


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=POLICY_ENV) as started:
        yield started


@pytest.fixture(scope="module")
def origin(stack: StackEndpoints, stack_settings: StackSettings) -> NodeSettings:
    return local_node_settings(A, stack_settings, stack)


async def _documents(dsn: str, case_no: str) -> dict[str, bytes]:
    """title → the signed PDF, of the documents this region issued for the case."""
    found = await rows(
        dsn,
        "SELECT d.title, b.content FROM documents d JOIN file_blobs b USING (sha256)"
        " WHERE d.case_no = $1",
        case_no,
    )
    return {r["title"]: bytes(r["content"]) for r in found}


async def _arrived(dsn_a: str, case_no: str) -> dict[str, bytes]:
    """name → bytes of the documents B issued that arrived whole at A."""
    found = await rows(
        dsn_a,
        "SELECT f.name, b.content FROM case_files f JOIN file_blobs b USING (sha256)"
        " WHERE f.case_no = $1 AND f.kind = 'document' AND f.complete_at IS NOT NULL",
        case_no,
    )
    return {r["name"]: bytes(r["content"]) for r in found}


def _text(pdf: bytes, tmp: Path) -> str:
    source = tmp / "doc.pdf"
    source.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], capture_output=True, check=True, text=True
    )
    return "".join(done.stdout.split())  # lines wrap anywhere in Chinese text


def _png(pdf: bytes, target: Path) -> Path:
    source = target.with_suffix(".pdf")
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-singlefile", str(source), str(target)], check=True
    )
    source.unlink()
    png = target.with_suffix(".png")
    assert png.stat().st_size > 5000  # a page with text, not a blank
    return png


async def _applicant(stack: StackEndpoints, settings: StackSettings, case_no: str) -> str:
    [row] = await rows(
        region_dsn(stack.postgres_dsn, A),
        "SELECT applicant_sealed FROM cases WHERE case_no = $1",
        case_no,
    )
    box = SealedBox.model_validate_json(row["applicant_sealed"])  # jsonb arrives as text
    creds = credentials(settings, A)
    plain = open_box(box, case_no=case_no, private_key=creds.own_sealing_key(box.key_id))
    return Applicant.model_validate_json(plain).name


async def _check(pdf: bytes, title: str, region: str, tmp: Path, *must_say: str) -> str:
    """One document as anyone would check it: its text names what it must, it renders, and
    it verifies (signature, chain to the national root, the issuing region, its records)."""
    text = _text(pdf, tmp)
    for words in (title, *must_say):
        assert "".join(words.split()) in text, (title, words)
    _png(pdf, tmp / "page")
    store = KeyStore(trust_dir(StackSettings()))
    verdict = await verify_document(
        pdf, root=store.pinned_root(), directory=store.directory(), known=local_records
    )
    assert verdict.valid, (title, verdict.reason)
    assert (verdict.region, verdict.in_records) == (region, True)
    return text


def _keep_image(pdf: bytes, name: str, tmp: Path) -> None:
    png = _png(pdf, tmp / name)
    target = os.environ.get("TONGBAN_DOC_IMAGES")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)


async def test_an_approved_case_leaves_each_region_its_documents(
    pair: ProvincePair,
    origin: NodeSettings,
    stack: StackEndpoints,
    stack_settings: StackSettings,
    tmp_path: Path,
) -> None:
    dsn_a, dsn_b = region_dsn(stack.postgres_dsn, A), region_dsn(stack.postgres_dsn, B)
    case_no = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))
    await a_closed(pair, case_no)
    await b_closed(pair, case_no)
    name = await _applicant(stack, stack_settings, case_no)

    at_a, at_b = await _documents(dsn_a, case_no), await _documents(dsn_b, case_no)
    assert set(at_a) == {"收件凭证", "送达回证"}
    assert set(at_b) == {"受理通知书", "准予行政许可决定书"}
    for title, pdf in at_a.items():
        await _check(pdf, title, A, tmp_path, case_no, name)
    for title, pdf in at_b.items():
        await _check(pdf, title, B, tmp_path, case_no, name, "测试：自动办理并收费")
    assert "身份证" in _text(at_a["收件凭证"], tmp_path)
    _keep_image(at_b["受理通知书"], "acceptance-notice", tmp_path)

    async def arrived() -> dict[str, bytes]:
        return await _arrived(dsn_a, case_no)

    copies = await eventually(arrived, until=lambda d: len(d) == 2, what="B's documents at A")
    assert sorted(copies.values()) == sorted(at_b.values())

    changed = bytearray(at_b["受理通知书"])
    changed[len(changed) // 3] ^= 0x01
    for candidate, valid in ((at_b["受理通知书"], True), (bytes(changed), False)):
        path = tmp_path / f"{valid}.pdf"
        path.write_bytes(candidate)
        checked = await tongban("documents", "verify", str(path), "--json")
        assert checked.returncode == (0 if valid else 1), checked.stdout + checked.stderr
        assert json.loads(checked.stdout)["valid"] is valid


async def test_a_denial_and_a_refusal_name_the_reason_and_the_remedies(
    pair: ProvincePair, origin: NodeSettings, stack: StackEndpoints, tmp_path: Path
) -> None:
    dsn_b = region_dsn(stack.postgres_dsn, B)
    denied = await submit(pair, origin, T_DENY, fee_fen=500)
    refused = await submit(pair, origin, T_NOT_ACCEPT, fee_fen=1000)
    for case_no in (denied, refused):
        await a_closed(pair, case_no)
    denial = (await _documents(dsn_b, denied))["不予行政许可决定书"]
    refusal = (await _documents(dsn_b, refused))["不予受理通知书"]
    remedies = ("行政复议", "行政诉讼", "广东省人民政府", "六十日", "六个月")
    await _check(denial, "不予行政许可决定书", B, tmp_path, denied, *remedies)
    await _check(refusal, "不予受理通知书", B, tmp_path, refused, *remedies)
    _keep_image(denial, "denial-decision", tmp_path)


async def test_deemed_acceptance_and_deemed_withdrawal_have_their_notices(
    pair: ProvincePair, origin: NodeSettings, stack: StackEndpoints, tmp_path: Path
) -> None:
    """行政许可法 Art. 32: B that lets its acceptance days pass has accepted, and its 受理通知书
    says so; a 补正 asked before acceptance and never given ends as 视为撤回, with its notice."""
    dsn_b = region_dsn(stack.postgres_dsn, B)
    late = await submit(pair, origin, T_LATE_ACCEPTANCE)
    missed = await submit(pair, origin, T_BEFORE_ACCEPTANCE)
    await b_until(pair, missed, lambda p: p.status == "received", what="the case at B")
    await processing(pair, missed).execute_update(
        "request_supplement", SupplementRequest(missing=("户口簿",))
    )

    async def issued(case_no: str, title: str) -> bytes | None:
        return (await _documents(dsn_b, case_no)).get(title)

    accepted = await eventually(
        lambda: issued(late, "受理通知书"), timeout=60, what="the deemed acceptance's notice"
    )
    await _check(accepted, "受理通知书", B, tmp_path, late, "第三十二条", "即为受理")
    withdrawn = await eventually(
        lambda: issued(missed, "撤回申请通知书"), timeout=60, what="the 视为撤回 notice"
    )
    await _check(withdrawn, "撤回申请通知书", B, tmp_path, missed, "视为撤回")
    asked = (await _documents(dsn_b, missed))["补正材料通知书"]
    await _check(asked, "补正材料通知书", B, tmp_path, missed, "户口簿")


async def test_the_windows_formal_review_gives_one_complete_list(
    pair: ProvincePair,
    origin: NodeSettings,
    stack: StackEndpoints,
    stack_settings: StackSettings,
    tmp_path: Path,
) -> None:
    """一次性告知: A's formal review asking for 补正 hands the applicant the 一次性告知书 with
    the complete list and the due day."""
    dsn_a = region_dsn(stack.postgres_dsn, A)
    case_no = await submit(
        pair, origin, T_MISSING, tolerate_missing=True, materials=(material("身份证"),)
    )

    async def notice() -> bytes | None:
        return (await _documents(dsn_a, case_no)).get("一次性告知书")

    pdf = await eventually(notice, timeout=60, what="the 一次性告知书")
    name = await _applicant(stack, stack_settings, case_no)
    await _check(pdf, "一次性告知书", A, tmp_path, case_no, name, "户口簿")


async def test_a_withdrawal_after_acceptance_ends_with_the_termination_notice(
    pair: ProvincePair, origin: NodeSettings, stack: StackEndpoints, tmp_path: Path
) -> None:
    """The applicant withdraws after B accepted: B cancels, and its 终止办理通知书 says the
    applicant withdrew; it reaches A's window like B's other documents."""
    dsn_a, dsn_b = region_dsn(stack.postgres_dsn, A), region_dsn(stack.postgres_dsn, B)
    case_no = await submit(pair, origin, T_B_DECIDES_FEE, fee_fen=800)
    await a_reaches(pair, case_no, "processing")
    await intake(pair, case_no).execute_update("withdraw", Withdrawal(reason="不再需要"))
    await a_closed(pair, case_no)
    await b_closed(pair, case_no)
    ended = (await _documents(dsn_b, case_no))["终止办理通知书"]
    await _check(ended, "终止办理通知书", B, tmp_path, case_no, "申请人撤回")

    async def arrived() -> dict[str, bytes]:
        return await _arrived(dsn_a, case_no)

    copies = await eventually(arrived, until=lambda d: len(d) == 2, what="B's notices at A")
    assert ended in copies.values()
