"""全程网办 (decision 0034): an applicant's own cases, as the API and the console take them.

The applicant is the one the identity provider's token names; their cases are those whose row
carries the digest of that subject. Any other case, or a case that does not exist, is the
same 404 to them: an applicant learns nothing of other people's case numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from catalog.errors import CatalogError
from catalog.models import CrossRegionMode, DeliveryChannel
from events.models import Consent, ConsentMethod, MaterialRef, RegionCode
from events.stores.cases import CaseRecord
from events.stores.postgres import PostgresCaseStore
from regions.access_log import Reader
from regions.api.cases import CaseNotFound, progress, summary_of
from regions.api.document_routes import DocumentEntry, documents_of
from regions.api.models import CaseSummary, StepView, Submitted, _Out
from regions.api.services import ApiServices
from regions.beijing_time import show
from regions.codes import UnknownRegion
from regions.identity import Applicant
from regions.material_files import MaterialFile
from regions.submission_keys import SubmissionKey
from regions.window import (
    MAX_MATERIALS,
    Application,
    ApplicationRefused,
    OnlineApplicant,
    resolve_item,
    submit_case,
)
from workflows.lifecycle import intake
from workflows.models import Actor

APPLICANT_ROLE = "applicant"
ONLINE_CHANNEL = "网上办事"
MAX_LISTED = 200
_CHANNELS: dict[str, DeliveryChannel] = {
    "online": DeliveryChannel.ONLINE,
    "mail": DeliveryChannel.MAIL,
}
_WAITING_FOR_SUPPLEMENT = frozenset(
    {intake.Status.SUPPLEMENT_BEFORE_ACCEPTANCE, intake.Status.SUPPLEMENT_REQUESTED}
)


class OnlineApplication(BaseModel):
    """What the applicant submits online. Who they are (name, ID number) comes from the
    identity token, never from the body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_code: str = Field(min_length=1, max_length=64)
    item_version: int | None = Field(default=None, ge=1)
    processing_region: RegionCode
    # The token's phone number when it carries one.
    phone: str | None = Field(default=None, min_length=5, max_length=20)
    address: str = Field(default="", max_length=300)
    # How the result reaches the applicant: 网上送达 (online) or 邮寄 (mail).
    delivery: Literal["online", "mail"] = "online"
    materials: tuple[MaterialRef, ...] = Field(default=(), max_length=MAX_MATERIALS)
    # 数据共享授权: the applicant confirms online that the item's shareable materials may be
    # fetched from the regions that provide them (decision 0041); not confirmed, they upload
    # or hand them in.
    consent_to_data_sharing: bool = False


def applicant_actor(applicant: Applicant, region: str) -> Actor:
    """The applicant as a step records them: the subject's digest, never name or ID number."""
    return Actor(kind="applicant", person_id=applicant.subject, region=region)


def applicant_reader(applicant: Applicant, region: str, token: str) -> Reader:
    """The applicant as the access log records an opening: the token by its digest."""
    return Reader(
        token_id=hashlib.sha256(token.encode()).hexdigest()[:12],
        role=APPLICANT_ROLE,
        region=region,
        window=ONLINE_CHANNEL,
        person_id=applicant.subject,
    )


def _fee(svc: ApiServices, application: OnlineApplication) -> int:
    """The item's fee (paid online); an item or region the catalog does not know is refused
    by the application's own check, with its rule."""
    try:
        return svc.catalog.resolve(application.item_code, svc.region).fee_fen
    except (CatalogError, UnknownRegion):
        return 0


async def apply_online(
    svc: ApiServices,
    applicant: Applicant,
    application: OnlineApplication,
    files: Sequence[MaterialFile] = (),
    idempotency_key: str | None = None,
) -> Submitted:
    """Record the 全程网办 case and start it; refused (422, the rule named) as a window's
    application is, and also when the item does not allow 全程网办 (`mode_not_allowed`) or
    does not deliver the way asked (`delivery_not_offered`)."""
    phone = application.phone or applicant.phone
    if phone is None:
        raise ApplicationRefused("phone_required", "a phone number is required")
    if application.delivery == "mail" and not application.address.strip():
        raise ApplicationRefused("address_required", "邮寄 needs a postal address")
    full = Application(
        item_code=application.item_code,
        item_version=application.item_version,
        processing_region=application.processing_region,
        applicant_name=applicant.name,
        applicant_id_number=applicant.id_number,
        applicant_phone=phone,
        applicant_address=application.address,
        materials=application.materials,
        fee_fen=_fee(svc, application),
        mode=CrossRegionMode.ONLINE,
        evidence_consent=Consent(
            given_by="申请人本人",
            method=ConsentMethod.ONLINE_CONFIRMATION,
            at=datetime.now(UTC),
            recorded_by="申请人（网上确认）",
        )
        if application.consent_to_data_sharing
        else None,
    )
    # The item's own rules first (mode_not_allowed …); the files are checked with the case.
    item = resolve_item(
        svc.catalog, full, svc.region, tolerate_missing=True, channel=(CrossRegionMode.ONLINE,)
    )
    channel = _CHANNELS[application.delivery]
    if channel not in item.delivery:
        raise ApplicationRefused(
            "delivery_not_offered",
            f"item {item.code} delivers by {'、'.join(c.value for c in item.delivery)},"
            f" not {channel.value}",
        )
    submission = (
        SubmissionKey(window=f"{ONLINE_CHANNEL}:{applicant.subject}", key=idempotency_key)
        if idempotency_key
        else None
    )
    handle = await submit_case(
        pool=svc.pool,
        client=svc.client,
        credentials=svc.credentials,
        application=full,
        policies=svc.policies,
        catalog=svc.catalog,
        submission=submission,
        files=files,
        received_by=applicant_actor(applicant, svc.region),
        online=OnlineApplicant(subject=applicant.subject, delivery=application.delivery),
    )
    return Submitted(
        case_no=handle.id.removeprefix("intake-"),
        status=intake.Status.RECEIVED.value,
        item_code=item.code,
        item_version=item.version,
        required_materials=tuple(m.name for m in item.carried_materials()),
        mode=CrossRegionMode.ONLINE.value,
    )


async def own_case(svc: ApiServices, applicant: Applicant, case_no: str) -> CaseRecord:
    """The applicant's case, or `CaseNotFound` (404) for any case that is not theirs."""
    case = await PostgresCaseStore(svc.pool).get(case_no)
    if case is None or case.role != "origin" or case.applicant_subject != applicant.subject:
        raise CaseNotFound(case_no)
    return case


async def my_cases(svc: ApiServices, applicant: Applicant) -> tuple[CaseSummary, ...]:
    found = await PostgresCaseStore(svc.pool).of_applicant(applicant.subject, MAX_LISTED)
    return tuple(summary_of(case) for case in found)


class ApplicantCaseView(_Out):
    """The applicant's case: where it is, what it went through, its documents, and what a
    补正 asks of them."""

    summary: CaseSummary
    closed: bool | None = None
    outcome: str | None = None
    deadline_label_zh: str | None = None
    steps: tuple[StepView, ...] = ()
    documents: tuple[DocumentEntry, ...] = ()
    # The processing region's 补正 request, while the case waits for it.
    supplement_asked: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def may_withdraw(self) -> bool:
        return self.closed is False and self.summary.status in _WITHDRAWABLE


_WITHDRAWABLE = frozenset(
    row.phase.value for row in intake.TABLE.rows if row.trigger is intake.On.WITHDRAW
)


async def case_of(svc: ApiServices, applicant: Applicant, case_no: str) -> ApplicantCaseView:
    case = await own_case(svc, applicant, case_no)
    summary = summary_of(case)
    seen = await progress(svc.client, case_no, "origin")
    documents = tuple(await documents_of(svc, case_no))
    if seen is None:
        return ApplicantCaseView(summary=summary, documents=documents)
    summary = summary.model_copy(update={"status": seen.status})
    asked = next(
        (s.detail for s in reversed(seen.steps) if s.status in _WAITING_FOR_SUPPLEMENT), None
    )
    return ApplicantCaseView(
        summary=summary,
        closed=seen.closed,
        outcome=seen.outcome,
        deadline_label_zh=show(seen.deadline) if seen.deadline else None,
        steps=tuple(StepView.of(step, "origin") for step in seen.steps),
        documents=documents,
        supplement_asked=asked if seen.status in _WAITING_FOR_SUPPLEMENT else None,
    )
