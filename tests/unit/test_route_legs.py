"""A 多地联办 leg in its region (decision 0035): numbered after the route's case, it waits for
the hub instead of a delivery timer, and an approval it gave is revoked only when it is a
revocable leg's approval."""

from __future__ import annotations

import pytest

from events.models import (
    ORIGIN_ONLY,
    PROCESSING_ONLY,
    CaseForwarded,
    EventType,
    InboundEvent,
    LegBrief,
    accepting_region_of,
    leg_case_no,
    route_of,
)
from tests.unit.test_lifecycle_rules import Processing, at, event
from workflows.lifecycle import processing as B
from workflows.lifecycle.engine import Trigger
from workflows.lifecycle.vocabulary import AcceptanceDecision, Decision, Effect

ROUTE = "350000-20261201-3DC076FX"


def brief(*, revocable: bool = True) -> LegBrief:
    return LegBrief(
        route_case_no=ROUTE,
        step="admit",
        label="审核并签发准予迁入证明",
        issues="准予迁入证明",
        revocable=revocable,
        index=1,
        count=3,
    )


def test_a_leg_is_numbered_after_its_route_and_names_the_same_accepting_region() -> None:
    leg = leg_case_no(ROUTE, 2)
    assert leg == f"{ROUTE}-2"
    assert route_of(leg) == ROUTE
    assert route_of(ROUTE) == ROUTE
    assert accepting_region_of(leg) == "350000"
    for bad in (0, 10):
        with pytest.raises(ValueError, match="no leg"):
            leg_case_no(ROUTE, bad)
    with pytest.raises(ValueError, match="no leg"):
        leg_case_no(leg, 1)  # a leg has no legs


def test_only_the_hub_asks_for_a_revocation_and_only_the_leg_answers_it() -> None:
    assert EventType.REVOCATION_REQUESTED in ORIGIN_ONLY
    assert EventType.REVOKED in PROCESSING_ONLY


def test_a_forwarded_leg_carries_its_brief_and_an_ordinary_case_none() -> None:
    fields = CaseForwarded.model_fields
    assert fields["leg"].default is None


def approved(leg: LegBrief | None) -> Processing:
    b = Processing(leg=leg)
    b.receive(at(12, 1))
    b.person(AcceptanceDecision(accept=True), at(12, 1, 11))
    b.person(Decision(approve=True, reason="符合迁入条件"), at(12, 2))
    return b


def revocation(when: int = 3) -> Trigger[B.On]:
    asked = event(
        EventType.REVOCATION_REQUESTED,
        "revocation-requested",
        at(12, when),
        reason="迁出地不予办理",
    )
    return Trigger(B.On.REVOCATION_REQUESTED, "event", asked, event_id=asked.event_id)


def test_an_approved_leg_waits_for_the_hub_not_for_a_delivery_timer() -> None:
    assert B.due(approved(brief()).begin, approved(brief()).state) is None
    ordinary = approved(None)
    due = B.due(ordinary.begin, ordinary.state)
    assert due is not None
    assert due[1].kind is B.On.DELIVERY_DUE


def test_a_revocation_undoes_the_approval_and_answers_revoked() -> None:
    b = approved(brief())
    b.move(revocation(), at(12, 3))
    assert b.statuses()[-2:] == [B.Status.REVOKED, B.Status.CLOSED]
    assert [e.effect for e in b.effects()][-1] is Effect.REVOKE_DECISION
    assert "准予迁入证明" in b.effects()[-1].detail
    [answer] = b.sent(EventType.REVOKED)
    assert answer.data["reason"] == "迁出地不予办理"
    assert b.state.closed
    assert b.state.outcome == "revoked"


@pytest.mark.parametrize(
    "case",
    ["an ordinary case", "a leg with nothing to undo", "a denied leg"],
)
def test_a_revocation_that_has_nothing_to_undo_is_noted_not_taken(case: str) -> None:
    if case == "an ordinary case":
        b = approved(None)
    elif case == "a leg with nothing to undo":
        b = approved(brief(revocable=False))
    else:
        b = Processing(leg=brief())
        b.receive(at(12, 1))
        b.person(AcceptanceDecision(accept=True), at(12, 1, 11))
        b.person(Decision(approve=False, reason="不符合迁入条件"), at(12, 2))
    asked = revocation().payload
    assert isinstance(asked, InboundEvent)
    state = B.receive(b.state, asked)
    trigger = B.next_trigger(b.begin, state, at(12, 3))
    assert trigger is not None
    assert trigger.kind is B.On.OTHER
    assert not B.TABLE.allows(state.phase, trigger.kind)
