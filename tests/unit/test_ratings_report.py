"""`tongban ratings report`'s counting (decision 0039): by level, item, window and side; 差评
on time, late, open and overdue; a rating set aside on appeal counted apart."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from events.stores.ratings import RatingRow
from operators.ratings_report import RatingsReport, daily_export
from regions.cli import app

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
BASE = RatingRow(
    rating_id="00000000-0000-5000-8000-000000000000",
    case_no="350000-20261101-AAAAAAAA",
    step="concluded",
    level=5,
    reasons=(),
    comment_sealed=None,
    channel="online",
    window_name="网上办事",
    item_code="GG-00102-000",
    origin_region="350000",
    processing_region="440000",
    responsible_region="440000",
    side="B",
    rated_at=NOW - timedelta(days=3),
)


def _rows() -> list[RatingRow]:
    due = NOW - timedelta(days=1)
    return [
        BASE,
        replace(BASE, level=4, item_code="GG-00105-000", side="A", window_name="fz-01"),
        replace(BASE, level=1, answered_at=due, answered_on_time=True, rectify_due=due),
        replace(BASE, level=2, answered_at=NOW, answered_on_time=False, escalations=("rectify",)),
        replace(BASE, level=2, rectify_due=due),  # open and overdue
        replace(BASE, level=1, rectify_due=NOW + timedelta(days=5)),  # open, not yet due
        replace(BASE, level=1, set_aside_at=NOW),  # 申诉复核: counted apart
    ]


def test_counts_by_level_item_window_and_side_leave_out_what_was_set_aside() -> None:
    found = RatingsReport.of("440000", date(2026, 11, 1), date(2026, 11, 30), _rows(), NOW)
    assert (found.total, found.set_aside) == (6, 1)
    assert found.by_level == {"非常满意": 1, "满意": 1, "基本满意": 0, "不满意": 2, "非常不满意": 2}
    assert found.by_item["GG-00105-000"] == {
        "非常满意": 0,
        "满意": 1,
        "基本满意": 0,
        "不满意": 0,
        "非常不满意": 0,
    }
    assert sum(found.by_window["网上办事"].values()) == 5
    assert {k: sum(v.values()) for k, v in found.by_side.items()} == {"收件地": 1, "办理地": 5}


def test_bad_ratings_handled_on_time_late_open_and_overdue() -> None:
    bad = RatingsReport.of("440000", date(2026, 11, 1), date(2026, 11, 30), _rows(), NOW).bad
    assert (bad.total, bad.on_time, bad.late, bad.open, bad.overdue, bad.escalated) == (
        4,
        1,
        1,
        2,
        1,
        1,
    )
    assert bad.on_time_rate == 0.5


def test_json_and_lines_name_levels_in_chinese() -> None:
    found = RatingsReport.of("440000", date(2026, 11, 1), date(2026, 11, 30), _rows(), NOW)
    body = json.loads(json.dumps(found.as_json(), ensure_ascii=False))
    assert body["levels"] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert body["bad"]["answered_on_time"] == 1
    shown = "\n".join(found.lines())
    assert "按承担方（谁办理谁负责）" in shown
    assert "差评 4 件：按时整改答复 1，超时答复 1，办理中 2（已超期 1）" in shown
    assert "按时率 50.0%" in shown


def test_the_command_refuses_a_period_that_ends_before_it_starts() -> None:
    got = CliRunner().invoke(
        app,
        ["ratings", "report", "--region", "440000", "--from", "2026-11-30", "--to", "2026-11-01"],
    )
    assert got.exit_code == 2
    assert "--to" in got.output


def test_the_daily_export_lists_each_rating_in_its_documented_shape_without_free_text() -> None:
    box = {"recipient": "440000", "key_id": "k", "ephemeral_public": "e", "nonce": "n"}
    rows = [
        replace(
            BASE,
            level=1,
            reasons=("efficiency",),
            comment_sealed={**box, "ciphertext": "SECRET"},
            answer_sealed={**box, "ciphertext": "ANSWER"},
            answered_at=NOW,
            answered_on_time=True,
            escalations=("revisit",),
        ),
        replace(BASE, level=4, step="received", side="A", channel="window", window_name="fz-01"),
    ]
    exported = daily_export("440000", date(2026, 11, 27), rows, NOW)
    text = json.dumps(exported, ensure_ascii=False)
    assert "SECRET" not in text
    assert "ANSWER" not in text
    assert (exported["format"], exported["count"]) == ("tongban.ratings.daily/1", 2)
    assert exported["generated_at"] == "2026-11-30T08:00:00Z"
    bad, good = exported["ratings"]
    assert (bad["level"], bad["level_label"], bad["bad"]) == (1, "非常不满意", True)
    assert bad["reasons"] == [{"code": "efficiency", "label": "办事效率"}]
    assert bad["follow_up"]["escalations"] == ["revisit"]
    assert bad["follow_up"]["answered_on_time"] is True
    assert (good["step_label"], good["channel_label"], good["follow_up"]) == (
        "收件",
        "窗口（一次一评）",
        None,
    )
    # Every field of an entry is in the format's document.
    documented = (Path(__file__).parents[2] / "docs" / "ratings-export.md").read_text(
        encoding="utf-8"
    )
    for field in bad:
        assert f"`{field}`" in documented, field


def test_invitations_are_counted_by_what_became_of_their_order() -> None:
    found = RatingsReport.of(
        "350000",
        date(2026, 11, 1),
        date(2026, 11, 30),
        [],
        NOW,
        {"done": 4, "pending": 1, "dead": 1},
    )
    assert found.as_json()["invitations"] == {
        "ordered": 6,
        "by_state": {"done": 4, "pending": 1, "dead": 1},
    }
    assert found.lines()[-1] == "邀评 6 件：已发送 4，未能发送 1，待发送 1"
    # A period without any says nothing of them (the month's bench reads none).
    assert not any(
        "邀评" in line
        for line in RatingsReport.of(
            "350000", date(2026, 11, 1), date(2026, 11, 30), [], NOW
        ).lines()
    )
