"""Per-item automatic policies and case timings a node applies (node settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import AutoPolicy, CaseTimings


class CasePolicies(BaseModel):
    """`items` maps a national item code to its policy; others get `default`. Timings and
    promised working days can likewise be set per item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: AutoPolicy = AutoPolicy()
    items: dict[str, AutoPolicy] = Field(default_factory=dict)
    timings: CaseTimings = CaseTimings()
    # Used until the catalog gives the item's own 承诺时限.
    promised_working_days: int = Field(default=20, ge=0)
    item_working_days: dict[str, int] = Field(default_factory=dict)
    item_timings: dict[str, CaseTimings] = Field(default_factory=dict)

    def for_item(self, item_code: str) -> AutoPolicy:
        return self.items.get(item_code, self.default)

    def timings_for(self, item_code: str) -> CaseTimings:
        return self.item_timings.get(item_code, self.timings)

    def working_days_for(self, item_code: str) -> int:
        return self.item_working_days.get(item_code, self.promised_working_days)
