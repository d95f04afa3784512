"""`tongban demo --manual`: the demo plays the window clerk at A and the processing officer at B.

Every step goes through the node's own HTTP API with the person's own bearer token, as a
window's software would send it; the nodes' policies take none of them (decision 0024). Each
person's step is reported in Chinese as it is taken, with the API's answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from regions.tokens import Role, TokenStore, token_id
from regions.window import Application

# A step waits for the workflow to apply it (an Update); the stack may be busy.
REQUEST_TIMEOUT_S = 60.0
POLL_S = 0.3
TOKEN_VALIDITY = timedelta(hours=1)
DELIVERY_LABELS = {"window": "窗口领取", "mail": "邮寄送达", "online": "网上送达"}


@dataclass(frozen=True)
class Person:
    """Who the demo plays: a named person at a window (A) or a processing office (B)."""

    staff_no: str  # 工号
    name: str
    desk: str  # 窗口 (A's window) or 办理 (B's processing office)
    window: str  # the window or office the token is issued for
    region: str
    role: Role

    def __str__(self) -> str:
        return f"{self.desk} {self.name}(工号 {self.staff_no})"


@dataclass(frozen=True)
class PersonStep:
    """One step a person took through the API, and what the API answered."""

    person: Person
    at: datetime  # when the request was sent
    step: str  # e.g. 形式审查
    outcome: str  # e.g. 通过
    method: str
    path: str
    http_status: int
    status_after: str

    @property
    def line(self) -> str:
        said = f"{self.step}：{self.outcome}" if self.outcome else self.step
        return f"{self.person} {said}"


@dataclass
class PeopleRun:
    case_no: str = ""
    steps: list[PersonStep] = field(default_factory=list)


class DemoStepFailed(RuntimeError):
    """The API refused a person's step, or the case did not reach the step in time."""


def issue_token(store: TokenStore, person: Person, now: datetime) -> str:
    """The person's bearer token, issued through the token store as `tongban tokens issue
    --person 工号 --name 姓名` does: every step taken with it records the person."""
    token, _ = store.issue(
        region=person.region,
        role=person.role,
        window=person.window,
        valid_for=TOKEN_VALIDITY,
        now=now,
        person_id=person.staff_no,
        person_name=person.name,
    )
    return token


class _Desk:
    """One person at one node's API."""

    def __init__(self, person: Person, api: str, token: str, run: PeopleRun) -> None:
        self.person = person
        self._run = run
        self._client = httpx.AsyncClient(
            base_url=api,
            timeout=REQUEST_TIMEOUT_S,
            headers={"Authorization": f"Bearer {token}"},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def wait_for(self, case_no: str, wanted: str, *, timeout: float) -> dict[str, Any]:
        """The case as this person's region shows it, once its status is `wanted` (a case
        forwarded to B is 404 there until it arrives)."""
        deadline = time.monotonic() + timeout
        last: object = "not yet in this region"
        while True:
            response = await self._client.get(f"/cases/{case_no}")
            if response.status_code == 200:
                view: dict[str, Any] = response.json()
                last = view["summary"]["status"]
                if last == wanted:
                    return view
            elif response.status_code != 404:
                raise DemoStepFailed(
                    f"{self.person}: GET /cases/{case_no} answered {response.status_code}"
                )
            if time.monotonic() > deadline:
                raise DemoStepFailed(
                    f"{self.person}: case {case_no} not '{wanted}' after {timeout:.0f}s"
                    f" (last: {last})"
                )
            await asyncio.sleep(POLL_S)

    async def take(
        self,
        step: str,
        outcome: str,
        path: str,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        sent = datetime.now(UTC)
        response = await self._client.post(path, json=body, headers=headers)
        if response.status_code >= 400:
            raise DemoStepFailed(
                f"{self.person} {step}: POST {path} answered {response.status_code}"
                f" {response.text[:300]}"
            )
        answer: dict[str, Any] = response.json()
        self._run.steps.append(
            PersonStep(
                person=self.person,
                at=sent,
                step=step,
                outcome=outcome,
                method="POST",
                path=path,
                http_status=response.status_code,
                status_after=str(answer.get("status", "")),
            )
        )
        return answer


async def play_people(
    *,
    application: Application,
    clerk: Person,
    officer: Person,
    apis: dict[str, str],
    tokens: TokenStore,
    decision: str = "approve",
    on_step: Callable[[PersonStep], None] = lambda _: None,
    on_submitted: Callable[[str], None] = lambda _: None,
    timeout: float = 120.0,
) -> PeopleRun:
    """Submit the application at the clerk's window and take every person's step of the case
    through the API: formal review (A), acceptance and the decision (B), and, once the result
    is back at A, the confirmation of its delivery. Returns once the last step is taken; the
    caller watches the case close. Each token is revoked at the end."""
    if decision not in ("approve", "deny"):
        raise ValueError(f"decision must be approve or deny, not {decision!r}")
    now = datetime.now(UTC)
    issued = {p: issue_token(tokens, p, now) for p in (clerk, officer)}
    run = PeopleRun()
    window = _Desk(clerk, apis[clerk.region], issued[clerk], run)
    office = _Desk(officer, apis[officer.region], issued[officer], run)

    def report() -> None:
        on_step(run.steps[-1])

    try:
        submitted = await window.take(
            "收件",
            f"{application.item_code} → {application.processing_region}",
            "/window/cases",
            application.model_dump(mode="json"),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        run.case_no = case_no = str(submitted["case_no"])
        report()
        on_submitted(case_no)

        await window.wait_for(case_no, "formal-review", timeout=timeout)
        await window.take(
            "形式审查", "通过", f"/window/cases/{case_no}/formal-review", {"outcome": "pass"}
        )
        report()

        await office.wait_for(case_no, "received", timeout=timeout)
        await office.take(
            "受理", "", f"/office/cases/{case_no}/acceptance", {"accept": True, "reason": ""}
        )
        report()

        await office.wait_for(case_no, "processing", timeout=timeout)
        approve = decision == "approve"
        reason = "符合办理条件" if approve else "不符合办理条件"
        await office.take(
            "决定",
            f"{'准予' if approve else '不予'}（{reason}）",
            f"/office/cases/{case_no}/decision",
            {"approve": approve, "reason": reason},
        )
        report()

        if approve:
            # A denial goes to the applicant with A's closing notice; nobody confirms it.
            await window.wait_for(case_no, "result-received", timeout=timeout)
            await window.take(
                "送达",
                DELIVERY_LABELS["window"],
                f"/window/cases/{case_no}/delivery",
                {"channel": "window"},
            )
            report()
        return run
    finally:
        await window.close()
        await office.close()
        revoked_at = datetime.now(UTC)
        for token in issued.values():
            tokens.revoke(token_id(token), now=revoked_at)


async def wait_until_serving(api: str, *, timeout: float = 60.0) -> None:
    """A node's API answers `/readyz` once its Postgres and Temporal answer too."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=api, timeout=5.0) as client:
        while True:
            try:
                ready = (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                ready = False  # not listening yet
            if ready:
                return
            if time.monotonic() > deadline:
                raise DemoStepFailed(f"the API at {api} is not ready after {timeout:.0f}s")
            await asyncio.sleep(POLL_S)
