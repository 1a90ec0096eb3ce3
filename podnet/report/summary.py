"""Matrices wider than the terminal, summarised for `reach` and `reach --services`: whether a grid
fits the width, blocks of cells counted by group (namespace) without touching cells one by one in
Python, a block written as one symbol or share, and the ranked list of group pairs for when even
the groups do not fit side by side. The verdicts come from the result being drawn: none is
computed here."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

ALLOWED = "✓"
DENIED = "·"
NO_PORT = "-"

# Rows of the ranked list: a page, not every pair (-o json has them all).
RANKED_ROWS = 20

# A cell of a grid takes at least this many columns: a border, a space each side, a character.
CELL_COLUMNS = 4


def console(width: int) -> tuple[Console, io.StringIO]:
    """A plain console of `width` columns printing into a string."""
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=False, color_system=None), buf


def may_fit(columns: int, width: int) -> bool:
    """Whether a grid of `columns` cells can fit at all: the cheap test before building one."""
    return columns * CELL_COLUMNS <= width


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid with each row named: the columns by number, the rows' numbers (a `#` column), or,
    with `headers`, by their own names. Names and cells wrap at spaces, never inside a word: a
    grid narrower than its longest words does not fit, and is not drawn cut."""

    rows: list[str]
    cells: list[list[str]]
    headers: list[str] | None = None  # the columns' names, when they are not the rows'

    def _texts(self) -> list[list[str]]:
        """Each column's texts, header first."""
        n = len(self.cells[0]) if self.cells else 0
        numbers = [["#", *(str(i + 1) for i in range(len(self.rows)))]]
        return [
            *(numbers if self.headers is None else []),
            ["from \\ to", *self.rows],
            *(
                [self.headers[j] if self.headers else str(j + 1), *(row[j] for row in self.cells)]
                for j in range(n)
            ),
        ]

    def widths(self, width: int) -> list[int] | None:
        """Each column's text width in `width` columns, or None when it does not fit. The widest
        columns give way first, none below its longest word (rich would cut the word)."""
        texts = self._texts()
        widest = [
            max(cell_len(line) for t in col for line in t.splitlines() or [""]) for col in texts
        ]
        narrowest = [max(cell_len(w) for t in col for w in t.split() or [""]) for col in texts]
        # A space each side of every column's text, a border before each and after the last.
        room = width - 3 * len(texts) - 1
        if sum(narrowest) > room:
            return None
        low, high = 0, max(widest)
        while low < high:  # the largest level at which the columns fit
            level = (low + high + 1) // 2
            used = sum(max(n, min(w, level)) for n, w in zip(narrowest, widest, strict=True))
            low, high = (level, high) if used <= room else (low, level - 1)
        return [max(n, min(w, low)) for n, w in zip(narrowest, widest, strict=True)]

    def table(self, widths: list[int]) -> Table:
        table = Table()
        texts = self._texts()
        names = 0 if self.headers else 1  # the column of the rows' names
        for k, (col, w) in enumerate(zip(texts, widths, strict=True)):
            justify = "center" if k > names else "left" if k == names else "right"
            table.add_column(col[0], justify=justify, width=w)
        for i in range(len(self.rows)):
            table.add_row(*(col[i + 1] for col in texts))
        return table


def printed(width: int, title: str, grid: Grid, legend: str) -> str | None:
    """The title, the grid and its legend, in `width` columns; None when the grid does not fit."""
    widths = grid.widths(width)
    if widths is None:
        return None
    out, buf = console(width)
    out.print(title, overflow="fold")
    out.print(grid.table(widths))
    out.print(legend, overflow="fold")
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class Groups:
    """Items (pods) grouped by a name (their namespace), the groups sorted by name."""

    names: list[str]
    of: np.ndarray  # (N,) the group of each item
    order: np.ndarray  # (N,) the items, group by group
    starts: np.ndarray  # (G + 1,) where each group starts in `order`, and the end
    contiguous: bool  # the items already come group by group: `order` is 0..N-1

    @classmethod
    def by(cls, names_of_items: Sequence[str]) -> Groups:
        names = sorted(set(names_of_items))
        index = {n: i for i, n in enumerate(names)}
        of = np.array([index[n] for n in names_of_items], dtype=np.int64)
        order = np.argsort(of, kind="stable")
        starts = np.searchsorted(of[order], np.arange(len(names) + 1))
        return cls(names, of, order, starts, bool((np.diff(of) >= 0).all()))

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)

    def rows(self, g: int) -> np.ndarray | slice:
        """The items of group `g`: a slice when the items come group by group (pods sorted by
        namespace/name do), so that indexing a matrix with it copies nothing."""
        start, end = int(self.starts[g]), int(self.starts[g + 1])
        return slice(start, end) if self.contiguous else self.order[start:end]

    def count(self, per_item: np.ndarray) -> np.ndarray:
        """(G,) the sum of an (N,) count over each group's items."""
        return np.bincount(self.of, weights=per_item, minlength=len(self.names)).astype(np.int64)


def share(allowed: int, pairs: int) -> str:
    """A block of cells as one: ✓ all allowed, · none, - nothing to ask, else the share."""
    if pairs == 0:
        return NO_PORT
    if allowed == 0:
        return DENIED
    if allowed == pairs:
        return ALLOWED
    percent = 100 * allowed / pairs
    if percent < 1:
        return "<1%"
    if percent > 99:
        return ">99%"
    return f"{round(percent)}%"


SHARE_LEGEND = f"{ALLOWED} every pair allowed, {DENIED} none, N% that share of the pairs"


def ranked(
    title: str,
    legend: str,
    sources: list[str],
    destinations: list[str],
    allowed: np.ndarray,
    pairs: np.ndarray,
    width: int,
) -> str:
    """Group pairs as a list, the most connections allowed first (then the larger share, then
    by name), a page of them; the pairs allowing none are counted below."""
    a, b = np.nonzero(allowed)
    fraction = allowed[a, b] / pairs[a, b]
    order = np.lexsort((b, a, -fraction, -allowed[a, b]))
    out, buf = console(width)
    out.print(title, overflow="fold")
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("allowed", justify="right", no_wrap=True)
    table.add_column("from → to", overflow="fold")
    for k in order[:RANKED_ROWS]:
        i, j = a[k], b[k]
        table.add_row(
            share(int(allowed[i, j]), int(pairs[i, j])),
            f"{allowed[i, j]:,}/{pairs[i, j]:,}",
            f"{sources[i]} → {destinations[j]}",
        )
    out.print(table)
    notes = []
    if len(order) > RANKED_ROWS:
        notes.append(f"... and {len(order) - RANKED_ROWS:,} more pairs with some allowed")
    none = int(((allowed == 0) & (pairs > 0)).sum())
    if none:
        notes.append(f"{none:,} pairs allow none")
    nothing = int((pairs == 0).sum())
    if nothing:
        notes.append(f"{nothing:,} pairs have no destination that declares a port")
    out.print("; ".join([*notes, legend]) + " (-o json lists every cell)", overflow="fold")
    return buf.getvalue()
