"""A window's 多地联办 application: the route's places bound, every rule that refuses named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from catalog.catalog import default_catalog
from regions.window import Application, ApplicationRefused, resolve_item, route_plan

ORIGIN = "350000"
HOUSEHOLD = "QR-00101-001"  # 工作调动户口迁移
PLACES = {"迁入地": "330000", "迁出地": "440000"}


def application(**changes: Any) -> Application:
    return Application.model_validate(
        {
            "item_code": HOUSEHOLD,
            "processing_region": "330000",
            "applicant_name": "张三",
            "applicant_id_number": "11010519491231002X",
            "applicant_phone": "13800000000",
            "materials": [
                {"name": name, "sha256": "0" * 64, "ref": "window://materials/x"}
                for name in ("居民身份证", "调动审批材料（调令或录用手续）")
            ],
            "mode": "多地联办",
            "route_places": PLACES,
            **changes,
        }
    )


def refusal(given: Application) -> str:
    catalog = default_catalog()
    with pytest.raises(ApplicationRefused) as refused:
        route_plan(catalog, resolve_item(catalog, given, ORIGIN), given, ORIGIN)
    return refused.value.rule


def test_a_joint_application_binds_each_leg_to_its_place_region() -> None:
    catalog = default_catalog()
    given = application()
    plan = route_plan(catalog, resolve_item(catalog, given, ORIGIN), given, ORIGIN)
    assert plan is not None
    assert [(leg.place, leg.region) for leg in plan.legs] == [
        ("迁入地", "330000"),
        ("迁出地", "440000"),
        ("迁入地", "330000"),
    ]


def test_another_mode_runs_no_route() -> None:
    catalog = default_catalog()
    given = application(mode=None, route_places=None, processing_region="440000")
    assert route_plan(catalog, resolve_item(catalog, given, ORIGIN), given, ORIGIN) is None


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"route_places": {"迁入地": "330000"}}, "route_place_unbound"),
        ({"route_places": {**PLACES, "落户地": "110000"}}, "route_place_unknown"),
        ({"route_places": {"迁入地": "330000", "迁出地": "330000"}}, "route_places_same_region"),
        ({"route_places": {"迁入地": "330000", "迁出地": ORIGIN}}, "route_place_is_origin"),
        ({"processing_region": "440000"}, "route_processing_region"),
        (
            {"mode": None, "processing_region": "440000"},
            "route_places_not_joint",
        ),
    ],
)
def test_a_route_that_cannot_run_is_refused_by_rule(changes: dict[str, Any], rule: str) -> None:
    assert refusal(application(**changes)) == rule


def test_a_place_name_longer_than_any_route_place_is_refused_before_binding() -> None:
    with pytest.raises(ValidationError) as refused:
        application(route_places={"迁" * 21: "330000", **PLACES})
    assert refused.value.errors()[0]["type"] == "string_too_long"
