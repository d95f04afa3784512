"""What a case's effects came to, as its workflow tracks them (decision 0029). Pure.

A step orders effects (its commit writes the orders); the workflow then has the region's
systems carry them out and hears back: done (forgotten), pending (waits for the system's
callback until a due time), refused or dead (no usable answer after the adapter's attempts).
A refused, dead or overdue effect is escalated (an `escalate-effect` effect, itself carried
out and tracked, never escalated again) and stays open until an operator retries it or
records it done by other means. A case's workflow ends only when its lifecycle is closed AND
no effect is open: nothing a refund still owes is closed silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from activities.contracts import ApplyEffect, CaseWrite, Effect, EffectSettled
from workflows.lifecycle.vocabulary import Actor, CaseStep

Watches = tuple["EffectWatch", ...]
WatchState = Literal["ordered", "pending", "late", "refused", "dead"]
# Chinese names for people (the case view, the timeline).
WATCH_LABELS: dict[str, str] = {
    "ordered": "待执行",
    "pending": "待对方回执",
    "late": "回执逾期",
    "refused": "被拒绝",
    "dead": "多次失败",
}


class EffectWatch(BaseModel):
    """An effect ordered and not yet done."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    effect: Effect
    state: WatchState = "ordered"
    series: int = Field(default=1, ge=1)
    due: datetime | None = None  # pending: the callback is due by then
    reason: str = ""


class EffectRetried(BaseModel):
    """An operator reopened a refused or dead effect (a refused one under a new series)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    series: int = Field(ge=1)
    by: str = Field(default="", pattern=r"^\S{0,32}$")  # the operator's 工号


class EffectResolved(BaseModel):
    """An operator recorded the effect done by other means (a cash refund, a phone call)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    note: str = Field(default="", max_length=500)
    by: str = Field(default="", pattern=r"^\S{0,32}$")  # the operator's 工号


News = EffectSettled | EffectRetried | EffectResolved


class Followed(BaseModel):
    """The watches after some news, with what the workflow records about it."""

    model_config = ConfigDict(frozen=True)

    watches: tuple[EffectWatch, ...]
    steps: tuple[CaseStep, ...] = ()
    writes: tuple[CaseWrite, ...] = ()


def ordered(
    watches: tuple[EffectWatch, ...], writes: Iterable[CaseWrite]
) -> tuple[EffectWatch, ...]:
    """Watch every effect `writes` orders (once per key)."""
    known = {w.key for w in watches}
    added = [
        EffectWatch(key=w.key, effect=w.effect)
        for w in writes
        if isinstance(w, ApplyEffect) and w.key not in known
    ]
    return (*watches, *added)


def next_due(watches: tuple[EffectWatch, ...]) -> datetime | None:
    dues = [w.due for w in watches if w.state == "pending" and w.due is not None]
    return min(dues) if dues else None


def follow(
    watches: tuple[EffectWatch, ...], news: News, *, now: datetime, region: str, status: str
) -> Followed:
    """What `news` about one effect does to the watches."""
    watch = next((w for w in watches if w.key == news.key), None)
    if watch is None:
        return Followed(watches=watches)  # done already, or never ours: nothing to do
    rest = tuple(w for w in watches if w.key != news.key)
    line = _Lines(now, region, status)
    if isinstance(news, EffectResolved):
        line.add(f"{news.key}: 已由人工办结{f'（{news.note}）' if news.note else ''}", news.by)
        return Followed(watches=rest, steps=line.steps)
    if isinstance(news, EffectRetried):
        if news.series < watch.series:
            return Followed(watches=watches)
        again = watch.model_copy(update={"state": "ordered", "series": news.series, "due": None})
        line.add(f"{news.key}: 重新执行（第 {news.series} 轮）", news.by)
        return Followed(watches=(*rest, again), steps=line.steps)
    if news.series != watch.series:
        return Followed(watches=watches)  # an answer to an earlier series
    if news.outcome == "done":
        return Followed(watches=rest)
    if news.outcome == "pending":
        if watch.state != "ordered":
            return Followed(watches=watches)  # a callback already answered; keep that
        waiting = watch.model_copy(update={"state": "pending", "due": news.answer_due})
        return Followed(watches=(*rest, waiting))
    if watch.state in ("refused", "dead"):
        return Followed(watches=watches)  # its failure is known and escalated already
    failed = watch.model_copy(update={"state": news.outcome, "reason": news.reason, "due": None})
    said = "被拒绝" if news.outcome == "refused" else "多次执行失败"
    line.add(f"{news.key}: {said}：{news.reason}")
    return _escalated(rest, failed, line)


def overdue(
    watches: tuple[EffectWatch, ...], *, now: datetime, region: str, status: str
) -> Followed:
    """Pending effects whose callback is past due: escalated once each, still waiting."""
    line = _Lines(now, region, status)
    result = Followed(watches=watches)
    for watch in watches:
        if watch.state == "pending" and watch.due is not None and watch.due <= now:
            rest = tuple(w for w in result.watches if w.key != watch.key)
            late = watch.model_copy(update={"state": "late", "due": None})
            line.add(f"{watch.key}: 对方系统未在期限内回执")
            result = _escalated(rest, late, line, result.writes)
    return Followed(watches=result.watches, steps=line.steps, writes=result.writes)


def _escalated(
    rest: tuple[EffectWatch, ...],
    failed: EffectWatch,
    line: _Lines,
    writes: tuple[CaseWrite, ...] = (),
) -> Followed:
    if failed.effect is Effect.ESCALATE_EFFECT:
        return Followed(watches=(*rest, failed), steps=line.steps, writes=writes)
    escalation = ApplyEffect(
        effect=Effect.ESCALATE_EFFECT,
        key=f"escalate-effect:{failed.key}:{failed.series}:{failed.state}",
        detail=f"{failed.effect.value} {failed.state}: {failed.reason}"[:2000],
    )
    line.add(f"{Effect.ESCALATE_EFFECT.value}: {failed.key}")
    watched = ordered((*rest, failed), (escalation,))
    return Followed(watches=watched, steps=line.steps, writes=(*writes, escalation))


class _Lines:
    def __init__(self, now: datetime, region: str, status: str) -> None:
        self._now, self._region, self._status = now, region, status
        self.steps: tuple[CaseStep, ...] = ()

    def add(self, detail: str, by: str = "") -> None:
        actor = (
            Actor(kind="person", region=self._region, person_id=by)
            if by
            else Actor(kind="system", region=self._region)
        )
        step = CaseStep(
            at=self._now, region=self._region, status=self._status, detail=detail, actor=actor
        )
        self.steps = (*self.steps, step)
