"""The service window's intake: validate an application, record it sealed, start its workflow."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from catalog.catalog import Catalog, default_catalog, implied_mode
from catalog.errors import (
    ItemMismatch,
    ModeNotAllowed,
    RouteBindingError,
    SameRegion,
    UnknownItem,
)
from catalog.models import CrossRegionMode, ServiceItem
from catalog.routes import Place
from events.credentials import RegionCredentials
from events.models import Applicant, Consent, ConsentMethod, MaterialRef, RegionCode
from events.sealing import seal
from events.stores.cases import NewCase
from events.stores.postgres import PostgresCaseStore
from events.trust import sealing_key
from regions.beijing_time import beijing_date
from regions.case_handles import intake_handle
from regions.codes import UnknownRegion
from regions.material_files import FileRefused, MaterialFile, keep_files, take_files
from regions.naming import intake_workflow_id, task_queue
from regions.policies import CasePolicies
from regions.route_plans import plan_route
from regions.submission_keys import RecordedApplication, SubmissionKey, case_of_submission
from workflows.intake import IntakeWorkflow
from workflows.lifecycle import intake
from workflows.lifecycle.route import RoutePlan
from workflows.models import Actor, CaseOutcome, IntakeRequest
from workflows.search import CASE_NO, CASE_STATUS, ITEM_CODE, ORIGIN_REGION, PROCESSING_REGION

_CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _valid_id_number(value: str) -> str:
    try:
        return str(ric.validate(value))
    except StdnumError as exc:
        # The error type is the rule's name, so a 422 can say which rule failed.
        raise PydanticCustomError(
            "id_number_checksum", "id_number fails the GB 11643 format or checksum"
        ) from exc


def _valid_credit_code(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uscc.validate(value))
    except StdnumError as exc:
        raise PydanticCustomError(
            "credit_code_checksum", "credit_code fails the GB 32100 format or checksum"
        ) from exc


# What one application may list. The `forwarded` event carries every entry, and it must stay
# within the outbox's size budget (events/outbox.py) even when each text is as long and as
# costly to encode as allowed (tests/unit/test_outbox_budget.py checks the largest case).
MAX_MATERIALS = 50
MAX_MATERIAL_NAME = 200
MAX_MATERIAL_REF = 500


def _within_material_limits(value: object) -> object:
    """Counted before each entry is parsed, so the 422 names the window's own limit."""
    if not isinstance(value, list | tuple):
        return value  # not a list: the type check that follows refuses it
    if len(value) > MAX_MATERIALS:
        raise PydanticCustomError(
            "too_many_materials",
            "at most {limit} materials per application, not {count}",
            {"limit": MAX_MATERIALS, "count": len(value)},
        )
    for index, entry in enumerate(value):
        fields = entry.model_dump() if isinstance(entry, MaterialRef) else entry
        if not isinstance(fields, dict):
            continue
        for field, limit in (("name", MAX_MATERIAL_NAME), ("ref", MAX_MATERIAL_REF)):
            text = fields.get(field)
            if isinstance(text, str) and len(text) > limit:
                raise PydanticCustomError(
                    "material_entry_too_long",
                    "materials[{index}].{field} is longer than {limit} characters",
                    {"index": index, "field": field, "limit": limit},
                )
    return value


class Application(BaseModel):
    """What the window clerk submits. Invalid input is refused with the rule that failed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_code: str = Field(min_length=1, max_length=64)
    # None: the version both regions resolve. A clerk working from a printed guide may state
    # the version it shows; a different one is refused rather than silently replaced.
    item_version: int | None = Field(default=None, ge=1)
    processing_region: RegionCode
    applicant_name: str = Field(min_length=1, max_length=100)
    applicant_id_number: Annotated[str, AfterValidator(_valid_id_number)]
    applicant_phone: str = Field(min_length=5, max_length=20)
    applicant_address: str = Field(default="", max_length=300)
    # 统一社会信用代码 when the applicant acts for an enterprise or institution.
    applicant_credit_code: Annotated[str | None, AfterValidator(_valid_credit_code)] = None
    materials: Annotated[
        tuple[MaterialRef, ...],
        Field(max_length=MAX_MATERIALS),  # for the published schema (maxItems)
        BeforeValidator(_within_material_limits),
    ] = ()
    fee_fen: int = Field(default=0, ge=0)
    # How the case runs (国办发〔2020〕35号); None: the mode the region pair implies. The item
    # must allow it; 全程网办 is the applicant's own channel (/applicant), not a window's.
    mode: CrossRegionMode | None = None
    # 多地联办 only: the region of each place of the item's route (迁入地, 迁出地 …); the
    # processing region is the one that performs the route's last leg (decision 0035).
    route_places: dict[Place, RegionCode] | None = Field(default=None, max_length=9)
    # The applicant's signed consent to fetch the item's shareable materials from the regions
    # that provide them (数据共享授权, decision 0041), as the clerk records it; none given,
    # those materials come on paper. Online it is the applicant's own confirmation.
    evidence_consent: Consent | None = None

    def applicant(self) -> Applicant:
        return Applicant(
            name=self.applicant_name,
            id_number=self.applicant_id_number,
            phone=self.applicant_phone,
            address=self.applicant_address,
            credit_code=self.applicant_credit_code,
        )


@dataclass(frozen=True)
class OnlineApplicant:
    """Who applies online and how they receive the result: the digest of their identity
    provider's subject (never the subject) and 网上送达 or 邮寄."""

    subject: str
    delivery: Literal["online", "mail"]


class ApplicationRefused(Exception):
    """The window refuses an application before anything is recorded; `rule` names why, and
    `context` what the refusal is about (the item, the mode asked, the modes allowed)."""

    def __init__(self, rule: str, message: str, **context: object) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.context = context


# Modes an application may name at a window: 全程网办 is the applicant's own channel.
WINDOW_MODES = (CrossRegionMode.PROXY, CrossRegionMode.IN_PROVINCE, CrossRegionMode.JOINT)
# The modes the window's console form offers: its form has no fields for a route's places
# yet, so 多地联办 is taken through the API (`route_places`) only.
FORM_MODES = (CrossRegionMode.PROXY, CrossRegionMode.IN_PROVINCE)


_CATALOG_RULES: dict[type[Exception], str] = {
    UnknownItem: "unknown_item",
    ItemMismatch: "item_version_mismatch",
    ModeNotAllowed: "mode_not_allowed",
    SameRegion: "same_region",
}


def window_modes(item: ServiceItem, origin: str, processing: str) -> tuple[CrossRegionMode, ...]:
    """The modes a window may take `item` in between these regions, the pair's own first: those
    the item allows, that a window takes and this node can run; 异地代收代办 and 省内通办 only
    as the pair implies (two provinces, or one)."""
    pair = implied_mode(origin, processing)
    pair_modes = (CrossRegionMode.PROXY, CrossRegionMode.IN_PROVINCE)
    found = [m for m in item.modes if m in FORM_MODES and (m is pair or m not in pair_modes)]
    return tuple(sorted(found, key=lambda m: m is not pair))


def case_mode(application: Application, origin: str) -> CrossRegionMode:
    """The mode the case runs in: the one the application names, else the region pair's."""
    if application.mode is not None:
        return application.mode
    try:
        return implied_mode(origin, application.processing_region)
    except UnknownRegion as exc:
        raise ApplicationRefused("unknown_region", str(exc.args[0])) from exc


def resolve_item(
    catalog: Catalog,
    application: Application,
    origin: str,
    *,
    tolerate_missing: bool = False,
    channel: tuple[CrossRegionMode, ...] = WINDOW_MODES,
) -> ServiceItem:
    """The standardized item both regions handle, with the application checked against it.

    Raises `ApplicationRefused` naming the rule: unknown_item, item_version_mismatch,
    mode_not_allowed (the item does not allow the mode), mode_not_at_window (a mode `channel`
    does not take), same_region, unknown_region,
    missing_materials, fee_mismatch.
    """
    mode = case_mode(application, origin)
    try:
        item = catalog.shared_item(
            application.item_code, origin, application.processing_region, mode
        )
    except ModeNotAllowed as exc:
        raise ApplicationRefused(
            "mode_not_allowed",
            str(exc),
            item_code=exc.item_code,
            item_version=exc.version,
            mode=exc.mode,
            allowed_modes=list(exc.allowed),
        ) from exc
    except (UnknownItem, ItemMismatch, SameRegion) as exc:
        raise ApplicationRefused(_CATALOG_RULES[type(exc)], str(exc)) from exc
    except UnknownRegion as exc:
        raise ApplicationRefused("unknown_region", str(exc.args[0])) from exc
    if mode not in channel:
        raise ApplicationRefused(
            "mode_not_at_window",
            f"{mode.value} is applied for by the applicant online (/applicant), not at a window",
            item_code=item.code,
            mode=mode.value,
            allowed_modes=[m.value for m in item.modes if m in channel],
        )
    if application.item_version is not None and application.item_version != item.version:
        raise ApplicationRefused(
            "item_version_mismatch",
            f"item {item.code}: the application states v{application.item_version}, both"
            f" regions handle v{item.version}",
        )
    missing = item.missing_materials(m.name for m in application.materials)
    if missing and not tolerate_missing:
        raise ApplicationRefused(
            "missing_materials", f"mandatory materials missing: {'、'.join(missing)}"
        )
    if application.fee_fen != item.fee_fen:
        raise ApplicationRefused(
            "fee_mismatch",
            f"item {item.code} v{item.version} charges {item.fee_fen} fen,"
            f" not {application.fee_fen}",
        )
    return item


def recorded_consent(application: Application, *, online: bool) -> Consent | None:
    """The applicant's consent to data sharing as the case keeps it: signed at a window (the
    clerk records it), confirmed online in 全程网办; refused (`consent_method`) when its method
    is not the channel's, since the provider takes the method as a statement of fact."""
    consent = application.evidence_consent
    method = ConsentMethod.ONLINE_CONFIRMATION if online else ConsentMethod.WINDOW_SIGNATURE
    if consent is not None and consent.method is not method:
        raise ApplicationRefused(
            "consent_method",
            f"consent is given by {method.value} in this channel, not {consent.method.value}",
        )
    return consent


def route_plan(
    catalog: Catalog, item: ServiceItem, application: Application, origin: str
) -> RoutePlan | None:
    """A 多地联办 application's route with its places bound (None for any other mode).

    Raises `ApplicationRefused` naming the rule: the binding's (route_place_unbound,
    route_place_unknown, route_places_same_region, unknown_region), route_places_not_joint,
    route_place_is_origin, route_processing_region, and the catalog's for any place's region
    (every region of the route must resolve the same item version)."""
    if case_mode(application, origin) is not CrossRegionMode.JOINT:
        if application.route_places:
            raise ApplicationRefused(
                "route_places_not_joint", "route places are named only for a 多地联办 case"
            )
        return None
    try:
        plan = plan_route(item, application.route_places or {})
    except RouteBindingError as exc:
        raise ApplicationRefused(exc.rule, str(exc), item_code=item.code) from exc
    regions = {leg.region for leg in plan.legs}
    if origin in regions:
        # A leg in the accepting region itself would go over the exchange to itself.
        raise ApplicationRefused(
            "route_place_is_origin",
            f"{origin} is one of the route's places; a route is accepted here only when this"
            " region performs none of its legs",
            item_code=item.code,
        )
    if application.processing_region != plan.legs[-1].region:
        raise ApplicationRefused(
            "route_processing_region",
            f"the processing region of a 多地联办 case is the region of its last leg"
            f" ({plan.legs[-1].place} {plan.legs[-1].region})",
            item_code=item.code,
        )
    for region in sorted(regions):
        try:
            catalog.shared_item(item.code, origin, region, CrossRegionMode.JOINT)
        except (UnknownItem, ItemMismatch, ModeNotAllowed, SameRegion) as exc:
            raise ApplicationRefused(_CATALOG_RULES[type(exc)], str(exc)) from exc
        except UnknownRegion as exc:
            raise ApplicationRefused("unknown_region", str(exc.args[0])) from exc
    return plan


def material_ref(name: str, content: bytes | None = None) -> MaterialRef:
    """A material as the window's scanner records it: digest plus a reference to the bytes.

    Without `content` the digest is of the name (demos and tests, where no file exists).
    """
    digest = hashlib.sha256(content if content is not None else name.encode()).hexdigest()
    return MaterialRef(name=name, sha256=digest, ref=f"window://materials/{digest[:12]}")


def new_case_no(region: str, now: datetime) -> str:
    """`<region>-<YYYYMMDD>-<serial>`: the date is the Beijing date the window took the case
    (a case taken at 07:30 Beijing time, 23:30 UTC the day before, carries today's date)."""
    serial = "".join(secrets.choice(_CASE_ALPHABET) for _ in range(8))
    return f"{region}-{beijing_date(now):%Y%m%d}-{serial}"


async def submit_case(
    *,
    pool: asyncpg.Pool,
    client: Client,
    credentials: RegionCredentials,
    application: Application,
    policies: CasePolicies,
    catalog: Catalog | None = None,
    tolerate_missing: bool = False,
    case_no: str | None = None,
    submission: SubmissionKey | None = None,
    files: Sequence[MaterialFile] = (),
    received_by: Actor | None = None,
    online: OnlineApplicant | None = None,
) -> WorkflowHandle[IntakeWorkflow, CaseOutcome]:
    """Record the case (applicant sealed for this region's own key) and start its workflow.

    The item must be one both regions resolve to the same version (`catalog`, default: the
    shipped one); otherwise `ApplicationRefused` is raised and nothing is recorded.
    `tolerate_missing` is 容缺受理: the case is taken with mandatory materials missing and the
    formal review asks for them (补正); the HTTP API never sets it.

    Idempotent for a given case number, and for a given `submission` (the window's
    `Idempotency-Key`, scoped to the window): a window that retries after a timeout gets the
    same case, never a second one; a retry with another application raises
    `SubmissionKeyReused`. The applicant's data never enters the workflow's history.

    `online`: a 全程网办 application by the signed-in applicant (decision 0034): the case
    records the digest of their subject and runs without a window review.
    """
    region = credentials.region
    # Scanned files join the application's materials, each described by its bytes; a file
    # the window does not take refuses the whole application before anything is kept.
    try:
        described = take_files(files)
    except FileRefused as exc:
        raise ApplicationRefused(exc.rule, exc.message) from exc
    if described:
        try:
            application = Application.model_validate(
                {
                    **application.model_dump(),
                    "materials": [*application.materials, *(ref for ref, _ in described)],
                }
            )
        except ValidationError as exc:
            raise ApplicationRefused("too_many_materials", str(exc.errors()[0]["msg"])) from exc
    item = resolve_item(
        catalog or default_catalog(),
        application,
        region,
        tolerate_missing=tolerate_missing,
        channel=(CrossRegionMode.ONLINE,) if online else WINDOW_MODES,
    )
    mode = case_mode(application, region)
    consent = recorded_consent(application, online=online is not None)
    route = route_plan(catalog or default_catalog(), item, application, region)
    required_materials = tuple(m.name for m in item.carried_materials())
    now = datetime.now(UTC)
    recorded = RecordedApplication(
        item_code=item.code,
        processing_region=application.processing_region,
        applicant=application.applicant(),
        materials=application.materials,
        fee_fen=application.fee_fen,
    )
    if case_no is None and submission is not None:
        case_no = await case_of_submission(pool, credentials, submission, recorded)
    case_no = case_no or new_case_no(region, now)
    key_id, own_key = sealing_key(credentials.directory(), region, now)
    box = seal(
        application.applicant().model_dump_json().encode(),
        case_no=case_no,
        recipient=region,
        key_id=key_id,
        recipient_public=own_key,
    )
    cases = PostgresCaseStore(pool)
    inserted = await cases.add(
        NewCase(
            case_no=case_no,
            role="origin",
            item_code=item.code,
            item_version=item.version,
            origin_region=region,
            processing_region=application.processing_region,
            applicant_sealed=box.model_dump(mode="json"),
            materials=[m.model_dump(mode="json") for m in application.materials],
            fee_fen=application.fee_fen,
            submission_window=submission.window if submission else None,
            submission_key=submission.key if submission else None,
            mode=mode.value,
            applicant_subject=online.subject if online else None,
            evidence_consent=consent.model_dump(mode="json") if consent else None,
        )
    )
    if not inserted and submission is not None:
        # The same key raced us in from a second request: that request's case is the one,
        # if it was for the same application.
        case_no = await case_of_submission(pool, credentials, submission, recorded) or case_no
    # The bytes are kept before the workflow starts: it may forward them at once.
    await keep_files(pool, case_no, described)
    request = IntakeRequest(
        case_no=case_no,
        item_code=item.code,
        item_version=item.version,
        origin_region=region,
        processing_region=application.processing_region,
        required_materials=required_materials,
        materials=application.materials,
        fee_fen=application.fee_fen,
        policy=policies.for_item(application.item_code),
        timings=policies.timings_for(application.item_code),
        received_by=received_by,  # the clerk who took the application (收件)
        # The item's own 补正 rules (decision 0026): its working days, and what a missed 补正 is.
        supplement_working_days=item.supplement_working_days,
        on_missed_supplement=item.on_missed_supplement.value,
        mode=mode.value,
        delivery=online.delivery if online else None,
        route=route,
    )
    try:
        return await client.start_workflow(
            IntakeWorkflow.run,
            request,
            id=intake_workflow_id(case_no),
            task_queue=task_queue(region),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # The first workflow task comes back with the start and runs on this node's own
            # worker (same client, same task queue): one poll and one round trip fewer per
            # case (issue 22). Where the server declines, the task is polled as before.
            request_eager_start=True,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(CASE_NO, case_no),
                    SearchAttributePair(ITEM_CODE, application.item_code),
                    SearchAttributePair(ORIGIN_REGION, region),
                    SearchAttributePair(PROCESSING_REGION, application.processing_region),
                    SearchAttributePair(CASE_STATUS, intake.Status.RECEIVED.value),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        return intake_handle(client, case_no)
    except BaseException:
        # Nothing half-created: a case row without its workflow would be listed but never move.
        # With a submission key the row stays: the window retries with the key and the retry
        # starts the workflow (which may even have started already, its answer lost).
        if inserted and submission is None:
            await cases.discard_unstarted(case_no)
        raise
