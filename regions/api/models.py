"""Request and response bodies of the window API (the step inputs are the workflows' own)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import CaseStep


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Submitted(_Out):
    case_no: str
    status: str
    item_code: str
    item_version: int
    required_materials: tuple[str, ...]


class StepResult(_Out):
    case_no: str
    status: str


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


class CaseView(_Out):
    """A case as one region sees it. The applicant appears only as a masked name."""

    summary: CaseSummary
    applicant_name_masked: str | None = None
    closed: bool | None = None
    outcome: str | None = None
    deadline: datetime | None = None
    overdue: bool = False
    steps: tuple[CaseStep, ...] = ()


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


# Documented answers of every step endpoint besides 200, 401 and 403.
STEP_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "no such case in this region"},
    409: {"model": Problem, "description": "the case's workflow refused the step now"},
    422: {"model": Problem, "description": "invalid input; `rule` names the rule"},
}
