"""`tongban settlement report`: the day's figures in 元 and the reconciliation of two ledgers,
from entries (the ledgers themselves: tests/integration/test_settlement.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
import typer

from events.stores.settlement import SettlementEntry
from operators.settlement_cli import DayReport, parse_pair, reconcile, yuan

A, B = "350000", "440000"
DAY = date(2026, 11, 30)


def _entry(case: str, kind: str, fen: int, minute: int) -> SettlementEntry:
    return SettlementEntry(
        origin_region=A,
        processing_region=B,
        case_no=f"{A}-20261130-{case}",
        kind="collected" if kind == "collected" else "refunded",
        amount_fen=fen,
        event_id=f"{case}-{kind}",
        event_type="cn.tongban.case.forwarded"
        if kind == "collected"
        else "cn.tongban.case.not-accepted",
        event_time=datetime(2026, 11, 30, 2, minute, tzinfo=UTC),
        business_day=DAY,
    )


LEDGER = [
    _entry("00000001", "collected", 2500, 1),
    _entry("00000002", "collected", 500, 2),
    _entry("00000002", "refunded", -500, 3),
    _entry("00000003", "collected", 1, 4),
]


def test_yuan_has_two_decimals_and_a_sign() -> None:
    assert [yuan(f) for f in (0, 1, -5, 2500, -250000, 100000001)] == [
        "0.00",
        "0.01",
        "-0.05",
        "25.00",
        "-2500.00",
        "1000000.01",
    ]


def test_the_day_after_refunds() -> None:
    found = DayReport(A, B, DAY, A, tuple(LEDGER))
    assert (found.collected_fen, found.refunded_fen, found.net_fen) == (3001, -500, 2501)
    text = "\n".join(found.lines())
    assert "代收合计（元）  30.01" in text
    assert "退费合计（元）  -5.00" in text
    assert "应结净额（元）  25.01" in text
    assert "350000 福建省 应付 440000 广东省" in text
    assert "2026-11-30 10:03:00" in text  # Beijing time
    refund_line = next(line for line in found.lines() if "退费 " in line)
    assert refund_line.startswith(f"{A}-20261130-00000002")
    assert "-5.00" in refund_line
    assert "不予受理" in refund_line
    lines = found.as_json()["lines"]
    assert [(r["kind_label_zh"], r["amount_yuan"]) for r in lines][:3] == [
        ("代收", "25.00"),
        ("代收", "5.00"),
        ("退费", "-5.00"),
    ]


def test_agreeing_ledgers_name_no_case() -> None:
    assert reconcile(A, B, LEDGER, list(LEDGER)) == []


def test_every_case_that_differs_is_named_with_what_differs() -> None:
    theirs = [
        LEDGER[0],
        LEDGER[1],  # 00000002's refund missing at B
        replace(LEDGER[3], amount_fen=100),  # 00000003: another amount
        _entry("00000004", "collected", 700, 5),  # only at B
    ]
    found = {d.case_no[-8:]: d.problems for d in reconcile(A, B, LEDGER, theirs)}
    assert sorted(found) == ["00000002", "00000003", "00000004"]
    assert found["00000002"] == ("退费 -5.00 元仅见于 350000 的账本，440000 的账本没有",)
    assert found["00000003"] == ("代收金额不一致：350000 0.01 元，440000 1.00 元",)
    assert found["00000004"] == ("代收 7.00 元仅见于 440000 的账本，350000 的账本没有",)


def test_a_pair_is_two_different_region_codes() -> None:
    assert parse_pair("350000:440000") == (A, B)
    for wrong in ("350000", "350000:350000", "35:44", "350000-440000", "abcdef:440000"):
        with pytest.raises(typer.BadParameter):
            parse_pair(wrong)
