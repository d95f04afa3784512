"""The development adapter: says in the log what would be done, and answers done."""

from __future__ import annotations

import logging

from effects.adapters import Answer, EffectRequest

log = logging.getLogger(__name__)


class LogAdapter:
    """Logs one line per effect: case, effect, key, idempotency key, amount and the length of
    the notice. Never the phone, never the notice itself (it is the applicant's message)."""

    def __init__(self, name: str = "log") -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def inline(self) -> bool:
        return True  # a log line: no system to wait for, nothing to retry

    async def carry_out(self, request: EffectRequest) -> Answer:
        log.info(
            "effect %s (%s) of case %s, series %d, idempotency key %s: amount %d fen,"
            " notice %d chars; done by %s",
            request.effect,
            request.key,
            request.case_no,
            request.series,
            request.idempotency_key,
            request.amount_fen,
            len(request.notice),
            self._name,
        )
        return Answer(outcome="done")

    async def aclose(self) -> None:
        return None
