"""Cases that need a person: past their deadline, or stuck (open, but not moving).

Overdue cases are found as `tongban case list --overdue` finds them, through the search
attributes of the region's workflows (operators/listing.py), and also when the deadline has
passed before the workflow marked the case. Stuck cases are read from the region's database:
a status unchanged for long, a recall or withdrawal the other region has not answered, an
event to the other region with no receipt, an event from it the case workflow did not take.
Each case says why, in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field
from temporalio.client import Client

from events.models import EventType
from events.pg import Conn
from operators.exchange_labels import event_label
from operators.health import duration_zh
from operators.listing import CaseFilter, region_cases
from regions.beijing_time import show
from regions.labels import Side, status_label
from workflows.lifecycle import intake, processing

ReasonCode = Literal[
    "overdue",  # the workflow marked the case overdue
    "past-deadline",  # the deadline has passed, the mark is not set (yet)
    "unchanged",  # open, status unchanged for longer than `unchanged_after`
    "unanswered",  # a recall or withdrawal the processing region has not answered
    "unreceipted",  # an event sent to the other region with no receipt
    "gave-up",  # an event whose resends ran out with no receipt
    "undeliverable",  # an event received that the case workflow refused
]


@dataclass(frozen=True)
class StuckThresholds:
    # Steps wait on people (a 补正, a decision) for days; a week without any change is not
    # a wait any more.
    unchanged_after: timedelta = timedelta(days=7)
    # The processing region answers a recall or withdrawal itself, without a person.
    unanswered_after: timedelta = timedelta(hours=4)
    # A receipt normally comes within seconds; the resender keeps trying meanwhile.
    unreceipted_after: timedelta = timedelta(hours=1)


DEFAULT_STUCK = StuckThresholds()

# Statuses in which A waits for B's answer to its own request to end the case.
_AWAITING_ANSWER: dict[str, str] = {
    intake.Status.RECALL_REQUESTED.value: "已请求办理地撤销（收回）",
    intake.Status.WITHDRAWAL_REQUESTED.value: "申请人已撤回",
}
_CLOSED: dict[Side, frozenset[str]] = {
    "origin": frozenset(p.value for p in intake.TERMINAL),
    "processing": frozenset(p.value for p in processing.TERMINAL),
}


class AttentionReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    why_zh: str
    since: datetime | None = None  # when the situation began, where known


class AttentionCase(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_no: str
    region: str  # whose records say so
    side: Side
    status: str | None
    item_code: str | None
    origin_region: str | None
    processing_region: str | None
    deadline: datetime | None
    last_change: datetime | None
    reasons: tuple[AttentionReason, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label_zh(self) -> str:
        return status_label(self.status, self.side)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def why_zh(self) -> str:
        return "；".join(r.why_zh for r in self.reasons)


async def overdue_cases(
    client: Client, conn: Conn, region: str, now: datetime, *, limit: int = 200
) -> list[AttentionCase]:
    """The region's open cases past their deadline (`client` on the region's namespace,
    `conn` on its database), the longest overdue first."""
    rows = await region_cases(
        client, conn, region, CaseFilter(include_closed=False, past_deadline_at=now), limit
    )
    found = []
    for row in rows:
        late = "" if row.deadline is None else f"，已超期 {duration_zh(now - row.deadline)}"
        due = "" if row.deadline is None else f"（时限 {show(row.deadline)}）"
        reason = (
            AttentionReason(code="overdue", why_zh=f"已超过承诺时限{due}{late}", since=row.deadline)
            if row.overdue
            else AttentionReason(
                code="past-deadline",
                why_zh=f"承诺时限已过{due}{late}，流程尚未标记超期",
                since=row.deadline,
            )
        )
        found.append(
            AttentionCase(
                case_no=row.case_no,
                region=region,
                side=row.side,
                status=row.status,
                item_code=row.item_code,
                origin_region=row.origin_region,
                processing_region=row.processing_region,
                deadline=row.deadline,
                last_change=row.last_change,
                reasons=(reason,),
            )
        )
    found.sort(key=lambda c: (c.deadline is None, c.deadline or now, c.case_no))
    return found


# The region's open cases (the closed statuses of each side as $1 and $2).
_OPEN = (
    "NOT (c.role = 'origin' AND c.status = ANY($1::text[]))"
    " AND NOT (c.role = 'processing' AND c.status = ANY($2::text[]))"
)
_CASE_COLUMNS = (
    "c.case_no, c.role, c.status, c.item_code, c.origin_region, c.processing_region, c.updated_at"
)


async def stuck_cases(
    conn: Conn,
    region: str,
    now: datetime,
    *,
    thresholds: StuckThresholds = DEFAULT_STUCK,
    limit: int = 200,
) -> list[AttentionCase]:
    """The region's open cases that are not moving, from its database alone; a case stuck
    for several reasons is listed once with all of them. The longest unchanged first."""
    reasons: dict[str, list[AttentionReason]] = {}

    def add(case_no: str, reason: AttentionReason) -> None:
        reasons.setdefault(case_no, []).append(reason)

    closed = (list(_CLOSED["origin"]), list(_CLOSED["processing"]))
    quiet_since = now - min(thresholds.unchanged_after, thresholds.unanswered_after)
    cases = {
        r["case_no"]: r
        for r in await conn.fetch(
            f"SELECT {_CASE_COLUMNS} FROM cases c WHERE {_OPEN} AND c.updated_at <= $3",
            *closed,
            quiet_since,
        )
    }
    for case_no, row in cases.items():
        side: Side = row["role"]
        status, since = row["status"], row["updated_at"]
        quiet = now - since
        label = status_label(status, side)
        if status in _AWAITING_ANSWER and side == "origin" and quiet >= thresholds.unanswered_after:
            add(
                case_no,
                AttentionReason(
                    code="unanswered",
                    why_zh=f"{_AWAITING_ANSWER[status]}，办理地 {duration_zh(quiet)} 未答复",
                    since=since,
                ),
            )
        elif quiet >= thresholds.unchanged_after:
            add(
                case_no,
                AttentionReason(
                    code="unchanged",
                    why_zh=f"「{label}」状态已 {duration_zh(quiet)} 未变化",
                    since=since,
                ),
            )

    for row in await conn.fetch(
        f"SELECT {_CASE_COLUMNS}, o.event_type, o.recipient_region, o.created_at, o.attempts,"
        " o.failed_at FROM outbox o JOIN cases c USING (case_no)"
        f" WHERE {_OPEN} AND o.event_type <> $3"
        " AND o.receipted_at IS NULL AND o.parked_at IS NULL"
        " AND (o.failed_at IS NOT NULL OR o.created_at <= $4) ORDER BY o.created_at",
        *closed,
        EventType.RECEIPT.value,
        now - thresholds.unreceipted_after,
    ):
        cases.setdefault(row["case_no"], row)
        what = f"发往 {row['recipient_region']} 的「{event_label(row['event_type'])}」"
        if row["failed_at"] is not None:
            reason = AttentionReason(
                code="gave-up",
                why_zh=f"{what}重发 {row['attempts']} 次仍无回执，已放弃",
                since=row["failed_at"],
            )
        else:
            reason = AttentionReason(
                code="unreceipted",
                why_zh=f"{what}已 {duration_zh(now - row['created_at'])} 无回执",
                since=row["created_at"],
            )
        add(row["case_no"], reason)

    for row in await conn.fetch(
        f"SELECT {_CASE_COLUMNS}, i.event_type, i.sender_region, i.undeliverable_at"
        " FROM inbox i JOIN cases c USING (case_no)"
        f" WHERE {_OPEN} AND i.undeliverable_at IS NOT NULL ORDER BY i.undeliverable_at",
        *closed,
    ):
        cases.setdefault(row["case_no"], row)
        add(
            row["case_no"],
            AttentionReason(
                code="undeliverable",
                why_zh=f"收到 {row['sender_region']} 的「{event_label(row['event_type'])}」"
                "无法交给案件流程",
                since=row["undeliverable_at"],
            ),
        )

    found = [
        AttentionCase(
            case_no=case_no,
            region=region,
            side=cases[case_no]["role"],
            status=cases[case_no]["status"],
            item_code=cases[case_no]["item_code"],
            origin_region=cases[case_no]["origin_region"],
            processing_region=cases[case_no]["processing_region"],
            deadline=None,
            last_change=cases[case_no]["updated_at"],
            reasons=tuple(found_reasons),
        )
        for case_no, found_reasons in reasons.items()
    ]
    found.sort(key=lambda c: (c.last_change or now, c.case_no))
    return found[:limit]
