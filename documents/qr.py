"""The verification QR code's encoder: reportlab's, with its mask scoring done faster.

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

from reportlab.graphics.barcode import qrencoder

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
