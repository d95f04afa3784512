"""Option values people type, checked before anything runs (issue 24): a status, a channel,
an outcome, a region or a time the command does not know is refused as a usage error (one
line, exit 2, regions/cli_errors.py) naming what it accepts, never answered with "no cases".

Nothing here spells a value: statuses come from the lifecycle model (regions/labels.py reads
it), the steps' choices from the models the workflows validate (workflows/lifecycle/
vocabulary.py), regions from GB/T 2260 (regions/codes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import get_args

import typer
from pydantic import BaseModel

from regions.beijing_time import ZONE_LABEL, parse_person_time
from regions.labels import SIDES, Side, UnknownStatus, resolve_status, status_labels

PERSON_TIME_HELP = (
    f"; Beijing time ({ZONE_LABEL}) unless the time names its zone: 2026-12-01 and"
    " 2026-12-01T08:00 are Beijing time (UTC+08:00); 2026-12-01T00:00Z and"
    " 2026-12-01T08:00+08:00 say their own"
)


def status_help(what: str, side: Side | None = None) -> str:
    """`--help` of a status filter: every status code the lifecycle model has (its Chinese name
    is accepted too; `tongban case statuses` shows both)."""
    codes = ", ".join(status_codes(side))
    return (
        f"{what}: one of {codes}; or the status's Chinese name"
        " (`tongban case statuses` lists the names)"
    )


def status_codes(side: Side | None = None) -> list[str]:
    """Every status code of one side's lifecycle, or of both (A's first)."""
    sides = (side,) if side else SIDES
    return list(dict.fromkeys(code for s in sides for code in status_labels(s)))


def check_status(value: str | None) -> str | None:
    """Typer callback of a `--status` filter: a status of either side, by code or name."""
    if value is None:
        return None
    try:
        resolve_status(value)
    except UnknownStatus as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def literal_values(model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The values a model's `Literal[...]` field accepts, as the model itself spells them."""
    annotation = model.model_fields[field].annotation
    values = tuple(str(v) for v in get_args(annotation))
    if not values:
        raise TypeError(f"{model.__name__}.{field} is not a Literal")
    return values


def one_of(values: Sequence[str], what: str) -> Callable[[str | None], str | None]:
    """Typer callback accepting only `values` (None passes: the option was not given)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in values:
            raise typer.BadParameter(f"unknown {what} {value!r}; one of: {', '.join(values)}")
        return value

    return check


def known_region(value: str | None) -> str | None:
    """Typer callback of a region code: a GB/T 2260 code this project knows."""
    if value is None:
        return None
    from regions.codes import UnknownRegion, region

    try:
        region(value)
    except UnknownRegion as exc:
        raise typer.BadParameter(
            f"{exc.args[0]} (`tongban regions list` lists the known codes)"
        ) from None
    return value


def known_regions(values: list[str] | None) -> list[str] | None:
    """Typer callback of a repeatable region option: each a known GB/T 2260 code."""
    for value in values or []:
        known_region(value)
    return values


def person_time(value: str | None) -> str | None:
    """Typer callback of a time a person types (Beijing time unless it names its zone)."""
    if value is None:
        return None
    try:
        parse_person_time(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def parsed_time(value: str | None) -> datetime | None:
    """The aware instant of a time `person_time` accepted."""
    return parse_person_time(value) if value is not None else None
