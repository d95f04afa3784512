"""What a node's console is configured with, and what its pages find on `app.state.console`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from console.sessions import SessionStore

if TYPE_CHECKING:
    from operators.endpoints import OperatorEndpoints

IDLE_TIMEOUT = timedelta(minutes=15)
LIFETIME = timedelta(hours=8)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ConsoleConfig:
    # A counter is left unattended: after this long without a request the person signs in again.
    idle_timeout: timedelta = IDLE_TIMEOUT
    # However active, a session ends after a working day.
    lifetime: timedelta = LIFETIME
    clock: Callable[[], datetime] = _utc_now
    # None: the region's Postgres (`PostgresSessionStore` on the API's pool).
    sessions: SessionStore | None = None
    # Where the operators' pages read other regions' records (a case's other lane); None: this
    # region's only (console/operator_pages.py `peer_endpoints`).
    peers: OperatorEndpoints | None = None


@dataclass(frozen=True)
class ConsoleState:
    region: str
    config: ConsoleConfig
    sessions: SessionStore = field(repr=False)
    # Read when a page is rendered: the trust directory in force names the region.
    name_of_region: Callable[[], str] = field(repr=False, default=lambda: "")

    @property
    def region_name(self) -> str:
        return self.name_of_region()

    def now(self) -> datetime:
        return self.config.clock()
