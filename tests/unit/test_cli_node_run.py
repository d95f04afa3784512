"""`tongban node run`: one --region runs a node as always; several host them in one process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from regions import cli


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    import regions.local
    import regions.node
    import regions.node_host

    seen: list[tuple[str, list[str]]] = []

    async def run_node(settings: Any, stop: asyncio.Event, *, lock_dir: Path) -> None:
        seen.append(("run_node", [settings.region]))

    async def run_regions(settings: list[Any], stop: asyncio.Event, *, lock_dir: Path) -> None:
        seen.append(("run_regions", [s.region for s in settings]))

    monkeypatch.setattr(
        regions.local, "local_node_settings", lambda code, stack: SimpleNamespace(region=code)
    )
    monkeypatch.setattr(regions.node, "run_node", run_node)
    monkeypatch.setattr(regions.node_host, "run_regions", run_regions)
    return seen


def test_one_region_runs_a_node_as_before(calls: list[tuple[str, list[str]]]) -> None:
    result = CliRunner().invoke(cli.app, ["node", "run", "--region", "350000"])

    assert result.exit_code == 0, result.output
    assert calls == [("run_node", ["350000"])]


def test_several_regions_are_hosted_by_one_process(calls: list[tuple[str, list[str]]]) -> None:
    args = ["node", "run", "--region", "110000", "--region", "120000", "--region", "130000"]
    result = CliRunner().invoke(cli.app, args)

    assert result.exit_code == 0, result.output
    assert calls == [("run_regions", ["110000", "120000", "130000"])]
