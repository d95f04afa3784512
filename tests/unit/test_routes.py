"""多地联办 routes: the catalog's rules, binding places to regions, and the hub's progress model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from catalog.catalog import default_catalog
from catalog.errors import RouteBindingError
from catalog.models import ServiceItem
from catalog.routes import Route, bind
from regions.route_plans import plan_route
from workflows.lifecycle.route import (
    Answer,
    LegStatus,
    Move,
    MoveKind,
    RouteOutcome,
    RoutePlan,
    RouteProgress,
    moved,
    next_moves,
)

HOUSEHOLD = "QR-00101-001"  # 工作调动户口迁移: 迁入地 准迁 → 迁出地 迁出 → 迁入地 落户
PENSION = "GG-00201-002"  # 城乡居民养老保险: 转出地 → 转入地
THREE_PLACES = {"迁入地": "330000", "迁出地": "440000"}


def _leg(step: str, place: str, *after: str, revoked_by: str | None = "撤销") -> dict[str, Any]:
    return {
        "step": step,
        "label": step,
        "place": place,
        "after": list(after),
        "issues": f"{step} 证明",
        "revoked_by": revoked_by,
        "promised_days": 2,
    }


def _rules(error: ValidationError) -> set[str]:
    return {e["type"] for e in error.errors()}


def test_shipped_joint_items_define_routes_within_their_promise() -> None:
    joint = [i for i in default_catalog().national.values() if i.route is not None]
    assert {i.code for i in joint} >= {HOUSEHOLD, PENSION, "GG-00201-001", "GG-00401-000"}
    for item in joint:
        assert item.route is not None
        assert item.route.working_days() <= item.promised_days


@pytest.mark.parametrize(
    ("route", "rule"),
    [
        (
            {"places": ["甲", "乙"], "legs": [_leg("la", "甲"), _leg("la", "乙")]},
            "route_step_twice",
        ),
        (
            {"places": ["甲", "乙"], "legs": [_leg("la", "甲", "lb"), _leg("lb", "乙")]},
            "route_after_unknown",
        ),
        (
            {"places": ["甲", "乙"], "legs": [_leg("la", "甲"), _leg("lb", "丙")]},
            "route_place_unknown",
        ),
        (
            {"places": ["甲", "乙", "丙"], "legs": [_leg("la", "甲"), _leg("lb", "乙")]},
            "route_place_idle",
        ),
        (
            {"places": ["甲", "甲"], "legs": [_leg("la", "甲"), _leg("lb", "甲")]},
            "route_place_twice",
        ),
    ],
)
def test_a_broken_route_names_its_rule(route: dict[str, Any], rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Route.model_validate(route)
    assert rule in _rules(caught.value)


def _item(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(default_catalog().national[HOUSEHOLD].model_dump_json())
    data.update(changes)
    return data


def test_joint_mode_and_route_go_together_and_fit_the_promise() -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceItem.model_validate(_item(route=None))
    assert "joint_without_route" in _rules(caught.value)
    with pytest.raises(ValidationError) as caught:
        ServiceItem.model_validate(_item(modes=["异地代收代办"]))
    assert "route_without_joint" in _rules(caught.value)
    with pytest.raises(ValidationError) as caught:
        ServiceItem.model_validate(_item(promised_days=19))
    assert "route_exceeds_promise" in _rules(caught.value)


def test_parallel_legs_count_once_in_the_route_days() -> None:
    route = Route.model_validate(
        {
            "places": ["甲", "乙"],
            "legs": [_leg("la", "甲"), _leg("lb", "乙"), _leg("lc", "甲", "la", "lb")],
        }
    )
    assert route.working_days() == 4


@pytest.mark.parametrize(
    ("places", "rule"),
    [
        ({"迁入地": "330000"}, "route_place_unbound"),
        ({**THREE_PLACES, "落户地": "110000"}, "route_place_unknown"),
        ({"迁入地": "330000", "迁出地": "330000"}, "route_places_same_region"),
        ({"迁入地": "330000", "迁出地": "999999"}, "unknown_region"),
    ],
)
def test_places_that_do_not_bind_the_route_are_refused_by_rule(
    places: dict[str, str], rule: str
) -> None:
    route = default_catalog().national[HOUSEHOLD].route
    assert route is not None
    with pytest.raises(RouteBindingError) as caught:
        bind(route, places)
    assert caught.value.rule == rule


def test_a_plan_binds_each_leg_to_its_place_region() -> None:
    plan = plan_route(default_catalog().national[HOUSEHOLD], THREE_PLACES)
    assert [(leg.step, leg.region) for leg in plan.legs] == [
        ("admit", "330000"),
        ("move-out", "440000"),
        ("settle", "330000"),
    ]
    with pytest.raises(RouteBindingError) as caught:
        plan_route(default_catalog().national["GG-00102-000"], THREE_PLACES)
    assert caught.value.rule == "item_has_no_route"


def _run(plan: RoutePlan, answers: dict[str, Answer]) -> tuple[RouteProgress, list[str]]:
    """Drive the route to its end: every region answers the first leg waiting for an answer."""
    progress, log = RouteProgress.start(plan), []
    for _ in range(50):
        while moves := next_moves(plan, progress):
            for move in moves:
                progress = moved(progress, move)
                log.append(f"{move.kind.value}:{move.step}")
        asking = [
            leg
            for leg in progress.legs
            if leg.status in (LegStatus.UNDER_WAY, LegStatus.CANCELLING, LegStatus.REVOKING)
        ]
        if not asking:
            return progress, log
        leg = asking[0]
        answer = {
            LegStatus.UNDER_WAY: answers.get(leg.step, Answer.APPROVED),
            LegStatus.CANCELLING: Answer.CANCELLED,
            LegStatus.REVOKING: Answer.REVOKED,
        }[leg.status]
        progress = progress.answered(leg.step, answer)
    raise AssertionError("the route never ended")


def test_the_household_route_runs_its_legs_in_order() -> None:
    plan = plan_route(default_catalog().national[HOUSEHOLD], THREE_PLACES)
    progress, log = _run(plan, {})
    assert log == ["start:admit", "start:move-out", "start:settle"]
    assert progress.outcome() is RouteOutcome.APPROVED


def test_a_refused_second_leg_revokes_the_first_by_its_region() -> None:
    plan = plan_route(default_catalog().national[HOUSEHOLD], THREE_PLACES)
    progress, log = _run(plan, {"move-out": Answer.REFUSED})
    assert log == ["start:admit", "start:move-out", "skip:settle", "revoke:admit"]
    assert progress.status("admit") is LegStatus.REVOKED
    assert progress.outcome() is RouteOutcome.REFUSED


def test_a_refusal_in_the_last_leg_revokes_the_earlier_ones_last_first() -> None:
    plan = plan_route(default_catalog().national[HOUSEHOLD], THREE_PLACES)
    progress, log = _run(plan, {"settle": Answer.REFUSED})
    assert log[-2:] == ["revoke:move-out", "revoke:admit"]
    assert progress.outcome() is RouteOutcome.REFUSED


# Routes of up to five legs: each leg waits for some of the legs before it (parallel branches
# included) and may or may not have anything to undo.
@st.composite
def plans(draw: st.DrawFn) -> RoutePlan:
    count = draw(st.integers(min_value=2, max_value=5))
    legs = []
    for n in range(count):
        earlier = [f"l{m}" for m in range(n)]
        after = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        revocable = draw(st.booleans())
        legs.append(
            {
                **_leg(f"l{n}", "甲" if n % 2 else "乙", *after),
                "revoked_by": "撤销" if revocable else None,
                "region": "330000" if n % 2 else "440000",
            }
        )
    return RoutePlan.model_validate({"legs": legs})


@settings(max_examples=300, deadline=None)
@given(
    plan=plans(),
    script=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(list(Answer))), max_size=40),
)
def test_any_order_of_answers_ends_agreeing_and_unwinds_in_reverse(
    plan: RoutePlan, script: list[tuple[int, Answer]]
) -> None:
    """Answers arrive in any order, twice, late or unasked for; the model acts only on those
    its legs expect, starts a leg only after what it waits for is approved, revokes only when
    no leg is deciding, the last approved first, and ends approved or wholly unwound."""
    progress = RouteProgress.start(plan)
    revoked: list[int] = []

    def act() -> None:
        nonlocal progress
        while moves := next_moves(plan, progress):
            for move in moves:
                act_on(move)

    def act_on(move: Move) -> None:
        nonlocal progress
        if move.kind is MoveKind.START:
            assert all(progress.status(a) is LegStatus.APPROVED for a in plan.leg(move.step).after)
        if move.kind is MoveKind.REVOKE:
            assert not any(
                leg.status in (LegStatus.UNDER_WAY, LegStatus.CANCELLING, LegStatus.REVOKING)
                for leg in progress.legs
            )
            order = next(leg.approved_as for leg in progress.legs if leg.step == move.step)
            assert order is not None
            revoked.append(order)
        progress = moved(progress, move)

    act()
    for index, answer in script:
        step = plan.legs[index % len(plan.legs)].step
        before = progress
        progress = progress.answered(step, answer)
        assert progress.answered(step, answer) == progress  # the same answer twice: no change
        if before == progress:
            continue
        act()
    # Then every region answers what it is asked, approving what it decides.
    while True:
        asking = [
            leg
            for leg in progress.legs
            if leg.status in (LegStatus.UNDER_WAY, LegStatus.CANCELLING, LegStatus.REVOKING)
        ]
        if not asking:
            break
        leg = asking[0]
        progress = progress.answered(
            leg.step, Answer.REVOKED if leg.status is LegStatus.REVOKING else Answer.APPROVED
        )
        act()
    outcome = progress.outcome()
    assert outcome is not RouteOutcome.UNDER_WAY
    assert revoked == sorted(revoked, reverse=True)
    if outcome is RouteOutcome.APPROVED:
        assert not progress.failed
    else:
        assert progress.failed
        assert not any(leg.status is LegStatus.APPROVED for leg in progress.legs)
        for leg in progress.legs:
            if leg.status is LegStatus.KEPT:
                assert plan.leg(leg.step).revoked_by is None
