"""A standardized service item (五级十五同) and a catalog file, as pure pydantic models.

No I/O imports: workflows import these inside the Temporal sandbox. Every rule that can fail
raises a `PydanticCustomError` whose `type` is the rule's name (`promised_exceeds_statutory`,
`duplicate_material` …), so a caller or `tongban catalog validate` can say which rule broke.
Cross-field rules are field validators reading earlier fields (`info.data`) rather than model
validators, so that pydantic reports every broken rule of an item, not only the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from catalog.routes import Route
from events.evidence import EvidenceType
from regions.codes import REGIONS


class ItemType(StrEnum):
    """事项类型; the value is the name used in the official catalogs."""

    LICENSE = "行政许可"
    CONFIRMATION = "行政确认"
    BENEFIT = "行政给付"
    LEVY = "行政征收"
    PUBLIC_SERVICE = "公共服务"
    OTHER_POWER = "其他行政权力"


# The 2-letter prefix of an item code names its type. Only XK is shown in a source (DB52/T
# 1264-2018); the other letters are this project's choice [推定], see decision 0006.
TYPE_PREFIX: dict[ItemType, str] = {
    ItemType.LICENSE: "XK",
    ItemType.CONFIRMATION: "QR",
    ItemType.BENEFIT: "JF",
    ItemType.LEVY: "ZS",
    ItemType.PUBLIC_SERVICE: "GG",
    ItemType.OTHER_POWER: "QT",
}

# 基本编码 after DB52/T 1264-2018: type (2) + 主项 (5 digits) + 子项 (3 digits, 000 = none),
# with dashes for readability (the dashes are not part of the standard's length).
ITEM_CODE_PATTERN = re.compile(r"^(XK|QR|JF|ZS|GG|QT)-\d{5}-\d{3}$")


class CrossRegionMode(StrEnum):
    ONLINE = "全程网办"
    PROXY = "异地代收代办"
    JOINT = "多地联办"
    IN_PROVINCE = "省内通办"


class MissedSupplement(StrEnum):
    """What a 补正 the applicant did not provide in time means for the case (decision 0026)."""

    # 视为撤回: the application is deemed withdrawn (the rule); A compensates as for a withdrawal.
    WITHDRAWN = "withdrawn"
    # Where the item's own rules say so: 不予受理 before acceptance, 不予许可 after it.
    REFUSED = "refused"


class DeliveryChannel(StrEnum):
    WINDOW = "窗口领取"
    MAIL = "邮寄"
    ONLINE = "网上送达"


class Provenance(StrEnum):
    """How far an item's content is backed by a source in shared/domain/REFERENCE.md."""

    SOURCED = "有出处"  # every field backed by `sources`
    PARTLY_INFERRED = "部分推定"  # backed by `sources` except `inferred_fields`
    INFERRED = "推定"  # not backed by any source read; verify before relying on it


def _rule(rule: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(rule, message, context or None)


def _region_code(value: str) -> str:
    if value not in REGIONS:
        raise _rule("unknown_region", "{code} is not a known GB/T 2260 region code", code=value)
    return value


RegionCode = Annotated[str, Field(pattern=r"^\d{6}$"), AfterValidator(_region_code)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


def _no_duplicates(values: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise _rule(
                "duplicate_entry", "{what} lists {value} twice", what=what, value=str(value)
            )
        seen.add(value)
    return values


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    title: Text
    url: Text


class Material(_Frozen):
    name: Text
    mandatory: bool
    # True when the window fetches it by data sharing (数据共享); the applicant need not carry it.
    shareable: bool = False
    originals: int | None = Field(default=None, ge=0)
    copies: int | None = Field(default=None, ge=0)
    note: str = Field(default="", max_length=500)
    # The evidence types that satisfy it (events/evidence.py): the region that needs it asks
    # their provider over the exchange; refused or unanswered, it is required on paper again
    # (decision 0041). Only a shareable material names them.
    evidence: tuple[EvidenceType, ...] = ()

    @field_validator("evidence")
    @classmethod
    def _evidence_is_shared(
        cls, evidence: tuple[EvidenceType, ...], info: ValidationInfo
    ) -> tuple[EvidenceType, ...]:
        if evidence and not info.data.get("shareable", False):
            raise _rule(
                "evidence_not_shareable", "a material satisfied by evidence must be shareable"
            )
        return _no_duplicates(evidence, "evidence")


class Fee(_Frozen):
    item: Text
    amount_fen: int = Field(ge=0)
    # validate_default: an omitted basis is the case the rule exists for.
    basis: str = Field(default="", max_length=500, validate_default=True)

    @field_validator("basis")
    @classmethod
    def _charged_needs_basis(cls, basis: str, info: ValidationInfo) -> str:
        # A charge without a basis is exactly what 收费目录清单 rules forbid.
        if info.data.get("amount_fen", 0) > 0 and not basis.strip():
            raise _rule("fee_without_basis", "a fee above 0 fen must name its basis")
        return basis


class ServiceItem(_Frozen):
    """One version of a standardized item. (code, version) identifies it across all regions."""

    code: str
    name: Text
    version: int = Field(ge=1)
    effective_from: date
    item_type: ItemType
    department: str = Field(default="", max_length=200)
    legal_basis: tuple[Text, ...] = Field(min_length=1)
    conditions: tuple[Text, ...] = ()
    # An item needing no materials says so explicitly, so an empty list is never an oversight.
    no_materials: bool = False
    materials: tuple[Material, ...] = ()
    procedure: tuple[Text, ...] = Field(min_length=1)
    review_points: tuple[Text, ...] = ()
    promised_days: int = Field(ge=0)  # 承诺时限, working days; 0 = 即办
    statutory_days: int | None = Field(default=None, ge=0)  # 法定时限, working days
    # The applicant's time to provide a 补正, in working days (None: the node's default), and
    # what a missed 补正 means (decision 0026).
    supplement_working_days: int | None = Field(default=None, ge=1, le=60)
    on_missed_supplement: MissedSupplement = MissedSupplement.WITHDRAWN
    fees: tuple[Fee, ...] = ()  # empty or all 0 = 不收费
    delivery: tuple[DeliveryChannel, ...] = Field(min_length=1)
    modes: tuple[CrossRegionMode, ...] = Field(min_length=1)
    # 多地联办 items only: the legs across regions (catalog/routes.py). Versioned with the item:
    # a changed route is a new item version, and a case keeps the route it started with.
    route: Route | None = Field(default=None, validate_default=True)
    issued_by: RegionCode | None = None  # None = the national catalog
    sources: tuple[Source, ...] = ()
    inferred_fields: tuple[str, ...] = ()
    provenance: Provenance
    notes: str = Field(default="", max_length=2000)

    @field_validator("code")
    @classmethod
    def _code_format(cls, code: str) -> str:
        if not ITEM_CODE_PATTERN.fullmatch(code):
            raise _rule(
                "item_code_format",
                "item code {code} is not TT-NNNNN-SSS (type letters, 主项, 子项)",
                code=code,
            )
        return code

    @field_validator("item_type")
    @classmethod
    def _code_names_type(cls, item_type: ItemType, info: ValidationInfo) -> ItemType:
        code = info.data.get("code")
        if code is not None and not code.startswith(TYPE_PREFIX[item_type] + "-"):
            raise _rule(
                "item_code_type_mismatch",
                "item code {code} does not start with {prefix}, the prefix of {item_type}",
                code=code,
                prefix=TYPE_PREFIX[item_type],
                item_type=item_type.value,
            )
        return item_type

    @field_validator("materials")
    @classmethod
    def _materials(
        cls, materials: tuple[Material, ...], info: ValidationInfo
    ) -> tuple[Material, ...]:
        names = [m.name for m in materials]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise _rule(
                "duplicate_material", "material {names} listed twice", names="、".join(duplicates)
            )
        no_materials = info.data.get("no_materials", False)
        if no_materials and materials:
            raise _rule("materials_contradiction", "no_materials is set but materials are listed")
        if not no_materials and not any(m.mandatory for m in materials):
            raise _rule(
                "materials_required",
                "at least one mandatory material, or no_materials: true when none is needed",
            )
        return materials

    @field_validator("statutory_days")
    @classmethod
    def _promise_within_law(cls, statutory: int | None, info: ValidationInfo) -> int | None:
        promised = info.data.get("promised_days")
        if statutory is not None and promised is not None and promised > statutory:
            raise _rule(
                "promised_exceeds_statutory",
                "promised {promised} working days exceed the statutory {statutory}",
                promised=promised,
                statutory=statutory,
            )
        return statutory

    @field_validator("delivery")
    @classmethod
    def _unique_delivery(cls, values: tuple[DeliveryChannel, ...]) -> tuple[DeliveryChannel, ...]:
        return _no_duplicates(values, "delivery")

    @field_validator("modes")
    @classmethod
    def _unique_modes(cls, values: tuple[CrossRegionMode, ...]) -> tuple[CrossRegionMode, ...]:
        return _no_duplicates(values, "modes")

    @field_validator("route")
    @classmethod
    def _route_iff_joint(cls, route: Route | None, info: ValidationInfo) -> Route | None:
        modes = info.data.get("modes")
        if modes is None:  # the modes failed; reported there
            return route
        joint = CrossRegionMode.JOINT in modes
        if joint and route is None:
            raise _rule("joint_without_route", "an item allowing 多地联办 defines its route")
        if route is not None and not joint:
            raise _rule("route_without_joint", "a route is defined but 多地联办 is not allowed")
        promised = info.data.get("promised_days")
        if route is not None and promised is not None and route.working_days() > promised:
            raise _rule(
                "route_exceeds_promise",
                "the route's legs take {days} working days, more than the promised {promised}",
                days=route.working_days(),
                promised=promised,
            )
        return route

    @field_validator("inferred_fields")
    @classmethod
    def _known_fields(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in names if n not in _CONTENT_FIELDS]
        if unknown:
            raise _rule(
                "unknown_inferred_field",
                "inferred_fields names {names}, which are not item fields",
                names=", ".join(unknown),
            )
        return _no_duplicates(names, "inferred_fields")

    @field_validator("provenance")
    @classmethod
    def _provenance_consistent(cls, provenance: Provenance, info: ValidationInfo) -> Provenance:
        sources = info.data.get("sources", ())
        inferred = info.data.get("inferred_fields", ())
        if provenance is not Provenance.INFERRED and not sources:
            raise _rule(
                "provenance_without_source",
                "provenance {provenance} needs at least one source; otherwise it is 推定",
                provenance=provenance.value,
            )
        if provenance is Provenance.SOURCED and inferred:
            raise _rule("provenance_inconsistent", "有出处 with inferred_fields is 部分推定")
        if provenance is Provenance.PARTLY_INFERRED and not inferred:
            raise _rule("provenance_inconsistent", "部分推定 must list its inferred_fields")
        return provenance

    @property
    def key(self) -> tuple[str, int]:
        return (self.code, self.version)

    @property
    def fee_fen(self) -> int:
        return sum(fee.amount_fen for fee in self.fees)

    def allows(self, mode: CrossRegionMode) -> bool:
        return mode in self.modes

    def carried_materials(self) -> tuple[Material, ...]:
        """Mandatory materials the applicant must bring: the shareable ones the window fetches."""
        return tuple(m for m in self.materials if m.mandatory and not m.shareable)

    def evidence_materials(self) -> tuple[Material, ...]:
        """Materials a region fetches as evidence over the exchange (decision 0041)."""
        return tuple(m for m in self.materials if m.evidence)

    def missing_materials(self, provided: Iterable[str]) -> tuple[str, ...]:
        """Names of carried materials absent from `provided`, in catalog order."""
        have = set(provided)
        return tuple(m.name for m in self.carried_materials() if m.name not in have)


_CONTENT_FIELDS = frozenset(ServiceItem.model_fields) - {
    "issued_by",
    "sources",
    "inferred_fields",
    "provenance",
    "notes",
}


class CatalogFile(_Frozen):
    """One shipped file: the national catalog (`region` None) or one region's own versions."""

    region: RegionCode | None = None
    description: str = Field(default="", max_length=2000)
    # Not min_length: pydantic counts only the items that validated, so a file whose items all
    # fail would also get a misleading "too short".
    items: tuple[ServiceItem, ...]

    @field_validator("items", mode="before")
    @classmethod
    def _not_empty(cls, items: Any) -> Any:
        if isinstance(items, list | tuple) and not items:
            raise _rule("no_items", "a catalog file lists at least one item")
        return items

    @field_validator("items")
    @classmethod
    def _items(
        cls, items: tuple[ServiceItem, ...], info: ValidationInfo
    ) -> tuple[ServiceItem, ...]:
        duplicates = duplicate_codes(item.code for item in items)
        if duplicates:
            raise duplicate_codes_error(duplicates)
        if "region" not in info.data:  # the region itself failed; reported there
            return items
        region = info.data["region"]
        wrong = [i.code for i in items if i.issued_by is not None and i.issued_by != region]
        if wrong:
            raise _rule(
                "issued_by_mismatch",
                "items {codes} name another issuer than the file's region {region}",
                codes=", ".join(wrong),
                region=str(region),
            )
        # A regional file's items are that region's versions; saying so in every item is noise.
        return tuple(i.model_copy(update={"issued_by": region}) for i in items)


def duplicate_codes(codes: Iterable[str]) -> list[str]:
    listed = list(codes)
    return sorted({c for c in listed if listed.count(c) > 1})


def duplicate_codes_error(duplicates: list[str]) -> PydanticCustomError:
    return _rule(
        "duplicate_item_code",
        "item {codes} appears more than once in one file",
        codes=", ".join(duplicates),
    )
