"""Both sides' lifecycle models, driven together through random histories, end in a matching
terminal pair (docs/lifecycle.md, "How the two sides end").

The models are the code the workflows run (`workflows.lifecycle`); this test stands in for
everything around them: people take any step the table allows, events between the regions are
delayed, duplicated, reordered and lost then resent, the transport reports delivery failures,
timers fire, and every side continues as new (its state through JSON) at random boundaries.
Runs: TONGBAN_CONVERGENCE_RUNS (default 10,000); a failure names its seed, and
TONGBAN_CONVERGENCE_SEED=<seed> replays exactly that run.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from events.envelope import event_id_for
from events.models import (
    PAYLOAD_MODELS,
    DeliveryFailure,
    EventType,
    InboundEvent,
    MaterialRef,
)
from workflows.lifecycle import intake as A
from workflows.lifecycle import processing as B
from workflows.lifecycle.engine import Trigger
from workflows.lifecycle.pairs import agree
from workflows.lifecycle.vocabulary import (
    AcceptanceDecision,
    AddMaterials,
    ApplyEffect,
    AutoPolicy,
    CaseTimings,
    CaseWrite,
    Decision,
    DeliveryConfirmation,
    Effect,
    FormalReview,
    ForwardCase,
    SendDecision,
    SendEvent,
    SupplementMaterials,
    SupplementRequest,
    Withdrawal,
)

RUNS = int(os.environ.get("TONGBAN_CONVERGENCE_RUNS", "10000"))
ONLY_SEED = os.environ.get("TONGBAN_CONVERGENCE_SEED")
CASE = "350000-20250303-AB12CD34"
ORIGIN, PROCESSING = "350000", "440000"
TIMINGS = CaseTimings(
    answer_timeout=timedelta(seconds=100),
    supplement_working_days=6,
    cancel_timeout=timedelta(seconds=50),
    delivery_wait=timedelta(seconds=300),
    acceptance_working_days=5,
    working_day=timedelta(seconds=10),
    history_limit=20,
)
START = datetime(2025, 3, 3, 1, tzinfo=UTC)


def material(name: str) -> MaterialRef:
    digest = f"{abs(hash(name)) % 16**8:08x}" * 8
    return MaterialRef(name=name, sha256=digest, ref=f"window://{name}")


@dataclass
class Message:
    to: str  # "A" or "B"
    event: InboundEvent


@dataclass
class World:
    rng: random.Random
    a_req: A.IntakeRequest
    b_start: B.ProcessingStart
    a: A.IntakeState
    b: B.ProcessingState | None = None  # None: B's dispatcher has started no workflow
    now: datetime = START
    net: list[Message] = field(default_factory=list)
    sent_steps: dict[str, set[str]] = field(default_factory=lambda: {"A": set(), "B": set()})
    effect_keys: dict[str, list[str]] = field(default_factory=lambda: {"A": [], "B": []})
    journal: dict[str, list[Effect]] = field(default_factory=lambda: {"A": [], "B": []})
    a_sent: list[tuple[str, EventType]] = field(default_factory=list)
    b_materials: set[str] = field(default_factory=set)
    trace: list[str] = field(default_factory=list)

    # --- the wire ---------------------------------------------------------------------------

    def _emit(self, side: str, writes: tuple[CaseWrite, ...]) -> None:
        sender = ORIGIN if side == "A" else PROCESSING
        to = "B" if side == "A" else "A"
        for write in writes:
            if isinstance(write, ApplyEffect):
                assert write.key not in self.effect_keys[side], f"effect key reused: {write.key}"
                self.effect_keys[side].append(write.key)
                self.journal[side].append(write.effect)
                continue
            if isinstance(write, SendEvent):
                step, kind, data = write.step, write.event_type, dict(write.data)
                model = PAYLOAD_MODELS[kind]
                data = model.model_validate(data).model_dump(mode="json")
            elif isinstance(write, ForwardCase):
                step, kind = "forwarded", EventType.FORWARDED
                data = {
                    "case_no": CASE,
                    "materials": [m.model_dump(mode="json") for m in write.materials],
                }
            elif isinstance(write, SendDecision):
                step, kind = write.step, EventType.DECIDED
                data = {
                    "case_no": CASE,
                    "outcome": write.outcome,
                    "reason": write.reason,
                    "decision_digest": None,
                }
            else:
                if isinstance(write, AddMaterials) and side == "B":
                    self.b_materials.update(m.name for m in write.materials)
                continue
            # A step's event id is unique per case and sender: a second event under one step
            # would be swallowed by the outbox's idempotency.
            assert step not in self.sent_steps[side], f"{side} sent step {step} twice"
            self.sent_steps[side].add(step)
            event_id = event_id_for(CASE, step, sender)
            if side == "A":
                self.a_sent.append((event_id, kind))
            self.net.append(
                Message(
                    to,
                    InboundEvent(
                        event_id=event_id, type=kind, sender_region=sender, time=self.now, data=data
                    ),
                )
            )

    def deliver(self, index: int, *, duplicate: bool) -> None:
        message = self.net[index] if duplicate else self.net.pop(index)
        event = message.event
        self.trace.append(f"deliver {event.type.value.rsplit('.', 1)[1]} to {message.to}")
        if message.to == "A":
            if not self.a.closed:  # a closed workflow takes no signal
                self.a = A.receive(self.a, event)
            return
        if self.b is None:
            if event.type is not EventType.FORWARDED:
                return  # the dispatcher finds no workflow: noted, not applied
            self.b = B.start(self.b_start)
            self.b_materials.update(m["name"] for m in event.data["materials"])
        if not self.b.closed:
            self.b = B.receive(self.b, event)

    # --- each side's workflow loop ------------------------------------------------------------

    def system_step(self, side: str) -> bool:
        if side == "A":
            trigger = A.next_trigger(self.a_req, self.a, self.now)
            if trigger is None or self.a.closed:
                return False
            self._apply_a(trigger)
            return True
        if self.b is None or self.b.closed:
            return False
        b_trigger = B.next_trigger(self.b_start, self.b, self.now)
        if b_trigger is None:
            return False
        self._apply_b(b_trigger)
        return True

    def _apply_a(self, trigger: Trigger[A.On]) -> None:
        self.trace.append(f"A {self.a.phase} +{trigger.kind}")
        result = A.step(self.a_req, self.a, trigger, self.now)
        self.a = result.state
        self._emit("A", result.writes)

    def _apply_b(self, trigger: Trigger[B.On]) -> None:
        assert self.b is not None
        self.trace.append(f"B {self.b.phase} +{trigger.kind}")
        result = B.step(self.b_start, self.b, trigger, self.now)
        self.b = result.state
        self._emit("B", result.writes)

    def settle(self) -> None:
        """Each workflow runs until it waits."""
        while self.system_step("A") or self.system_step("B"):
            pass

    # --- people -------------------------------------------------------------------------------

    def a_inputs(self, *, progress_only: bool) -> list[Any]:
        options: list[Any] = [
            FormalReview(outcome="pass"),
            FormalReview(outcome="refuse", reason="不符合"),
            DeliveryConfirmation(channel="mail", tracking_no="SF1"),
        ]
        if not progress_only:
            options += [
                FormalReview(outcome="supplement", missing=("户口簿",)),
                # 一次性告知: a further round only about what the last 补正 brought
                FormalReview(
                    outcome="supplement",
                    missing=("更名证明",),
                    concerns_new_materials=True,
                    concerning=self.a.last_supplied[:1],
                ),
                SupplementMaterials(materials=(material(f"补正{len(self.trace)}"),)),
                Withdrawal(reason="申请人撤回"),
            ]
        return [
            o
            for o in options
            if A.allows(self.a_req, self.a, A.input_trigger(o).kind)
            and A.refusal(self.a_req, self.a, o) is None
        ]

    def b_inputs(self, *, progress_only: bool) -> list[Any]:
        if self.b is None or self.b.closed:
            return []
        options: list[Any] = [
            AcceptanceDecision(accept=True),
            AcceptanceDecision(accept=False, reason="不予受理"),
            Decision(approve=True, reason="符合"),
            Decision(approve=False, reason="不符合"),
        ]
        if not progress_only:
            options.append(SupplementRequest(missing=("证明",)))
            options.append(
                SupplementRequest(
                    missing=("说明",),
                    concerns_new_materials=True,
                    concerning=self.b.last_supplied[:1],
                )
            )
        b = self.b
        return [
            o
            for o in options
            if B.allows(self.b_start, b, B.input_trigger(o).kind)
            and B.refusal(self.b_start, b, o) is None
        ]

    def person(self, *, progress_only: bool) -> bool:
        choices = [("A", o) for o in self.a_inputs(progress_only=progress_only)]
        choices += [("B", o) for o in self.b_inputs(progress_only=progress_only)]
        if not choices:
            return False
        side, given = self.rng.choice(choices)
        if side == "A":
            self._apply_a(A.input_trigger(given))
        else:
            self._apply_b(B.input_trigger(given))
        return True

    # --- time, failures, continue-as-new --------------------------------------------------------

    def next_due(self) -> datetime | None:
        dues = []
        if not self.a.closed and (timer := A.due(self.a_req, self.a)):
            dues.append(timer[0])
        if self.b is not None and not self.b.closed and (b_timer := B.due(self.b_start, self.b)):
            dues.append(b_timer[0])
        return min(dues, default=None)

    def jump_to_next_due(self) -> bool:
        at = self.next_due()
        if at is None:
            return False
        self.now = max(self.now, at)
        self.trace.append(f"time {self.now:%H:%M:%S}")
        return True

    def delivery_failure(self) -> None:
        if not self.a_sent:
            return
        event_id, kind = self.rng.choice(self.a_sent)
        failure = DeliveryFailure(
            event_id=event_id,
            event_type=kind,
            recipient_region=PROCESSING,
            attempts=12,
            reason="no receipt",
        )
        self.trace.append(f"A delivery failure of {kind.value.rsplit('.', 1)[1]}")
        if not self.a.closed:
            self.a = A.receive(self.a, failure)

    def continue_as_new(self) -> None:
        """The state is the carry: through JSON it must come back exactly."""
        carried = A.IntakeRequest.model_validate_json(
            self.a_req.model_copy(update={"carry": self.a}).model_dump_json()
        )
        assert carried.carry == self.a, "A's carry lost state"
        self.a = A.start(carried)
        if self.b is not None:
            b_carried = B.ProcessingStart.model_validate_json(
                self.b_start.model_copy(update={"carry": self.b}).model_dump_json()
            )
            assert b_carried.carry == self.b, "B's carry lost state"
            self.b = B.start(b_carried)
        self.trace.append("continue-as-new")

    # --- one run --------------------------------------------------------------------------------

    def chaos(self, actions: int) -> None:
        rng = self.rng
        for _ in range(actions):
            self.now += timedelta(seconds=rng.choice((0, 0, 1, 3, 7)))
            roll = rng.random()
            if roll < 0.35 and self.net:
                self.deliver(rng.randrange(len(self.net)), duplicate=rng.random() < 0.15)
            elif roll < 0.45 and self.net:
                # lost, then resent: the message goes to the back of the wire
                self.net.append(self.net.pop(rng.randrange(len(self.net))))
            elif roll < 0.7:
                self.person(progress_only=False)
            elif roll < 0.8:
                self.jump_to_next_due()
            elif roll < 0.82:
                self.delivery_failure()
            elif roll < 0.9:
                self.continue_as_new()
            # Workflows do not always run at once: a side may lag behind what it was told.
            if rng.random() < 0.7:
                self.system_step(rng.choice("AB"))

    def quiesce(self) -> None:
        """No more chaos: every message arrives, people only move cases on, timers fire."""
        for _ in range(5000):
            self.settle()
            if self.net:
                self.deliver(self.rng.randrange(len(self.net)), duplicate=False)
                continue
            if self.a.closed and (self.b is None or self.b.closed):
                return
            if self.person(progress_only=True):
                continue
            if not self.jump_to_next_due():
                raise AssertionError("stuck: nothing arrives, nobody may act, no timer runs")
        raise AssertionError("did not settle")


def random_world(rng: random.Random) -> World:
    fee = rng.choice((0, 0, 800))
    a_policy = AutoPolicy(
        formal_review=rng.choice(("pass", "manual")),
        delivery=rng.choice(("window", "manual")),
    )
    b_policy = AutoPolicy(
        acceptance=rng.choice(("accept", "not-accept", "manual", "manual")),
        decision=rng.choice(("approve", "deny", "manual", "manual")),
    )
    timings = TIMINGS.model_copy(
        update={"compensation_step_delay": timedelta(seconds=rng.choice((0, 2)))}
    )
    a_req = A.IntakeRequest(
        case_no=CASE,
        item_code="GG-99001-000",
        item_version=1,
        origin_region=ORIGIN,
        processing_region=PROCESSING,
        required_materials=rng.choice(((), ("身份证",))),
        materials=(material("申请表"),),
        fee_fen=fee,
        on_missed_supplement=rng.choice(("withdrawn", "withdrawn", "refused")),
        policy=a_policy,
        timings=timings,
    )
    b_start = B.ProcessingStart(
        case_no=CASE,
        processing_region=PROCESSING,
        promised_working_days=3,
        statutory_working_days=rng.choice((None, 3, 5)),
        on_missed_supplement=rng.choice(("withdrawn", "withdrawn", "refused")),
        policy=b_policy,
        timings=timings,
    )
    return World(rng, a_req, b_start, A.start(a_req))


def check(world: World) -> None:
    a, b = world.a, world.b
    assert a.closed
    assert b is None or b.closed
    b_outcome = b.outcome if b is not None else None
    assert agree(a.phase, a.outcome, b_outcome), f"split: A {a.phase}/{a.outcome}, B {b_outcome}"
    if b is not None and a.outcome in ("withdrawn", "deemed-withdrawn"):
        # A withdrawal and a 视为撤回 end in the same status of their own on both sides.
        assert b.status == a.status, f"A {a.status}, B {b.status}"
    refunds = world.journal["A"].count(Effect.REFUND_FEE)
    if world.a_req.fee_fen and Effect.CHARGE_FEE in world.journal["A"]:
        assert refunds == (a.phase is not A.Phase.CLOSED)
    else:
        assert refunds == 0
    # Every material A's case file holds when it forwards reaches B's; B's 补正 too.
    if b is not None:
        assert {m.name for m in b.materials} <= world.b_materials


def run_once(seed: int) -> World:
    rng = random.Random(seed)
    world = random_world(rng)
    try:
        world.settle()
        world.chaos(rng.randrange(10, 120))
        world.quiesce()
        check(world)
    except AssertionError as exc:
        trail = "\n  ".join(world.trace[-40:])
        raise AssertionError(
            f"seed {seed}: {exc}\n  replay: TONGBAN_CONVERGENCE_SEED={seed}\n  {trail}"
        ) from exc
    return world


def test_both_sides_converge_to_a_matching_terminal_pair() -> None:
    base = int(ONLY_SEED) if ONLY_SEED else 20250303
    runs = 1 if ONLY_SEED else RUNS
    ends: dict[tuple[str, str | None, str | None], int] = {}
    for seed in range(base, base + runs):
        world = run_once(seed)
        key = (world.a.phase.value, world.a.outcome, world.b.outcome if world.b else None)
        ends[key] = ends.get(key, 0) + 1
    if not ONLY_SEED:
        # The random histories reach every pair the model allows, not only the easy ones.
        reached = {(a_outcome, b_outcome) for _, a_outcome, b_outcome in ends}
        assert ("transfer-failed", "cancelled") in reached
        assert ("withdrawn", "cancelled") in reached
        assert ("approved", "approved") in reached
        assert ("not-accepted", "not-accepted") in reached
        assert ("denied", "denied") in reached
        assert ("refused-at-intake", None) in reached
        assert ("deemed-withdrawn", "deemed-withdrawn") in reached
        assert ("deemed-withdrawn", None) in reached
