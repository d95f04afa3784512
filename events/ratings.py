"""好差评: the applicant's rating of a step of their case (decision 0039).

Pure rules (no I/O): the five levels of 国办发〔2019〕51号 with their codes, the national
indicators a rating may name as its reasons (online and at a window), which steps may be
rated and who answers for each (谁办理谁负责). Workflows import this inside the sandbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.models import SealedBox


class Level(IntEnum):
    """评价等级, coded 5 (best) to 1 as the five stars of the national 好差评 mark."""

    VERY_SATISFIED = 5
    SATISFIED = 4
    BASICALLY_SATISFIED = 3
    DISSATISFIED = 2
    VERY_DISSATISFIED = 1


LEVEL_LABELS: dict[Level, str] = {
    Level.VERY_SATISFIED: "非常满意",
    Level.SATISFIED: "满意",
    Level.BASICALLY_SATISFIED: "基本满意",
    Level.DISSATISFIED: "不满意",
    Level.VERY_DISSATISFIED: "非常不满意",
}
# 差评: every one is followed up (回访), put right (整改) and answered.
BAD_LEVELS = frozenset({Level.DISSATISFIED, Level.VERY_DISSATISFIED})


class RatedStep(StrEnum):
    RECEIVED = "received"  # 收件: the window's (or the platform's) service at A
    CONCLUDED = "concluded"  # 办结: the processing and its decision, B's


STEP_LABELS: dict[RatedStep, str] = {RatedStep.RECEIVED: "收件", RatedStep.CONCLUDED: "办结"}

Channel = Literal["window", "online"]
CHANNEL_LABELS: dict[str, str] = {"window": "窗口（一次一评）", "online": "网上（一事一评）"}

# The national indicators (二级指标) a rating names as its reasons, per channel; codes are ours.
REASONS: dict[str, dict[str, str]] = {
    "online": {
        "overall": "整体满意度",
        "efficiency": "办事效率",
        "guide-accuracy": "办事指南精确度",
        "convenience": "办事便捷度",
        "platform-usability": "平台操作性",
    },
    "window": {
        "overall": "整体满意度",
        "service-efficiency": "服务效率",
        "service-level": "服务水平",
        "service-attitude": "服务态度",
    },
}

# 邀评: the one invitation a concluded case nobody rated gets, as an effect order of the
# accepting region (decision 0029) under this key: unique per case, so it is ordered once.
INVITATION_KEY = "rating-invitation"
# What the SMS says after "【<region>政务服务】您的申请（案件编号 …）：" (effects/notices.py).
INVITATION_NOTICE = (
    "已办结。诚邀您对本次服务作出评价（好差评）：请在网上办事大厅“我的办件”中评价，"
    "或到办事窗口评价。"
)

# A comment is free text the applicant writes: bounded, and sealed wherever it is kept.
MAX_COMMENT_CHARS = 500
Side = Literal["A", "B"]


class RatingRefused(Exception):
    """A rating refused by a rule: `status` is the HTTP answer (403, 404, 409, 422, 429)."""

    def __init__(self, status: int, rule: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.rule = rule
        self.message = message


# A code is only as secret as the receipt, and short enough to type: a terminal may enter a
# wrong one for a case this many times in this long, then it is refused until the period
# has passed or the clerk hands out a new code. 31^10 codes against 5 tries a quarter-hour
# leaves guessing hopeless; a mistyping applicant has room to retry.
MAX_WRONG_CODES = 5
WRONG_CODE_PERIOD = timedelta(minutes=15)


@dataclass(frozen=True)
class WrongCodes:
    """The wrong codes entered for a case: how many, since when (the first in the period)."""

    tries: int = 0
    since: datetime | None = None

    def blocks(self, now: datetime) -> bool:
        return self._current(now) and self.tries >= MAX_WRONG_CODES

    def after_another(self, now: datetime) -> WrongCodes:
        if self._current(now):
            return WrongCodes(self.tries + 1, self.since)
        return WrongCodes(1, now)

    def _current(self, now: datetime) -> bool:
        return self.since is not None and now - self.since < WRONG_CODE_PERIOD


def too_many_wrong_codes() -> RatingRefused:
    minutes = int(WRONG_CODE_PERIOD.total_seconds() // 60)
    return RatingRefused(
        429,
        "rating_code_tries",
        f"该案件的评价码输入错误次数过多，请 {minutes} 分钟后再试，"
        "或请窗口工作人员重新出具评价码。",
    )


def responsible_side(step: RatedStep) -> Side:
    """谁办理谁负责: the window's service is A's, the processing and its decision B's."""
    return "A" if step is RatedStep.RECEIVED else "B"


def rating_id(case_no: str, step: RatedStep) -> str:
    """One rating per case and step: its id is fixed by them, so a retry rebuilds it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tongban:rating:{case_no}:{step.value}"))


class RatingInput(BaseModel):
    """What the applicant gives: a level, reasons from the channel's list, a comment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: Level
    reasons: tuple[str, ...] = Field(default=(), max_length=9)
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)

    @field_validator("reasons")
    @classmethod
    def _known_shape(cls, reasons: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(reasons)) != len(reasons):
            raise ValueError("a reason is named twice")
        return reasons

    def __repr__(self) -> str:
        return f"RatingInput(level={self.level.value}, reasons={self.reasons!r}, comment=<sealed>)"

    __str__ = __repr__


def check_reasons(channel: str, reasons: tuple[str, ...]) -> None:
    """Reasons must come from the channel's fixed list of indicators."""
    unknown = [r for r in reasons if r not in REASONS[channel]]
    if unknown:
        raise RatingRefused(
            422,
            "unknown_reason",
            # The reasons themselves are not echoed: they are the caller's free input.
            f"{len(unknown)} reason(s) not among the indicators for {CHANNEL_LABELS[channel]}",
        )


# --- 差评整改: what the follow-up workflow and its activities exchange ----------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FollowUpStart(_Model):
    """A bad rating's follow-up in the responsible region (workflow input)."""

    rating_id: str
    case_no: str
    region: str  # the responsible region, where the follow-up runs
    origin_region: str  # the accepting region, which shows the answer to the applicant
    level: Level
    revisit_working_days: int = Field(ge=1, le=60)
    rectify_working_days: int = Field(ge=1, le=120)
    working_day: timedelta | None = None  # scaled clock for tests; None: the holiday calendar
    # When the applicant rated: the deadlines count from then, not from when this workflow
    # started (the sweeper may start it late; B hears of a rating after A kept it). None in
    # follow-ups started before it was carried: they count from their start.
    rated_at: datetime | None = None


class FollowUpNote(_Model):
    """A person's 回访 or 整改 record. `note` is sealed for the region (it may quote the
    applicant); `answer` (整改 only) is what the applicant is told, sealed likewise."""

    by: str = Field(min_length=1, max_length=100)  # who: person and window or office
    note: SealedBox
    answer: SealedBox | None = None


class AppealDecision(_Model):
    """申诉复核 upheld: the rating is set aside; the reviewer's reason is sealed."""

    by: str = Field(min_length=1, max_length=100)
    reason: SealedBox


class OpenFollowUp(_Model):
    rating_id: str
    revisit_due: datetime
    rectify_due: datetime


class StageDone(_Model):
    rating_id: str
    stage: Literal["revisit", "rectify"]
    at: datetime
    note: SealedBox


class Escalation(_Model):
    rating_id: str
    case_no: str
    stage: Literal["revisit", "rectify"]
    due: datetime


class FollowUpAnswer(_Model):
    """The answer to the applicant, sealed for the responsible region; the activity re-seals
    it for the accepting region when that is another region."""

    rating_id: str
    case_no: str
    origin_region: str
    outcome: Literal["rectified", "set-aside"]
    answer: SealedBox
    on_time: bool
    at: datetime


class SetAside(_Model):
    rating_id: str
    at: datetime
    by: str
    reason: SealedBox


class FollowUpView(_Model):
    """Where a follow-up stands (the workflow's `progress` query)."""

    stage: Literal["revisit", "rectify", "answered", "set-aside"]
    revisit_due: datetime | None = None
    rectify_due: datetime | None = None
    escalated: tuple[str, ...] = ()
