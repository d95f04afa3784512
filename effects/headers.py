"""Reading HTTP headers the effect schemes sign or check."""

from __future__ import annotations

from collections.abc import Mapping


def header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value given for `name`, compared without case. A mapping that folds repeated
    headers into one entry (Starlette's) gives one; a plain dict may hold several spellings."""
    wanted = name.lower()
    return [value for key, value in headers.items() if key.lower() == wanted]
