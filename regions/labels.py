"""The Chinese names people read for a case's statuses, steps and outcomes.

Nothing here spells a label: every name is read, when asked for, from the lifecycle model's own
tables (`workflows.lifecycle.intake.LABELS`, `workflows.lifecycle.processing.LABELS`), so a
status added to the model is named here, in the API's `*_label_zh` fields, the CLIs and the
operators' timeline without a change in this module. A status the model does not name shows its
code (and tests/unit/test_labels.py fails).

A case's sides: `origin` (A, 收件地, the intake workflow) and `processing` (B, 办理地). The same
code may read differently on each side (`received`: A 收件, B 已接收（待受理）), so a label is
asked for with its side whenever the side is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from workflows.lifecycle import intake, processing
from workflows.lifecycle.pairs import TERMINAL_PAIRS

Side = Literal["origin", "processing"]
SIDES: tuple[Side, ...] = ("origin", "processing")
# What each side is called where people read it (the lanes of the operators' timeline).
SIDE_LABELS: Mapping[Side, str] = {"origin": "收件地", "processing": "办理地"}
LANE_SIDES: Mapping[str, Side] = {"A": "origin", "B": "processing"}
# The lines of a case file's 补正 history (regions/api/file_routes.py `SupplementEntry.kind`):
# asked is the status that waits for the materials, provided and lapsed the steps after it.
SUPPLEMENT_KIND_LABELS: Mapping[str, str] = {
    "asked": "告知补正",
    "provided": "补正材料",
    "lapsed": "补正逾期",
}


def _table(side: Side) -> dict[str, str]:
    """The model's own table of names, by status code (read each time: nothing is cached)."""
    if side == "origin":
        return {status.value: name for status, name in intake.LABELS.items()}
    return {status.value: name for status, name in processing.LABELS.items()}


def _statuses(side: Side) -> tuple[StrEnum, ...]:
    return tuple(intake.Status) if side == "origin" else tuple(processing.Status)


def _phases(side: Side) -> tuple[StrEnum, ...]:
    return tuple(intake.Phase) if side == "origin" else tuple(processing.Phase)


def status_labels(side: Side) -> dict[str, str]:
    """Every status of the side's lifecycle, code → label; a status the model leaves unnamed
    maps to its code."""
    table = _table(side)
    return {s.value: table.get(s.value, s.value) for s in _statuses(side)}


def unlabelled(side: Side) -> set[str]:
    """Statuses and phases of the side that the model gives no Chinese name (should be none)."""
    named = {code for code, name in _table(side).items() if name.strip()}
    return {s.value for s in (*_statuses(side), *_phases(side))} - named


def status_label(code: str | None, side: Side | None = None) -> str:
    """The Chinese name of a status (or of the step a timeline line records, which is the
    status it moved to). Without a side: A's name when A has the code, else B's. An unknown
    code is shown as it is, never hidden."""
    if not code:
        return ""
    for candidate in (side,) if side else SIDES:
        found = status_labels(candidate).get(code)
        if found is not None:
            return found
    return code


def outcome_codes() -> tuple[str, ...]:
    """Every outcome a case can end with, on either side (from the terminal pairs)."""
    seen: dict[str, None] = {}
    for pair in TERMINAL_PAIRS:
        seen[pair.a_outcome] = None
        for b in pair.b_outcomes:
            if b is not None:
                seen[b] = None
    return tuple(seen)


def outcome_label(code: str | None) -> str | None:
    """An outcome reads as the status of the same code (approved 准予许可, not-accepted 不予受理,
    refused-at-intake 不予收件 …); None when no status carries the code."""
    if not code:
        return None
    for side in reversed(SIDES):  # B decides: its names of the decisions come first
        found = status_labels(side).get(code)
        if found is not None:
            return found
    return None


def shown(code: str | None, side: Side | None = None) -> str:
    """`名称 (code)`: what a table shows people, with the code that filters and scripts use."""
    if not code:
        return ""
    name = status_label(code, side)
    return code if name == code else f"{name} ({code})"


class UnknownStatus(ValueError):
    """A status filter that names no status of the lifecycle; the message lists the valid ones."""

    def __init__(self, given: str, valid: Iterable[str]) -> None:
        self.given = given
        self.valid = tuple(valid)
        super().__init__(f"unknown status {given!r}; valid statuses: {', '.join(self.valid)}")


@dataclass(frozen=True)
class StatusFilter:
    """A status as a person typed it, resolved: the code, and the sides whose lifecycle has a
    status of that code under the name typed (both for a code)."""

    code: str
    sides: tuple[Side, ...]


def choices(side: Side | None = None) -> list[str]:
    """`code (名称)` of every status (of one side, or both), for --help and error messages."""
    out: dict[str, list[str]] = {}
    for candidate in (side,) if side else SIDES:
        for code, name in status_labels(candidate).items():
            names = out.setdefault(code, [])
            if name not in names:
                names.append(name)
    return [f"{code} ({' / '.join(names)})" for code, names in out.items()]


def resolve_status(text: str, side: Side | None = None) -> StatusFilter:
    """A status filter given as its code (`processing`) or its Chinese name (`办理中`); anything
    else is refused with the list of valid statuses, so a typo never reads as "no cases"."""
    given = text.strip()
    sides = (side,) if side else SIDES
    by_code = tuple(s for s in sides if given in status_labels(s))
    if by_code:
        return StatusFilter(given, by_code)
    found: dict[str, list[Side]] = {}
    for candidate in sides:
        for code, name in status_labels(candidate).items():
            if name == given:
                found.setdefault(code, []).append(candidate)
    if len(found) == 1:
        code, named_on = next(iter(found.items()))
        return StatusFilter(code, tuple(named_on))
    raise UnknownStatus(text, choices(side))
