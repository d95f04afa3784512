"""The README as a manual (issue 24 item 9): its `application.json` is an application the
window takes, and every command group `tongban --help` lists has its line and an example that
names a command which exists. (The command-line case itself runs against real nodes:
tests/integration/test_readme_case.py.)"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from stdnum.cn import ric
from typer.testing import CliRunner

from catalog.catalog import default_catalog
from regions import cli
from regions.demo import synthetic_id_number
from regions.window import Application, resolve_item, route_plan

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(?P<group>[a-z-]+)` \| (?P<what>[^|]+) \| `(?P<example>[^`]+)` \|$", re.M)


def _groups() -> set[str]:
    names = {g.name for g in cli.app.registered_groups if g.name}
    names |= {c.name or c.callback.__name__ for c in cli.app.registered_commands if c.callback}
    return names


def test_each_application_json_is_one_the_window_takes() -> None:
    blocks = re.findall(r"```json\n(.*?)```", README, re.S)
    assert len(blocks) == 2  # the application.json, and a 多地联办 one
    for block in blocks:
        application = Application.model_validate(json.loads(block))
        assert ric.is_valid(application.applicant_id_number)
        # Synthetic, as the tests make one: it belongs to nobody.
        assert application.applicant_id_number == synthetic_id_number()
    # The 多地联办 example binds its route (its materials come as files beside it).
    joint = Application.model_validate(json.loads(blocks[1]))
    catalog = default_catalog()
    item = resolve_item(catalog, joint, "350000", tolerate_missing=True)
    plan = route_plan(catalog, item, joint, "350000")
    assert plan is not None
    assert [leg.region for leg in plan.legs] == ["110000", "440000", "110000"]


def test_every_command_group_has_a_line_and_an_example() -> None:
    rows = {m["group"]: m for m in ROW.finditer(README)}
    assert _groups() - set(rows) == set()
    for group, row in rows.items():
        words = shlex.split(row["example"])
        assert words[:2] == ["tongban", group], row["example"]
        assert row["what"].strip(), group


def test_every_example_names_a_command_that_exists() -> None:
    for row in ROW.finditer(README):
        words = shlex.split(row["example"])[1:]
        leading = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
        path = words[: min(leading, 2)]  # the group and its command, before any option
        result = CliRunner().invoke(cli.app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (row["example"], result.output)
        options = [w.split("=")[0] for w in words if w.startswith("--")]
        missing = [o for o in options if o not in result.output]
        assert missing == [], row["example"]
