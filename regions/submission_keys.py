"""A window's `Idempotency-Key`: one case per key and window, and only for the same application.

The key's scope is the accepting region and the window the token names, not the token: a clerk
whose token is reissued while a submission is being retried still gets that submission's case,
and no two windows can meet on one key (decision 0019).

A retry must carry the application the key first came with. The window compares the recorded
case with the request, opening the applicant with its own region's sealing key; a different
application is refused rather than answered with a case it did not create. No digest of the
application is stored for this: a hash over a name and an ID number would let anyone who reads
the table confirm a guess, which the sealed column exists to prevent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from events.credentials import RegionCredentials
from events.models import Applicant, MaterialRef, SealedBox
from events.sealing import open_box
from events.stores.cases import CaseRecord
from events.stores.postgres import PostgresCaseStore

RULE = "idempotency_key_reused"
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SubmissionKey:
    window: str
    key: str


@dataclass(frozen=True)
class RecordedApplication:
    """What a case row keeps of an application, so a retry can be compared with it. The item's
    version is left out: it is the catalog's answer, not the clerk's input, and a retry after
    a catalog update is still the same application."""

    item_code: str
    processing_region: str
    applicant: Applicant
    materials: tuple[MaterialRef, ...]
    fee_fen: int

    def same_as(self, other: RecordedApplication) -> bool:
        """The same application: a retry's 核验原件 carries the time of the retry, not the
        first request's, so who checked the original counts and when does not."""
        return _without_check_times(self) == _without_check_times(other)


def _without_check_times(application: RecordedApplication) -> RecordedApplication:
    materials = tuple(
        m.model_copy(
            update={"originals_checked": m.originals_checked.model_copy(update={"at": _NO_TIME})}
        )
        if m.originals_checked is not None
        else m
        for m in application.materials
    )
    return replace(application, materials=materials)


class SubmissionKeyReused(Exception):
    """The key already created a case for a different application (HTTP 422)."""

    def __init__(self, case_no: str) -> None:
        super().__init__(
            f"this Idempotency-Key already created case {case_no} for a different application;"
            " a new application needs a new key"
        )
        self.case_no = case_no


def _recorded(case: CaseRecord, credentials: RegionCredentials) -> RecordedApplication:
    box = SealedBox.model_validate(case.applicant_sealed)
    plain = open_box(box, case_no=case.case_no, private_key=credentials.own_sealing_key(box.key_id))
    return RecordedApplication(
        item_code=case.item_code,
        processing_region=case.processing_region,
        applicant=Applicant.model_validate_json(plain),
        materials=tuple(MaterialRef.model_validate(m) for m in case.materials),
        fee_fen=case.fee_fen,
    )


async def case_of_submission(
    pool: asyncpg.Pool,
    credentials: RegionCredentials,
    submission: SubmissionKey,
    application: RecordedApplication,
) -> str | None:
    """The case this window's key created, if any; `SubmissionKeyReused` if that case was
    created for another application."""
    case = await PostgresCaseStore(pool).by_submission(
        credentials.region, submission.window, submission.key
    )
    if case is None:
        return None
    if not _recorded(case, credentials).same_as(application):
        raise SubmissionKeyReused(case.case_no)
    return case.case_no
