"""好差评's pure rules (decision 0039): levels, indicators, who answers, one id per step."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from events.models import PAYLOAD_MODELS, RATING_REASON_PATTERN, EventType
from events.ratings import (
    BAD_LEVELS,
    LEVEL_LABELS,
    REASONS,
    Level,
    RatedStep,
    RatingInput,
    RatingRefused,
    check_reasons,
    rating_id,
    responsible_side,
)
from regions.ratings import CONCLUDED_STATUSES
from workflows.lifecycle import intake

CASE = "350000-20261201-ABCDEFGH"


def test_five_levels_coded_five_to_one_with_their_national_names() -> None:
    assert [(int(level), LEVEL_LABELS[level]) for level in Level] == [
        (5, "非常满意"),
        (4, "满意"),
        (3, "基本满意"),
        (2, "不满意"),
        (1, "非常不满意"),
    ]
    assert {Level.DISSATISFIED, Level.VERY_DISSATISFIED} == BAD_LEVELS


def test_reasons_are_the_channels_national_indicators() -> None:
    assert set(REASONS["online"].values()) == {
        "整体满意度",
        "办事效率",
        "办事指南精确度",
        "办事便捷度",
        "平台操作性",
    }
    assert set(REASONS["window"].values()) == {"整体满意度", "服务效率", "服务水平", "服务态度"}
    # Every code travels in the `rated` event, whose schema bounds its shape.
    assert all(re.match(RATING_REASON_PATTERN, c) for codes in REASONS.values() for c in codes)


def test_a_reason_of_the_other_channel_is_refused_without_echoing_it() -> None:
    check_reasons("window", ("service-attitude",))
    with pytest.raises(RatingRefused) as refused:
        check_reasons("window", ("platform-usability",))
    assert (refused.value.status, refused.value.rule) == (422, "unknown_reason")
    assert "platform-usability" not in refused.value.message


def test_who_answers_for_each_step() -> None:
    assert responsible_side(RatedStep.RECEIVED) == "A"
    assert responsible_side(RatedStep.CONCLUDED) == "B"


def test_one_rating_id_per_case_and_step() -> None:
    assert rating_id(CASE, RatedStep.RECEIVED) == rating_id(CASE, RatedStep.RECEIVED)
    assert rating_id(CASE, RatedStep.RECEIVED) != rating_id(CASE, RatedStep.CONCLUDED)


def test_comment_is_bounded_and_never_shown_by_repr() -> None:
    given = RatingInput(level=Level.VERY_DISSATISFIED, comment="王五 13800000000 等了三个小时")
    assert "王五" not in repr(given)
    assert "王五" not in str(given)
    with pytest.raises(ValidationError):
        RatingInput(level=Level.SATISFIED, comment="长" * 501)
    with pytest.raises(ValidationError):
        RatingInput.model_validate({"level": 6})
    with pytest.raises(ValidationError):
        RatingInput(level=Level.SATISFIED, reasons=("overall", "overall"))


def _rated(**change: object) -> dict[str, object]:
    data: dict[str, object] = {
        "case_no": CASE,
        "rating_id": rating_id(CASE, RatedStep.CONCLUDED),
        "step": "concluded",
        "level": 1,
        "reasons": ["efficiency"],
        "comment": None,
        "channel": "online",
        "window": "网上办事",
        "item_code": "GG-00102-000",
        "rated_at": "2026-12-01T02:00:00Z",
    }
    return {**data, **change}


def test_the_rated_event_is_checked_strictly_as_every_payload() -> None:
    model = PAYLOAD_MODELS[EventType.RATED]
    model.model_validate_json(json.dumps(_rated()), strict=True)
    for bad in ({"level": 0}, {"level": "1"}, {"step": "accepted"}, {"reasons": ["空格 x"]}):
        with pytest.raises(ValidationError):
            model.model_validate_json(json.dumps(_rated(**bad)), strict=True)


def test_concluded_means_an_end_state_of_the_accepting_regions_lifecycle() -> None:
    assert {"closed", "closed-rejected"} <= CONCLUDED_STATUSES
    assert {intake.Status(p.value) for p in intake.TERMINAL} == CONCLUDED_STATUSES
    assert intake.Status.RESULT_RECEIVED.value not in CONCLUDED_STATUSES
