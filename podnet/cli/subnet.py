"""`podnet subnet ...` and `podnet ipam ...`."""

from __future__ import annotations

import typer

from podnet.cli import app

subnet_app = typer.Typer(help="Subnet calculator and address planning.", no_args_is_help=True)
app.add_typer(subnet_app, name="subnet")
