"""People, not processes, take steps (issue 15, item 4), against the real stack.

A case goes through the window and office API with two named people: a clerk of 福建 (王芳,
工号 FZ1001, window fz-03) and an officer of 广东 (李明, 工号 GZ2001, office gz-07). Each step
records its person inside the workflow's own step record: A's workflow continues as new while
the clerk's 补正 request is pending and still names her on it; the JSON view (`GET
/cases/{no}`), the operators' timeline, its text and its swimlane page show each person on
their step. A second case has its formal review and delivery taken by the item's automatic
policy, and those steps say so (自动（策略）).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from temporalio.client import WorkflowHandle

from deploy.stack.settings import StackEndpoints, StackSettings
from events.models import EventType, InboundEvent
from operators.endpoints import local_endpoints
from operators.html import swimlane_html
from operators.load import load_timeline
from operators.model import CaseTimeline
from operators.render import render
from regions.demo import synthetic_id_number
from regions.local import ensure_local_keys
from regions.policies import CasePolicies
from regions.tokens import Role, TokenStore
from regions.window import material_ref
from tests.integration.api_nodes import auth, issue_token, wait_for_api
from tests.integration.lifecycle import (
    FAST,
    MANUAL,
    T_B_DECIDES,
    T_CAN,
    TEST_CATALOG_DIR,
    a_closed,
    a_reaches,
    b_closed,
    b_reaches,
    intake,
)
from tests.integration.pair import ProvincePair, start_pair
from workflows.models import AutoPolicy, CaseProgress, CaseStep

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
API_PORT_BASE = 18770  # off the ports other suites' nodes use
API = {A: f"http://127.0.0.1:{API_PORT_BASE + 1}", B: f"http://127.0.0.1:{API_PORT_BASE + 2}"}
CLERK = ("FZ1001", "王芳")
OFFICER = ("GZ2001", "李明")
CLERK_LABEL = "王芳（工号 FZ1001，fz-03）"
OFFICER_LABEL = "李明（工号 GZ2001，gz-07）"
# Every step spelled out, whatever a policy's defaults are: people decide acceptance and the
# decision; the policy passes the formal review and confirms delivery at the window.
POLICY_REVIEWS_AND_DELIVERS = AutoPolicy(
    formal_review="pass", acceptance="manual", decision="manual", delivery="window"
)
POLICIES = CasePolicies(
    default=MANUAL,
    items={T_CAN: MANUAL, T_B_DECIDES: POLICY_REVIEWS_AND_DELIVERS},
    timings=FAST,
    item_timings={
        # A short history limit, and 补正 and answer times long enough to push the history past
        # it while the 补正 is pending.
        T_CAN: FAST.model_copy(
            update={
                "history_limit": 40,
                "supplement_working_days": 12,  # 60 s at FAST's working day
                "answer_timeout": timedelta(seconds=30),
            }
        ),
    },
)


class People:
    def __init__(self, pair: ProvincePair, tokens: TokenStore) -> None:
        self.pair = pair
        self.clerk = auth(issue_token(tokens, A, Role.WINDOW_CLERK, person=CLERK, window="fz-03"))
        self.officer = auth(
            issue_token(tokens, B, Role.PROCESSING_OFFICER, person=OFFICER, window="gz-07")
        )
        self.operator = {r: auth(issue_token(tokens, r, Role.OPERATOR)) for r in (A, B)}


@pytest.fixture(scope="module")
async def people(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[People]:
    tokens_dir = Path(tmp_path_factory.mktemp("tokens"))
    ensure_local_keys(stack_settings, stack_settings.regions)
    env = {
        "TONGBAN_NODE_POLICIES": POLICIES.model_dump_json(),
        "TONGBAN_NODE_CATALOG_DIR": str(TEST_CATALOG_DIR),
        "TONGBAN_NODE_API_PORT_BASE": str(API_PORT_BASE),
        "TONGBAN_NODE_TOKENS_DIR": str(tokens_dir),
    }
    async with start_pair(stack, stack_settings, A, B, env=env) as pair:
        for url in API.values():
            await wait_for_api(url)
        yield People(pair, TokenStore(tokens_dir))


async def _post(region: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=API[region], timeout=60) as client:
        answer = await client.post(path, json=body, headers=headers)
    assert answer.status_code in (200, 201), f"{path}: {answer.status_code} {answer.text}"
    return answer.json()


async def _view(region: str, case_no: str, headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=API[region], timeout=60) as client:
        answer = await client.get(f"/cases/{case_no}", headers=headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def _submit(people: People, item_code: str) -> str:
    body = {
        "item_code": item_code,
        "processing_region": B,
        "applicant_name": f"测试申请人{secrets.token_hex(2)}",
        "applicant_id_number": synthetic_id_number(serial=f"{secrets.randbelow(900):03d}"),
        "applicant_phone": "13800000000",
        "materials": [material_ref("申请表").model_dump()],
    }
    submitted = await _post(A, "/window/cases", body, people.clerk)
    case_no: str = submitted["case_no"]
    return case_no


async def _push_history_until_continued(handle: WorkflowHandle[Any, Any], case_no: str) -> str:
    """Grow a waiting workflow's history past its limit with events its phase does not take
    (noted and ignored, as a stray receipt would be) until the run continues as new; the
    first run's id."""
    first_run = (await handle.describe()).run_id
    for number in range(40):
        await handle.signal(
            "case_event",
            InboundEvent(
                event_id=f"stray-{case_no}-{number}",
                type=EventType.RECEIPT,
                sender_region=B,
                time=datetime.now(UTC),
                data={},
            ),
        )
        if (await handle.describe()).run_id != first_run:
            assert first_run is not None
            return first_run
    raise AssertionError("the workflow did not continue as new")


def _first(steps: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return next(s for s in steps if s["status"] == status)


def _step_of(progress: CaseProgress, status: str) -> CaseStep:
    return next(s for s in progress.steps if s.status == status)


def _step_actor(timeline: CaseTimeline, lane: str, status: str) -> str:
    entry = next(
        e for e in timeline.entries if (e.lane, e.kind, e.status) == (lane, "step", status)
    )
    assert entry.actor is not None
    return entry.actor.label


def _text(timeline: CaseTimeline) -> str:
    console = Console(width=220, record=True)
    render(timeline, console)
    return console.export_text()


async def test_each_person_is_on_their_step_and_survives_continue_as_new(
    people: People, stack_settings: StackSettings
) -> None:
    pair = people.pair
    case_no = await _submit(people, T_CAN)
    steps = f"/window/cases/{case_no}"
    await a_reaches(pair, case_no, "formal-review")
    await _post(
        A, f"{steps}/formal-review", {"outcome": "supplement", "missing": ["户口簿"]}, people.clerk
    )
    await a_reaches(pair, case_no, "supplement-pending")
    handle = intake(pair, case_no)
    first_run = await _push_history_until_continued(handle, case_no)

    # The new run carries the step record, and the clerk in it.
    carried = await a_reaches(pair, case_no, "supplement-pending")
    asked = _step_of(carried, "supplement-pending").actor
    assert asked is not None
    assert (asked.kind, asked.person_id, asked.name, asked.window) == (
        "person",
        "FZ1001",
        "王芳",
        "fz-03",
    )
    assert (await handle.describe()).run_id != first_run

    materials = {"materials": [material_ref("户口簿").model_dump()]}
    await _post(A, f"{steps}/supplement", materials, people.clerk)
    await _post(A, f"{steps}/formal-review", {"outcome": "pass"}, people.clerk)
    office = f"/office/cases/{case_no}"
    await b_reaches(pair, case_no, "received")
    await _post(B, f"{office}/acceptance", {"accept": True}, people.officer)
    await _post(B, f"{office}/decision", {"approve": True, "reason": "符合条件"}, people.officer)
    await a_reaches(pair, case_no, "result-received")
    await _post(A, f"{steps}/delivery", {"channel": "window"}, people.clerk)
    await a_closed(pair, case_no)
    await b_closed(pair, case_no)

    # The JSON view: each step carries its actor object.
    clerk = {
        "kind": "person",
        "person_id": "FZ1001",
        "name": "王芳",
        "region": A,
        "window": "fz-03",
    }
    officer = {
        "kind": "person",
        "person_id": "GZ2001",
        "name": "李明",
        "region": B,
        "window": "gz-07",
    }
    a_view = (await _view(A, case_no, people.operator[A]))["steps"]
    for status in ("supplement-pending", "formal-review-passed", "forwarded", "result-delivered"):
        assert _first(a_view, status)["actor"] == clerk, status
    assert _first(a_view, "processing")["actor"] == {
        "kind": "region",
        "person_id": None,
        "name": None,
        "region": B,
        "window": None,
    }
    b_view = (await _view(B, case_no, people.operator[B]))["steps"]
    for status in ("processing", "approved"):
        assert _first(b_view, status)["actor"] == officer, status
    assert _first(b_view, "received")["actor"]["kind"] == "region"

    # The operators' timeline, its text and its swimlane page.
    timeline = await load_timeline(case_no, local_endpoints(stack_settings))
    assert _step_actor(timeline, "A", "supplement-pending") == CLERK_LABEL
    assert _step_actor(timeline, "A", "formal-review-passed") == CLERK_LABEL
    assert _step_actor(timeline, "A", "result-delivered") == CLERK_LABEL
    assert _step_actor(timeline, "B", "processing") == OFFICER_LABEL
    assert _step_actor(timeline, "B", "approved") == OFFICER_LABEL
    text, page = _text(timeline), swimlane_html(timeline)
    for shown in (text, page):
        assert "经办人" in shown
        assert CLERK_LABEL in shown
        assert OFFICER_LABEL in shown
    assert '"person_id":"GZ2001"' in timeline.model_dump_json()


async def test_a_policy_step_says_it_was_the_policy(
    people: People, stack_settings: StackSettings
) -> None:
    pair = people.pair
    case_no = await _submit(people, T_B_DECIDES)
    office = f"/office/cases/{case_no}"
    await b_reaches(pair, case_no, "received")
    await _post(B, f"{office}/acceptance", {"accept": True}, people.officer)
    await _post(B, f"{office}/decision", {"approve": True, "reason": "符合条件"}, people.officer)
    a = await a_closed(pair, case_no)
    await b_closed(pair, case_no)

    for status in ("formal-review-passed", "result-delivered"):
        actor = _step_of(a, status).actor
        assert actor is not None
        assert (actor.kind, actor.person_id) == ("policy", None), status
    a_view = (await _view(A, case_no, people.operator[A]))["steps"]
    assert _first(a_view, "formal-review-passed")["actor"]["kind"] == "policy"
    timeline = await load_timeline(case_no, local_endpoints(stack_settings))
    assert _step_actor(timeline, "A", "formal-review-passed") == "自动（策略）"
    assert _step_actor(timeline, "A", "result-delivered") == "自动（策略）"
    assert _step_actor(timeline, "B", "approved") == OFFICER_LABEL
    assert "自动（策略）" in _text(timeline)
    assert "自动（策略）" in swimlane_html(timeline)
