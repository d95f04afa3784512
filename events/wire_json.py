"""JSON from outside, parsed with limits: a record cannot make the parser recurse, grow or
guess.

Python's `json` has no depth limit (deep nesting ends in RecursionError), silently keeps the
last of duplicate keys, reads UTF-16 when the bytes look like it, accepts NaN and integers of
any length. A record from another region may be hostile, so each of those is refused here,
before anything else reads the document, with a message that names the limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JsonLimits:
    max_depth: int = 16
    # Object members in the whole document (an envelope has a few dozen).
    max_members: int = 2048
    # Integers inside the interoperable range of RFC 8785 (IEEE-754 doubles): |n| < 2**53.
    max_int: int = 2**53 - 1
    max_number_chars: int = 32


class JsonRefused(ValueError):
    """The bytes are not a JSON document this node will read; the message says why."""


# A JSON string (escapes included) or a bracket. Scanning with this finds the nesting depth
# the parser would reach, without recursion: brackets inside strings are skipped as the
# parser skips them, and up to the first syntax error both see the same tokens.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
# NUL cannot be stored in a Postgres text value; a lone surrogate cannot be encoded as UTF-8
# (RFC 8785 and the database would both fail on it later).
_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")


def _check_depth(text: str, limits: JsonLimits) -> None:
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise JsonRefused(f"nested deeper than {limits.max_depth} levels")
        elif token in "]}":
            depth -= 1


def _check_strings(document: object) -> None:
    """Every key and string value, iteratively (depth is bounded, but no recursion needed)."""
    pending: list[object] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE_CHARS.search(item):
                raise JsonRefused("a string holds NUL or an unpaired surrogate")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def parse_object(raw: bytes, limits: JsonLimits) -> dict[str, Any]:
    """The JSON object in `raw` (strict UTF-8), or JsonRefused naming what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"not UTF-8 (byte {exc.start})") from exc
    _check_depth(text, limits)
    members = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal members
        members += len(items)
        if members > limits.max_members:
            raise JsonRefused(f"more than {limits.max_members} object members")
        document = dict(items)
        if len(document) != len(items):
            raise JsonRefused("duplicate key in an object")
        return document

    def integer(digits: str) -> int:
        if len(digits) > limits.max_number_chars:
            raise JsonRefused(f"an integer longer than {limits.max_number_chars} characters")
        value = int(digits)
        if abs(value) > limits.max_int:
            raise JsonRefused(f"an integer outside ±{limits.max_int}")
        return value

    def real(digits: str) -> float:
        if len(digits) > limits.max_number_chars:
            raise JsonRefused(f"a number longer than {limits.max_number_chars} characters")
        value = float(digits)
        if value in (float("inf"), float("-inf")):
            raise JsonRefused("a number outside the range of a double")
        return value

    def constant(name: str) -> Any:
        raise JsonRefused(f"{name} is not JSON")

    try:
        document = json.loads(
            text,
            object_pairs_hook=pairs,
            parse_int=integer,
            parse_float=real,
            parse_constant=constant,
        )
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"not JSON: {exc.msg} at {exc.pos}") from exc
    if not isinstance(document, dict):
        raise JsonRefused("not a JSON object")
    _check_strings(document)
    return document
