"""How the operators' list commands print: JSON for scripts, one line per record for people."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import typer


def emit(
    records: Sequence[dict[str, Any]],
    *,
    as_json: bool,
    empty: str,
    line: Callable[[dict[str, Any]], str],
) -> None:
    if as_json:
        typer.echo(json.dumps(list(records), ensure_ascii=False, indent=2))
        return
    if not records:
        typer.echo(empty)
    for record in records:
        typer.echo(line(record))
