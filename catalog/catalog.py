"""Load and validate the service catalog, and resolve which item version a region uses.

Layout of a catalog directory: `national.json` (the national standardized items) and
`regions/<code>.json` (a region's own versions of some of them). A region uses its own version
if it has one, else its province's (for a city), else the national one. A case may cross two
regions only when both resolve the same (code, version); (code, version) is unique across the
whole catalog, so equal keys mean equal content.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from catalog.errors import (
    InvalidCatalog,
    ItemMismatch,
    ModeNotAllowed,
    RuleViolation,
    SameRegion,
    UnknownItem,
)
from catalog.models import (
    CatalogFile,
    CrossRegionMode,
    ServiceItem,
    duplicate_codes,
    duplicate_codes_error,
)
from regions.codes import region as lookup_region

__all__ = [
    "Catalog",
    "default_catalog",
    "implied_mode",
    "read_catalog_file",
    "resolve",
    "shared_item",
    "validate_file",
]


def _location(data: Any, loc: tuple[int | str, ...]) -> str:
    """`items[3] GG-00102-000 .materials` rather than `items.3.materials`."""
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int):
            parts.append(f"[{step}]")
            node = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("code"), str):
                parts.append(f" {node['code']} ")
        else:
            parts.append(step if not parts or parts[-1].endswith(" ") else f".{step}")
            node = node.get(step) if isinstance(node, dict) else None
    return "".join(parts).strip() or "(file)"


def parse_catalog_file(text: str, source: str) -> CatalogFile:
    """Validate one catalog file's text; every broken rule comes back in one `InvalidCatalog`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidCatalog(source, [RuleViolation("invalid_json", "(file)", str(exc))]) from exc
    try:
        return CatalogFile.model_validate(data)
    except ValidationError as exc:
        violations = [
            RuleViolation(str(e["type"]), _location(data, tuple(e["loc"])), e["msg"])
            for e in exc.errors()
        ]
        violations.extend(_raw_duplicates(data, violations))
        raise InvalidCatalog(source, violations) from exc


def _raw_duplicates(data: Any, found: list[RuleViolation]) -> list[RuleViolation]:
    """Duplicate codes among raw items: pydantic skips that check when any item is invalid."""
    if any(v.rule == "duplicate_item_code" for v in found) or not isinstance(data, dict):
        return []
    raw = data.get("items")
    if not isinstance(raw, list):
        return []
    codes = [i["code"] for i in raw if isinstance(i, dict) and isinstance(i.get("code"), str)]
    duplicates = duplicate_codes(codes)
    if not duplicates:
        return []
    error = duplicate_codes_error(duplicates)
    return [RuleViolation(error.type, "items", error.message())]


def read_catalog_file(path: Path | Traversable) -> CatalogFile:
    return parse_catalog_file(path.read_text(encoding="utf-8"), str(path))


class Catalog:
    """The national items plus each region's own versions, checked against each other."""

    def __init__(self, national: CatalogFile, regional: Iterable[CatalogFile] = ()) -> None:
        if national.region is not None:
            raise InvalidCatalog(
                "national",
                [RuleViolation("not_national", "region", "the national file names a region")],
            )
        self._national: dict[str, ServiceItem] = {i.code: i for i in national.items}
        self._regional: dict[str, dict[str, ServiceItem]] = {}
        violations: list[RuleViolation] = []
        owner: dict[tuple[str, int], str] = {i.key: "national" for i in national.items}
        for file in regional:
            region = file.region
            if region is None:
                violations.append(
                    RuleViolation("not_regional", "region", "a regional file must name its region")
                )
                continue
            if region in self._regional:
                violations.append(
                    RuleViolation("duplicate_region_file", region, "two files for one region")
                )
                continue
            self._regional[region] = {}
            for item in file.items:
                violations.extend(self._check_override(region, item, owner))
                self._regional[region][item.code] = item
                owner.setdefault(item.key, region)
        if violations:
            raise InvalidCatalog("catalog", violations)

    def _check_override(
        self, region: str, item: ServiceItem, owner: Mapping[tuple[str, int], str]
    ) -> list[RuleViolation]:
        where = f"{region} {item.code} v{item.version}"
        base = self._national.get(item.code)
        if base is None:
            # 五级十五同: codes come from the national catalog; a region only versions them.
            return [RuleViolation("override_unknown_item", where, "not in the national catalog")]
        found = []
        if item.key in owner:
            found.append(
                RuleViolation(
                    "version_conflict",
                    where,
                    f"v{item.version} is already defined by {owner[item.key]}; a regional"
                    " version needs its own version number",
                )
            )
        if (item.name, item.item_type) != (base.name, base.item_type):
            found.append(
                RuleViolation(
                    "override_changes_identity",
                    where,
                    f"name and type must stay {base.name} / {base.item_type.value}",
                )
            )
        return found

    @classmethod
    def load(cls, directory: Path | Traversable | None = None) -> Catalog:
        """Read `national.json` and `regions/*.json` from `directory` (default: shipped data)."""
        root = directory if directory is not None else resources.files("catalog") / "data"
        national = read_catalog_file(root / "national.json")
        regional_dir = root / "regions"
        regional = []
        if regional_dir.is_dir():
            for path in sorted(regional_dir.iterdir(), key=lambda p: p.name):
                if not path.name.endswith(".json"):
                    continue
                file = read_catalog_file(path)
                if file.region != path.name.removesuffix(".json"):
                    raise InvalidCatalog(
                        str(path),
                        [RuleViolation("region_file_name", "region", "file name ≠ its region")],
                    )
                regional.append(file)
        return cls(national, regional)

    @property
    def national(self) -> Mapping[str, ServiceItem]:
        return self._national

    @property
    def regional(self) -> Mapping[str, Mapping[str, ServiceItem]]:
        return self._regional

    def items(self, region: str | None = None) -> tuple[ServiceItem, ...]:
        """Every item in code order: national versions, or as `region` resolves them."""
        if region is None:
            return tuple(self._national[c] for c in sorted(self._national))
        return tuple(self.resolve(c, region) for c in sorted(self._national))

    def resolve(self, item_code: str, region: str) -> ServiceItem:
        """The version `region` uses. Raises `UnknownRegion` or `UnknownItem`."""
        place = lookup_region(region)
        for code in (place.code, place.parent):
            if code is not None and item_code in self._regional.get(code, {}):
                return self._regional[code][item_code]
        try:
            return self._national[item_code]
        except KeyError:
            raise UnknownItem(item_code, region) from None

    def shared_item(
        self,
        item_code: str,
        origin: str,
        processing: str,
        mode: CrossRegionMode | None = None,
    ) -> ServiceItem:
        """The item both regions handle, if a case may go from `origin` to `processing`.

        `mode` defaults to the one the region pair implies (see `implied_mode`). Raises
        `SameRegion`, `UnknownRegion`, `UnknownItem`, `ItemMismatch` or `ModeNotAllowed`.
        """
        if origin == processing:
            raise SameRegion(origin)
        at_origin = self.resolve(item_code, origin)
        at_processing = self.resolve(item_code, processing)
        if at_origin.key != at_processing.key:
            raise ItemMismatch(
                item_code, origin, at_origin.version, processing, at_processing.version
            )
        wanted = mode if mode is not None else implied_mode(origin, processing)
        if not at_origin.allows(wanted):
            raise ModeNotAllowed(
                item_code, at_origin.version, wanted.value, tuple(m.value for m in at_origin.modes)
            )
        return at_origin


def implied_mode(origin: str, processing: str) -> CrossRegionMode:
    """省内通办 within one province, else 异地代收代办 (A receives, B decides: tongban's case)."""
    a, b = lookup_region(origin), lookup_region(processing)
    if (a.parent or a.code) == (b.parent or b.code):
        return CrossRegionMode.IN_PROVINCE
    return CrossRegionMode.PROXY


def validate_file(path: Path, against: Catalog | None = None) -> CatalogFile:
    """Check one file; a regional file also against the national catalog (`against` or shipped).

    Raises `InvalidCatalog` listing every broken rule.
    """
    file = read_catalog_file(path)
    if file.region is None:
        Catalog(file)
        return file
    base = against if against is not None else default_catalog()
    national = CatalogFile(items=tuple(base.national.values()))
    others = [
        CatalogFile(region=code, items=tuple(items.values()))
        for code, items in base.regional.items()
        if code != file.region and items
    ]
    try:
        Catalog(national, [*others, file])
    except InvalidCatalog as exc:
        raise InvalidCatalog(str(path), exc.violations) from exc
    return file


@functools.cache
def default_catalog() -> Catalog:
    """The catalog shipped in this package, loaded and validated once per process."""
    return Catalog.load()


def resolve(item_code: str, region: str) -> ServiceItem:
    return default_catalog().resolve(item_code, region)


def shared_item(
    item_code: str, origin: str, processing: str, mode: CrossRegionMode | None = None
) -> ServiceItem:
    return default_catalog().shared_item(item_code, origin, processing, mode)
