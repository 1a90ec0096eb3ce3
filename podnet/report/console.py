"""Rich tables and text printed to a string, as they would look on the standard output."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console


def printed(
    draw: Callable[[Console], None], width: int, *, terminal_width: bool = False, **options: Any
) -> str:
    """What `draw` prints on a console like the standard output's: in colour on a terminal and
    plain into a pipe or file; `width` columns, or the terminal's with `terminal_width`."""
    tty = sys.stdout.isatty()
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=None if tty and terminal_width else width,
        force_terminal=True if tty else None,
        **options,
    )
    draw(console)
    return buf.getvalue()


def terminal_width(default: int = 80) -> int:
    """The columns a table may use, decided as rich decides: `COLUMNS` when it holds a number,
    else the width of the terminal on the standard output, error or input (so `| less` and
    `> file` typed at a terminal still get it), else `default`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        try:
            width = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            continue
        if width > 0:
            return width
    return default
