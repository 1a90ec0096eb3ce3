"""Running the `podnet` command in-process, as a user would, for the CLI tests."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from podnet.cli import main

SHOP = str(Path(__file__).resolve().parents[1] / "examples" / "shop")


def run(capsys, monkeypatch, *args: str, stdin: str | None = None) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """Exit status, stdout and stderr of `podnet ARGS...`."""
    monkeypatch.setattr(sys, "argv", ["podnet", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as ex:
        code = ex.code if isinstance(ex.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
