"""The `podnet` command: thin; it parses, calls the model and renders."""

from __future__ import annotations

import sys

import typer

from podnet.errors import PodnetError

app = typer.Typer(
    name="podnet",
    help="Kubernetes cluster networking: model it, question it, build it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each command family lives in its own module and registers itself on `app`.
    from podnet.cli import cluster, diff, dns, get, linux, proxy, subnet  # noqa: F401


def _worded(err: PodnetError) -> str:
    """The error as the command line says it: a value the library names by what it is, named
    by the option that gave it."""
    from podnet.errors import InvalidValue

    if isinstance(err, InvalidValue) and err.field == "format":  # every command's -o
        return f"-o {err.value}: {err.why}"
    return str(err)


def main() -> None:
    _register()
    try:
        # Without standalone mode click returns the code of typer.Exit instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except PodnetError as err:
        print(f"error: {_worded(err)}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Exit as ex:
        sys.exit(ex.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as err:  # usage errors: unknown option, bad value, ...
        show = getattr(err, "show", None)
        if show is None:
            raise
        show()
        sys.exit(2)
