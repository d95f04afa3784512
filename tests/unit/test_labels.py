"""Every status people read has its Chinese name, from the lifecycle model: the label lookup,
the API's `*_label_zh` fields, the `--status` filter, and the clerk's and officer's CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from catalog.catalog import default_catalog
from events.credentials import RegionCredentials
from regions import labels
from regions.api import case_routes, cases
from regions.api.app import create_app
from regions.api.file_routes import supplement_history
from regions.api.models import CasePage, CaseSummary
from regions.api.services import ApiServices
from regions.api_client import emit
from regions.tokens import Role, TokenStore
from workflows.lifecycle import intake, processing
from workflows.models import Actor, CaseProgress, CaseStep

A, B = "350000", "440000"
CASE = "350000-20261201-ZZET7HWB"
AT = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 2026-12-01 07:30 in Beijing
CJK = re.compile(r"[\u4e00-\u9fff]")
OFFICER = Actor(kind="person", person_id="GD2002", name="陈明", region=B, window="gz-office")


# --- The lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize("side", labels.SIDES)
def test_every_status_and_phase_of_each_side_has_a_chinese_name(side: labels.Side) -> None:
    model = intake if side == "origin" else processing
    assert labels.unlabelled(side) == set(), f"{side}: statuses without a Chinese name"
    for code in [s.value for s in model.Status] + [p.value for p in model.Phase]:
        name = labels.status_label(code, side)
        assert CJK.search(name), f"{side} {code}: {name!r} is not a Chinese name"


def test_every_step_a_table_row_records_has_a_chinese_name() -> None:
    for side, model in (("origin", intake), ("processing", processing)):
        for row in model.TABLE.rows:
            for step in row.steps:
                assert CJK.search(labels.status_label(step, side)), (side, step)  # type: ignore[arg-type]


def test_the_names_are_the_models_own() -> None:
    assert labels.status_label("received", "origin") == intake.LABELS[intake.Status.RECEIVED]
    assert (
        labels.status_label("received", "processing")
        == (processing.LABELS[processing.Status.RECEIVED])
    )
    assert labels.status_label("received", "origin") != labels.status_label(
        "received", "processing"
    )


def test_every_outcome_reads_as_a_status_of_the_same_code() -> None:
    missing = {code for code in labels.outcome_codes() if labels.outcome_label(code) is None}
    # A's own terminal status for a withdrawal (撤回) is being added to the lifecycle model
    # (issue 24, item 5); then it is named like every other outcome and this allowance goes.
    assert missing <= {"withdrawn"}
    assert labels.outcome_label("approved") == processing.LABELS[processing.Status.APPROVED]
    assert labels.outcome_label("refused-at-intake") == "不予收件"


def test_an_unknown_code_is_shown_as_it_is() -> None:
    assert labels.status_label("no-such-status", "origin") == "no-such-status"
    assert labels.shown("processing", "processing") == "办理中 (processing)"


def test_a_status_filter_takes_the_code_or_the_chinese_name() -> None:
    assert labels.resolve_status("processing") == labels.StatusFilter(
        "processing", ("origin", "processing")
    )
    assert labels.resolve_status("办理中").code == "processing"
    assert labels.resolve_status("不予许可") == labels.StatusFilter("denied", ("processing",))
    assert labels.resolve_status("收件") == labels.StatusFilter("received", ("origin",))


def test_an_unknown_status_filter_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(labels.UnknownStatus) as refused:
        labels.resolve_status("bogus")
    message = str(refused.value)
    assert "bogus" in message
    for code, name in labels.status_labels("processing").items():
        assert code in message
        assert name in message
    assert "processing (办理中)" in labels.choices()


# --- The API --------------------------------------------------------------------------------


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path)


@pytest.fixture
def api(
    tokens: TokenStore, guangdong: RegionCredentials, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    summary = CaseSummary(
        case_no=CASE,
        side="processing",
        item_code="GG-00102-000",
        item_version=1,
        origin_region=A,
        processing_region=B,
        status="supplement-requested",
        created_at=AT,
        updated_at=AT,
    )
    progress = CaseProgress(
        case_no=CASE,
        region=B,
        status="supplement-requested",
        closed=False,
        deadline=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        steps=(
            CaseStep(at=AT, region=B, status="received", detail="from 350000"),
            CaseStep(at=AT, region=B, status="supplement-requested", actor=OFFICER),
        ),
    )

    async def case_summary(pool: Any, case_no: str) -> CaseSummary:
        return summary

    async def read_progress(client: Any, case_no: str, side: str) -> CaseProgress:
        return progress

    async def masked(pool: Any, credentials: Any, case_no: str) -> str:
        return "林*"

    async def page(pool: Any, status: str | None, limit: int, offset: int) -> CasePage:
        asked.append(status)
        return CasePage(items=(summary,), total=1, limit=limit, offset=offset)

    asked: list[str | None] = []
    monkeypatch.setattr(cases, "case_summary", case_summary)
    monkeypatch.setattr(cases, "progress", read_progress)
    monkeypatch.setattr(cases, "masked_applicant", masked)
    monkeypatch.setattr(case_routes, "list_cases", page)
    none = cast(Any, None)
    app = create_app(
        ApiServices(
            region=B,
            pool=none,
            client=none,
            credentials=guangdong,
            catalog=default_catalog(),
            policies=none,
            tokens=tokens,
        )
    )
    app.state.asked_statuses = asked
    with TestClient(app) as client:
        yield client


def _auth(tokens: TokenStore) -> dict[str, str]:
    token, _ = tokens.issue(
        region=B,
        role=Role.PROCESSING_OFFICER,
        window="gz-office",
        valid_for=timedelta(days=1),
        now=datetime.now(UTC),
        person_id="GD2002",
        person_name="陈明",
    )
    return {"Authorization": f"Bearer {token}"}


def test_the_case_view_names_each_status_on_its_side_and_shows_beijing_time(
    api: TestClient, tokens: TokenStore
) -> None:
    answer = api.get(f"/cases/{CASE}", headers=_auth(tokens))
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["summary"]["status"] == "supplement-requested"
    assert view["summary"]["status_label_zh"] == "待补正（计时暂停）"  # B's name, not A's
    assert view["summary"]["side_label_zh"] == "办理地"
    steps = [(s["status"], s["status_label_zh"]) for s in view["steps"]]
    assert steps == [
        ("received", "已接收（待受理）"),
        ("supplement-requested", "待补正（计时暂停）"),
    ]
    # On the wire: UTC; for people: Beijing time, zone named.
    assert view["deadline"] == "2026-12-01T09:30:00Z"
    assert view["deadline_label_zh"] == "2026-12-01 17:30 (北京时间)"
    assert view["steps"][0]["at"] == "2026-11-30T23:30:00Z"
    assert view["steps"][0]["at_label_zh"] == "2026-12-01 07:30:00 (北京时间)"


def test_the_case_list_takes_a_chinese_status_and_refuses_an_unknown_one(
    api: TestClient, tokens: TokenStore
) -> None:
    headers = _auth(tokens)
    listed = api.get("/cases", params={"status": "办理中"}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"][0]["status_label_zh"] == "待补正（计时暂停）"
    refused = api.get("/cases", params={"status": "bogus"}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["rule"] == "unknown_status"
    assert "processing (办理中)" in refused.json()["detail"]
    assert cast(Any, api.app).state.asked_statuses == ["processing"]  # never asked for "bogus"


def test_the_supplement_history_names_its_lines() -> None:
    steps = (
        CaseStep(at=AT, region=B, status="supplement-requested", actor=OFFICER),
        CaseStep(at=AT, region=B, status="processing", detail="补正 received; clock resumes"),
    )
    history = [e.model_dump() for e in supplement_history(steps, "processing")]
    assert [(e["kind_label_zh"], e["status_label_zh"]) for e in history] == [
        ("告知补正", "待补正（计时暂停）"),
        ("补正材料", "办理中"),
    ]


def test_a_supplement_asked_before_acceptance_is_in_the_history_on_both_sides() -> None:
    asked = CaseStep(at=AT, region=B, status="supplement-before-acceptance", actor=OFFICER)
    for side in ("origin", "processing"):
        history = [e.model_dump() for e in supplement_history((asked,), side)]
        assert [(e["kind_label_zh"], e["status_label_zh"]) for e in history] == [
            ("告知补正", "待补正（受理前）")
        ]


# --- The CLI --------------------------------------------------------------------------------


def test_the_clerks_cli_shows_chinese_names_and_beijing_times(
    api: TestClient,
    tokens: TokenStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    view = api.get(f"/cases/{CASE}", headers=_auth(tokens)).json()
    emit(view, as_json=False)
    shown = capsys.readouterr().out
    assert "待补正（计时暂停） (supplement-requested)" in shown
    assert "已接收（待受理） (received)" in shown
    assert "办理时限 2026-12-01 17:30 (北京时间)" in shown
    assert "时间（北京时间）" in shown
    assert "2026-12-01 07:30:00" in shown  # the step at 23:30 UTC, on Beijing's next day
    assert "23:30" not in shown

    emit(api.get("/cases", headers=_auth(tokens)).json(), as_json=False)
    listed = capsys.readouterr().out
    assert "待补正（计时暂停）" in listed
    assert "办理地" in listed
    assert "2026-12-01 07:30" in listed

    emit({"case_no": CASE, "status": "processing", "status_label_zh": "办理中"}, as_json=False)
    assert f"{CASE} 办理中 (processing)" in capsys.readouterr().out
