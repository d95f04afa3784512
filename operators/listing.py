"""`tongban case list`: cases found through the search attributes (Temporal visibility) of
each region's namespace, joined with that region's `cases` row (last change, for "stuck")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, computed_field
from temporalio.client import Client

from events.pg import Conn
from events.stores.postgres import PostgresCaseStore
from operators.endpoints import RegionEndpoint
from operators.load import connect
from regions.labels import Side, status_label
from workflows.search import (
    CASE_NO,
    CASE_STATUS,
    DEADLINE,
    ITEM_CODE,
    ORIGIN_REGION,
    OVERDUE,
    PROCESSING_REGION,
)

_SAFE = re.compile(r"^[\w.\-]+$")

# Each side's workflow type, to keep a status named for one side to that side's cases.
WORKFLOW_TYPES: dict[Side, str] = {"origin": "IntakeWorkflow", "processing": "ProcessingWorkflow"}


def side_of(workflow_id: str) -> Side:
    return "origin" if workflow_id.startswith("intake-") else "processing"


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    origin: str | None = None
    processing: str | None = None
    item: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    overdue: bool = False
    # Marked overdue, or with a deadline before this instant (the mark may not be set yet).
    past_deadline_at: datetime | None = None
    stuck_hours: float | None = None  # open and unchanged for at least this long
    include_closed: bool = True
    sides: tuple[Side, ...] = ()  # only these sides' workflows (none: both)

    def query(self) -> str:
        """The visibility query. Values are checked, not escaped: a filter that is not a plain
        code or status cannot change the query's meaning."""
        parts = []
        for attribute, value in (
            ("CaseStatus", self.status),
            ("OriginRegion", self.origin),
            ("ProcessingRegion", self.processing),
            ("ItemCode", self.item),
        ):
            if value is None:
                continue
            if not _SAFE.match(value):
                raise ValueError(f"not a valid {attribute} filter: {value!r}")
            parts.append(f"{attribute} = '{value}'")
        if self.sides and set(self.sides) != set(WORKFLOW_TYPES):
            types = ", ".join(f"'{WORKFLOW_TYPES[side]}'" for side in self.sides)
            parts.append(f"WorkflowType IN ({types})")
        if self.since:
            parts.append(f"StartTime >= '{self.since.astimezone(UTC).isoformat()}'")
        if self.until:
            parts.append(f"StartTime < '{self.until.astimezone(UTC).isoformat()}'")
        if self.overdue:
            parts.append("Overdue = true")
        if self.past_deadline_at:
            at = self.past_deadline_at.astimezone(UTC).isoformat()
            parts.append(f"(Overdue = true OR Deadline < '{at}')")
        if self.stuck_hours is not None or not self.include_closed:
            parts.append("ExecutionStatus = 'Running'")
        parts.append("CaseNo IS NOT NULL")
        return " AND ".join(parts)


class CaseRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_no: str
    region: str  # where this workflow runs
    workflow_id: str
    status: str | None
    item_code: str | None
    origin_region: str | None
    processing_region: str | None
    deadline: datetime | None
    overdue: bool
    started_at: datetime | None
    running: bool
    last_change: datetime | None  # the region's `cases.updated_at`

    @computed_field  # type: ignore[prop-decorator]
    @property
    def side(self) -> Side:
        return side_of(self.workflow_id)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label_zh(self) -> str:
        return status_label(self.status, self.side)


async def region_cases(
    client: Client, conn: Conn, region: str, case_filter: CaseFilter, limit: int
) -> list[CaseRow]:
    """Up to `limit` of one region's case workflows the filter finds (in visibility's order),
    each with its `cases` row's last change; `stuck_hours` is applied by the caller."""
    rows: list[CaseRow] = []
    async for execution in client.list_workflows(case_filter.query(), limit=limit):
        attrs = execution.typed_search_attributes
        case_no = attrs.get(CASE_NO)
        if case_no is None:
            continue
        rows.append(
            CaseRow(
                case_no=case_no,
                region=region,
                workflow_id=execution.id,
                status=attrs.get(CASE_STATUS),
                item_code=attrs.get(ITEM_CODE),
                origin_region=attrs.get(ORIGIN_REGION),
                processing_region=attrs.get(PROCESSING_REGION),
                deadline=attrs.get(DEADLINE),
                overdue=bool(attrs.get(OVERDUE)),
                started_at=execution.start_time,
                running=execution.close_time is None,
                last_change=None,
            )
        )
    changed = await PostgresCaseStore(conn).last_changes([r.case_no for r in rows])
    return [r.model_copy(update={"last_change": changed.get(r.case_no)}) for r in rows]


async def list_cases(
    endpoints: list[RegionEndpoint], case_filter: CaseFilter, *, page: int = 1, page_size: int = 50
) -> list[CaseRow]:
    """One row per case workflow, newest first; `page` counts from 1."""
    case_filter.query()  # a bad filter is refused before any connection is made
    found: list[CaseRow] = []
    wanted = page * page_size
    for endpoint in endpoints:
        async with connect(endpoint) as region:
            found += await region_cases(
                region.client, region.conn, endpoint.region, case_filter, wanted
            )
    if case_filter.stuck_hours is not None:
        cutoff = datetime.now(UTC) - timedelta(hours=case_filter.stuck_hours)
        found = [r for r in found if r.last_change is not None and r.last_change < cutoff]
    found.sort(key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return found[(page - 1) * page_size : page * page_size]
