"""`tongban documents verify` against the local stack's own trust folder and records, on a
notice a region really issued: valid as issued, refused when another region's real key signed
a document that says it is 广东's, and refused once the issuing key is revoked.

The revocation is made in a copy of the stack's trust folder, so the running nodes' directory is
not touched. tests/unit/test_documents_signing.py checks the same failures on a trust folder of
its own; here they are checked on what the nodes issue and the keys they sign with."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from documents.models import DocumentType
from documents.render import render_pdf
from documents.sign import sign_pdf, signing_key_from_store
from events.directory_admin import DirectoryAdmin
from events.keystore import KeyStore
from regions.local import ensure_local_keys, local_node_settings, trust_dir
from regions.node_settings import NodeSettings
from tests.integration.exchange_support import rows, tongban
from tests.integration.lifecycle import POLICY_ENV, T_FEE, a_closed, material, submit
from tests.integration.pair import ProvincePair, start_pair
from tests.unit.documents_samples import sample
from tests.waiting import eventually

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


async def _verify(pdf: Path, *options: str) -> tuple[int, dict[str, Any]]:
    done = await tongban("documents", "verify", str(pdf), "--json", *options)
    return done.returncode, json.loads(done.stdout)


async def test_an_issued_notice_is_refused_when_forged_or_its_key_revoked(
    pair: ProvincePair,
    origin: NodeSettings,
    stack: StackEndpoints,
    stack_settings: StackSettings,
    tmp_path: Path,
) -> None:
    dsn_b = region_dsn(stack.postgres_dsn, B)
    case_no = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))
    await a_closed(pair, case_no)

    async def notice() -> bytes | None:
        found = await rows(
            dsn_b,
            "SELECT b.content FROM documents d JOIN file_blobs b USING (sha256)"
            " WHERE d.case_no = $1 AND d.title = '受理通知书'",
            case_no,
        )
        return bytes(found[0]["content"]) if found else None

    issued = tmp_path / "issued.pdf"
    issued.write_bytes(await eventually(notice, what="B's 受理通知书"))
    code, verdict = await _verify(issued)
    assert code == 0, verdict
    assert (verdict["valid"], verdict["region"], verdict["in_records"]) == (True, B, True)
    assert verdict["case_no"] == case_no
    issuing_key = verdict["key_id"]

    # 福建's real signing key under a notice whose number and region say 广东 issued it.
    store = KeyStore(trust_dir(stack_settings))
    now = datetime.now(UTC)
    claimed = sample(DocumentType.ACCEPTANCE, region=B).model_copy(update={"issued_at": now})
    forged = tmp_path / "forged.pdf"
    key_a = signing_key_from_store(store, A, store.directory(), now)
    forged.write_bytes(await sign_pdf(render_pdf(claimed), key_a, signed_at=now))
    code, verdict = await _verify(forged)
    assert code == 1, verdict
    assert (verdict["failure"], verdict["region"], verdict["claimed_region"]) == (
        "region-mismatch",
        A,
        B,
    )

    # The key 广东 signed with, revoked in a copy of the trust folder: the same file fails.
    copy = tmp_path / "trust"
    shutil.copytree(store.folder, copy)
    admin = DirectoryAdmin(KeyStore(copy))
    admin.revoke(B, issuing_key, now=now)
    admin.publish(now)
    code, verdict = await _verify(issued, "--trust-dir", str(copy))
    assert code == 1, verdict
    assert (verdict["failure"], verdict["key_id"]) == ("key-revoked", issuing_key)
    # The stack's own folder is untouched: the notice is still valid there.
    assert (await _verify(issued))[0] == 0
