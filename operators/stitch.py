"""Stitching both regions' records into one timeline, ordered by time.

Workflow steps come from each side's `progress` query; envelopes from each side's message log
(signature checked); effects (and so compensation) from `effect_orders`; who took a step from
the step itself (the workflow records its actor), or, for steps recorded before steps named
their actor, from the Updates in the workflow history. Pure: given the records, the timeline is
determined.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from operators.model import (
    Actor,
    CaseTimeline,
    EffectRecord,
    Entry,
    RegionRecords,
    UpdateCall,
)
from workflows.lifecycle import intake, processing
from workflows.lifecycle.effects import WATCH_LABELS
from workflows.models import CaseStep, Effect


def _first_steps(by_policy: bool) -> dict[str, frozenset[str]]:
    """Per Update name, the statuses its moves step into first (from the lifecycle tables);
    with `by_policy`, only the moves an item's automatic policy can take instead."""
    found: dict[str, set[str]] = {}
    for side in (intake, processing):
        for row in side.TABLE.rows:
            update = side.PERSON_STEPS.get(row.trigger)
            if update and row.steps and (not by_policy or row.trigger in side.POLICY_STEPS):
                found.setdefault(update, set()).add(row.steps[0])
    return {update: frozenset(steps) for update, steps in found.items()}


# Statuses a person's Update can cause, per Update name. A step of these with no matching
# Update before it was taken by the item's automatic policy.
_UPDATE_STEPS = _first_steps(by_policy=False)
_POLICY_STEPS: frozenset[str] = frozenset().union(*_first_steps(by_policy=True).values())

COMPENSATIONS = frozenset(
    {
        Effect.REFUND_FEE,
        Effect.VOID_RECEIPT,
        Effect.RETURN_MATERIALS,
        Effect.REVOKE_ACCEPTANCE_NOTICE,
        Effect.REVOKE_DECISION,
    }
)


def _matches(update: str, step: CaseStep, is_note: bool) -> bool:
    # An Update moves a case to a new status; a note (same status) is never a person's step.
    return not is_note and step.status in _UPDATE_STEPS.get(update, frozenset())


def _actors(records: RegionRecords) -> list[Actor | None]:
    """One actor per step of the region's progress, in order."""
    steps = records.progress.steps if records.progress else ()
    pending: list[UpdateCall] = sorted(records.updates, key=lambda u: u.at)
    actors: list[Actor | None] = []
    previous_status = None
    for step in steps:
        is_note = step.status == previous_status
        previous_status = step.status
        if step.actor is not None:
            actors.append(Actor.recorded(step.actor))
            continue
        taken = next(
            (u for u in pending if u.at <= step.at and _matches(u.name, step, is_note)), None
        )
        if taken is not None:
            pending.remove(taken)
            actors.append(Actor(kind="person", update=taken.name, identity=taken.identity or None))
        elif step.event_id and not _sent_by_region(records, step.event_id):
            sender = _sender(records, step.event_id)
            actors.append(Actor(kind="region", region=sender))
        elif not is_note and step.status in _POLICY_STEPS:
            actors.append(Actor(kind="policy"))
        else:
            actors.append(Actor(kind="system"))
    return actors


def _sent_by_region(records: RegionRecords, event_id: str) -> bool:
    return any(e.event_id == event_id and e.direction == "sent" for e in records.envelopes)


def _sender(records: RegionRecords, event_id: str) -> str | None:
    return next((e.sender for e in records.envelopes if e.event_id == event_id), None)


def _effect_of(note: CaseStep, effects: Iterable[EffectRecord]) -> EffectRecord | None:
    for effect in effects:
        if note.detail == effect.effect or note.detail.startswith(f"{effect.effect}:"):
            return effect
    return None


def _step_entries(records: RegionRecords, lane: str) -> list[Entry]:
    if records.progress is None:
        return []
    entries = []
    previous = None
    remaining = list(records.effects)
    for step, actor in zip(records.progress.steps, _actors(records), strict=True):
        is_note = step.status == previous
        previous = step.status
        effect = _effect_of(step, remaining) if is_note else None
        if effect is not None:
            remaining.remove(effect)
        entries.append(
            Entry(
                at=step.at,
                region=step.region,
                lane="A" if lane == "A" else "B",
                kind="note" if is_note else "step",
                status=step.status,
                detail=step.detail,
                actor=actor,
                event_id=step.event_id,
                compensation=effect is not None and effect.effect in COMPENSATIONS,
                amount_fen=effect.amount_fen if effect is not None and effect.amount_fen else None,
            )
        )
    return entries


def _envelope_entries(records: RegionRecords, lane: str) -> list[Entry]:
    return [
        Entry(
            at=e.logged_at,
            region=e.region,
            lane="A" if lane == "A" else "B",
            kind=e.direction,
            detail=f"{e.event_type.rsplit('.', 1)[-1]} {e.sender}→{e.recipient}",
            event_id=e.event_id,
            event_type=e.event_type,
            sender=e.sender,
            recipient=e.recipient,
            signature=e.signature,
            trace_id=e.trace_id,
        )
        for e in records.envelopes
    ]


def _order(entry: Entry) -> tuple[datetime, int]:
    # Same instant: a workflow step before the envelope it caused, sent before accepted.
    rank = {"step": 0, "note": 0, "sent": 1, "accepted": 2}[entry.kind]
    return entry.at, rank


def stitch(case_no: str, a: RegionRecords, b: RegionRecords | None) -> CaseTimeline:
    entries = _step_entries(a, "A") + _envelope_entries(a, "A")
    if b is not None:
        entries += _step_entries(b, "B") + _envelope_entries(b, "B")
    entries.sort(key=_order)
    traces = tuple(dict.fromkeys(e.trace_id for e in entries if e.trace_id))
    pa, pb = a.progress, b.progress if b else None
    status = {"A": pa.status if pa else (a.case_status or "unknown")}
    if b is not None:
        status["B"] = pb.status if pb else (b.case_status or "not started")
    closed = bool(pa and pa.closed) and (b is None or bool(pb and pb.closed))
    return CaseTimeline(
        case_no=case_no,
        origin_region=a.region,
        processing_region=b.region if b else None,
        item_code=a.item_code,
        mode=a.mode or (b.mode if b else None),
        status=status,
        closed=closed,
        outcome=(pa.outcome if pa else None) or (pb.outcome if pb else None),
        deadline=(pb.deadline if pb else None) or (pa.deadline if pa else None),
        overdue=bool((pa and pa.overdue) or (pb and pb.overdue)),
        trace_ids=traces,
        workflow_ids={"A": a.workflow_id, **({"B": b.workflow_id} if b else {})},
        entries=tuple(entries),
        open_effects=tuple(
            f"{lane} {w.key} {WATCH_LABELS[w.state]}{f': {w.reason}' if w.reason else ''}"
            for lane, p in (("A", pa), ("B", pb))
            if p is not None
            for w in p.effects_open
        ),
        route=tuple(leg.line() for leg in pa.route) if pa else (),
    )
