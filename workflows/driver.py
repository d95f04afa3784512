"""Runs one side's lifecycle model inside a workflow: the same pure code the convergence test
runs, fed with what happens (people's inputs, the other side's events, timers).

The loop takes, in order: a person's input (validated against the state it will be applied
to), the oldest arrived event, a step the policy or the workflow takes, a timer already due;
otherwise it commits its steps and waits. It continues as new at any rest point once the
history is long, carrying the model's state as it is, and only when no Update is in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import EffectCall, EffectSettled
    from activities.effects import EffectActivities
    from events.models import DeliveryFailure, InboundEvent
    from workflows.lifecycle import effects as fx
    from workflows.lifecycle.engine import CaseRecord, Result, Trigger, receive
    from workflows.lifecycle.route import RouteSignal
    from workflows.lifecycle.vocabulary import RuleBroken
    from workflows.models import StepAck
    from workflows.timeline import Recorder

Req = TypeVar("Req")
St = TypeVar("St", bound=CaseRecord)


@dataclass(frozen=True)
class Side(Generic[Req, St]):
    """One side's lifecycle model, as the driver needs it."""

    next_trigger: Callable[[Req, St, datetime], Trigger[Any] | None]
    due: Callable[[Req, St], tuple[datetime, Trigger[Any]] | None]
    step: Callable[[Req, St, Trigger[Any], datetime], Result[St]]
    allows: Callable[[Req, St, Any], bool]
    closed: Callable[[St], bool]
    # A rule of law refusing a person's input the table allows now (一次性告知), or None.
    refusal: Callable[[Req, St, Any], RuleBroken | None] = field(default=lambda *_: None)
    # What the case tells its other workflows once a commit decided it (a 多地联办 route's hub
    # and legs): made after each commit, it returns the state that records what it told.
    tell: Callable[[Req, St], Awaitable[St]] | None = None


# Carrying out effects calls the region's systems: a regular activity (its own retries with
# backoff while a system is unavailable, a heartbeat so a killed worker is noticed in seconds),
# one per commit that ordered effects. The activity answers `dead` itself after the adapter's
# attempts, so these retries end; a bug (non-retryable) ends as a dead letter too.
EFFECT_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=3),
    "heartbeat_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
    ),
}


def history_too_long(limit: int) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit


class Driver(Generic[Req, St]):
    def __init__(self, side: Side[Req, St], request: Req, state: St) -> None:
        self._side = side
        self._request = request
        self.state = state
        self.recorder = Recorder(lambda: self.state)
        # A person's input waiting for the loop, and whether each input was applied. Both are
        # empty whenever the workflow continues as new (it waits for every Update to finish).
        self._input: tuple[int, Trigger[Any]] | None = None
        self._answers: dict[int, bool] = {}
        self._inputs = 0
        self._moved = False  # a step taken in this run: a new run does not continue at once
        # Effects: keys whose activity runs in this run, and news about effects not yet
        # applied (answers, callbacks, operators). Both empty whenever the case continues as
        # new, which waits for running effects; what they came to is in `state.effects`.
        self._running: set[str] = set()
        self._news: list[fx.News] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def request(self) -> Req:
        return self._request

    @property
    def closed(self) -> bool:
        """The lifecycle is closed and no effect it ordered is still open."""
        return self._side.closed(self.state) and not self.state.effects

    def effect_news(self, news: fx.News) -> None:
        self._news.append(news)

    def receive(self, item: InboundEvent | DeliveryFailure | RouteSignal) -> None:
        self.state = receive(self.state, item)

    async def run(self, history_limit: int) -> bool:
        """Run until the case closes (True) or should continue as new (False)."""
        while not self.closed:
            if self._news:
                self._follow(self._news.pop(0))
                continue
            trigger = self._take()
            if trigger is None:
                trigger = await self._wait()
                if trigger is None:
                    continue
            self._apply(trigger)
            if self._input is None and self._moved and history_too_long(history_limit):
                await self._rest(
                    lambda: (
                        (workflow.all_handlers_finished() and not self._running)
                        or self._input is not None
                    )
                )
                if self._input is None and not self.closed and not self._news:
                    return False
        await self.recorder.save()
        await self._tell()
        await self.recorder.wait(workflow.all_handlers_finished)
        return True

    def _take(self) -> Trigger[Any] | None:
        if self._input is not None:
            return self._input[1]
        return self._side.next_trigger(self._request, self.state, workflow.now())

    async def _wait(self) -> Trigger[Any] | None:
        """Wait for an input, an event or news of an effect, or the phase's timer or an
        effect's answer due; the phase timer's trigger if it fired."""
        timer = self._side.due(self._request, self.state)
        effect_due = fx.next_due(self.state.effects)
        at = (
            min(t for t in (timer[0] if timer else None, effect_due) if t is not None)
            if (timer or effect_due)
            else None
        )
        timeout = max(at - workflow.now(), timedelta(0)) if at else None
        try:
            await self._rest(
                lambda: self._input is not None or bool(self.state.queue) or bool(self._news),
                timeout=timeout,
            )
        except TimeoutError:
            if effect_due is not None and effect_due <= workflow.now():
                self._overdue()
                return None
            return timer[1] if timer else None
        return None

    async def _rest(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Commit, have the effects just ordered carried out, then wait."""
        # Effects the commit carried out itself come back as news, like an activity's answer.
        settled = await self.recorder.save()
        self._news.extend(settled)
        self._carry_out(frozenset(s.key for s in settled))
        await self._tell()
        await self.recorder.wait(condition, timeout=timeout)

    async def _tell(self) -> None:
        if self._side.tell is not None:
            self.state = await self._side.tell(self._request, self.state)

    def _apply(self, trigger: Trigger[Any]) -> None:
        result = self._side.step(self._request, self.state, trigger, workflow.now())
        effects = fx.ordered(result.state.effects, result.writes)
        self.state = result.state.model_copy(update={"effects": effects})
        self.recorder.record(result.writes)
        self._moved = True
        if self._input is not None and self._input[1] is trigger:
            self._answers[self._input[0]] = result.applied
            self._input = None

    # --- effects ------------------------------------------------------------------------

    def _carry_out(self, done: frozenset[str] = frozenset()) -> None:
        """Start the activity for every ordered effect not running (its order is committed),
        but those the commit just carried out (`done`)."""
        keys = tuple(
            w.key
            for w in self.state.effects
            if w.state == "ordered" and w.key not in self._running and w.key not in done
        )
        if keys:
            self._running.update(keys)
            task = asyncio.create_task(self._effects_activity(keys))
            self._tasks.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._tasks.discard)

    async def _effects_activity(self, keys: tuple[str, ...]) -> None:
        call = EffectCall(case_no=self.state.case_no, keys=keys)
        try:
            settled = await workflow.execute_activity_method(
                EffectActivities.carry_out_effects, call, **EFFECT_OPTIONS
            )
        except ActivityError as err:
            series = {w.key: w.series for w in self.state.effects}
            reason = str(err.cause or err)[:300]
            settled = tuple(
                EffectSettled(key=k, series=series.get(k, 1), outcome="dead", reason=reason)
                for k in keys
            )
        self._running.difference_update(keys)
        self._news.extend(settled)

    def _follow(self, news: fx.News) -> None:
        state = self.state
        followed = fx.follow(
            state.effects, news, now=workflow.now(), region=state.region, status=state.status
        )
        self._settle(followed)

    def _overdue(self) -> None:
        state = self.state
        self._settle(
            fx.overdue(state.effects, now=workflow.now(), region=state.region, status=state.status)
        )

    def _settle(self, followed: fx.Followed) -> None:
        self.state = self.state.model_copy(
            update={"effects": followed.watches, "steps": self.state.steps + followed.steps}
        )
        self.recorder.record(followed.writes)

    # --- people's inputs ------------------------------------------------------------------

    def check(self, kind: Any, step: str, given: object = None) -> None:
        """An Update validator: refuse a step the table does not allow now (`StepNotAllowed`),
        or one a rule of law refuses (`StepRuleBroken`, the rule's name in its details)."""
        if self._input is not None or not self._side.allows(self._request, self.state, kind):
            raise ApplicationError(
                f"{step} is not expected in status {self.state.status}", type="StepNotAllowed"
            )
        broken = self._side.refusal(self._request, self.state, given)
        if broken is not None:
            raise ApplicationError(
                f"{step} refused ({broken.rule}): {broken.message}",
                broken.rule,
                type="StepRuleBroken",
                non_retryable=True,
            )

    async def take(self, trigger: Trigger[Any], step: str) -> StepAck:
        """Hand a person's input to the loop; return once it is applied and committed, with
        the status the database holds."""
        if self._input is not None:
            # Two Updates validated in one activation: the second waits for no one.
            raise ApplicationError(
                f"{step} is not expected while another step is being taken", type="StepNotAllowed"
            )
        self._inputs += 1
        number = self._inputs
        self._input = (number, trigger)
        await workflow.wait_condition(lambda: number in self._answers and self.recorder.saved)
        if not self._answers.pop(number):
            # Something else moved the case between the validator and the loop.
            raise ApplicationError(
                f"{step} is not expected in status {self.state.status}", type="StepNotAllowed"
            )
        return StepAck(case_no=self.state.case_no, status=self.state.status)
