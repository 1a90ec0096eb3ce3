"""`podnet diff`: what a change of manifests opens and closes, workload to workload."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from podnet.cli import app
from podnet.cli.cluster import NamespaceOpt, Port, ProtocolOpt, default_namespace, warn_gaps
from podnet.report.formats import choices, render

DiffFormat = choices("DiffFormat", "podnet.policy.diff.Diff")


class FailOn(StrEnum):
    any = "any"
    opened = "opened"


Side = Annotated[
    str,
    typer.Argument(
        help="A manifest file or directory, or REF:PATH read from git (origin/main:deploy).",
        show_default=False,
    ),
]


@app.command()
def diff(
    old: Side,
    new: Side,
    port: Port = None,
    protocol: ProtocolOpt = None,
    namespace: NamespaceOpt = None,
    output: Annotated[DiffFormat, typer.Option("-o", "--output")] = DiffFormat.text,  # type: ignore[attr-defined]
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 on any change (default), or only when a connection opened.",
        ),
    ] = FailOn.any,
) -> None:
    """What NEW opens and closes compared with OLD, workload to workload. Exit status as
    diff(1): 0 no change, 1 changes (with --fail-on opened: only when a connection opened),
    2 bad input."""
    from podnet.model.revision import load_side
    from podnet.policy.diff import compare

    ns = default_namespace(namespace)
    clusters = []
    for spec in (old, new):
        cluster = load_side(spec, ns)
        warn_gaps(cluster)
        clusters.append(cluster)
    proto = protocol.value if protocol else None
    ports = [(port, proto or "TCP")] if port is not None else None
    result = compare(*clusters, ports, protocol=proto, old_name=old, new_name=new)
    sys.stdout.write(render(result, output.value))
    if result.opened if fail_on == FailOn.opened else result.changes:
        raise typer.Exit(1)
