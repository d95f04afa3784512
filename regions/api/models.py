"""Request and response bodies of the window API (the step inputs are the workflows' own).

Codes (statuses, sides, outcomes) are what scripts and filters use; each has its Chinese name
beside it in a `*_label_zh` field, read from the lifecycle model (regions/labels.py). Times are
UTC with their offset (ISO 8601); a time people read also comes as `*_label_zh` in Beijing time,
saying so ("2026-12-01 17:30 (北京时间)").
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from regions.beijing_time import show
from regions.labels import SIDE_LABELS, Side, outcome_label, status_label
from workflows.lifecycle.route import RouteLegView
from workflows.models import CaseStep


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Submitted(_Out):
    case_no: str
    status: str
    item_code: str
    item_version: int
    required_materials: tuple[str, ...]
    mode: str | None = None  # the mode the case runs in, by its Chinese name (全程网办 …)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label_zh(self) -> str:
        return status_label(self.status, "origin")  # a submission is the window's (A's) case


class StepResult(_Out):
    case_no: str
    status: str
    side: Side | None = None  # whose workflow took the step (its status names differ)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label_zh(self) -> str:
        return status_label(self.status, self.side)


class StepView(CaseStep):
    """A line of the case's timeline with its status's Chinese name and its time in Beijing."""

    # The computed names come back when FastAPI checks an answer against its model.
    model_config = ConfigDict(frozen=True, extra="ignore")

    side: Side

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label_zh(self) -> str:
        return status_label(self.status, self.side)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def at_label_zh(self) -> str:
        return show(self.at, seconds=True)

    @classmethod
    def of(cls, step: CaseStep, side: Side) -> StepView:
        return cls.model_validate({**dict(step), "side": side})


class CaseSummary(_Out):
    case_no: str
    side: Literal["origin", "processing"]
    item_code: str
    item_version: int
    origin_region: str
    processing_region: str
    status: str
    created_at: datetime
    updated_at: datetime
    # The mode the case runs in, by its Chinese name (全程网办, 异地代收代办 …); None on cases
    # recorded before cases named it (the mode the region pair implies).
    mode: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label_zh(self) -> str:
        return status_label(self.status, self.side)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def side_label_zh(self) -> str:
        return SIDE_LABELS[self.side]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def updated_at_label_zh(self) -> str:
        return show(self.updated_at)


class RouteLeg(_Out):
    """多地联办: one leg of the route, as the hub's case lists it (decision 0035)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    index: int
    label: str
    place: str
    region: str
    case_no: str
    status: str
    status_label_zh: str

    @classmethod
    def of(cls, leg: RouteLegView) -> RouteLeg:
        return cls(
            index=leg.index,
            label=leg.label,
            place=leg.place,
            region=leg.region,
            case_no=leg.case_no,
            status=leg.status.value,
            status_label_zh=leg.status_label,
        )


class CaseView(_Out):
    """A case as one region sees it. The applicant appears only as a masked name."""

    summary: CaseSummary
    applicant_name_masked: str | None = None
    closed: bool | None = None
    outcome: str | None = None
    deadline: datetime | None = None
    overdue: bool = False
    steps: tuple[StepView, ...] = ()
    route: tuple[RouteLeg, ...] = ()  # 多地联办: the legs, on the route's own case

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome_label_zh(self) -> str | None:
        return outcome_label(self.outcome)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def deadline_label_zh(self) -> str | None:
        """The deadline as people read it: its Beijing date and time, zone named."""
        return show(self.deadline) if self.deadline else None


class CasePage(_Out):
    items: tuple[CaseSummary, ...]
    total: int
    limit: int
    offset: int


class Problem(_Out):
    """An error body: `rule` names what failed (422), or the refusal's reason (409)."""

    detail: str
    rule: str | None = None
    errors: list[dict[str, object]] = Field(default_factory=list)
    # A refusal about an item's modes (`mode_not_allowed`, `mode_not_at_window`) names the
    # item, the mode asked and the modes it allows there.
    item_code: str | None = None
    item_version: int | None = None
    mode: str | None = None
    allowed_modes: list[str] | None = None


# Documented answers of every step endpoint besides 200, 401 and 403.
STEP_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "no such case in this region"},
    409: {"model": Problem, "description": "the case's workflow refused the step now"},
    422: {"model": Problem, "description": "invalid input; `rule` names the rule"},
}
