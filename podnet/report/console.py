"""Rich tables and text printed to a string, as they would look on the standard output."""

from __future__ import annotations

import io
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
