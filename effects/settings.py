"""Which adapter carries out which effect, per region (the `[effects]` table of a node's
settings). Every effect goes somewhere: the `log` adapter unless a route names another."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Target(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Calls per attempt series before the effect is a dead letter (listed for operators).
    max_attempts: int = Field(default=6, ge=1, le=100)
    # How long a `pending` answer may wait for its callback before the case escalates.
    answer_hours: float = Field(default=48.0, gt=0)


class LogTarget(_Target):
    """Development: logs the effect (no personal data) and answers done."""

    kind: Literal["log"] = "log"


class WebhookTarget(_Target):
    """POST a signed JSON body to the system's endpoint (docs/effects-webhooks.md)."""

    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    # The system signs its callbacks with this shared secret (HMAC-SHA256); None: no callbacks.
    callback_secret: SecretStr | None = None


Target = Annotated[LogTarget | WebhookTarget, Field(discriminator="kind")]


def _only_log() -> dict[str, LogTarget | WebhookTarget]:
    return {"log": LogTarget()}


class EffectRouting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    adapters: dict[str, Target] = Field(default_factory=_only_log)
    # effect (e.g. "refund-fee") → adapter name; unlisted effects go to `default`.
    routes: dict[str, str] = Field(default_factory=dict)
    default: str = "log"

    @field_validator("adapters")
    @classmethod
    def _log_is_always_there(
        cls, adapters: dict[str, LogTarget | WebhookTarget]
    ) -> dict[str, LogTarget | WebhookTarget]:
        # Settings that name their systems still route the rest to `log` by default.
        return {"log": LogTarget(), **adapters}

    @model_validator(mode="after")
    def _routes_name_adapters(self) -> EffectRouting:
        for name in (self.default, *self.routes.values()):
            if name not in self.adapters:
                raise ValueError(f"effects route to unknown adapter {name!r}")
        return self

    def adapter_for(self, effect: str) -> str:
        return self.routes.get(effect, self.default)
