"""The service window's intake: validate an application, record it sealed, start its workflow."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from events.credentials import RegionCredentials
from events.models import Applicant, MaterialRef, RegionCode
from events.sealing import seal
from events.trust import sealing_key
from regions.naming import intake_workflow_id, task_queue
from regions.policies import CasePolicies
from workflows.intake import IntakeWorkflow
from workflows.models import CaseOutcome, IntakeRequest
from workflows.search import CASE_NO, CASE_STATUS, ITEM_CODE, ORIGIN_REGION, PROCESSING_REGION

_CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _valid_id_number(value: str) -> str:
    try:
        return str(ric.validate(value))
    except StdnumError as exc:
        raise ValueError("id_number fails the GB 11643 checksum") from exc


class Application(BaseModel):
    """What the window clerk submits. Invalid input is refused with the rule that failed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_code: str = Field(min_length=1, max_length=64)
    item_version: int = Field(default=1, ge=1)
    processing_region: RegionCode
    applicant_name: str = Field(min_length=1, max_length=100)
    applicant_id_number: Annotated[str, AfterValidator(_valid_id_number)]
    applicant_phone: str = Field(min_length=5, max_length=20)
    applicant_address: str = Field(default="", max_length=300)
    materials: tuple[MaterialRef, ...] = ()
    fee_fen: int = Field(default=0, ge=0)

    def applicant(self) -> Applicant:
        return Applicant(
            name=self.applicant_name,
            id_number=self.applicant_id_number,
            phone=self.applicant_phone,
            address=self.applicant_address,
        )


def new_case_no(region: str, now: datetime) -> str:
    serial = "".join(secrets.choice(_CASE_ALPHABET) for _ in range(8))
    return f"{region}-{now.astimezone(UTC):%Y%m%d}-{serial}"


async def submit_case(
    *,
    pool: asyncpg.Pool,
    client: Client,
    credentials: RegionCredentials,
    application: Application,
    policies: CasePolicies,
    required_materials: tuple[str, ...] = (),
    case_no: str | None = None,
) -> WorkflowHandle[IntakeWorkflow, CaseOutcome]:
    """Record the case (applicant sealed for this region's own key) and start its workflow.

    Idempotent for a given case number: a window that retries after a timeout gets the same
    case, never a second one. The applicant's data never enters the workflow's history.
    """
    region = credentials.region
    now = datetime.now(UTC)
    case_no = case_no or new_case_no(region, now)
    key_id, own_key = sealing_key(credentials.directory(), region, now)
    box = seal(
        application.applicant().model_dump_json().encode(),
        case_no=case_no,
        recipient=region,
        key_id=key_id,
        recipient_public=own_key,
    )
    await pool.execute(
        "INSERT INTO cases (case_no, role, item_code, item_version, origin_region,"
        " processing_region, status, applicant_sealed, materials, fee_fen)"
        " VALUES ($1, 'origin', $2, $3, $4, $5, 'received', $6, $7, $8)"
        " ON CONFLICT (case_no) DO NOTHING",
        case_no,
        application.item_code,
        application.item_version,
        region,
        application.processing_region,
        box.model_dump(mode="json"),
        [m.model_dump(mode="json") for m in application.materials],
        application.fee_fen,
    )
    request = IntakeRequest(
        case_no=case_no,
        item_code=application.item_code,
        item_version=application.item_version,
        origin_region=region,
        processing_region=application.processing_region,
        required_materials=required_materials,
        materials=application.materials,
        fee_fen=application.fee_fen,
        policy=policies.for_item(application.item_code),
        timings=policies.timings_for(application.item_code),
    )
    try:
        return await client.start_workflow(
            IntakeWorkflow.run,
            request,
            id=intake_workflow_id(case_no),
            task_queue=task_queue(region),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(CASE_NO, case_no),
                    SearchAttributePair(ITEM_CODE, application.item_code),
                    SearchAttributePair(ORIGIN_REGION, region),
                    SearchAttributePair(PROCESSING_REGION, application.processing_region),
                    SearchAttributePair(CASE_STATUS, "received"),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle_for(IntakeWorkflow.run, intake_workflow_id(case_no))
