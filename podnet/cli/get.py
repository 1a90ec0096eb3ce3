"""`podnet get PATH... [RESOURCE]`: the resolved inventory, as `kubectl get` lists a cluster."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from podnet.cli import app
from podnet.cli.cluster import NamespaceOpt, load
from podnet.errors import UsageError
from podnet.model.documents import SUFFIXES
from podnet.model.inventory import Resource, inventory, is_resource_list, parse_resources
from podnet.report.formats import choices, render

GetFormat = choices("GetFormat", "podnet.model.inventory.Inventory")

_NAMES = "pods (po), services (svc), nodes (no), policies (networkpolicies, netpol)"


@app.command()
def get(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH... [RESOURCE]",
            help=f"Manifest files or directories (- for stdin), then what to list: {_NAMES} or"
            " all (the default); several comma-separated.",
        ),
    ],
    namespace: NamespaceOpt = None,
    output: Annotated[
        GetFormat, typer.Option("-o", "--output", help="table, wide (more columns) or json.")
    ] = GetFormat.table,
) -> None:
    """The resolved inventory, kubectl-shaped: pods with their phase, IP and node (and why a pod
    is pending), Services with their addresses, ports and endpoints, nodes with their roles,
    addresses and podCIDRs, and network policies. With -n, the objects of that namespace."""
    paths, resources = split_args(args)
    cluster = load(paths, namespace)
    result = inventory(cluster, resources, namespace)
    if result.empty and output.value != "json":
        where = f" in {namespace} namespace" if namespace else ""
        print(f"No resources found{where}.", file=sys.stderr)
    sys.stdout.write(render(result, output.value))


def split_args(args: list[str]) -> tuple[list[str], tuple[Resource, ...]]:
    """PATH... [RESOURCE], or kubectl's order RESOURCE PATH...: the resource is a word that names
    no file and is not written as a manifest's path."""
    args = list(args)
    resources = tuple(Resource)
    if len(args) >= 2 and _is_word(args[-1]):
        resources = parse_resources(args.pop())
    elif len(args) >= 2 and _is_word(args[0]) and is_resource_list(args[0]):
        resources = parse_resources(args.pop(0))
    elif len(args) == 1 and _is_word(args[0]) and is_resource_list(args[0]):
        args = []
    if not args:
        raise UsageError("give manifest paths: podnet get PATH... [RESOURCE]")
    return args, resources


def _is_word(text: str) -> bool:
    return (
        text != "-"
        and not os.path.exists(text)
        and os.sep not in text
        and not text.lower().endswith(SUFFIXES)
    )
