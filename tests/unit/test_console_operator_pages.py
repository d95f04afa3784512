"""The 运维 pages without services: the readers they call (the operators' own functions) are
replaced by stand-ins that record what they were asked, so these tests check what a page asks
for, what it shows (Chinese, Beijing time, the swimlane without inline style or script) and
what a form may do. The pages on the real stack: tests/browser/test_operator_pages.py."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from console import operator_pages as ops
from console.sessions import MemorySessionStore
from effects import orders as effect_orders
from effects.orders import EffectOrder, OrderRefused
from events.credentials import RegionCredentials
from events.keystore import KeyStore
from operators.listing import CaseFilter, CaseRow
from operators.model import RegionRecords
from regions.tokens import Role, TokenStore
from tests.support.console import Clock, console_app, console_client, csrf_of, issue, sign_in
from tests.unit.test_timeline_stitch import CASE, records
from workflows.lifecycle.effects import EffectWatch
from workflows.models import Effect

A, B = "350000", "440000"
OPERATOR = ("OPS-007", "王运维")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    store = KeyStore(tmp_path_factory.mktemp("trust"))
    store.bootstrap(
        {A: ("福建省", None), B: ("广东省", None)},
        validity=timedelta(days=30),
        now=datetime.now(UTC) - timedelta(days=1),
    )
    return store


class FakePool:
    """Hands out a placeholder connection: every reader that would use it is a stand-in."""

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[object]:
        yield object()


@dataclass
class Seen:
    filters: list[CaseFilter] = field(default_factory=list)
    actions: list[tuple[str, int, str, str]] = field(default_factory=list)
    refuse: bool = False


def _order(order_id: int, state: str = "dead") -> EffectOrder:
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    return EffectOrder(
        id=order_id,
        case_no=CASE,
        key="refund-fee",
        effect="refund-fee",
        amount_fen=500,
        detail="denied",
        adapter="bank",
        state=state,  # type: ignore[arg-type]
        series=1,
        attempts=5,
        reference="",
        reason="HTTP 503 five times",
        answer_due=None,
        ordered_at=now,
        updated_at=now,
    )


@pytest.fixture
async def console(
    keystore: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncClient, TokenStore, Clock, Seen]]:
    clock = Clock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        A,
        tokens=tokens,
        sessions=MemorySessionStore(),
        credentials=RegionCredentials(keystore, A),
        clock=clock,
        pool=FakePool(),
        client=object(),
    )
    seen = Seen()
    a_records, b_records = records()
    watch = EffectWatch(key="refund-fee", effect=Effect.REFUND_FEE, state="dead", reason="拒付")
    assert a_records.progress is not None
    a_open = a_records.model_copy(
        update={
            "progress": a_records.progress.model_copy(
                update={"closed": False, "effects_open": (watch,)}
            )
        }
    )

    async def processing_region_of(conn: Any, client: Any, case_no: str) -> str | None:
        return B if case_no == CASE else None

    async def region_records(*, region: str, **_: Any) -> RegionRecords:
        assert region == A, "the node reads only its own region with its own connections"
        return a_open

    async def peer_records(peers: Any, region: str, *_: Any) -> RegionRecords | str:
        return b_records if peers == "both" else "本节点不能读取该地区的流程与数据库"

    async def region_cases(
        client: Any, conn: Any, region: str, case_filter: CaseFilter, limit: int
    ) -> list[CaseRow]:
        seen.filters.append(case_filter)
        return [
            CaseRow(
                case_no=CASE,
                region=A,
                workflow_id=f"intake-{CASE}",
                status="forwarded",
                item_code="GG-00102-000",
                origin_region=A,
                processing_region=B,
                deadline=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
                overdue=True,
                started_at=datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
                running=True,
                last_change=datetime(2026, 11, 27, 1, 5, tzinfo=UTC),
            )
        ]

    async def listing(conn: Any, **kwargs: Any) -> list[EffectOrder]:
        assert kwargs == {"failed": True}, "the dead letters are `effects list --failed`"
        return [_order(41)]

    def action(name: str) -> Any:
        async def act(pool: Any, client: Any, region: str, order_id: int, *args: str) -> None:
            if seen.refuse:
                raise OrderRefused("resolved already")
            seen.actions.append((name, order_id, args[-1], args[0] if len(args) == 2 else ""))

        return act

    monkeypatch.setattr(ops, "processing_region_of", processing_region_of)
    monkeypatch.setattr(ops, "region_records", region_records)
    monkeypatch.setattr(ops, "_peer_records", peer_records)
    monkeypatch.setattr(ops, "region_cases", region_cases)
    monkeypatch.setattr(effect_orders, "listing", listing)
    monkeypatch.setattr(ops, "retry_effect", action("retry"))
    monkeypatch.setattr(ops, "resolve_effect", action("resolve"))
    async with console_client(app) as http:
        yield http, tokens, clock, seen


async def _operator(
    console: tuple[AsyncClient, TokenStore, Clock, Seen], person: tuple[str, str] | None = OPERATOR
) -> AsyncClient:
    http, tokens, clock, _ = console
    answer = await sign_in(http, issue(tokens, A, Role.OPERATOR, clock=clock, person=person))
    assert answer.status_code == 303
    return http


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_swimlane_shows_this_regions_lane_and_says_the_other_is_not_readable(
    console: tuple[AsyncClient, TokenStore, Clock, Seen],
) -> None:
    http = await _operator(console)
    page = await http.get(f"/console/operators/cases/{CASE}")
    assert page.status_code == 200, page.text
    text = _text(page.text)
    assert f"案件 {CASE} 的跨地区泳道图" in text
    assert "退件办结 (closed-rejected)" in text  # A's steps, by the lifecycle's names
    assert "2026-11-27 17:00:00 (北京时间)" in text  # 09:00 UTC, shown in Beijing time
    assert "办理地（B 440000 广东省）的泳道是空的" in text
    assert "本节点不能读取该地区的流程与数据库" in text
    assert "A refund-fee 多次失败: 拒付" in text  # the open effect keeps the case open
    # The SVG of operators/html.py, inside the console's page: no inline style or script
    # (the console's CSP allows neither).
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.text
    assert "<style" not in page.text
    assert "style=" not in page.text
    assert re.search(r"<script>|<script [^>]*>[^<]", page.text) is None
    assert "已接收（待受理）" not in text  # nothing of B's records was read


async def test_both_lanes_when_the_node_reads_the_other_region(
    console: tuple[AsyncClient, TokenStore, Clock, Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    http = await _operator(console)
    # The peers are the console's config; here a stand-in decides what the node can read.
    monkeypatch.setattr(ops, "_peers", lambda request: "both")
    page = await http.get(f"/console/operators/cases/{CASE}")
    text = _text(page.text)
    assert "的泳道是空的" not in text
    assert "已接收（待受理） (received)" in text  # B's lane, named as B names it
    assert "不予许可 (denied)" in text


async def test_an_unknown_case_is_a_page_naming_the_case(
    console: tuple[AsyncClient, TokenStore, Clock, Seen],
) -> None:
    http = await _operator(console)
    for wrong in ("350000-20261127-NOSUCHCA", "not-a-case"):
        page = await http.get(f"/console/operators/cases/{wrong}")
        assert page.status_code == 404
        assert "没有找到这个案件" in page.text
        assert wrong in page.text


async def test_case_search_reads_status_names_and_beijing_times(
    console: tuple[AsyncClient, TokenStore, Clock, Seen],
) -> None:
    http = await _operator(console)
    seen = console[3]
    page = await http.get(
        "/console/operators/cases",
        params={"status": "已转办", "processing": B, "since": "2026-11-27 08:00", "overdue": "on"},
    )
    assert page.status_code == 200, page.text
    (asked,) = seen.filters
    assert asked.status == "forwarded"
    assert asked.processing == B
    assert asked.overdue
    assert asked.sides == ("origin",)
    assert asked.since == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 Beijing
    text = _text(page.text)
    assert "已转办 (forwarded)" in text
    assert "2026-12-01 17:30 (北京时间)" in text
    assert "已超期" in text
    assert f'href="/console/operators/cases/{CASE}"' in page.text
    assert 'value="已转办"' in page.text  # the filters stay filled in


async def test_an_unknown_status_is_refused_with_the_form_kept(
    console: tuple[AsyncClient, TokenStore, Clock, Seen],
) -> None:
    http = await _operator(console)
    seen = console[3]
    page = await http.get("/console/operators/cases", params={"status": "办里中", "item": "X-1"})
    assert page.status_code == 422
    assert "「办里中」不是案件的状态" in page.text
    assert 'value="X-1"' in page.text
    bad = await http.get("/console/operators/cases", params={"origin": "35' OR 1=1"})
    assert bad.status_code == 422
    assert "查询条件不对" in bad.text
    assert seen.filters == []  # nothing was asked with a filter that is not one


async def test_dead_letters_are_resolved_by_the_signed_in_operator_with_a_note(
    console: tuple[AsyncClient, TokenStore, Clock, Seen],
) -> None:
    http = await _operator(console)
    seen = console[3]
    page = await http.get("/console/operators/effects")
    assert page.status_code == 200
    assert "多次失败" in page.text
    assert "¥5.00" in page.text
    csrf = csrf_of(page.text)

    no_token = await http.post("/console/operators/effects/41/resolve", data={"note": "现金退费"})
    assert no_token.status_code == 403
    assert seen.actions == []

    no_note = await http.post(
        "/console/operators/effects/41/resolve", data={"csrf": csrf, "effect_id": "41"}
    )
    assert no_note.status_code == 422
    assert "请写明办理方式" in no_note.text
    assert seen.actions == []

    done = await http.post(
        "/console/operators/effects/41/resolve",
        data={"csrf": csrf, "effect_id": "41", "note": "已在窗口现金退费"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert seen.actions == [("resolve", 41, OPERATOR[0], "已在窗口现金退费")]
    after = await http.get(done.headers["location"])
    assert "已将第 41 号事项记为人工办结" in after.text

    retried = await http.post(
        "/console/operators/effects/41/retry", data={"csrf": csrf}, follow_redirects=False
    )
    assert retried.status_code == 303
    assert seen.actions[-1] == ("retry", 41, OPERATOR[0], "")

    seen.refuse = True
    refused = await http.post(
        "/console/operators/effects/41/resolve",
        data={"csrf": csrf, "effect_id": "41", "note": "再办一次"},
    )
    assert refused.status_code == 409
    assert "这一步未被接受" in refused.text
    assert "再办一次" in refused.text  # the note stays in its form


async def test_an_operator_token_without_a_person_cannot_act_on_effects(
    console: tuple[AsyncClient, TokenStore, Clock, Seen],
) -> None:
    http = await _operator(console, person=None)
    seen = console[3]
    csrf = csrf_of((await http.get("/console/operators/effects")).text)
    answer = await http.post("/console/operators/effects/41/retry", data={"csrf": csrf})
    assert answer.status_code == 403
    assert "没有登记本人工号" in answer.text
    assert seen.actions == []


async def test_only_operators_open_the_operators_pages(
    console: tuple[AsyncClient, TokenStore, Clock, Seen],
) -> None:
    http, tokens, clock, _ = console
    await sign_in(http, issue(tokens, A, Role.WINDOW_CLERK, clock=clock))
    for path in ("/", "/cases", f"/cases/{CASE}", "/attention", "/quarantine", "/effects"):
        page = await http.get(f"/console/operators{path}")
        assert page.status_code == 403, path
        assert "此页面只供运维人员使用" in page.text


def test_the_node_reads_other_regions_only_on_the_local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regions.node_settings import NodeSettings

    server = "postgresql://tongban@127.0.0.1:5544/postgres"
    for name in ("TONGBAN_CONFIG", "TONGBAN_NODE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TONGBAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TONGBAN_REGIONS", f"{A},{B}")

    def node(dsn: str) -> NodeSettings:
        return NodeSettings(
            region=A,
            temporal_address="127.0.0.1:7233",
            kafka_bootstrap="127.0.0.1:9092",
            postgres_dsn=dsn,
            trust_dir=tmp_path / "trust",
        )

    on_stack = node(f"postgresql://tongban@127.0.0.1:5544/tongban_{A}")
    assert ops.peer_endpoints(on_stack) is None  # no stack recorded or configured
    monkeypatch.setenv("TONGBAN_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("TONGBAN_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    monkeypatch.setenv("TONGBAN_POSTGRES_DSN", server)
    peers = ops.peer_endpoints(on_stack)
    assert peers is not None
    assert peers.for_region(B).postgres_dsn.endswith(f"/tongban_{B}")
    assert peers.for_region(B).namespace == f"region-{B}"
    # A node whose database is not the stack's is in production: its own region only.
    assert ops.peer_endpoints(node(f"postgresql://ops@db.fj.example/tongban_{A}")) is None
