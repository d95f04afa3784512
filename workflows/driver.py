"""Runs one side's lifecycle model inside a workflow: the same pure code the convergence test
runs, fed with what happens (people's inputs, the other side's events, timers).

The loop takes, in order: a person's input (validated against the state it will be applied
to), the oldest arrived event, a step the policy or the workflow takes, a timer already due;
otherwise it commits its steps and waits. It continues as new at any rest point once the
history is long, carrying the model's state as it is, and only when no Update is in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from events.models import DeliveryFailure, InboundEvent
    from workflows.lifecycle.engine import CaseRecord, Result, Trigger, receive
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

    @property
    def closed(self) -> bool:
        return self._side.closed(self.state)

    def receive(self, item: InboundEvent | DeliveryFailure) -> None:
        self.state = receive(self.state, item)

    async def run(self, history_limit: int) -> bool:
        """Run until the case closes (True) or should continue as new (False)."""
        while not self.closed:
            trigger = self._take()
            if trigger is None:
                trigger = await self._wait()
                if trigger is None:
                    continue
            self._apply(trigger)
            if self._input is None and self._moved and history_too_long(history_limit):
                await self.recorder.wait(
                    lambda: workflow.all_handlers_finished() or self._input is not None
                )
                if self._input is None and not self.closed:
                    return False
        await self.recorder.wait(workflow.all_handlers_finished)
        return True

    def _take(self) -> Trigger[Any] | None:
        if self._input is not None:
            return self._input[1]
        return self._side.next_trigger(self._request, self.state, workflow.now())

    async def _wait(self) -> Trigger[Any] | None:
        """Wait for an input or an event, or the phase's timer; the timer's trigger if it fired."""
        timer = self._side.due(self._request, self.state)
        timeout = max(timer[0] - workflow.now(), timedelta(0)) if timer else None
        try:
            await self.recorder.wait(
                lambda: self._input is not None or bool(self.state.queue), timeout=timeout
            )
        except TimeoutError:
            return timer[1] if timer else None
        return None

    def _apply(self, trigger: Trigger[Any]) -> None:
        result = self._side.step(self._request, self.state, trigger, workflow.now())
        self.state = result.state
        self.recorder.record(result.writes)
        self._moved = True
        if self._input is not None and self._input[1] is trigger:
            self._answers[self._input[0]] = result.applied
            self._input = None

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
