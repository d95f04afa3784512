"""What an operator's case timeline is made of. Pure models: no I/O, so they can be built in
tests from fixed data and rendered (terminal, JSON, HTML) the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from workflows.models import CaseProgress


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Actor(_Model):
    """Who took a step. `person`: a Temporal Update (its name and the caller's identity);
    `policy`: the item's automatic policy; `region`: an event from the other region;
    `workflow`: the workflow itself (timers, compensation, bookkeeping)."""

    kind: Literal["person", "policy", "region", "workflow"]
    update: str | None = None
    identity: str | None = None  # the Temporal client identity that sent the Update
    window_id: str | None = None  # filled once the window API passes its window id along
    region: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "person":
            who = self.window_id or self.identity or "unknown caller"
            return f"Update {self.update} by {who}"
        if self.kind == "policy":
            return "automatic policy"
        if self.kind == "region":
            return f"event from {self.region}"
        return "workflow"


class UpdateCall(_Model):
    """A person's Update as the workflow history recorded its acceptance."""

    name: str
    at: datetime
    identity: str = ""


class EnvelopeRecord(_Model):
    """One message-log row of a region: what it sent or accepted, with its signature checked."""

    region: str
    seq: int
    direction: Literal["sent", "accepted"]
    event_id: str
    event_type: str
    sender: str
    recipient: str
    at: datetime  # the envelope's own time (the sender's clock)
    logged_at: datetime  # when this region logged it
    signature: str  # "valid", or what is wrong
    trace_id: str | None = None


class EffectRecord(_Model):
    region: str
    key: str
    effect: str
    amount_fen: int
    detail: str
    done_at: datetime


class RegionRecords(_Model):
    """Everything one region knows about the case."""

    region: str
    role: Literal["origin", "processing"]
    workflow_id: str
    progress: CaseProgress | None = None
    updates: tuple[UpdateCall, ...] = ()
    envelopes: tuple[EnvelopeRecord, ...] = ()
    effects: tuple[EffectRecord, ...] = ()
    item_code: str | None = None
    case_status: str | None = None  # the region's `cases` row


class Entry(_Model):
    at: datetime
    region: str
    lane: Literal["A", "B"]
    kind: Literal["step", "note", "sent", "accepted"]
    status: str = ""
    detail: str = ""
    actor: Actor | None = None
    event_id: str | None = None
    event_type: str | None = None
    sender: str | None = None
    recipient: str | None = None
    signature: str | None = None
    compensation: bool = False
    amount_fen: int | None = None
    trace_id: str | None = None


class CaseTimeline(_Model):
    case_no: str
    origin_region: str
    processing_region: str | None
    item_code: str | None
    status: dict[str, str]  # lane -> current status
    closed: bool
    outcome: str | None
    deadline: datetime | None
    overdue: bool
    trace_ids: tuple[str, ...]
    workflow_ids: dict[str, str]  # lane -> workflow id
    entries: tuple[Entry, ...]
