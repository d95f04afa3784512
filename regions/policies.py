"""Per-item automatic policies and case timings a node applies (node settings).

People decide by default: a node given no policies leaves formal review (形式审查), acceptance
(受理), the decision (准予/不予) and the confirmation of delivery (送达) to the clerk and the
officer, through the window and office API (decision 0024). A policy that takes a step instead
is turned on explicitly, per step, for every item (`default`) or for one item (`items`); in a
settings file or in `TONGBAN_NODE_POLICIES` a policy names only the steps it takes, and every
step it does not name is left to people:

    [policies.items."GG-00102-000"]
    formal_review = "pass"
    decision = "approve"

`AutoPolicy`'s own field defaults are automatic and stay so (workflows carry it and recorded
histories replay with it); only the node's settings start from `MANUAL`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.models import AutoPolicy, CaseTimings

# Every step a person can hand to a policy, and the value that leaves it to the person.
STEPS: tuple[str, ...] = ("formal_review", "acceptance", "decision", "delivery")
_PEOPLE_DECIDE: dict[str, str] = dict.fromkeys(STEPS, "manual")

MANUAL = AutoPolicy.model_validate(_PEOPLE_DECIDE)
# Every step automatic: pass review, accept, approve, deliver at the window (demo, bench, tests).
AUTOMATIC = AutoPolicy.model_validate(
    {"formal_review": "pass", "acceptance": "accept", "decision": "approve", "delivery": "window"}
)


def _unnamed_steps_to_people(value: Any) -> Any:
    """A policy read from settings (a mapping) takes only the steps it names. A policy built
    in code (an `AutoPolicy`) is taken as it is."""
    if isinstance(value, Mapping):
        return {**_PEOPLE_DECIDE, **value}
    return value


class CasePolicies(BaseModel):
    """`items` maps a national item code to its policy; others get `default`. An item's policy
    replaces `default` for that item. Timings and promised working days can likewise be set per
    item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: AutoPolicy = MANUAL
    items: dict[str, AutoPolicy] = Field(default_factory=dict)
    timings: CaseTimings = CaseTimings()
    # Used until the catalog gives the item's own 承诺时限.
    promised_working_days: int = Field(default=20, ge=0)
    item_working_days: dict[str, int] = Field(default_factory=dict)
    item_timings: dict[str, CaseTimings] = Field(default_factory=dict)

    @field_validator("default", mode="before")
    @classmethod
    def _default_takes_named_steps(cls, value: Any) -> Any:
        return _unnamed_steps_to_people(value)

    @field_validator("items", mode="before")
    @classmethod
    def _items_take_named_steps(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {code: _unnamed_steps_to_people(policy) for code, policy in value.items()}
        return value

    @classmethod
    def automatic(cls, **settings: Any) -> CasePolicies:
        """Every step of every item taken by the policy (the demo's automatic run, the bench)."""
        return cls(default=AUTOMATIC, **settings)

    def for_item(self, item_code: str) -> AutoPolicy:
        return self.items.get(item_code, self.default)

    def automatic_steps(self, item_code: str) -> tuple[str, ...]:
        """The steps a policy takes for this item; every other one waits for a person."""
        policy = self.for_item(item_code)
        return tuple(step for step in STEPS if getattr(policy, step) != "manual")

    def timings_for(self, item_code: str) -> CaseTimings:
        return self.item_timings.get(item_code, self.timings)

    def working_days_for(self, item_code: str) -> int:
        return self.item_working_days.get(item_code, self.promised_working_days)
