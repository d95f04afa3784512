"""The node's adapters, one per name in its `[effects]` settings (composition root helper)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx

from effects.adapters import EffectAdapter
from effects.log_adapter import LogAdapter
from effects.settings import EffectRouting, LogTarget, WebhookTarget
from effects.webhook import SignerFactory, WebhookAdapter

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_adapters(
    routing: EffectRouting,
    signer_factory: SignerFactory,
    *,
    clock: Callable[[], datetime] = _utc_now,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, EffectAdapter]:
    """One adapter per configured name. `signer_factory(now)` gives the region's signing key
    valid at `now` (`RegionCredentials.signer`), asked per call so a rotated key is used at
    once. `transport` is for tests that route webhooks somewhere other than the network."""
    adapters: dict[str, EffectAdapter] = {}
    for name, target in routing.adapters.items():
        if isinstance(target, LogTarget):
            adapters[name] = LogAdapter(name)
        elif isinstance(target, WebhookTarget):
            adapters[name] = WebhookAdapter(
                name, target, signer_factory, clock=clock, transport=transport
            )
        else:  # pragma: no cover - the discriminated union has no third kind
            raise TypeError(f"unknown effect target kind for adapter {name!r}")
    return adapters


async def aclose_adapters(adapters: Mapping[str, EffectAdapter]) -> None:
    """Close every adapter, even when one of them fails to close (that one is logged)."""
    results = await asyncio.gather(
        *(adapter.aclose() for adapter in adapters.values()), return_exceptions=True
    )
    for name, result in zip(adapters, results, strict=True):
        if isinstance(result, Exception):
            log.error("effect adapter %s did not close cleanly: %r", name, result)
        elif isinstance(result, BaseException):
            raise result
