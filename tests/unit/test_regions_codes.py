"""The GB/T 2260 data every node, topic and database is named by, and `tongban regions list`."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from regions.codes import REGIONS
from regions.regions_cli import app

runner = CliRunner()


def test_34_provincial_level_divisions() -> None:
    provinces = [r for r in REGIONS.values() if r.parent is None]
    assert len(provinces) == 34
    assert all(r.code.endswith("0000") for r in provinces)


def test_codes_are_six_digits_and_keyed_by_themselves() -> None:
    for code, r in REGIONS.items():
        assert re.fullmatch(r"\d{6}", code), code
        assert r.code == code


def test_names_are_unique() -> None:
    names = [r.name for r in REGIONS.values()]
    assert len(names) == len(set(names))


def test_every_city_has_a_province_parent_with_its_prefix() -> None:
    cities = [r for r in REGIONS.values() if r.parent is not None]
    assert cities
    for city in cities:
        parent = REGIONS[city.parent or ""]
        assert parent.parent is None, city
        assert city.code[:2] == parent.code[:2], city
        assert city.code[4:] == "00", city  # prefecture level, not county


def test_fujian_and_guangdong_cities() -> None:
    children = {
        p: {r.code for r in REGIONS.values() if r.parent == p} for p in ("350000", "440000")
    }
    assert len(children["350000"]) == 9
    assert len(children["440000"]) == 21
    assert "441000" not in children["440000"]  # no such city (REFERENCE.md §4.3)


def test_list_json_filters_by_parent() -> None:
    result = runner.invoke(app, ["list", "--json", "--parent", "350000"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["code"] for r in rows} == {f"350{n}00" for n in range(1, 10)}
    assert all(r["parent"] == "350000" and r["level"] == "prefecture" for r in rows)


def test_list_json_all() -> None:
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == len(REGIONS)


def test_list_table_and_unknown_parent() -> None:
    table = runner.invoke(app, ["list", "--parent", "440000"])
    assert table.exit_code == 0
    assert "深圳市" in table.stdout
    bad = runner.invoke(app, ["list", "--parent", "999999"])
    assert bad.exit_code == 2
    assert "999999" in bad.output
