"""A 多地联办 route's workflows, driven together as the models they run: the hub and its legs
in the accepting region, each leg's processing case in its region (decision 0035).

Stands in for everything around them: legs' regions approve or refuse as scripted, events and
the workflows' signals to each other arrive in any order and some twice, and the applicant may
withdraw at any moment. Every run must end with every case closed, each leg agreeing with its
region (docs/lifecycle.md, "How the two sides end"), the hub agreeing with its legs, and every
approval the route no longer needs revoked by its own region, the last approved first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from catalog.catalog import default_catalog
from events.envelope import event_id_for
from events.models import PAYLOAD_MODELS, EventType, InboundEvent, accepting_region_of
from regions.route_plans import plan_route
from workflows.lifecycle import intake as A
from workflows.lifecycle import processing as B
from workflows.lifecycle import route_calls
from workflows.lifecycle.pairs import agree
from workflows.lifecycle.route import RoutePlan, RouteSignal
from workflows.lifecycle.vocabulary import (
    AutoPolicy,
    CaseTimings,
    CaseWrite,
    Effect,
    ForwardCase,
    SendDecision,
    SendEvent,
    Withdrawal,
)

ROUTE = "350000-20261201-ROUTE001"
ORIGIN = "350000"
HOUSEHOLD = "QR-00101-001"
PLACES = {"迁入地": "330000", "迁出地": "440000"}
TIMINGS = CaseTimings(
    answer_timeout=timedelta(days=30),
    cancel_timeout=timedelta(days=30),
    delivery_wait=timedelta(days=30),
    working_day=timedelta(hours=1),
)
START = datetime(2026, 12, 1, 1, tzinfo=UTC)


@dataclass
class Message:
    case_no: str
    to_a: bool  # the accepting region's workflow of `case_no`, else its processing region's
    item: InboundEvent | RouteSignal


@dataclass
class World:
    rng: random.Random
    plan: RoutePlan
    refusing: frozenset[str]  # the legs whose region refuses
    a: dict[str, tuple[A.IntakeRequest, A.IntakeState]] = field(default_factory=dict)
    b: dict[str, tuple[B.ProcessingStart, B.ProcessingState]] = field(default_factory=dict)
    net: list[Message] = field(default_factory=list)
    effects: dict[str, list[Effect]] = field(default_factory=dict)
    now: datetime = START

    def open_hub(self) -> None:
        request = A.IntakeRequest(
            case_no=ROUTE,
            item_code=HOUSEHOLD,
            item_version=1,
            origin_region=ORIGIN,
            processing_region=self.plan.legs[-1].region,
            fee_fen=0,
            policy=AutoPolicy(formal_review="pass", delivery="window"),
            timings=TIMINGS,
            mode="多地联办",
            route=self.plan,
        )
        self.a[ROUTE] = (request, A.start(request))

    # --- one workflow moves ------------------------------------------------------------------

    def step_a(self, case_no: str) -> bool:
        request, state = self.a[case_no]
        trigger = A.next_trigger(request, state, self.now)
        if trigger is None or trigger.by == "timer":
            return False
        result = A.step(request, state, trigger, self.now)
        self.a[case_no] = (request, result.state)
        self._emit(case_no, True, result.writes)
        self._tell(case_no)
        return True

    def step_b(self, case_no: str) -> bool:
        begin, state = self.b[case_no]
        trigger = B.next_trigger(begin, state, self.now)
        if trigger is None or trigger.by == "timer":
            return False
        result = B.step(begin, state, trigger, self.now)
        self.b[case_no] = (begin, result.state)
        self._emit(case_no, False, result.writes)
        return True

    def _tell(self, case_no: str) -> None:
        """What the workflow does after its commit: start legs, signal hub or legs."""
        request, state = self.a[case_no]
        told = list(state.route_told)
        for call in route_calls.pending(request, state):
            if isinstance(call, route_calls.StartLeg):
                assert call.request.case_no not in self.a, "a leg started twice"
                self.a[call.request.case_no] = (call.request, A.start(call.request))
            else:
                self.net.append(Message(call.case_no, True, call.signal))
            told.append(call.key)
        self.a[case_no] = (request, state.model_copy(update={"route_told": tuple(told)}))

    def _emit(self, case_no: str, from_a: bool, writes: tuple[CaseWrite, ...]) -> None:
        sender = ORIGIN if from_a else self.b[case_no][0].processing_region
        for write in writes:
            if not isinstance(write, SendEvent | ForwardCase | SendDecision):
                if hasattr(write, "effect"):
                    self.effects.setdefault(case_no, []).append(write.effect)
                continue
            if isinstance(write, SendEvent):
                step, kind = write.step, write.event_type
                data = PAYLOAD_MODELS[kind].model_validate(dict(write.data)).model_dump(mode="json")
            elif isinstance(write, ForwardCase):
                assert write.leg is not None, "only legs forward in a route"
                step, kind = "forwarded", EventType.FORWARDED
                data = {
                    "case_no": case_no,
                    "materials": [],
                    "leg": write.leg.model_dump(mode="json"),
                }
            else:
                step, kind = write.step, EventType.DECIDED
                data = {
                    "case_no": case_no,
                    "outcome": write.outcome,
                    "reason": write.reason,
                    "decision_digest": None,
                }
            event = InboundEvent(
                event_id=event_id_for(case_no, step, sender),
                type=kind,
                sender_region=sender,
                time=self.now,
                data=data,
            )
            self.net.append(Message(case_no, not from_a, event))

    # --- the wire ----------------------------------------------------------------------------

    def deliver(self, index: int) -> None:
        message = self.net[index]
        if self.rng.random() < 0.8:  # else delivered again later: at least once
            self.net.pop(index)
        if message.to_a:
            request, a_state = self.a[message.case_no]
            self.a[message.case_no] = (request, A.receive(a_state, message.item))
            return
        item = message.item
        assert isinstance(item, InboundEvent)
        if message.case_no not in self.b:
            if item.type is not EventType.FORWARDED:
                return  # B's dispatcher keeps it in the inbox: no workflow yet
            leg = item.data["leg"]
            refuse = leg["step"] in self.refusing
            begin = B.ProcessingStart(
                case_no=message.case_no,
                processing_region=self.plan.leg(leg["step"]).region,
                policy=AutoPolicy(acceptance="accept", decision="deny" if refuse else "approve"),
                timings=TIMINGS,
                leg=leg,
            )
            self.b[message.case_no] = (begin, B.start(begin))
        b_begin, b_state = self.b[message.case_no]
        self.b[message.case_no] = (b_begin, B.receive(b_state, item))

    def run(self, withdraw_at: int | None) -> None:
        self.open_hub()
        for tick in range(2000):
            self.now += timedelta(minutes=1)
            if tick == withdraw_at:
                self.withdraw()
            moved = [c for c in list(self.a) if self.step_a(c)]
            moved += [c for c in list(self.b) if self.step_b(c)]
            if self.net and (not moved or self.rng.random() < 0.5):
                self.deliver(self.rng.randrange(len(self.net)))
            elif not moved and not self.net:
                return
        raise AssertionError("the route never came to rest")

    def withdraw(self) -> None:
        request, state = self.a[ROUTE]
        trigger = A.input_trigger(Withdrawal(reason="申请人撤回"))
        if A.allows(request, state, trigger.kind):
            result = A.step(request, state, trigger, self.now)
            self.a[ROUTE] = (request, result.state)
            self._emit(ROUTE, True, result.writes)
            self._tell(ROUTE)


def plans() -> list[RoutePlan]:
    catalog = default_catalog()
    household = plan_route(catalog.national[HOUSEHOLD], PLACES)
    pension = plan_route(catalog.national["GG-00201-002"], {"转出地": "440000", "转入地": "330000"})
    return [household, pension]


def check(world: World) -> None:
    _, hub = world.a[ROUTE]
    assert hub.closed, f"hub rests in {hub.status}"
    for leg_no, (_, state) in world.a.items():
        if leg_no == ROUTE:
            continue
        assert state.closed, f"{leg_no} rests in {state.status} at A"
        assert accepting_region_of(leg_no) == ORIGIN
        b_outcome = world.b[leg_no][1].outcome if leg_no in world.b else None
        if leg_no in world.b:
            assert world.b[leg_no][1].closed, f"{leg_no} rests in {world.b[leg_no][1].status} at B"
        assert agree(state.phase, state.outcome, b_outcome), (leg_no, state.outcome, b_outcome)
    assert agree(hub.phase, hub.outcome, None), hub.outcome
    outcomes = {world.a[n][0].leg.step: world.a[n][1].outcome for n in world.a if n != ROUTE}  # type: ignore[union-attr]
    if hub.outcome == "route-approved":
        assert set(outcomes.values()) == {"approved"}
        assert len(outcomes) == len(world.plan.legs)
    else:
        # Nothing the route no longer needs stays approved where it can be undone.
        for step, outcome in outcomes.items():
            if world.plan.leg(step).revoked_by is not None:
                assert outcome != "approved", f"{step} still approved after the route failed"
        # The accepting region undid its own part: the receipt it issued is void.
        hub_effects = world.effects.get(ROUTE, [])
        assert (Effect.ISSUE_RECEIPT in hub_effects) == (Effect.VOID_RECEIPT in hub_effects)


@pytest.mark.parametrize("seed", range(300))
def test_a_route_ends_agreeing_in_every_region(seed: int) -> None:
    rng = random.Random(seed)
    plan = rng.choice(plans())
    refusing = frozenset(leg.step for leg in plan.legs if rng.random() < 0.3)
    world = World(rng, plan, refusing)
    world.run(withdraw_at=rng.randrange(60) if rng.random() < 0.3 else None)
    check(world)


def test_a_route_whose_legs_all_approve_closes_them_all() -> None:
    world = World(random.Random(1), plans()[0], frozenset())
    world.run(withdraw_at=None)
    check(world)
    assert world.a[ROUTE][1].outcome == "route-approved"
    assert all(world.b[n][1].outcome == "approved" for n in world.b)


def test_a_refused_second_leg_has_the_first_revoked_by_its_region() -> None:
    world = World(random.Random(2), plans()[0], frozenset({"move-out"}))
    world.run(withdraw_at=None)
    check(world)
    first, second = f"{ROUTE}-1", f"{ROUTE}-2"
    assert world.a[ROUTE][1].outcome == "route-failed"
    assert world.b[first][1].outcome == "revoked"
    assert Effect.REVOKE_DECISION in world.effects[first]
    assert world.b[second][1].outcome == "denied"
    assert f"{ROUTE}-3" not in world.a  # 落户 never started
