"""The signals that bring news of a case's effects to either side's workflow: a system's
callback (through the node's API) and an operator's retry or resolution (`tongban effects`)."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import EffectSettled
    from workflows.driver import Driver
    from workflows.lifecycle.effects import EffectResolved, EffectRetried


class EffectSignals:
    """Mixed into both workflows; each sets `_case`."""

    _case: Driver[Any, Any]

    @workflow.signal
    def effect_answered(self, settled: EffectSettled) -> None:
        self._case.effect_news(settled)

    @workflow.signal
    def effect_retried(self, retried: EffectRetried) -> None:
        self._case.effect_news(retried)

    @workflow.signal
    def effect_resolved(self, resolved: EffectResolved) -> None:
        self._case.effect_news(resolved)
