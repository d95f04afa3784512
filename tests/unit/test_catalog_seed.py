"""The catalog shipped in the package: it loads, is big enough, and is honest about its sources."""

from __future__ import annotations

from catalog.catalog import Catalog, default_catalog, shared_item
from catalog.models import CrossRegionMode, Provenance


def test_seed_catalog_loads_with_at_least_20_items() -> None:
    catalog = Catalog.load()
    assert len(catalog.items()) >= 20
    assert set(catalog.regional) == {"350000", "440000"}


def test_every_item_admits_its_code_is_inferred() -> None:
    # No real national item code is known (REFERENCE.md §3); claiming one would be pretending.
    for item in default_catalog().items():
        assert item.provenance is Provenance.INFERRED or "code" in item.inferred_fields, item.code


def test_sourced_items_carry_urls() -> None:
    for item in default_catalog().items():
        if item.provenance is not Provenance.INFERRED:
            assert all(s.url.startswith("http") for s in item.sources), item.code


def test_items_the_brief_names_are_present() -> None:
    names = {item.name for item in default_catalog().items()}
    for expected in (
        "夫妻投靠户口迁移",
        "企业职工基本养老保险关系转移接续",
        "跨省异地就医登记备案",
        "机动车驾驶证补换领",
        "内资公司变更登记（营业执照变更）",
        "职业资格证书核验",
        "婚姻登记记录证明",
        "住房公积金转移接续",
        "养老保险待遇资格认证",
    ):
        assert expected in names


def test_demo_item_can_go_from_fujian_to_guangdong() -> None:
    # regions/demo.py and tests/integration/pair.py submit GG-00102-000 v1, free of charge.
    item = shared_item("GG-00102-000", "350000", "440000")
    assert (item.version, item.fee_fen) == (1, 0)
    assert item.allows(CrossRegionMode.PROXY)


def test_regional_versions_are_regional() -> None:
    catalog = default_catalog()
    for region, items in catalog.regional.items():
        for item in items.values():
            assert item.issued_by == region
            assert item.version != catalog.national[item.code].version
