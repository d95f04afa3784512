"""Tables people read in a terminal, with what they type kept whole (issue 24).

A case number, an item code, a material name, a digest or an event id is copied or typed
exactly, so a column holding one (`Col(..., ident=True)`) never wraps, folds or ends in `…`:
its minimum width is its longest cell. The other columns wrap. A terminal narrower than the
identifiers need gets the table at the width it needs (the terminal wraps the long lines),
never a cut identifier. Secondary columns (`wide=True`) are shown only with `--wide`;
`--json` is for scripts. rich loads when a table is printed, not when the CLI starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

WideOpt = Annotated[
    bool,
    typer.Option("--wide", help="Show the secondary columns too (identifiers are always whole)"),
]
_OTHER_MIN = 6  # cells a folding column keeps when the identifiers leave little room


@dataclass(frozen=True)
class Col:
    header: str
    ident: bool = False  # typed or copied exactly: never wrapped or cut
    wide: bool = False  # secondary: only with --wide


def table(
    columns: Sequence[Col],
    rows: Iterable[Sequence[str | RenderableType]],
    *,
    wide: bool = False,
    **options: object,
) -> Table:
    """A rich table of the columns `wide` asks for, identifier columns as wide as their
    longest cell."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    shown = [i for i, c in enumerate(columns) if wide or not c.wide]
    kept = [[row[i] for i in shown] for row in rows]
    result = Table(header_style="bold", **options)  # type: ignore[arg-type]
    for position, index in enumerate(shown):
        column = columns[index]
        if not column.ident:
            result.add_column(column.header, overflow="fold")
            continue
        cells = [column.header, *(row[position] for row in kept)]
        longest = max(
            cell_len(c.plain if isinstance(c, Text) else str(c))
            for c in cells
            if isinstance(c, str | Text)
        )
        result.add_column(column.header, no_wrap=True, overflow="ignore", min_width=longest)
    for row in kept:
        result.add_row(*row)
    return result


def console() -> Console:
    """A console as wide as the terminal (COLUMNS when set, 80 when not a terminal)."""
    from rich.console import Console

    return Console()


def print_whole(out: Console, renderable: Table) -> None:
    """Print a table at the terminal's width, or wider when its identifiers need more: the
    terminal then wraps the long lines, but no identifier is cut. The other columns fold, down
    to a few cells each."""
    needed = renderable._extra_width  # rich's own count of the borders
    for index, column in enumerate(renderable.columns):
        own = column.min_width if column.no_wrap and column.min_width else _OTHER_MIN
        needed += own + renderable._get_padding_width(index)
    wanted = max(out.width, needed)
    if wanted == out.width:
        out.print(renderable)
        return
    terminal = out.width
    out.width = wanted
    try:
        out.print(renderable, crop=False)
    finally:
        out.width = terminal
