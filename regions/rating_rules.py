"""好差评's per-region defaults (decision 0039): a `[ratings]` table in the node's TOML file or
JSON in `TONGBAN_NODE_RATINGS`. Where each default comes from is said beside it."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class RatingRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # 回访: contact the applicant who rated 不满意/非常不满意. No national number was found
    # (GB/T 39734-2020's time rules were not retrieved, shared/domain/REFERENCE.md §5.3); 5
    # working days is our own default, to be set by each province.
    revisit_working_days: int = Field(default=5, ge=1, le=60)
    # 整改: the fix and the answer. 15 working days as 四川 requires for 不满意/非常不满意 (the
    # only deadline found, REFERENCE.md §5.3); not national.
    rectify_working_days: int = Field(default=15, ge=1, le=120)
    # Tests and demos: a working day of the follow-up lasts this long instead of a calendar day.
    working_day: timedelta | None = None
