"""Tables that keep what matters whole, filters that say no (issue 24 items 3 and 4).

Identifiers (case numbers, item codes, material names, status codes, event ids) are typed or
copied exactly: at 60, 80 and 200 columns each appears whole on one line. An enumerated option
given a value it does not know is one line on stderr, exit 2, naming what it accepts, before
anything is reached; times people read say their zone.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner, Result

from catalog.catalog import default_catalog
from operators.listing import CaseRow
from operators.render import render
from operators.stitch import stitch
from regions import cli
from regions.api_client import emit, emit_case_file
from regions.cli_errors import USAGE
from regions.cli_filters import literal_values, status_codes, status_help
from regions.labels import SIDES, StatusFilter, resolve_status, status_labels
from tests.unit.test_timeline_stitch import CASE, records
from workflows.lifecycle.vocabulary import DeliveryConfirmation, FormalReview

WIDTHS = (60, 80, 200)
# A token whose region names the node; no node answers there, so a refusal that came after a
# request would be exit 3, not 2.
TOKEN = "tb_350000_" + "A" * 43
NOWHERE = "http://127.0.0.1:9"
LONG_MATERIAL = "申请人所在单位出具的劳动关系及参保缴费情况证明材料（加盖公章）原件及复印件"
CASE_NOS = ("350000-20261130-ZZET7HWB", "440000-20261201-K3M9QX2A")


def _run(args: list[str], width: int = 80, **env: str) -> Result:
    return CliRunner().invoke(
        cli.app, args, env={"TONGBAN_TOKEN": TOKEN, "COLUMNS": str(width), **env}
    )


def _whole(text: str, identifier: str) -> bool:
    """The identifier appears, uncut, on one line."""
    return any(identifier in line for line in text.splitlines())


def _refused(result: Result, *named: str) -> str:
    assert result.exit_code == USAGE, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for value in named:
        assert value in lines[0], lines[0]
    return lines[0]


# --- Tables -------------------------------------------------------------------------------------


def test_a_plain_rich_table_does_cut_a_case_number_at_60_columns() -> None:
    """The check below can fail: a table left to rich's defaults cuts the identifier."""
    table = Table("案件编号", "事项", "状态", "说明")
    table.add_row(CASE_NOS[0], "GG-00102-000", "办理中 (processing)", LONG_MATERIAL)
    console = Console(width=60, record=True)
    console.print(table)
    assert not _whole(console.export_text(), CASE_NOS[0])


@pytest.mark.parametrize("width", WIDTHS)
def test_the_catalog_list_keeps_every_item_code_whole(width: int) -> None:
    result = _run(["catalog", "list"], width)
    assert result.exit_code == 0, result.output
    codes = {item.code for item in default_catalog().items(None)}
    assert codes
    assert [c for c in codes if not _whole(result.stdout, c)] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_an_items_materials_are_whole_as_the_window_must_type_them(width: int) -> None:
    national = default_catalog().national.values()
    item = max(national, key=lambda i: max((len(m.name) for m in i.materials), default=0))
    result = _run(["catalog", "show", item.code], width)
    assert result.exit_code == 0, result.output
    assert item.materials
    assert [m.name for m in item.materials if not _whole(result.stdout, m.name)] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_a_joint_items_route_lists_each_leg_on_one_line(width: int) -> None:
    item = default_catalog().national["QR-00101-001"]
    assert item.route is not None
    result = _run(["catalog", "show", item.code], width)
    assert result.exit_code == 0, result.output
    for n, leg in enumerate(item.route.legs, 1):
        assert _whole(result.stdout, f"{n}. {leg.step}: {leg.label} @ {leg.place}")


@pytest.mark.parametrize("width", WIDTHS)
def test_case_statuses_keep_every_code_whole(width: int) -> None:
    result = _run(["case", "statuses"], width)
    assert result.exit_code == 0, result.output
    assert [c for c in status_codes() if not _whole(result.stdout, c)] == []


def _listing() -> dict[str, Any]:
    items = [
        {
            "case_no": case_no,
            "side": "origin",
            "side_label_zh": "收件地",
            "item_code": "XK-00501-000",
            "status": "supplement-before-acceptance",
            "status_label_zh": "待补正（受理前）",
            "updated_at": "2026-11-30T09:05:00+00:00",
        }
        for case_no in CASE_NOS
    ]
    return {"items": items, "total": len(items)}


@pytest.mark.parametrize("width", WIDTHS)
def test_the_window_list_keeps_case_numbers_and_item_codes_whole(
    width: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    emit(_listing(), as_json=False)
    shown = capsys.readouterr().out
    assert all(_whole(shown, no) for no in CASE_NOS)
    assert _whole(shown, "XK-00501-000")
    if width == 200:  # other columns wrap on narrower terminals
        assert "更新（北京时间）" in shown
        assert _whole(shown, "2026-11-30 17:05")  # 09:05 UTC, shown in Beijing time


def _case_file() -> dict[str, Any]:
    names = (LONG_MATERIAL, "居民身份证")
    return {
        "case_no": CASE_NOS[0],
        "status": "processing",
        "side": "processing",
        "item_code": "GG-00102-000",
        "item_version": 1,
        "origin_region": "350000",
        "processing_region": "440000",
        "applicant": None,
        "applicant_unavailable": "sealed for another region",
        "materials": [
            {
                "name": name,
                "sha256": hashlib.sha256(name.encode()).hexdigest(),
                "size": 2048,
                "media_type": "application/pdf",
                "complete": True,
                "has_file": True,
                "originals_checked": None,
            }
            for name in names
        ],
        "supplements": [],
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_the_case_file_keeps_material_names_whole_and_gives_digests_with_wide(
    width: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    payload = _case_file()
    digests = [m["sha256"] for m in payload["materials"]]
    emit_case_file(payload, as_json=False)
    narrow = capsys.readouterr().out
    assert _whole(narrow, LONG_MATERIAL)
    assert not any(d[:16] in narrow for d in digests)  # no cut digest: whole, or not at all
    emit_case_file(payload, as_json=False, wide=True)
    wide = capsys.readouterr().out
    assert _whole(wide, LONG_MATERIAL)
    assert all(_whole(wide, d) for d in digests)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_timeline_keeps_event_ids_whole_with_wide(width: int) -> None:
    timeline = stitch(CASE, *records())
    event_ids = {e.event_id for e in timeline.entries if e.event_id}
    assert event_ids
    console = Console(width=width, record=True)
    render(timeline, console, wide=True)
    text = console.export_text()
    assert [e for e in event_ids if not _whole(text, e)] == []
    assert _whole(text, CASE)
    console = Console(width=width, record=True)
    render(timeline, console)
    assert not any(e[:8] in console.export_text() for e in event_ids)  # whole or not shown


class _Endpoints:
    regions = ("350000",)

    def for_region(self, code: str) -> str:
        return code


@pytest.mark.parametrize("width", WIDTHS)
def test_case_list_keeps_case_numbers_and_items_whole(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import operators.case_cli
    import operators.listing

    deadline = datetime(2026, 12, 1, 15, 59, tzinfo=UTC)
    rows = [
        CaseRow(
            case_no=no,
            region="350000",
            workflow_id=f"intake-{no}",
            status="supplement-before-acceptance",
            item_code="XK-00501-000",
            origin_region="350000",
            processing_region="440000",
            deadline=deadline,
            overdue=True,
            started_at=deadline,
            running=True,
            last_change=deadline,
        )
        for no in CASE_NOS
    ]

    async def found(*_args: object, **_kwargs: object) -> list[CaseRow]:
        return rows

    monkeypatch.setattr(operators.listing, "list_cases", found)
    monkeypatch.setattr(operators.case_cli, "_endpoints", lambda _path: _Endpoints())
    result = _run(["case", "list"], width)
    assert result.exit_code == 0, result.output
    assert all(_whole(result.stdout, no) for no in CASE_NOS)
    assert _whole(result.stdout, "XK-00501-000")
    assert "times in 北京时间 (UTC+08:00)" in result.stdout
    if width == 200:  # other columns wrap on narrower terminals
        assert "deadline (北京时间)" in result.stdout
        assert _whole(result.stdout, "2026-12-01 23:59")  # 15:59 UTC in Beijing
    listed = json.loads(_run(["case", "list", "--json"], width).stdout)
    assert listed[0]["deadline"] == "2026-12-01T15:59:00Z"  # scripts: ISO 8601, UTC


# --- Filters ------------------------------------------------------------------------------------


def test_window_list_refuses_an_unknown_status_naming_the_statuses() -> None:
    line = _refused(_run(["window", "list", "--status", "bogus", "--api", NOWHERE]), "bogus")
    assert all(code in line for code in status_codes())


def test_window_list_takes_a_status_by_its_chinese_name_before_asking_the_node() -> None:
    """Accepted (so the request is made, and the node is unreachable: 3, not 2)."""
    name = status_labels("origin")["processing"]
    result = _run(["window", "list", "--status", name, "--api", NOWHERE])
    assert result.exit_code == 3, result.output


def test_case_list_refuses_an_unknown_status_in_one_line() -> None:
    _refused(_run(["case", "list", "--status", "done"]), "unknown status 'done'", "closed")


def test_delivery_refuses_an_unknown_channel_naming_the_channels() -> None:
    channels = literal_values(DeliveryConfirmation, "channel")
    args = ["window", "deliver", CASE_NOS[0], "--channel", "pigeon", "--api", NOWHERE]
    _refused(_run(args), "pigeon", *channels)


def test_formal_review_refuses_an_unknown_outcome_naming_the_outcomes() -> None:
    outcomes = literal_values(FormalReview, "outcome")
    args = ["window", "review", CASE_NOS[0], "--outcome", "ok", "--api", NOWHERE]
    _refused(_run(args), "'ok'", *outcomes)


@pytest.mark.parametrize("option", ["--origin", "--processing", "--region"])
def test_case_list_refuses_a_region_code_that_is_no_region(option: str) -> None:
    _refused(_run(["case", "list", option, "999999"]), "999999", "tongban regions list")


@pytest.mark.parametrize(
    "command",
    [
        ["quarantine", "list"],
        ["outbox", "parked"],
        ["effects", "list"],
        ["health"],
        ["audit", "verify"],
    ],
)
def test_operator_commands_refuse_a_region_code_that_is_no_region(command: list[str]) -> None:
    _refused(_run([*command, "--region", "123456"]), "123456")


def test_case_list_refuses_a_region_it_has_no_endpoints_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import operators.case_cli

    monkeypatch.setattr(operators.case_cli, "_endpoints", lambda _path: _Endpoints())
    _refused(_run(["case", "list", "--region", "310000"]), "310000", "one of: 350000")


def test_case_list_refuses_a_time_it_cannot_read_in_one_line() -> None:
    _refused(_run(["case", "list", "--since", "yesterday"]), "not a time", "ISO 8601")


def test_a_token_is_refused_an_unknown_role_naming_the_roles(tmp_path: Path) -> None:
    args = ["tokens", "issue", "--region", "350000", "--role", "clerk", "--window", "fz-01"]
    _refused(_run([*args, "--directory", str(tmp_path)]), "window-clerk", "operator")


def test_help_lists_the_statuses_and_says_the_zone_of_times() -> None:
    for command in (["window", "list"], ["office", "list"], ["case", "list"]):
        shown = _run([*command, "--help"], 400).stdout
        assert [c for c in status_codes() if c not in shown] == [], command
    case_list = _run(["case", "list", "--help"], 400).stdout
    assert "Beijing time (北京时间) unless the time names its zone" in case_list
    deliver = _run(["window", "deliver", "--help"], 400).stdout
    assert "One of: window, mail, online" in deliver


def test_status_codes_are_the_lifecycles_own() -> None:
    assert set(status_codes()) == {c for side in SIDES for c in status_labels(side)}


@pytest.mark.parametrize(
    ("name", "code"),
    [("撤回办结", "closed-withdrawn"), ("视为撤回办结", "closed-deemed-withdrawn")],
)
def test_a_withdrawal_has_its_own_ending_on_both_sides_and_in_the_filters(
    name: str, code: str
) -> None:
    """Issue 24 item 5: neither ending is a refusal's (退件办结) or a denial's; each is a status
    of both sides, and a filter takes it by code or by its Chinese name."""
    assert resolve_status(name) == StatusFilter(code, SIDES)
    assert resolve_status(code) == StatusFilter(code, SIDES)
    for side in SIDES:
        assert status_labels(side)[code] == name
    assert code in status_help("status")


# --- Times people read say their zone -----------------------------------------------------------


def test_tokens_list_shows_expiry_in_beijing_time_and_json_with_its_offset(
    tmp_path: Path,
) -> None:
    issued = _run(
        [
            *("tokens", "issue", "--region", "350000", "--role", "operator"),
            *("--window", "ops-01", "--directory", str(tmp_path)),
        ]
    )
    assert issued.exit_code == 0, issued.output
    listed = _run(["tokens", "list", "--directory", str(tmp_path)], 200)
    assert "(北京时间)" in listed.stdout
    records = json.loads(_run(["tokens", "list", "--json", "--directory", str(tmp_path)]).stdout)
    expires = datetime.fromisoformat(records[0]["expires_at"])
    assert expires.utcoffset() is not None
