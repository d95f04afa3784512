"""The verification QR code: reportlab's encoder with its mask scoring done faster, and a
painter that draws the code as reportlab's widget draws it, faster.

A QR encoder tries the eight mask patterns and keeps the one whose symbol scores fewest penalty
points (ISO/IEC 18004 §7.8.3). reportlab scores each candidate with Python loops over every
module, the largest part of encoding a document's code. `lost_points` computes reportlab's
score exactly — including where it departs from the standard (rule 3 looks only along rows,
and not at a row's last position) — from strings and integers, so the same mask is chosen and
the symbol on the page is the one reportlab has always drawn. A fixed mask would skip scoring
altogether and still decode, but would change the pattern of every document's code and the
bytes of a document rendered again.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import qrencoder
from reportlab.graphics.barcode.qr import SRect
from reportlab.graphics.shapes import Drawing, Group
from reportlab.lib import colors
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfgen.canvas import Canvas

# Rule 1: a run of five or more same-coloured modules in a line costs its length less two.
_RUN = re.compile(r"0{5,}|1{5,}")
# Rule 3: reportlab looks for the finder-like pattern in one orientation, along rows only.
_FINDER_LIKE = "10111010000"


def _runs(lines: Sequence[str]) -> int:
    return sum(m.end() - m.start() - 2 for line in lines for m in _RUN.finditer(line))


def _blocks(rows: Sequence[int], width: int) -> int:
    # Rule 2: a 2×2 block of one colour costs 3. Bits of adjacent modules are adjacent bits.
    inner = (1 << (width - 1)) - 1
    count = 0
    for upper, lower in itertools.pairwise(rows):
        same_down = ~(upper ^ lower)
        same_across = ~(upper ^ (upper >> 1))
        count += (same_down & (same_down >> 1) & same_across & inner).bit_count()
    return 3 * count


def lost_points(modules: Sequence[Sequence[bool]]) -> int:
    """reportlab's `QRUtil.getLostPoint` of a symbol's modules (the penalty of its mask)."""
    size = len(modules)
    rows = ["".join("1" if dark else "0" for dark in row) for row in modules]
    columns = ["".join(column) for column in zip(*rows, strict=True)]
    penalty = _runs(rows) + _runs(columns)
    penalty += _blocks([int(row, 2) for row in rows], size)
    penalty += 40 * sum(row[: size - 1].count(_FINDER_LIKE) for row in rows)
    dark = sum(row.count("1") for row in rows)
    return penalty + 10 * (abs(100 * dark // (size * size) - 50) // 5)


class ScoredQrCode(qrencoder.QRCode):
    """reportlab's encoder, choosing the mask with `lost_points` (the first lowest, as it does)."""

    def getBestMaskPattern(self) -> int:
        scores = []
        for pattern in range(8):
            self.makeImpl(True, pattern)
            scores.append(lost_points(self.modules))
        return scores.index(min(scores))


_BORDER = 4  # QrCodeWidget's quiet zone, in modules
Rect = tuple[float, float, float, float]


def dark_runs(modules: Sequence[Sequence[bool | None]], size: float) -> list[Rect]:
    """The rectangles `QrCodeWidget.draw` lays out for a symbol `size` points square: one per
    horizontal run of dark modules, computed with the widget's own arithmetic (its x and y are
    0, its width and height `size`), so the coordinates and the page's numbers are the same."""
    count = len(modules)
    minwh = float(size)
    boxsize = minwh / (count + _BORDER * 2.0)
    offset_x = (size - minwh) / 2.0
    offset_y = (minwh - size) / 2.0
    runs: list[Rect] = []
    for r, row in enumerate(modules):
        c = 0
        for dark, group in itertools.groupby(map(bool, row)):
            length = len(list(group))
            if dark:
                x = (c + _BORDER) * boxsize
                y = (r + _BORDER + 1) * boxsize
                runs.append((offset_x + x, offset_y + size - y, length * boxsize, boxsize))
            c += length
    return runs


class QrPainter:
    """Draws one URL's code, encoded once, on each page of a document, emitting the very
    operators reportlab's `renderPDF.draw` of the widget's drawing emits — without building a
    validated `Rect` shape per dark run and walking each through the renderer's state machine,
    which was most of a document's rendering time.

    reportlab still draws the code's frame and its first dark run (so it sets the graphics
    state, the font and the fill rule as it always did); every later run is the same
    `q … Q` block with only its `re` operator changed, because all runs are alike and each
    is drawn in a saved and restored state. The unit tests compare whole documents with
    the ones reportlab's widget draws."""

    def __init__(self, url: str, size: float) -> None:
        encoder = ScoredQrCode(None, qrencoder.QRErrorCorrectLevel.M)
        encoder.addData(url)
        encoder.make()
        runs = dark_runs(encoder.modules, size)
        if not runs:
            raise ValueError("a QR symbol has dark modules")  # its finder patterns, at least
        group = Group()
        group.add(SRect(0, 0, size, size, fillColor=None))  # the widget's frame
        group.add(SRect(*runs[0], fillColor=colors.black))
        x0, y0, x1, y1 = group.getBounds()
        self._drawing = Drawing(
            size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0]
        )
        self._drawing.add(group)
        self._first = f"n {fp_str(*runs[0])} re "
        self._rest = [f"n {fp_str(*run)} re " for run in runs[1:]]

    def draw(self, canvas: Canvas, x: float, y: float) -> None:
        # The page's operators as reportlab keeps them (no public reader; the tests pin it).
        code: list[str] = canvas._code  # type: ignore[attr-defined]
        start = len(code)
        renderPDF.draw(self._drawing, canvas, x, y)
        at = next(i for i in range(start, len(code)) if code[i].startswith(self._first))
        opened = max(i for i in range(start, at) if code[i] == "q")
        closed = at + 1
        if code[closed] != "Q":
            raise AssertionError("reportlab drew a dark run otherwise than expected")
        fill = code[at][len(self._first) :]  # the path operator: fill, even-odd
        before, after = code[opened:at], code[at + 1 : closed + 1]
        blocks: list[str] = []
        for op in self._rest:
            blocks += before
            blocks.append(op + fill)
            blocks += after
        code[closed + 1 : closed + 1] = blocks
