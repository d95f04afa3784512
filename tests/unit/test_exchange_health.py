"""The exchange health panel's levels, names and text (operators/health.py, exchange_labels.py,
health_cli.py); the figures themselves are read from a real database in
tests/integration/test_exchange_health.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from events.models import EventType
from events.rejections import RejectReason
from operators import health
from operators.exchange_labels import (
    EVENT_LABELS,
    REJECT_REASON_LABELS,
    event_label,
    reject_reason_label,
)
from operators.health import Level
from operators.health_cli import render

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_every_event_type_and_reject_reason_has_a_chinese_name() -> None:
    assert set(EVENT_LABELS) == set(EventType)
    assert set(REJECT_REASON_LABELS) == set(RejectReason)
    assert event_label("cn.tongban.case.forwarded") == "转办"
    assert reject_reason_label("bad-signature") == "签名无效"
    # A code from a newer release is shown as it is, never hidden.
    assert event_label("cn.tongban.case.future") == "cn.tongban.case.future"
    assert reject_reason_label("future-reason") == "future-reason"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, Level.OK), (99, Level.OK), (100, Level.NOTICE), (999, Level.NOTICE), (1000, Level.ALERT)],
)
def test_counts_reach_notice_and_alert_at_their_thresholds(value: int, expected: Level) -> None:
    got = health.level_at_least(value, health.OUTBOX_UNSENT_NOTICE, health.OUTBOX_UNSENT_ALERT)
    assert got is expected


def test_ages_against_thresholds_and_nothing_waiting_is_ok() -> None:
    notice, alert = health.OUTBOX_LAG_NOTICE, health.OUTBOX_LAG_ALERT
    assert health.age_level(None, notice, alert) is Level.OK
    assert health.age_level(notice - timedelta(seconds=1), notice, alert) is Level.OK
    assert health.age_level(notice, notice, alert) is Level.NOTICE
    assert health.age_level(alert - timedelta(seconds=1), notice, alert) is Level.NOTICE
    assert health.age_level(alert, notice, alert) is Level.ALERT


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (None, Level.ALERT),  # no valid_until: treated as expired (decision 0017)
        (timedelta(hours=-1), Level.ALERT),
        (health.DIRECTORY_LEFT_ALERT - timedelta(seconds=1), Level.ALERT),
        (health.DIRECTORY_LEFT_ALERT, Level.NOTICE),
        (health.DIRECTORY_LEFT_NOTICE - timedelta(seconds=1), Level.NOTICE),
        (health.DIRECTORY_LEFT_NOTICE, Level.OK),
    ],
)
def test_directory_time_left(left: timedelta | None, expected: Level) -> None:
    assert health.time_left_level(left) is expected


def test_given_up_events_alarm_while_recent_and_stay_a_note() -> None:
    assert health.failed_level(0, 0) is Level.OK
    assert health.failed_level(3, 0) is Level.NOTICE
    assert health.failed_level(3, 1) is Level.ALERT


def test_a_silent_peer_matters_only_while_this_region_waits_for_it() -> None:
    long_ago = health.PEER_SILENT_ALERT * 10
    assert health.silence_level(0, None) is Level.OK
    assert health.silence_level(0, long_ago) is Level.OK
    assert health.silence_level(2, None) is Level.ALERT  # never heard from, yet waited on
    assert health.silence_level(2, health.PEER_SILENT_NOTICE) is Level.NOTICE
    assert health.silence_level(2, health.PEER_SILENT_ALERT) is Level.ALERT
    assert health.silence_level(2, timedelta(seconds=5)) is Level.OK


def test_worst_level_and_chinese_names() -> None:
    assert health.worst([]) is Level.OK
    assert health.worst([Level.OK, Level.ALERT, Level.NOTICE]) is Level.ALERT
    assert [level.label_zh for level in Level] == ["正常", "注意", "告警"]


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(seconds=45), "45 秒"),
        (timedelta(minutes=12, seconds=30), "12 分钟"),
        (timedelta(hours=3), "3 小时"),
        (timedelta(hours=3, minutes=5), "3 小时 5 分钟"),
        (timedelta(days=2, hours=4, minutes=59), "2 天 4 小时"),
        (timedelta(hours=-5), "5 小时"),
    ],
)
def test_durations_read_in_chinese(span: timedelta, text: str) -> None:
    assert health.duration_zh(span) == text


def _figure(key: str, level: Level) -> health.Figure:
    return health.count_figure(key, f"名称{key}", 1, level)


def _panel(**changes: object) -> health.ExchangeHealth:
    ok = _figure("x", Level.OK)
    base = health.ExchangeHealth(
        region="350000",
        region_name="福建省",
        checked_at=NOW,
        outbox_unsent=ok,
        outbox_oldest_unsent=ok,
        outbox_parked=ok,
        peers=(),
        quarantined=ok,
        quarantined_by_reason=(),
        directory_version=7,
        directory_valid_until=NOW + timedelta(days=30),
        directory_time_left=ok,
        inbox_undeliverable=ok,
        inbox_waiting=ok,
    )
    return base.model_copy(update=changes)


def test_the_panel_is_as_bad_as_its_worst_figure_and_says_so() -> None:
    assert _panel().level is Level.OK
    noted = _panel(quarantined_by_reason=(_figure("quarantine.malformed", Level.NOTICE),))
    assert noted.level is Level.NOTICE
    peer = health.PeerHealth(
        region="440000",
        name="广东省",
        in_directory=True,
        unreceipted=_figure("a", Level.OK),
        oldest_unreceipted=_figure("b", Level.OK),
        failed=_figure("c", Level.ALERT),
        last_accepted=_figure("d", Level.OK),
        last_accepted_at=None,
    )
    alarmed = _panel(peers=(peer,))
    assert alarmed.level is Level.ALERT
    dumped = alarmed.model_dump(mode="json")
    assert dumped["level"] == "alert"
    assert dumped["level_zh"] == "告警"
    assert dumped["peers"][0]["level"] == "alert"
    lines = render(alarmed)
    assert lines[0].startswith("350000 福建省 交换健康状况：告警")
    assert "对端 440000 广东省  [告警]" in lines
    assert " ✖ 名称c：1 条  [告警]" in lines
    assert "信任目录  [正常]" in lines
    assert "   信任目录版本：第 7 版" in lines


@pytest.mark.parametrize("as_json", [False, True])
def test_the_command_prints_the_panel_and_exits_1_on_an_alarm(
    monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from operators import health_cli

    panels = {"350000": _panel(), "440000": _panel(outbox_parked=_figure("p", Level.ALERT))}

    async def read(region: str, now: datetime) -> health.ExchangeHealth:
        return panels[region]

    monkeypatch.setattr(health_cli, "read_health", read)
    root = typer.Typer()  # as regions/cli.py mounts it: `tongban health --region R`
    root.add_typer(health_cli.app, name="health")
    root.command("other")(lambda: None)
    extra = ["--json"] if as_json else []
    calm = CliRunner().invoke(root, ["health", "--region", "350000", *extra])
    alarmed = CliRunner().invoke(root, ["health", "--region", "440000", *extra])
    assert (calm.exit_code, alarmed.exit_code) == (0, 1)
    if as_json:
        assert json.loads(alarmed.output)["level_zh"] == "告警"
    else:
        assert "350000 福建省 交换健康状况：正常" in calm.output
        assert " ✖ 名称p：1 条  [告警]" in alarmed.output
