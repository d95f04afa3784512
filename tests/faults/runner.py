"""Drives the workload through the window HTTP API, the way clerks and officers would.

The runner is state-driven: each round it reads every open case in both regions
(`GET /cases/{no}`) and takes the one step a person would take in that state. A step that
fails because a node, the database or Temporal is down is simply tried again next round; a
409 means the case moved on meanwhile. So a fault never makes the runner take a step twice:
the second try is refused by the workflow's validator, as it would be for a clerk.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from regions.demo import synthetic_id_number
from regions.tokens import Role
from regions.window import material_ref
from tests.faults.workload import (
    B_SUPPLEMENT,
    WINDOW_SUPPLEMENT,
    WITHDRAWN,
    Scenario,
)
from tests.integration.api_nodes import ApiNodes, auth
from tests.waiting import NeverHappened, eventually
from workflows.lifecycle.intake import Status as A
from workflows.lifecycle.processing import Status as B

ROUND_S = 0.5
SUPPLEMENT = "户口簿"  # what every 补正 in the workload asks for
# A GET or step that takes longer than this is treated as failed and tried again next round.
REQUEST_TIMEOUT_S = 20.0


@dataclass
class Case:
    scenario: Scenario
    origin: str
    processing: str
    case_no: str
    submitted_at: float
    settled_at: float | None = None
    seen: dict[str, str] = field(default_factory=dict)  # region -> last status read

    def settled(self) -> bool:
        return (
            self.seen.get(self.origin) == self.scenario.origin_status
            and self.seen.get(self.processing) == self.scenario.processing_status
        )


@dataclass(frozen=True)
class Step:
    region: str
    role: Role
    path: str
    body: dict[str, Any]


def _statuses(view: dict[str, Any] | None) -> tuple[str | None, set[str]]:
    """Where the case stands as its workflow says (its last step), as the console shows a
    clerk; the `cases` row's status only when the workflow did not answer. (CI, kill -9 of A:
    the row still said formal-review minutes after the workflow had asked for 补正, and the
    runner kept sending a review the workflow refused, until the 补正 ran out.)"""
    if view is None:
        return None, set()
    steps = view.get("steps") or ()
    current = steps[-1]["status"] if steps else view["summary"]["status"]
    return current, {s["status"] for s in steps}


def next_step(case: Case, a: dict[str, Any] | None, b: dict[str, Any] | None) -> Step | None:
    """The step a person takes now, or None when the case waits for the system."""
    a_status, a_seen = _statuses(a)
    b_status, b_seen = _statuses(b)
    no, s = case.case_no, case.scenario
    window = f"/window/cases/{no}"
    office = f"/office/cases/{no}"
    supplement = {"materials": [material_ref(SUPPLEMENT).model_dump(mode="json")]}

    def at_a(path: str, body: dict[str, Any]) -> Step:
        return Step(case.origin, Role.WINDOW_CLERK, f"{window}/{path}", body)

    def at_b(path: str, body: dict[str, Any]) -> Step:
        return Step(case.processing, Role.PROCESSING_OFFICER, f"{office}/{path}", body)

    if s is WINDOW_SUPPLEMENT:
        if a_status == A.FORMAL_REVIEW:
            if A.SUPPLEMENT_PENDING in a_seen:
                return at_a("formal-review", {"outcome": "pass"})
            return at_a("formal-review", {"outcome": "supplement", "missing": [SUPPLEMENT]})
        if a_status == A.SUPPLEMENT_PENDING:
            return at_a("supplement", supplement)
        if b_status == B.RECEIVED:
            return at_b("acceptance", {"accept": True})
        if b_status == B.PROCESSING:
            return at_b("decision", {"approve": True, "reason": "符合条件"})
        if a_status == A.RESULT_RECEIVED:
            return at_a("delivery", {"channel": "mail", "tracking_no": f"SF{no[-8:]}"})
    elif s is B_SUPPLEMENT:
        if b_status == B.PROCESSING:
            if B.SUPPLEMENT_REQUESTED in b_seen:
                return at_b("decision", {"approve": True, "reason": "补正后符合条件"})
            return at_b("supplement-request", {"missing": [SUPPLEMENT], "reason": "缺户口簿"})
        if a_status == A.SUPPLEMENT_REQUESTED:
            return at_a("supplement", supplement)
    elif s is WITHDRAWN and a_status == A.PROCESSING:
        return at_a("withdrawal", {"reason": "申请人撤回"})
    return None


@dataclass
class Runner:
    api: ApiNodes
    cases: list[Case] = field(default_factory=list)
    steps_taken: int = 0
    # While a node or service is down a step cannot be taken: no answer, or 503 (the API's
    # "try again"). Tried again next round, and counted, as a clerk would experience it.
    steps_unavailable: int = 0
    # Any other answer (500 above all) is a defect the invariants report, not a fault's cost.
    steps_failed: list[str] = field(default_factory=list)
    _tokens: dict[tuple[str, Role], str] = field(default_factory=dict)

    def _headers(self, region: str, role: Role) -> dict[str, str]:
        key = (region, role)
        if key not in self._tokens:
            self._tokens[key] = self.api.token(region, role)
        return auth(self._tokens[key])

    async def submit(
        self, scenario: Scenario, origin: str, processing: str, *, retry_s: float = 60.0
    ) -> Case:
        """One application at `origin`'s window, retried with its `Idempotency-Key` while the
        window cannot answer (down, or 503): a retry returns the case the first try created,
        so a lost answer never makes a second case."""
        body = {
            "item_code": scenario.item_code,
            "processing_region": processing,
            "applicant_name": f"测试申请人{secrets.token_hex(3)}",
            "applicant_id_number": synthetic_id_number(serial=f"{secrets.randbelow(1000):03d}"),
            "applicant_phone": "13800000000",
            "materials": [material_ref(m).model_dump(mode="json") for m in scenario.materials],
            "fee_fen": scenario.fee_fen,
        }
        headers = {
            "Idempotency-Key": f"fault-{secrets.token_hex(12)}",
            **self._headers(origin, Role.WINDOW_CLERK),
        }
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S * 3) as client:

            async def answer() -> httpx.Response | str:
                try:
                    response = await client.post(
                        f"{self.api.urls[origin]}/window/cases", json=body, headers=headers
                    )
                except httpx.TransportError as exc:
                    self.steps_unavailable += 1
                    return f"no answer ({type(exc).__name__})"
                if response.status_code == 503:
                    self.steps_unavailable += 1
                return response

            response = await eventually(
                answer,
                until=lambda r: isinstance(r, httpx.Response) and r.status_code != 503,
                timeout=retry_s,
                every=ROUND_S * 2,
                what=f"{origin}'s window to take a {scenario.name} application",
            )
        assert isinstance(response, httpx.Response)
        if response.is_error:
            raise AssertionError(
                f"{origin}'s window refused a {scenario.name} application:"
                f" {response.status_code} {response.text[:500]}"
            )
        case = Case(scenario, origin, processing, response.json()["case_no"], time.monotonic())
        self.cases.append(case)
        return case

    async def _view(
        self, client: httpx.AsyncClient, region: str, case_no: str
    ) -> dict[str, Any] | None:
        try:
            response = await client.get(
                f"{self.api.urls[region]}/cases/{case_no}",
                headers=self._headers(region, Role.OPERATOR),
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None  # 404 before B has the case; 5xx while a service is down
        view: dict[str, Any] = response.json()
        return view

    async def _round(self, client: httpx.AsyncClient, case: Case) -> None:
        a = await self._view(client, case.origin, case.case_no)
        b = await self._view(client, case.processing, case.case_no)
        for region, view in ((case.origin, a), (case.processing, b)):
            if view is not None:
                case.seen[region] = view["summary"]["status"]
        if case.settled():
            case.settled_at = case.settled_at or time.monotonic()
            return
        step = next_step(case, a, b)
        if step is None:
            return
        try:
            response = await client.post(
                f"{self.api.urls[step.region]}{step.path}",
                json=step.body,
                headers=self._headers(step.region, step.role),
            )
        except httpx.HTTPError:
            self.steps_unavailable += 1
            return
        if response.status_code == 200:
            self.steps_taken += 1
        elif response.status_code == 503:
            self.steps_unavailable += 1
        elif response.status_code != 409:  # 409: the case moved on; read it again
            self.steps_failed.append(f"{step.path} -> {response.status_code} {response.text[:200]}")

    async def drive(self, timeout_s: float, *, submitting: asyncio.Event | None = None) -> bool:
        """Rounds until every case is settled in both regions; False on timeout. While
        `submitting` is given and not set, more cases are coming: keep going even when every
        case so far is settled (the soak submits a batch every few seconds)."""
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:

            async def still_open() -> list[Case]:
                cases = [c for c in self.cases if c.settled_at is None]
                await asyncio.gather(*(self._round(client, c) for c in cases))
                return [c for c in cases if c.settled_at is None]

            def all_settled(cases: list[Case]) -> bool:
                return not cases and (submitting is None or submitting.is_set())

            try:
                await eventually(
                    still_open,
                    until=all_settled,
                    timeout=timeout_s,
                    every=ROUND_S,
                    what="every case at its end in both regions",
                    describe=describe_open,
                )
            except NeverHappened:
                return False
        return True


def describe_open(cases: list[Case]) -> str:
    shown = "; ".join(f"{c.case_no} {c.scenario.name} {c.seen}" for c in cases[:10])
    return f"{len(cases)} open: {shown}"
