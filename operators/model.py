"""What an operator's case timeline is made of. Pure models: no I/O, so they can be built in
tests from fixed data and rendered (terminal, JSON, HTML) the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from workflows.models import Actor as StepActor
from workflows.models import CaseProgress


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Actor(_Model):
    """Who took a step (经办人). `person`: a clerk or officer (工号, name, window), as the
    workflow recorded it in the step; `policy`: the item's automatic policy; `region`: an event
    from the other region; `system`: the workflow itself (timers, compensation, bookkeeping).

    Steps recorded before steps named their actor fall back on the workflow history: a person
    is then known only by the Update's name and the Temporal client identity that sent it."""

    kind: Literal["person", "policy", "region", "system"]
    person_id: str | None = None  # 工号
    name: str | None = None
    window_id: str | None = None  # the window or office the person's token was issued for
    region: str | None = None
    update: str | None = None  # history fallback: the Update's name
    identity: str | None = None  # history fallback: the Temporal client identity

    @classmethod
    def recorded(cls, actor: StepActor) -> Actor:
        return cls(
            kind=actor.kind,
            person_id=actor.person_id,
            name=actor.name,
            window_id=actor.window,
            region=actor.region,
        )

    @property
    def label(self) -> str:
        if self.kind == "person" and self.person_id is None and self.update:
            return f"Update {self.update}（{self.identity or '调用方未知'}）"
        return StepActor(
            kind=self.kind,
            person_id=self.person_id,
            name=self.name,
            window=self.window_id,
            region=self.region,
        ).label


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
    done_at: datetime  # when the step ordered it
    adapter: str = ""  # the region's system that carries it out
    state: str = ""  # ordered, pending, done, refused, dead, resolved (effects/orders.py)


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
    mode: str | None = None  # the mode the row records (全程网办 …); None: implied by the pair


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
    # The mode the case runs in, by its Chinese name; None: recorded before cases named it.
    mode: str | None = None
    status: dict[str, str]  # lane -> current status
    closed: bool
    outcome: str | None
    deadline: datetime | None
    overdue: bool
    trace_ids: tuple[str, ...]
    workflow_ids: dict[str, str]  # lane -> workflow id
    entries: tuple[Entry, ...]
    # "A refund-fee 被拒绝: 账户已注销": effects that keep a lane's case open (decision 0029)
    open_effects: tuple[str, ...] = ()
    # 多地联办: the route's legs, one line each (`第1段 … · 110000 · <case> · 已办结`); each leg
    # is a case of its own, shown with `case show <leg case>`.
    route: tuple[str, ...] = ()
