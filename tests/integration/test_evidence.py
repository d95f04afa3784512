"""数据多跑路 on the real stack (issue 20, decision 0041): three regions' nodes as their own
processes. 福建 (350000) accepts a 工作调动户口迁移, 广东 (440000) processes it and asks 北京
(110000), the 户籍地 whose 电子证照库 holds the 居民户口簿, for it over the exchange; the
evidence comes back signed by 北京 and sealed for 广东. Then the typed refusals, a provider that
does not answer in time (the material goes back on paper), and forged or unentitled records,
which the inbound boundary quarantines. The applicant, signed in with the national identity,
lists who used their data at each region, and in 全程网办 previews the evidence and approves
or declines its use.

The nodes run on databases of their own (`tongban_evid2_<region>`), a copy of the stack's
trust folder in which 北京 provides evidence, and a copy of the catalog in which 工作调动户口迁移
may also be applied for online (全程网办, 网上送达): the shared databases' directory floor, the
shared trust folder and the shipped catalog stay as they are for every other test.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from catalog.catalog import default_catalog
from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from documents.verify import verify_document
from events.credentials import RegionCredentials
from events.directory_admin import DirectoryAdmin
from events.envelope import Envelope, event_id_for
from events.evidence import (
    EvidenceAnswered,
    EvidenceRequested,
    EvidenceSubject,
    EvidenceType,
    Refusal,
)
from events.keystore import KeyStore
from events.models import Consent, ConsentMethod, EventType
from events.outbox import enqueue_in, signed_envelope
from events.sealing import seal
from events.stores.postgres import PostgresTransaction
from events.topics import inbox_topic
from events.trust import sealing_key
from regions.demo import synthetic_id_number
from regions.evidence.automatic import automatic_request_id
from regions.evidence.requesting import EvidenceRequester, opened_document, request_step
from regions.local import ensure_local_keys, trust_dir
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from regions.policies import CasePolicies
from regions.tokens import Role, TokenStore
from regions.window import material_ref
from tests.integration.api_nodes import auth, issue_token, wait_for_api
from tests.integration.exchange_support import produce_all
from tests.support.identity_provider import IdentityProviderProcess, spawn_identity_provider
from tests.support.kafka_sniff import document_forms, sniff_since, text_forms
from tests.support.stack_access import Bus, temporal_client
from tests.waiting import eventually
from workflows.models import AutoPolicy

pytestmark = pytest.mark.integration

A, B, P = "350000", "440000", "110000"
OUTSIDER = "330000"  # 浙江: keys in the directory, party to none of these cases, no node
REGIONS = (A, B, P)
PORT_BASE = 18830
AUDIENCE = "tongban-evidence-online"
ITEM = "QR-00101-001"  # 工作调动户口迁移: its 居民户口簿 comes by data sharing
CARRIED = ("居民身份证", "调动审批材料（调令或录用手续）")
HOUSEHOLD = EvidenceType.HOUSEHOLD_REGISTER
POLICY = AutoPolicy(formal_review="pass", acceptance="accept", decision="manual", delivery="window")
_SOMEONE = EvidenceSubject(name="测试", id_number=synthetic_id_number())
MIGRATIONS = Path(__file__).resolve().parents[2] / "deploy" / "migrations"


@dataclass
class Regions:
    stack: StackEndpoints
    trust: Path
    dsns: dict[str, str]
    env: dict[str, dict[str, str]]
    nodes: dict[str, NodeProcess]
    clients: dict[str, Client]
    tokens: TokenStore
    log_dir: Path
    idp: IdentityProviderProcess
    bus: Bus

    def url(self, region: str) -> str:
        offsets = {A: 1, B: 2, P: 5}
        return f"http://127.0.0.1:{PORT_BASE + offsets[region]}"

    def headers(self, region: str, role: Role) -> dict[str, str]:
        return auth(issue_token(self.tokens, region, role))

    def credentials(self, region: str) -> RegionCredentials:
        return RegionCredentials(KeyStore(self.trust), region)

    def tongban(
        self, region: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "regions.cli", *args],
            env={**os.environ, **self.env[region], **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def tongban_json(self, region: str, *args: str, env: dict[str, str] | None = None) -> Any:
        done = self.tongban(region, *args, "--json", env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    async def start(self, region: str) -> None:
        self.nodes[region] = spawn_node(region, self.log_dir, self.env[region], label="evidence")
        await wait_until_polling(self.clients[region], self.nodes[region])
        await wait_for_api(self.url(region))

    async def fetch(self, region: str, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsns[region])
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


async def _fresh_database(server_dsn: str, region: str) -> str:
    name = f"tongban_evid2_{region}"
    server = await asyncpg.connect(server_dsn)
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.execute(f'CREATE DATABASE "{name}"')
    finally:
        await server.close()
    dsn = region_dsn(server_dsn, region).replace(f"tongban_{region}", name)
    await apply_migrations(dsn, MIGRATIONS)
    return dsn


@pytest.fixture(scope="module")
async def regions(
    stack: StackEndpoints,
    stack_settings: StackSettings,
    bus: Bus,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Regions]:
    # 浙江 has keys only once some test added it (onboarding does, but runs after this one).
    ensure_local_keys(stack_settings, (*stack_settings.regions, OUTSIDER))
    trust = Path(tmp_path_factory.mktemp("evidence")) / "trust"
    shutil.copytree(trust_dir(stack_settings), trust)
    (trust / "directory.draft.json").unlink(missing_ok=True)
    admin = DirectoryAdmin(KeyStore(trust))
    admin.declare_provided(P, [HOUSEHOLD.value, EvidenceType.MARRIAGE_CERTIFICATE.value])
    admin.publish(datetime.now(UTC))
    tokens = Path(tmp_path_factory.mktemp("evidence-tokens"))
    catalog = _online_catalog(Path(tmp_path_factory.mktemp("evidence-catalog")))
    idp = spawn_identity_provider(AUDIENCE)
    common = {
        **idp.node_env(),
        "TONGBAN_NODE_CATALOG_DIR": str(catalog),
        "TONGBAN_NODE_TRUST_DIR": str(trust),
        "TONGBAN_NODE_TOKENS_DIR": str(tokens),
        "TONGBAN_NODE_API_PORT_BASE": str(PORT_BASE),
        "TONGBAN_NODE_POLICIES": CasePolicies(default=POLICY).model_dump_json(),
    }
    dsns = {r: await _fresh_database(stack.postgres_dsn, r) for r in REGIONS}
    env = {r: {**common, "TONGBAN_NODE_POSTGRES_DSN": dsns[r]} for r in REGIONS}
    clients = {r: await temporal_client(stack_settings, stack, r) for r in REGIONS}
    world = Regions(
        stack,
        trust,
        dsns,
        env,
        {},
        clients,
        TokenStore(tokens),
        stack_settings.state_dir / "test-nodes",
        idp,
        bus,
    )
    try:
        for region in REGIONS:
            await world.start(region)
        yield world
    finally:
        for node in world.nodes.values():
            node.stop()
        idp.stop()


def _online_catalog(folder: Path) -> Path:
    """The shipped catalog, with 工作调动户口迁移 open to 全程网办 delivered online."""
    shipped = Path(__file__).resolve().parents[2] / "catalog" / "data"
    copy = folder / "catalog"
    shutil.copytree(shipped, copy)
    national = copy / "national.json"
    data = json.loads(national.read_text(encoding="utf-8"))
    item = next(i for i in data["items"] if i["code"] == ITEM)
    item["modes"] = [*item["modes"], "全程网办"]
    item["delivery"] = [*item["delivery"], "网上送达"]
    national.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return copy


@dataclass(frozen=True)
class Applicant:
    name: str
    id_number: str

    def token(self, world: Regions) -> dict[str, str]:
        """Signed in with the national identity (every region's node trusts the provider)."""
        sub = f"pseudonym-{self.id_number[-6:]}"
        return auth(world.idp.token(sub, name=self.name, id_number=self.id_number))


def _applicant() -> Applicant:
    # Birth date and serial drawn: two applicants of one run are never the same person.
    birth = f"19{50 + secrets.randbelow(50)}0{1 + secrets.randbelow(9)}1{secrets.randbelow(10)}"
    return Applicant(
        name=f"测试申请人{secrets.token_hex(2)}",
        id_number=synthetic_id_number(
            area="110105", birth=birth, serial=f"{secrets.randbelow(1000):03d}"
        ),
    )


async def _processing_at_b(world: Regions, client: httpx.AsyncClient, case_no: str) -> None:
    async def status() -> str | None:
        seen = await client.get(
            f"{world.url(B)}/cases/{case_no}", headers=world.headers(B, Role.OPERATOR)
        )
        return str(seen.json()["summary"]["status"]) if seen.status_code == 200 else None

    await eventually(
        status, until=lambda s: s == "processing", timeout=120, what=f"{case_no} at {B}"
    )


async def _online_case(world: Regions, who: Applicant, *, consent: bool = False) -> str:
    """全程网办: the applicant applies at 福建 signed in; 广东 accepts (no decision yet); with
    `consent`, they confirmed online that their evidence may be fetched."""
    body = {
        "item_code": ITEM,
        "processing_region": B,
        "phone": "13800000000",
        "delivery": "online",
        "materials": [material_ref(m).model_dump(mode="json") for m in CARRIED],
        "consent_to_data_sharing": consent,
    }
    async with httpx.AsyncClient(timeout=60) as client:
        created = await client.post(
            f"{world.url(A)}/applicant/cases",
            json=body,
            headers={**who.token(world), "Idempotency-Key": f"online-{secrets.token_hex(8)}"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["mode"] == "全程网办"
        case_no: str = created.json()["case_no"]
        await _processing_at_b(world, client, case_no)
    return case_no


async def _case_in_processing(
    world: Regions, who: Applicant, *, consent: Consent | None = None
) -> str:
    """A case accepted at 福建's window, forwarded to 广东, accepted there (no decision yet);
    with `consent`, the applicant's signed consent to data sharing recorded by the clerk."""
    body: dict[str, Any] = {
        "item_code": ITEM,
        "processing_region": B,
        "applicant_name": who.name,
        "applicant_id_number": who.id_number,
        "applicant_phone": "13800000000",
        "materials": [material_ref(m).model_dump(mode="json") for m in CARRIED],
    }
    if consent is not None:
        body["evidence_consent"] = consent.model_dump(mode="json")
    async with httpx.AsyncClient(timeout=60) as client:
        created = await client.post(
            f"{world.url(A)}/window/cases",
            json=body,
            headers={
                **world.headers(A, Role.WINDOW_CLERK),
                "Idempotency-Key": f"evidence-{secrets.token_hex(8)}",
            },
        )
        assert created.status_code == 201, created.text
        case_no: str = created.json()["case_no"]
        await _processing_at_b(world, client, case_no)
    return case_no


def _import(world: Regions, tmp: Path, who: Applicant, *, name: str | None = None) -> str:
    """北京 holds a 居民户口簿 for the applicant's ID number; returns its licence number."""
    licence_no = f"HK-{secrets.token_hex(4)}"
    licence = {
        "evidence_type": "居民户口簿",
        "licence_no": licence_no,
        "holder_name": name or who.name,
        "holder_id": who.id_number,
        "issuer": "北京市公安局朝阳分局",
        "issued_on": "2018-03-01",
        "particulars": {"户别": "家庭户", "住址": "北京市朝阳区（测试）"},
    }
    file = tmp / f"licences-{secrets.token_hex(3)}.jsonl"
    file.write_text(json.dumps(licence, ensure_ascii=False) + "\n", encoding="utf-8")
    done = world.tongban(P, "evidence", "import", "--region", P, str(file))
    assert done.returncode == 0, done.stderr
    assert "1 licences imported" in done.stdout
    return licence_no


def _request(
    world: Regions, case_no: str, *extra: str, recorded_by: str = "广东 440000 办理窗口 李四"
) -> dict[str, Any]:
    answer: dict[str, Any] = world.tongban_json(
        B,
        "evidence",
        "request",
        "--region",
        B,
        "--case",
        case_no,
        "--type",
        "居民户口簿",
        "--recorded-by",
        recorded_by,
        *extra,
    )
    return answer


async def _settled(world: Regions, case_no: str, request_id: str) -> dict[str, Any]:
    async def row() -> dict[str, Any] | None:
        rows = world.tongban_json(B, "evidence", "requests", "--region", B, "--case", case_no)
        found = next(r for r in rows if r["request_id"] == request_id)
        return found if found["status"] != "pending" else None

    settled: dict[str, Any] = await eventually(row, timeout=90, what=f"answer to {request_id}")
    return settled


async def test_the_processing_region_obtains_evidence_signed_by_its_issuer(
    regions: Regions, tmp_path: Path
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    who = _applicant()
    case_no = await _case_in_processing(regions, who)
    licence_no = _import(regions, tmp_path, who)
    sent = _request(regions, case_no)
    assert sent["status"] == "pending"
    assert sent["provider_region"] == P
    assert sent["material"] == "居民户口簿"
    assert sent["consent"]["given_by"] == "申请人本人"

    settled = await _settled(regions, case_no, sent["request_id"])
    assert settled["status"] == "obtained", settled
    assert settled["on_paper"] is False

    # The document is 北京's, signed with its key under the national root, and its bytes are
    # what the answer named.
    pool = await asyncpg.create_pool(regions.dsns[B], min_size=1, max_size=1)
    try:
        pdf = await opened_document(pool, regions.credentials(B), sent["request_id"])
    finally:
        await pool.close()
    assert pdf is not None
    store = KeyStore(regions.trust)
    verdict = await verify_document(pdf, root=store.pinned_root(), directory=store.directory())
    assert verdict.valid, verdict.reason
    assert verdict.region == P
    assert verdict.sha256 == settled["document_sha256"]

    # In 广东's case file as obtained by data sharing.
    [case] = await regions.fetch(B, "SELECT materials FROM cases WHERE case_no = $1", case_no)
    refs = [m["ref"] for m in json.loads(case["materials"])]
    assert f"evidence:{P}/{sent['request_id']}" in refs

    # 北京 logged the use: who asked, for which case and purpose, and what it answered.
    uses = regions.tongban_json(P, "evidence", "uses", "--region", P, "--case", case_no)
    assert [(u["requester_region"], u["item_code"], u["outcome"]) for u in uses] == [
        (B, ITEM, "provided")
    ]
    # A clerk prints a person's list of uses: by their ID number, given out of the command line.
    mine = regions.tongban_json(
        P,
        "evidence",
        "uses",
        "--region",
        P,
        "--holder-env",
        "HOLDER",
        env={"HOLDER": who.id_number},
    )
    assert [(u["case_no"], u["outcome"]) for u in mine] == [(case_no, "provided")]
    theirs = regions.tongban_json(
        P,
        "evidence",
        "uses",
        "--region",
        P,
        "--holder-env",
        "HOLDER",
        env={"HOLDER": _applicant().id_number},
    )
    assert theirs == []

    # Neither the subject nor the evidence crossed in clear: the sniff reads every record of
    # every tongban topic written since the case began, and finds none of the applicant's
    # name or ID number, the licence's number or particulars, or any slice of the document
    # (raw or base64). The request id travels in clear by design: finding it proves the
    # sniff read the request (北京's inbox) and the answer (广东's).
    canary = "the request id"
    sniffed = await sniff_since(
        regions.bus,
        since,
        {
            canary: [sent["request_id"].encode()],
            "the subject's ID number": text_forms(who.id_number),
            "the subject's name": text_forms(who.name),
            "the licence number": text_forms(licence_no),
            "the licence's particulars": text_forms("北京市朝阳区（测试）"),
            "the evidence document": document_forms(pdf),
        },
    )
    leaks = [f for f in sniffed.findings if not f.startswith(f"{canary} in ")]
    assert leaks == []
    seen_in = {f.removeprefix(f"{canary} in ").split("/")[0] for f in sniffed.findings}
    assert {inbox_topic(P), inbox_topic(B)} <= seen_in


async def _forwarded_at_b(world: Regions, case_no: str) -> Envelope:
    [row] = await world.fetch(
        B,
        "SELECT envelope FROM inbox WHERE sender_region = $1 AND event_id = $2",
        A,
        event_id_for(case_no, "forwarded", A),
    )
    return Envelope.model_validate_json(bytes(row["envelope"]))


async def test_with_consent_the_processing_region_asks_by_itself(
    regions: Regions, tmp_path: Path
) -> None:
    who = _applicant()
    _import(regions, tmp_path, who)
    consent = Consent(
        given_by="申请人本人",
        method=ConsentMethod.WINDOW_SIGNATURE,
        at=datetime.now(UTC),
        recorded_by="福建 350000 受理窗口 张三",
    )
    case_no = await _case_in_processing(regions, who, consent=consent)

    # Nobody typed a command: 广东 asked 北京 as the case arrived, on the consent 福建's clerk
    # recorded, under the request id of this case and material.
    [sent] = regions.tongban_json(B, "evidence", "requests", "--region", B, "--case", case_no)
    assert sent["request_id"] == automatic_request_id(case_no, "居民户口簿")
    assert (sent["provider_region"], sent["material"], sent["evidence_type"]) == (
        P,
        "居民户口簿",
        HOUSEHOLD.value,
    )
    assert sent["consent"]["recorded_by"] == "福建 350000 受理窗口 张三"
    assert sent["consent"]["method"] == "window-signature"

    settled = await _settled(regions, case_no, sent["request_id"])
    assert settled["status"] == "obtained", settled
    # In 广东's case file as obtained by data sharing, as after a request by hand.
    [case] = await regions.fetch(B, "SELECT materials FROM cases WHERE case_no = $1", case_no)
    refs = [m["ref"] for m in json.loads(case["materials"])]
    assert f"evidence:{P}/{sent['request_id']}" in refs
    uses = regions.tongban_json(P, "evidence", "uses", "--region", P, "--case", case_no)
    assert [(u["requester_region"], u["outcome"]) for u in uses] == [(B, "provided")]

    # The case arriving again (a redelivery, a restarted node) asks nothing new.
    forwarded = await _forwarded_at_b(regions, case_no)
    pool = await asyncpg.create_pool(regions.dsns[B], min_size=1, max_size=1)
    try:
        again = EvidenceRequester(pool, regions.credentials(B), default_catalog())
        assert await again.request_for_forwarded(forwarded) == []
    finally:
        await pool.close()
    asked = await regions.fetch(
        B,
        "SELECT count(*) AS n FROM outbox WHERE case_no = $1 AND event_type = $2",
        case_no,
        EventType.EVIDENCE_REQUESTED.value,
    )
    assert asked[0]["n"] == 1
    [row] = regions.tongban_json(B, "evidence", "requests", "--region", B, "--case", case_no)
    assert row["status"] == "obtained"


async def test_without_consent_nothing_is_asked_and_the_material_stays_on_paper(
    regions: Regions, tmp_path: Path
) -> None:
    who = _applicant()
    _import(regions, tmp_path, who)
    case_no = await _case_in_processing(regions, who)
    # The case is with 广东's officer: it arrived, and nobody was asked for anything.
    assert regions.tongban_json(B, "evidence", "requests", "--region", B, "--case", case_no) == []
    assert regions.tongban_json(P, "evidence", "uses", "--region", P, "--case", case_no) == []
    forwarded = await _forwarded_at_b(regions, case_no)
    assert "evidence_consent" not in forwarded.data


async def test_a_request_the_case_does_not_need_is_not_sent(regions: Regions) -> None:
    who = _applicant()
    case_no = await _case_in_processing(regions, who)
    # 工作调动户口迁移 takes no 结婚证 by data sharing.
    wrong_type = regions.tongban(
        B,
        "evidence",
        "request",
        "--region",
        B,
        "--case",
        case_no,
        "--type",
        "结婚证",
        "--recorded-by",
        "广东 440000 办理窗口 李四",
    )
    assert wrong_type.returncode != 0
    assert "not-for-this-item" in wrong_type.stderr
    unknown = regions.tongban(
        B,
        "evidence",
        "request",
        "--region",
        B,
        "--case",
        "350000-20261201-ZZZZZZZZ",
        "--type",
        "居民户口簿",
        "--recorded-by",
        "广东 440000 办理窗口 李四",
    )
    assert unknown.returncode != 0
    assert "unknown-case" in unknown.stderr
    assert regions.tongban_json(B, "evidence", "requests", "--region", B, "--case", case_no) == []


async def test_each_refusal_comes_back_typed(regions: Regions, tmp_path: Path) -> None:
    nobody = _applicant()  # no licence anywhere
    case_no = await _case_in_processing(regions, nobody)
    not_found = _request(regions, case_no)

    someone = _applicant()
    other = await _case_in_processing(regions, someone)
    _import(regions, tmp_path, someone, name="另一个人")  # the ID number, another name
    mismatch = _request(regions, other)

    stale = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    no_consent = _request(regions, case_no, "--consent-at", stale)

    # A region with another catalog asks for a material its item does not take by sharing:
    # 北京 judges by the item's own version and refuses.
    unentitled = await _raw_request(regions, case_no, material="居民身份证")

    expected = {
        not_found["request_id"]: Refusal.NOT_FOUND,
        mismatch["request_id"]: Refusal.SUBJECT_MISMATCH,
        no_consent["request_id"]: Refusal.NO_CONSENT,
        unentitled: Refusal.NOT_ENTITLED,
    }
    for request_id, refusal in expected.items():
        case = other if request_id == mismatch["request_id"] else case_no
        settled = await _settled(regions, case, request_id)
        assert (settled["status"], settled["refusal"]) == ("refused", refusal.value)
        assert settled["on_paper"] is True  # the applicant brings the paper after all
    outcomes = {
        u["request_id"]: u["outcome"]
        for c in (case_no, other)
        for u in regions.tongban_json(P, "evidence", "uses", "--region", P, "--case", c)
    }
    assert outcomes == {r: refusal.value for r, refusal in expected.items()}


async def test_the_applicant_sees_who_used_their_data_at_each_region(
    regions: Regions, tmp_path: Path
) -> None:
    who = _applicant()
    case_no = await _case_in_processing(regions, who)
    _import(regions, tmp_path, who)
    sent = _request(regions, case_no)
    assert (await _settled(regions, case_no, sent["request_id"]))["status"] == "obtained"

    async with httpx.AsyncClient(timeout=60) as client:

        async def uses_at(region: str, person: Applicant) -> dict[str, Any]:
            got = await client.get(
                f"{regions.url(region)}/applicant/data-uses", headers=person.token(regions)
            )
            assert got.status_code == 200, got.text
            listed: dict[str, Any] = got.json()
            return listed

        # 北京, which holds the licence, gave it to 广东 for the case and the item.
        at_provider = await uses_at(P, who)
        [given] = at_provider["uses"]
        assert (
            given["kind"],
            given["requester_region"],
            given["provider_region"],
            given["case_no"],
            given["item_code"],
            given["outcome"],
            given["request_id"],
        ) == ("provided", B, P, case_no, ITEM, "provided", sent["request_id"])
        assert given["consent"]["recorded_by"] == "广东 440000 办理窗口 李四"
        assert given["summary_zh"] == f"广东省为办件{case_no}向北京市调取您的居民户口簿：已提供"
        assert B in {r["code"] for r in at_provider["elsewhere"]}
        # 广东, which asked for it, lists its request and what came of it.
        at_requester = await uses_at(B, who)
        [asked] = at_requester["uses"]
        assert (asked["kind"], asked["provider_region"], asked["request_id"]) == (
            "requested",
            P,
            sent["request_id"],
        )
        assert (asked["outcome"], asked["awaiting_your_decision"]) == ("obtained", False)
        assert P in {r["code"] for r in at_requester["elsewhere"]}
        # Another person signed in sees nothing of it anywhere; nobody signed in, nothing.
        someone_else = _applicant()
        for region in (A, B, P):
            assert (await uses_at(region, someone_else))["uses"] == []
        anonymous = await client.get(f"{regions.url(P)}/applicant/data-uses")
        assert anonymous.status_code == 401


async def _held(world: Regions, tmp: Path) -> tuple[Applicant, str, dict[str, Any]]:
    """An online case whose 居民户口簿 came from 北京 and waits for the applicant's preview."""
    who = _applicant()
    case_no = await _online_case(world, who)
    _import(world, tmp, who)
    sent = _request(
        world,
        case_no,
        "--consent-method",
        "online-confirmation",
        recorded_by="申请人（网上确认）",
    )
    assert sent["applicant_preview"] is True
    settled = await _settled(world, case_no, sent["request_id"])
    assert (settled["status"], settled["on_paper"]) == ("held", False), settled
    assert settled["status_label"] == "已获取，待申请人确认使用"
    return who, case_no, settled


async def _case_file(world: Regions, client: httpx.AsyncClient, case_no: str) -> dict[str, Any]:
    got = await client.get(
        f"{world.url(B)}/cases/{case_no}/file",
        headers=world.headers(B, Role.PROCESSING_OFFICER),
    )
    assert got.status_code == 200, got.text
    shown: dict[str, Any] = got.json()
    return shown


async def test_online_the_applicant_previews_the_evidence_and_approves_its_use(
    regions: Regions, tmp_path: Path
) -> None:
    who, case_no, held = await _held(regions, tmp_path)
    me = who.token(regions)
    request_id = held["request_id"]
    ref = f"evidence:{P}/{request_id}"
    mine = f"{regions.url(B)}/applicant/evidence/{request_id}"
    async with httpx.AsyncClient(timeout=60) as client:
        # Held, not used: not in 广东's case file yet.
        before = await _case_file(regions, client, case_no)
        assert held["document_sha256"] not in {m["sha256"] for m in before["materials"]}
        [line] = [e for e in before["evidence"] if e["request_id"] == request_id]
        assert (line["status"], line["on_paper"]) == ("held", False)
        # The applicant sees it (the issuer's signed document); nobody else does.
        preview = await client.get(f"{mine}/document", headers=me)
        assert preview.status_code == 200, preview.text
        store = KeyStore(regions.trust)
        verdict = await verify_document(
            preview.content, root=store.pinned_root(), directory=store.directory()
        )
        assert (verdict.valid, verdict.region, verdict.sha256) == (
            True,
            P,
            held["document_sha256"],
        )
        stranger = _applicant().token(regions)
        assert (await client.get(f"{mine}/document", headers=stranger)).status_code == 404
        assert (
            await client.post(f"{mine}/decision", json={"use": True}, headers=stranger)
        ).status_code == 404
        listed = await client.get(f"{regions.url(B)}/applicant/data-uses", headers=me)
        assert [u["awaiting_your_decision"] for u in listed.json()["uses"]] == [True]

        approved = await client.post(f"{mine}/decision", json={"use": True}, headers=me)
        assert approved.status_code == 200, approved.text
        assert (approved.json()["status"], approved.json()["on_paper"]) == ("obtained", False)
        again = await client.post(f"{mine}/decision", json={"use": True}, headers=me)
        assert again.json()["decided_at"] == approved.json()["decided_at"]
        # Now in the case file, as obtained by data sharing.
        after = await _case_file(regions, client, case_no)
        shared = [m for m in after["materials"] if m["sha256"] == held["document_sha256"]]
        assert [(m["name"], m["obtained_by_data_sharing"]) for m in shared] == [("居民户口簿", P)]
    [row] = await regions.fetch(B, "SELECT materials FROM cases WHERE case_no = $1", case_no)
    assert ref in [m.get("ref") for m in json.loads(row["materials"])]


async def test_online_the_confirmed_consent_asks_by_itself_and_holds_for_the_applicant(
    regions: Regions, tmp_path: Path
) -> None:
    who = _applicant()
    _import(regions, tmp_path, who)
    case_no = await _online_case(regions, who, consent=True)
    [sent] = regions.tongban_json(B, "evidence", "requests", "--region", B, "--case", case_no)
    assert sent["request_id"] == automatic_request_id(case_no, "居民户口簿")
    assert (sent["consent"]["method"], sent["consent"]["given_by"]) == (
        "online-confirmation",
        "申请人本人",
    )
    assert sent["applicant_preview"] is True
    settled = await _settled(regions, case_no, sent["request_id"])
    # Nobody saw it with the applicant: it waits for their decision before it is used.
    assert settled["status"] == "held", settled
    async with httpx.AsyncClient(timeout=60) as client:
        approved = await client.post(
            f"{regions.url(B)}/applicant/evidence/{sent['request_id']}/decision",
            json={"use": True},
            headers=who.token(regions),
        )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "obtained"


async def test_online_the_applicant_declines_and_hands_the_material_in(
    regions: Regions, tmp_path: Path
) -> None:
    who, case_no, held = await _held(regions, tmp_path)
    me = who.token(regions)
    mine = f"{regions.url(B)}/applicant/evidence/{held['request_id']}"
    async with httpx.AsyncClient(timeout=60) as client:
        declined = await client.post(f"{mine}/decision", json={"use": False}, headers=me)
        assert declined.status_code == 200, declined.text
        assert (declined.json()["status"], declined.json()["on_paper"]) == ("declined", True)
        # The document is dropped, and a change of mind is not taken: the paper is due.
        assert (await client.get(f"{mine}/document", headers=me)).status_code == 404
        late = await client.post(f"{mine}/decision", json={"use": True}, headers=me)
        assert late.status_code == 409, late.text
        shown = await _case_file(regions, client, case_no)
        assert held["document_sha256"] not in {m["sha256"] for m in shown["materials"]}
        [line] = [e for e in shown["evidence"] if e["request_id"] == held["request_id"]]
        assert (line["material"], line["on_paper"], line["status_label_zh"]) == (
            "居民户口簿",
            True,
            "申请人不同意使用，需自行提交材料",
        )
    [row] = await regions.fetch(
        B,
        "SELECT document_sealed FROM evidence_requests WHERE request_id = $1",
        held["request_id"],
    )
    assert row["document_sealed"] is None


async def _raw_request(world: Regions, case_no: str, *, material: str) -> str:
    """广东 sends a request its catalog check would not let through (as a region whose catalog
    differs would): written to its outbox with its row, as the requester writes one."""
    creds = world.credentials(B)
    now = datetime.now(UTC)
    key_id, public = sealing_key(creds.directory(), P, now)
    request_id = secrets.token_hex(16)
    forwarded = await world.fetch(
        B,
        "SELECT envelope FROM inbox WHERE case_no = $1 AND event_type = $2",
        case_no,
        EventType.FORWARDED.value,
    )
    payload = EvidenceRequested(
        case_no=case_no,
        request_id=request_id,
        evidence_type=HOUSEHOLD,
        material=material,
        item_code=ITEM,
        item_region=B,
        subject=seal(
            EvidenceSubject(name="测试", id_number=synthetic_id_number())
            .model_dump_json()
            .encode(),
            case_no=case_no,
            recipient=P,
            key_id=key_id,
            recipient_public=public,
        ),
        consent=Consent(
            given_by="申请人本人",
            method=ConsentMethod.WINDOW_SIGNATURE,
            at=now,
            recorded_by="广东 440000 办理窗口 李四",
        ),
        answer_by=now + timedelta(hours=1),
        mandate=json.loads(bytes(forwarded[0]["envelope"])),
    )
    envelope = signed_envelope(
        creds.signer(now),
        event_type=EventType.EVIDENCE_REQUESTED,
        case_no=case_no,
        step=request_step(request_id),
        recipient=P,
        data=payload.model_dump(mode="json", exclude_none=True),
        now=now,
    )
    conn = await asyncpg.connect(world.dsns[B])
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO evidence_requests (request_id, case_no, evidence_type, material,"
                " item_code, provider_region, consent, event_id, answer_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)",
                request_id,
                case_no,
                HOUSEHOLD.value,
                material,
                ITEM,
                P,
                payload.consent.model_dump_json(),
                envelope.id,
                payload.answer_by,
            )
            await enqueue_in(PostgresTransaction(conn), envelope)
    finally:
        await conn.close()
    return request_id


async def test_forged_and_unentitled_records_are_quarantined(regions: Regions) -> None:
    who = _applicant()
    case_no = await _case_in_processing(regions, who)
    now = datetime.now(UTC)
    store = KeyStore(regions.trust)
    directory = store.directory()
    key_id, public = sealing_key(directory, P, now)
    subject = seal(
        EvidenceSubject(name=who.name, id_number=who.id_number).model_dump_json().encode(),
        case_no=case_no,
        recipient=P,
        key_id=key_id,
        recipient_public=public,
    )
    request = EvidenceRequested(
        case_no=case_no,
        request_id=secrets.token_hex(16),
        evidence_type=HOUSEHOLD,
        material="居民户口簿",
        item_code=ITEM,
        item_region=OUTSIDER,
        subject=subject,
        consent=Consent(
            given_by="申请人本人", method=ConsentMethod.WINDOW_SIGNATURE, at=now, recorded_by="x"
        ),
        answer_by=now + timedelta(hours=1),
    ).model_dump(mode="json", exclude_none=True)

    def signed(sender: str, recipient: str, kind: EventType, data: dict[str, Any]) -> Envelope:
        return signed_envelope(
            store.signer(sender, directory, now),
            event_type=kind,
            case_no=case_no,
            step=f"forged-{secrets.token_hex(4)}",
            recipient=recipient,
            data=data,
            now=now,
        )

    # 浙江, party to nothing, asks 北京 for the applicant's 居民户口簿.
    outsider = signed(OUTSIDER, P, EventType.EVIDENCE_REQUESTED, request)
    # A request claiming to be 福建's (the accepting region) but signed with 浙江's key.
    impostor = signed(OUTSIDER, P, EventType.EVIDENCE_REQUESTED, request)
    impostor = impostor.model_copy(
        update={
            "senderregion": A,
            "source": f"urn:tongban:region:{A}",
            "keyid": store.signer(A, directory, now).key_id,
        }
    )
    # 广东, which provides no evidence, answers 福建 as if it did.
    answer = EvidenceAnswered(
        case_no=case_no,
        request_id=secrets.token_hex(16),
        evidence_type=HOUSEHOLD,
        outcome="refused",
        refusal=Refusal.NOT_FOUND,
    ).model_dump(mode="json", exclude_none=True)
    non_provider = signed(B, A, EventType.EVIDENCE_ANSWERED, answer)
    sent = [
        (P, outsider.to_wire(), case_no.encode()),
        (P, impostor.to_wire(), case_no.encode()),
        (A, non_provider.to_wire(), case_no.encode()),
    ]
    placed = await produce_all(regions.bus, sent)
    # These three records by their place in the log: the namespaces and topics are shared with
    # the modules before this one, whose cases' timers may fire in these nodes and send
    # records of their own that a fresh database refuses too.
    ours = [
        (inbox_topic(region), partition, offset)
        for (region, _, _), (partition, offset) in zip(sent, placed, strict=True)
    ]

    async def quarantined(region: str, count: int) -> list[tuple[str, str | None]] | None:
        rows = await regions.fetch(
            region,
            "SELECT reason, claimed_sender, topic, kafka_partition, kafka_offset"
            " FROM quarantine ORDER BY id",
        )
        found = [
            (r["reason"], r["claimed_sender"])
            for r in rows
            if (r["topic"], r["kafka_partition"], r["kafka_offset"]) in ours
        ]
        return found if len(found) >= count else None

    at_provider = await eventually(lambda: quarantined(P, 2), what="quarantine at 北京")
    assert at_provider == [("sender-not-entitled", OUTSIDER), ("bad-signature", A)]
    at_origin = await eventually(lambda: quarantined(A, 1), what="quarantine at 福建")
    assert at_origin == [("sender-not-entitled", B)]
    # Nothing was answered for them.
    assert regions.tongban_json(P, "evidence", "uses", "--region", P, "--case", case_no) == []


async def test_a_provider_that_does_not_answer_in_time_puts_the_material_on_paper(
    regions: Regions,
) -> None:
    who = _applicant()
    case_no = await _case_in_processing(regions, who)
    regions.nodes[P].kill()
    try:
        sent = _request(regions, case_no, "--answer-within-s", "3")
        assert sent["status"] == "pending"
        settled = await _settled(regions, case_no, sent["request_id"])
        assert settled["status"] == "timed-out"
        assert settled["on_paper"] is True
        assert settled["status_label"] == "共享超时，需提交纸质材料"
        # The case did not wait: it is still with 广东's officer.
        async with httpx.AsyncClient(timeout=30) as client:
            seen = await client.get(
                f"{regions.url(B)}/cases/{case_no}", headers=regions.headers(B, Role.OPERATOR)
            )
        assert seen.json()["summary"]["status"] == "processing"
    finally:
        with contextlib.suppress(ProcessLookupError):
            await regions.start(P)
