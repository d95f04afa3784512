"""The case store: the one way to the `cases` table, a region's record of its cases.

A pure interface. The row holds what the window recorded (or what the forwarded event
brought, on the processing side) and where the case rests; the lifecycle itself is the
workflow's. JSON columns travel as Python values (`applicant_sealed`, `materials`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Role = Literal["origin", "processing"]
RECEIVED = "received"  # the status a case is recorded in


@dataclass(frozen=True)
class NewCase:
    case_no: str
    role: Role
    item_code: str
    item_version: int
    origin_region: str
    processing_region: str
    applicant_sealed: dict[str, Any]  # a SealedBox as JSON
    materials: list[dict[str, Any]] = field(default_factory=list)  # MaterialRefs as JSON
    fee_fen: int = 0
    # The window's Idempotency-Key and the window it is scoped to (origin side only).
    submission_window: str | None = None
    submission_key: str | None = None
    # The mode the case runs in (the catalog's name, e.g. 全程网办); None: recorded before
    # cases named their mode (the mode the region pair implies).
    mode: str | None = None
    # 全程网办 (origin side): the digest of the applicant's pseudonymous subject (decision 0034).
    applicant_subject: str | None = None
    # Origin side: the applicant's consent to data sharing (a Consent as JSON), recorded with
    # the application and sent in the `forwarded` event (decision 0041); None: not given.
    evidence_consent: dict[str, Any] | None = None


@dataclass(frozen=True)
class CaseRecord(NewCase):
    status: str = RECEIVED
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CaseStore(Protocol):
    async def add(self, case: NewCase) -> bool:
        """Record a case in status `received`; False (nothing written) when its number, or
        its window's submission key, is recorded already."""

    async def get(self, case_no: str) -> CaseRecord | None: ...

    async def get_for_update(self, case_no: str) -> CaseRecord | None:
        """The row, held until the unit of work ends."""

    async def by_submission(self, origin_region: str, window: str, key: str) -> CaseRecord | None:
        """The case a window's Idempotency-Key created."""

    async def processing_region(self, case_no: str) -> str | None: ...

    async def of_applicant(self, subject: str, limit: int) -> list[CaseRecord]:
        """The cases of one online applicant (by subject digest), newest first."""

    async def set_status(self, case_no: str, status: str, steps: int) -> bool:
        """Record the status the case reached after `steps` steps, unless a status reached
        after more steps is recorded already (a late commit never moves a case back).
        False when no such case is recorded."""

    async def add_materials(self, case_no: str, materials: Sequence[dict[str, Any]]) -> None:
        """Join materials to the case file; one already there (same entry) is not added again."""

    async def discard_unstarted(self, case_no: str) -> None:
        """Forget a case still `received` whose workflow never started."""

    async def page(
        self, status: str | None, limit: int, offset: int
    ) -> tuple[list[CaseRecord], int]:
        """Newest first (then by number), and how many there are in all."""

    async def last_changes(self, case_nos: Sequence[str]) -> dict[str, datetime]:
        """When each of these cases (those recorded) last changed."""

    async def count_by_role_and_status(self) -> dict[tuple[str, str], int]: ...
