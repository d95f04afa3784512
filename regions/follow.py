"""Following one case across both regions through its workflows' progress queries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from regions.case_handles import intake_handle, processing_handle
from workflows.intake import IntakeWorkflow
from workflows.models import CaseProgress, CaseStep
from workflows.processing import ProcessingWorkflow


@dataclass
class CaseFollower:
    """Polls A's intake and B's processing workflow, reporting each new step once."""

    case_no: str
    origin: Client
    processing: Client
    seen: dict[str, int] = field(default_factory=lambda: {"intake": 0, "processing": 0})
    latest: dict[str, CaseProgress] = field(default_factory=dict)

    async def _progress(self, side: str) -> CaseProgress | None:
        if side == "intake":
            handle = intake_handle(self.origin, self.case_no)
            return await handle.query(IntakeWorkflow.progress)
        handle_b = processing_handle(self.processing, self.case_no)
        try:
            return await handle_b.query(ProcessingWorkflow.progress)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return None  # not forwarded yet
            raise

    async def poll(self) -> list[tuple[str, CaseStep]]:
        new: list[tuple[str, CaseStep]] = []
        for side in ("intake", "processing"):
            progress = await self._progress(side)
            if progress is None:
                continue
            self.latest[side] = progress
            new.extend((side, step) for step in progress.steps[self.seen[side] :])
            self.seen[side] = len(progress.steps)
        return sorted(new, key=lambda item: item[1].at)

    @property
    def closed_both(self) -> bool:
        return all(
            side in self.latest and self.latest[side].closed for side in ("intake", "processing")
        )

    async def follow(
        self, on_step: Callable[[str, CaseStep], None], *, timeout: float, interval: float = 0.3
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for side, step in await self.poll():
                on_step(side, step)
            if self.closed_both:
                return True
            await asyncio.sleep(interval)
        return False
