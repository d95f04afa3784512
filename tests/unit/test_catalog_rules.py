"""Each catalog rule, by name, through the models and through `tongban catalog validate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from catalog.cli import app
from catalog.models import ServiceItem

runner = CliRunner()
SEED = Path(__file__).parents[2] / "catalog" / "data"
ID_CARD = {"name": "居民身份证", "mandatory": True}


def _item(code: str, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "code": code,
        "name": "测试事项",
        "version": 1,
        "effective_from": "2024-01-01",
        "item_type": "公共服务",
        "legal_basis": ["测试依据"],
        "materials": [ID_CARD],
        "procedure": ["受理", "办结"],
        "promised_days": 5,
        "delivery": ["窗口领取"],
        "modes": ["异地代收代办"],
        "provenance": "推定",
    }
    return {**item, **changes}


# One item per rule, each breaking only that rule, so the output must name every one of them.
BROKEN: dict[str, dict[str, Any]] = {
    "item_code_format": _item("GG-1-0"),
    "item_code_type_mismatch": _item("XK-00002-000"),
    "promised_exceeds_statutory": _item("GG-00003-000", promised_days=10, statutory_days=5),
    "materials_required": _item("GG-00004-000", materials=[{"name": "委托书", "mandatory": False}]),
    "materials_contradiction": _item("GG-00005-000", no_materials=True),
    "duplicate_material": _item("GG-00006-000", materials=[ID_CARD, ID_CARD]),
    "duplicate_entry": _item("GG-00007-000", modes=["全程网办", "全程网办"]),
    "fee_without_basis": _item("GG-00008-000", fees=[{"item": "工本费", "amount_fen": 1000}]),
    "provenance_without_source": _item("GG-00009-000", provenance="部分推定"),
    "provenance_inconsistent": _item(
        "GG-00010-000",
        provenance="有出处",
        sources=[{"title": "t", "url": "https://example.org"}],
        inferred_fields=["materials"],
    ),
    "unknown_inferred_field": _item("GG-00011-000", inferred_fields=["colour"]),
    "unknown_region": _item("GG-00012-000", issued_by="999999"),
}


def _rules(data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        ServiceItem.model_validate(data)
    return {str(e["type"]) for e in caught.value.errors()}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_rule_is_named(rule: str) -> None:
    assert _rules(BROKEN[rule]) == {rule}


def test_all_broken_rules_of_one_item_are_reported() -> None:
    both = _item("GG-00001-000", promised_days=9, statutory_days=3, materials=[ID_CARD, ID_CARD])
    assert _rules(both) == {"promised_exceeds_statutory", "duplicate_material"}


def test_a_valid_item_and_its_helpers() -> None:
    item = ServiceItem.model_validate(
        _item(
            "GG-00001-000",
            materials=[ID_CARD, {"name": "户口簿", "mandatory": True, "shareable": True}],
            fees=[{"item": "工本费", "amount_fen": 1000, "basis": "收费标准"}],
        )
    )
    assert item.missing_materials([]) == ("居民身份证",)  # the 户口簿 comes by data sharing
    assert item.missing_materials(["居民身份证"]) == ()
    assert item.fee_fen == 1000
    assert ServiceItem.model_validate(_item("GG-00002-000", materials=[], no_materials=True))


def _write(tmp_path: Path, body: dict[str, Any], name: str = "catalog.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return path


def test_validate_accepts_the_shipped_files() -> None:
    for path in [SEED / "national.json", *sorted((SEED / "regions").glob("*.json"))]:
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0, result.output
        assert "ok" in result.stdout


def test_validate_lists_every_failed_rule(tmp_path: Path) -> None:
    items = [*BROKEN.values(), _item("GG-00003-000")]  # the last one repeats a code
    result = runner.invoke(app, ["validate", str(_write(tmp_path, {"items": items}))])
    assert result.exit_code == 1
    for rule in [*BROKEN, "duplicate_item_code"]:
        assert f": {rule}:" in result.stderr, rule
    assert "GG-00003-000" in result.stderr  # locations name the item, not only its index


def test_validate_regional_file_against_the_national_catalog(tmp_path: Path) -> None:
    seed = json.loads((SEED / "national.json").read_text(encoding="utf-8"))
    national = {i["code"]: i for i in seed["items"]}
    body = {
        "region": "350000",
        "items": [
            national["GG-00102-000"],  # v1 is the national version: needs its own number
            {**national["GG-00103-000"], "version": 2, "name": "改名"},
            _item("GG-00099-000", version=2),  # not a national item
        ],
    }
    result = runner.invoke(app, ["validate", str(_write(tmp_path, body))])
    assert result.exit_code == 1
    for rule in ("version_conflict", "override_changes_identity", "override_unknown_item"):
        assert f": {rule}:" in result.stderr, rule


def test_validate_file_level_rules(tmp_path: Path) -> None:
    wrong_region = {"region": "999999", "items": [_item("GG-00001-000")]}
    mismatch = {"region": "350000", "items": [_item("GG-00001-000", issued_by="440000")]}
    not_json = tmp_path / "broken.json"
    not_json.write_text("{", encoding="utf-8")
    cases = [
        (_write(tmp_path, wrong_region, "a.json"), "unknown_region"),
        (_write(tmp_path, mismatch, "b.json"), "issued_by_mismatch"),
        (_write(tmp_path, {"items": []}, "c.json"), "no_items"),
        (not_json, "invalid_json"),
    ]
    for path, rule in cases:
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 1, path
        assert f": {rule}:" in result.stderr, (rule, result.stderr)


def test_list_and_show(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["list", "--json", "--region", "440300"])
    assert listed.exit_code == 0
    hukou = next(i for i in json.loads(listed.stdout) if i["code"] == "QR-00101-004")
    assert (hukou["version"], hukou["issued_by"]) == (2, "440000")
    shown = runner.invoke(app, ["show", "QR-00101-004", "--json"])
    assert json.loads(shown.stdout)["version"] == 1
    assert runner.invoke(app, ["show", "QR-00101-004", "--region", "440000"]).exit_code == 0
    assert runner.invoke(app, ["show", "GG-99999-000"]).exit_code == 2
    assert runner.invoke(app, ["list", "--region", "999999"]).exit_code == 2
