"""Which version a region uses, and when a case may cross two regions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog.catalog import Catalog, default_catalog, implied_mode, resolve
from catalog.errors import (
    InvalidCatalog,
    ItemMismatch,
    ModeNotAllowed,
    SameRegion,
    UnknownItem,
)
from catalog.models import CrossRegionMode
from regions.codes import UnknownRegion

HUKOU = "QR-00101-004"  # 夫妻投靠户口迁移: 广东 has v2
RETIRE = "GG-00402-001"  # 正常退休提取住房公积金: 福建 has v2
MEDICAL = "GG-00301-000"  # 跨省异地就医登记备案: 全程网办 only


def test_province_uses_its_own_version() -> None:
    item = resolve(HUKOU, "440000")
    assert (item.version, item.issued_by) == (2, "440000")


def test_city_inherits_its_provinces_version() -> None:
    item = resolve(HUKOU, "440300")  # 深圳
    assert (item.version, item.issued_by) == (2, "440000")


def test_national_fallback() -> None:
    for region in ("350000", "350100", "110000"):
        item = resolve(HUKOU, region)
        assert (item.version, item.issued_by) == (1, None)


def test_unknown_item_and_region() -> None:
    with pytest.raises(UnknownItem):
        resolve("GG-99999-000", "350000")
    with pytest.raises(UnknownRegion):
        resolve(HUKOU, "999999")


def test_versions_differ_between_fujian_and_guangdong() -> None:
    catalog = default_catalog()
    with pytest.raises(ItemMismatch) as caught:
        catalog.shared_item(HUKOU, "350000", "440000")
    assert (caught.value.origin_version, caught.value.processing_version) == (1, 2)
    # The other way round, and from a 福建 city to a 广东 city, for the item 福建 versions.
    with pytest.raises(ItemMismatch):
        catalog.shared_item(RETIRE, "440100", "350100")


def test_same_version_in_both_regions_is_shared() -> None:
    catalog = default_catalog()
    assert catalog.shared_item(HUKOU, "440100", "440300").version == 2  # 省内通办 in 广东
    assert catalog.shared_item(RETIRE, "350100", "350200").version == 2  # 省内通办 in 福建
    assert catalog.shared_item(HUKOU, "350000", "110000").version == 1


def test_mode_must_be_allowed() -> None:
    catalog = default_catalog()
    with pytest.raises(ModeNotAllowed) as caught:
        catalog.shared_item(MEDICAL, "350000", "440000")
    assert caught.value.mode == CrossRegionMode.PROXY.value
    item = catalog.shared_item(MEDICAL, "350000", "440000", CrossRegionMode.ONLINE)
    assert item.code == MEDICAL


def test_unknown_item_and_same_region_refused() -> None:
    catalog = default_catalog()
    with pytest.raises(UnknownItem):
        catalog.shared_item("GG-99999-000", "350000", "440000")
    with pytest.raises(SameRegion):
        catalog.shared_item(HUKOU, "350000", "350000")


def test_implied_mode() -> None:
    assert implied_mode("350100", "350200") is CrossRegionMode.IN_PROVINCE
    assert implied_mode("350000", "350100") is CrossRegionMode.IN_PROVINCE
    assert implied_mode("350100", "440100") is CrossRegionMode.PROXY


def _item(code: str = "GG-00001-000", version: int = 1, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "code": code,
        "name": "测试事项",
        "version": version,
        "effective_from": "2024-01-01",
        "item_type": "公共服务",
        "legal_basis": ["测试依据"],
        "materials": [{"name": "居民身份证", "mandatory": True}],
        "procedure": ["受理", "办结"],
        "promised_days": 5,
        "delivery": ["窗口领取"],
        "modes": ["异地代收代办", "省内通办"],
        "provenance": "推定",
    }
    return {**item, **changes}


def _write_catalog(root: Path, national: list[dict[str, Any]], **regional: list[Any]) -> Path:
    (root / "regions").mkdir(parents=True)
    (root / "national.json").write_text(json.dumps({"items": national}), encoding="utf-8")
    for region, items in regional.items():
        body = {"region": region.removeprefix("r"), "items": items}
        (root / "regions" / f"{region.removeprefix('r')}.json").write_text(json.dumps(body))
    return root


def test_a_city_may_publish_its_own_version(tmp_path: Path) -> None:
    root = _write_catalog(
        tmp_path,
        [_item()],
        r440000=[_item(version=2)],
        r440300=[_item(version=3, promised_days=1)],
    )
    catalog = Catalog.load(root)
    assert catalog.resolve("GG-00001-000", "440300").version == 3  # 深圳's own
    assert catalog.resolve("GG-00001-000", "440100").version == 2  # 广州 inherits 广东
    assert catalog.resolve("GG-00001-000", "350100").version == 1  # national
    with pytest.raises(ItemMismatch):
        catalog.shared_item("GG-00001-000", "440100", "440300")


def test_cross_file_rules(tmp_path: Path) -> None:
    root = _write_catalog(
        tmp_path,
        [_item()],
        r440000=[_item(version=1), _item("GG-00002-000", version=2)],
        r350000=[_item(version=2, name="改了名字")],
    )
    with pytest.raises(InvalidCatalog) as caught:
        Catalog.load(root)
    rules = {v.rule for v in caught.value.violations}
    assert rules == {"version_conflict", "override_unknown_item", "override_changes_identity"}
