"""How a transition table runs: one trigger in, the next state and the writes out.

A side's table maps (phase, trigger) to the phase it moves to and what the move may do: the
statuses it steps through (exactly), the effects it may record and the events it may send.
A side's handler computes the details (who, how much, which deadline); `apply` checks what the
handler did against the row, so the table and the code cannot drift apart unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from events.envelope import event_id_for
from events.models import DeliveryFailure, EventType, InboundEvent
from workflows.lifecycle.effects import EffectWatch
from workflows.lifecycle.route import RouteSignal
from workflows.lifecycle.vocabulary import (
    Actor,
    ApplyEffect,
    CaseStep,
    CaseWrite,
    Effect,
    ForwardCase,
    SendDecision,
    SendEvent,
)

P = TypeVar("P", bound=StrEnum)
K = TypeVar("K", bound=StrEnum)
S = TypeVar("S", bound="CaseRecord")

By = Literal["person", "policy", "event", "timer", "workflow"]


class LifecycleDrift(RuntimeError):
    """A handler did something its table row does not say: a bug, never a business outcome."""


class CaseRecord(BaseModel):
    """What both sides' case states hold: the timeline and the events already applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_no: str
    region: str
    status: str
    steps: tuple[CaseStep, ...] = ()
    applied_events: tuple[str, ...] = ()  # dedupe: the dispatcher may deliver twice
    # Arrived, not yet applied, in order: the other side's events and, on A, the transport's
    # word that an event was never receipted, and a 多地联办 route's hub and legs' signals.
    queue: tuple[InboundEvent | DeliveryFailure | RouteSignal, ...] = ()
    outcome: str | None = None
    deadline: datetime | None = None  # 承诺时限
    statutory_deadline: datetime | None = None  # 法定时限, where the item has one
    overdue: bool = False  # either deadline passed
    # Effects ordered and not yet done (decision 0029): the workflow ends only without any.
    effects: tuple[EffectWatch, ...] = ()


@dataclass(frozen=True)
class Transition(Generic[P, K]):
    phase: P
    trigger: K
    next: P
    steps: tuple[str, ...]  # statuses stepped through, in order
    effects: tuple[Effect, ...] = ()  # effects the move may record
    sends: tuple[EventType, ...] = ()  # events the move may send
    says: str = ""  # what happens, for docs/lifecycle.md


@dataclass(frozen=True)
class Trigger(Generic[K]):
    kind: K
    by: By
    payload: object = None  # the person's input, the event, the failure
    event_id: str | None = None
    queued: bool = False  # taken from the head of the state's queue
    actor: Actor | None = None  # who takes it, when `by` alone does not say (a person)


def actor_of(trigger: Trigger[Any], region: str) -> Actor:
    """Who takes the step `trigger` causes, as every line of the step records it."""
    if trigger.actor is not None:
        return trigger.actor
    if trigger.by == "person":
        # An Update sent without the node's actor (straight to Temporal, or recorded before
        # steps named their person): still a person's step, whose person is not known.
        return Actor(kind="person", region=region)
    if trigger.by == "policy":
        return Actor(kind="policy", region=region)
    if trigger.by == "event" and isinstance(trigger.payload, InboundEvent):
        return Actor(kind="region", region=trigger.payload.sender_region)
    return Actor(kind="system", region=region)  # timers, the workflow, own transport failures


class Table(Generic[P, K]):
    def __init__(self, rows: Iterable[Transition[P, K]]) -> None:
        self.rows: tuple[Transition[P, K], ...] = tuple(rows)
        self._by_key: dict[tuple[P, K], Transition[P, K]] = {}
        for row in self.rows:
            key = (row.phase, row.trigger)
            if key in self._by_key:
                raise LifecycleDrift(f"two rows for {key}")
            self._by_key[key] = row

    def find(self, phase: P, trigger: K) -> Transition[P, K] | None:
        return self._by_key.get((phase, trigger))

    def allows(self, phase: P, trigger: K) -> bool:
        return (phase, trigger) in self._by_key


def rows(
    phases: Iterable[P],
    trigger: K,
    next_phase: P | None,
    steps: tuple[str, ...] = (),
    *,
    effects: tuple[Effect, ...] = (),
    sends: tuple[EventType, ...] = (),
    says: str = "",
) -> list[Transition[P, K]]:
    """One row per phase; `next_phase` None: the case stays where it is."""
    return [Transition(p, trigger, next_phase or p, steps, effects, sends, says) for p in phases]


@dataclass
class Tx:
    """What one transition does, collected by its handler."""

    region: str
    case_no: str
    now: datetime
    status: str
    actor: Actor | None = None
    steps: list[CaseStep] = field(default_factory=list)
    writes: list[CaseWrite] = field(default_factory=list)
    stepped: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)

    def step(self, status: str, *, detail: str = "", event_id: str | None = None) -> None:
        self.status = status
        self.stepped.append(status)
        self.steps.append(self._line(status, detail, event_id))

    def note(self, detail: str, *, event_id: str | None = None) -> None:
        self.steps.append(self._line(self.status, detail, event_id))

    def effect(self, what: Effect, *, key: str = "", amount_fen: int = 0, detail: str = "") -> None:
        self.writes.append(
            ApplyEffect(effect=what, key=key or what.value, amount_fen=amount_fen, detail=detail)
        )
        self.note(f"{what.value}{f': {detail}' if detail else ''}")

    def send(
        self, step: str, event_type: EventType, recipient: str, data: Mapping[str, object]
    ) -> str:
        """An event for the outbox; returns the id the commit will give it."""
        self.writes.append(
            SendEvent(
                step=step,
                event_type=event_type,
                recipient=recipient,
                data={"case_no": self.case_no, **data},
            )
        )
        return self.event_id(step)

    def write(self, write: CaseWrite) -> None:
        self.writes.append(write)

    def event_id(self, step: str) -> str:
        """Derived from case, step and sender: known before the event is written, and a retried
        commit reuses it."""
        return event_id_for(self.case_no, step, self.region)

    def set(self, **changes: Any) -> None:
        self.changes.update(changes)

    def _line(self, status: str, detail: str, event_id: str | None) -> CaseStep:
        return CaseStep(
            at=self.now,
            region=self.region,
            status=status,
            event_id=event_id,
            detail=detail,
            actor=self.actor,
        )


@dataclass(frozen=True)
class Result(Generic[S]):
    state: S
    writes: tuple[CaseWrite, ...]
    applied: bool  # False: not allowed in the phase the case is in; only noted


Handler = Callable[[Any, Any, Trigger[Any], Tx], None]


def _sent(write: CaseWrite) -> EventType | None:
    if isinstance(write, SendEvent):
        return write.event_type
    if isinstance(write, SendDecision):
        return EventType.DECIDED
    if isinstance(write, ForwardCase):
        return EventType.FORWARDED
    return None


def apply(
    table: Table[Any, Any],
    handlers: Mapping[Any, Handler],
    case: Any,
    state: S,
    trigger: Trigger[Any],
    now: datetime,
) -> Result[S]:
    """Run `trigger` against `state` (whose `phase` the table knows)."""
    phase = getattr(state, "phase")  # noqa: B009 - each side's state declares its own Phase
    rest = state.queue[1:] if trigger.queued else state.queue
    row = table.find(phase, trigger.kind)
    tx = Tx(state.region, state.case_no, now, state.status, actor_of(trigger, state.region))
    if row is None:
        tx.note(f"ignored {trigger.kind.value} in {state.status}", event_id=trigger.event_id)
        ignored = state.model_copy(update={"queue": rest, "steps": state.steps + tuple(tx.steps)})
        return Result(ignored, (), applied=False)
    handlers[trigger.kind](case, state, trigger, tx)
    if tuple(tx.stepped) != row.steps:
        raise LifecycleDrift(f"{phase}+{trigger.kind}: stepped {tx.stepped}, table {row.steps}")
    for write in tx.writes:
        if isinstance(write, ApplyEffect) and write.effect not in row.effects:
            raise LifecycleDrift(f"{phase}+{trigger.kind}: effect {write.effect} not in table")
        sent = _sent(write)
        if sent is not None and sent not in row.sends:
            raise LifecycleDrift(f"{phase}+{trigger.kind}: sends {sent} not in table")
    update: dict[str, Any] = {
        "phase": row.next,
        "status": tx.status,
        "queue": rest,
        "steps": state.steps + tuple(tx.steps),
        **tx.changes,
    }
    return Result(state.model_copy(update=update), tuple(tx.writes), applied=True)


def receive(state: S, item: InboundEvent | DeliveryFailure | RouteSignal) -> S:
    """Queue an event once per id: a redelivered event is not applied twice."""
    key = f"failed:{item.event_id}" if isinstance(item, DeliveryFailure) else item.event_id
    if key in state.applied_events:
        return state
    return state.model_copy(
        update={"applied_events": (*state.applied_events, key), "queue": (*state.queue, item)}
    )
