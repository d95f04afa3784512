"""What a region's own systems are asked to do for a case, and what they answer.

An adapter is the node's side of one system (payment platform, SMS gateway, post account,
supervision system). The effect activity calls it with an `EffectRequest` and records the
`Answer`; an `AdapterUnavailable` is a failure worth trying again (timeout, 5xx, connection),
anything the system says it will not do is a `refused` answer, never an exception.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Outcome = Literal["done", "refused", "pending"]


class EffectRequest(BaseModel):
    """One effect for one case, as the adapter sends it on.

    `idempotency_key` names the (case, effect, attempt series): the system must do the effect at
    most once per key and answer a repeated key with its first answer. `phone` is the
    applicant's, opened from the sealed record only for this call (notifications, post); it is
    a SecretStr so no repr or log line shows it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    idempotency_key: str = Field(min_length=1, max_length=200)
    region: str
    case_no: str
    effect: str  # the workflow's Effect value: refund-fee, notify-applicant …
    key: str  # the effect's key within the case: refund-fee, notify-applicant:2 …
    series: int = Field(ge=1)  # raised when an operator retries a refused effect
    amount_fen: int = Field(default=0, ge=0)
    detail: str = ""  # what the workflow said (no personal data)
    # What the applicant is told, in Chinese (case number, what happened, what to do next).
    notice: str = ""
    phone: SecretStr | None = None
    # The applicant's postal address, opened the same way, for the post adapter only.
    address: SecretStr | None = None
    # Where the system posts its answer when it answers later (pending), absolute URL.
    callback_url: str = ""


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Outcome
    reason: str = Field(default="", max_length=500)  # refused: why, in the system's words
    reference: str = Field(default="", max_length=200)  # the system's own id (pending, done)


class AdapterUnavailable(Exception):
    """The system did not answer usably (timeout, connection, 5xx): try again later.

    `reason` is short and holds no personal data: it is stored and shown to operators.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:500]


class EffectAdapter(Protocol):
    """One of the region's systems."""

    @property
    def name(self) -> str: ...

    @property
    def inline(self) -> bool:
        """True when carrying an effect out reaches no outside system (the log adapter): the
        step's commit then does it at once, sparing the case an activity (decision 0044)."""
        ...

    async def carry_out(self, request: EffectRequest) -> Answer: ...

    async def aclose(self) -> None: ...
