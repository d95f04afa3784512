"""好差评's per-region defaults (decision 0039): a `[ratings]` table in the node's TOML file or
JSON in `TONGBAN_NODE_RATINGS`. Where each default comes from is said beside it."""

from __future__ import annotations

from datetime import datetime, timedelta

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
    # 邀评: a case concluded (办结) this many days ago that nobody has rated gets one invitation
    # (SMS). 3 as 亳州 does ("办结超过 3 天未评价的自动邀评", REFERENCE.md §5.3; not national).
    # Calendar days, not working days: the reminder waits on the applicant, who has the
    # result in hand on any day, not on an office; 亳州's rule counts plain days. None: this
    # region sends no automatic invitation (its platform invites by other means).
    invite_after_days: int | None = Field(default=3, ge=0, le=60)
    # A case concluded longer ago than `invite_after_days` + this is not invited any more: a
    # node that was down, or a rule newly switched on, does not text every old applicant.
    invite_within_days: int = Field(default=7, ge=1, le=60)
    # Tests and demos: a day of these rules (a working day of the follow-up, a day before
    # 邀评) lasts this long instead, and the holiday calendar is not consulted.
    working_day: timedelta | None = None

    def invitation_window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """(earliest, latest]: when a case must have been concluded (办结) to be invited
        `now`; None when this region sends no invitation."""
        if self.invite_after_days is None:
            return None
        day = self.working_day or timedelta(days=1)
        latest = now - day * self.invite_after_days
        return latest - day * self.invite_within_days, latest
