"""Per-item automatic policies and case timings a node applies (node settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import AutoPolicy, CaseTimings


class CasePolicies(BaseModel):
    """`items` maps a national item code to its policy; others get `default`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: AutoPolicy = AutoPolicy()
    items: dict[str, AutoPolicy] = Field(default_factory=dict)
    timings: CaseTimings = CaseTimings()
    # Used until the catalog gives the item's own 承诺时限.
    promised_working_days: int = Field(default=20, ge=0)

    def for_item(self, item_code: str) -> AutoPolicy:
        return self.items.get(item_code, self.default)
