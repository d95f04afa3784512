"""The operators' views as people read them: statuses by their Chinese names (each lane's own),
times in Beijing time and saying so, and case-list filters that refuse what they do not know."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rich.console import Console
from typer.testing import CliRunner

from operators.case_cli import app
from operators.html import swimlane_html
from operators.listing import CaseFilter, CaseRow
from operators.model import CaseTimeline
from operators.render import render
from operators.stitch import stitch
from regions.cli import app as tongban
from tests.unit.test_timeline_stitch import CASE, records
from workflows.lifecycle.route import LegStatus, RouteLegView


def _timeline() -> CaseTimeline:
    a, b = records()
    deadline = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert b.progress is not None
    b = b.model_copy(update={"progress": b.progress.model_copy(update={"deadline": deadline})})
    return stitch(CASE, a, b)


def test_the_timeline_names_statuses_per_lane_in_beijing_time() -> None:
    timeline = stitch(CASE, *records())
    console = Console(width=200, record=True)
    render(timeline, console)
    text = console.export_text()
    assert "A: 退件办结 (closed-rejected)" in text
    assert "B: 办结 (closed)" in text
    assert "收件 (received)" in text  # A's received
    assert "已接收（待受理） (received)" in text  # B's received
    assert "不予许可 (denied)" in text
    # The first step was at 09:00 UTC: 17:00 in Beijing, and the header says which zone.
    assert "time (北京时间 2026-11-27)" in text
    assert "17:00:00.000" in text
    assert "09:00:00.000" not in text
    assert "UTC)" not in text


def test_the_deadline_is_shown_in_beijing_time() -> None:
    timeline = _timeline()
    console = Console(width=200, record=True)
    render(timeline, console)
    assert "办理时限 2026-12-01 17:30 (北京时间)" in console.export_text()
    page = swimlane_html(timeline)
    assert "办理时限 2026-12-01 17:30 (北京时间)" in page


def test_the_swimlane_page_names_statuses_and_says_its_zone() -> None:
    page = swimlane_html(stitch(CASE, *records()))
    assert "退件办结 (closed-rejected)" in page
    assert "已接收（待受理） (received)" in page
    assert "<th>time (北京时间)</th>" in page
    assert "2026-11-27 17:00:00" in page
    assert " UTC " not in page


def test_a_status_name_filters_the_side_that_has_it() -> None:
    both = CaseFilter(status="processing").query()
    assert "CaseStatus = 'processing'" in both
    assert "WorkflowType" not in both
    only_b = CaseFilter(status="denied", sides=("processing",)).query()
    assert "WorkflowType IN ('ProcessingWorkflow')" in only_b


def test_since_is_read_as_beijing_time_and_queried_in_utc() -> None:
    from regions.beijing_time import parse_person_time

    since = parse_person_time("2026-12-01 08:00")
    assert "StartTime >= '2026-12-01T00:00:00+00:00'" in CaseFilter(since=since).query()


def test_a_case_row_names_its_status_on_its_side() -> None:
    row = CaseRow(
        case_no=CASE,
        region="440000",
        workflow_id=f"processing-{CASE}",
        status="received",
        item_code=None,
        origin_region="350000",
        processing_region="440000",
        deadline=None,
        overdue=False,
        started_at=None,
        running=True,
        last_change=None,
    )
    dumped = json.loads(row.model_dump_json())
    assert (dumped["side"], dumped["status_label_zh"]) == ("processing", "已接收（待受理）")


def test_case_list_refuses_an_unknown_status_with_the_valid_ones() -> None:
    # Through `tongban` itself: the refusal is one line (the sub-app alone boxes it).
    result = CliRunner().invoke(tongban, ["case", "list", "--status", "bogus"])
    assert result.exit_code == 2
    assert "unknown status 'bogus'" in result.stderr
    assert "processing (办理中)" in result.stderr


def test_case_list_refuses_a_time_it_cannot_read() -> None:
    result = CliRunner().invoke(app, ["list", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "not a time" in result.output


def test_case_list_help_says_how_times_are_read() -> None:
    shown = CliRunner().invoke(app, ["list", "--help"], env={"COLUMNS": "300"}).output
    assert "Beijing time (北京时间) unless the time names its zone" in shown


def test_case_statuses_lists_every_status_with_both_names() -> None:
    result = CliRunner().invoke(app, ["statuses", "--json"])
    assert result.exit_code == 0
    rows = {r["code"]: r for r in json.loads(result.output)}
    assert rows["received"] == {
        "code": "received",
        "origin": "收件",
        "processing": "已接收（待受理）",
    }
    assert rows["denied"]["origin"] is None


def test_a_route_case_lists_its_legs_in_case_show_and_the_swimlane() -> None:
    a, b = records()
    assert a.progress is not None
    legs = (
        RouteLegView(
            index=1,
            step="admit",
            label="审核并签发准予迁入证明",
            place="迁入地",
            region="110000",
            case_no=f"{CASE}-1",
            status=LegStatus.REVOKED,
        ),
        RouteLegView(
            index=2,
            step="move-out",
            label="办理迁出",
            place="迁出地",
            region="440000",
            case_no=f"{CASE}-2",
            status=LegStatus.REFUSED,
        ),
    )
    a = a.model_copy(update={"progress": a.progress.model_copy(update={"route": legs})})
    timeline = stitch(CASE, a, b)
    console = Console(width=80, record=True)
    render(timeline, console)
    text = console.export_text()
    assert f"联办路线 第1段 审核并签发准予迁入证明 · 迁入地 110000 · {CASE}-1 · 已撤销" in text
    assert f"联办路线 第2段 办理迁出 · 迁出地 440000 · {CASE}-2 · 不予办理" in text
    assert f"<li>第2段 办理迁出 · 迁出地 440000 · {CASE}-2 · 不予办理</li>" in swimlane_html(
        timeline
    )
