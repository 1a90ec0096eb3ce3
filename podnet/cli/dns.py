"""`podnet dns PATH... NAME [TYPE]` (what a name resolves to) and `podnet dns serve PATH...`."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import dns.name
import dns.rdatatype
import typer
from typer.core import TyperGroup

from podnet.cli import app
from podnet.cli.cluster import NamespaceOpt, load
from podnet.dns.records import ClusterZone
from podnet.dns.resolver import (
    Resolution,
    ResolvConf,
    cluster_dns,
    cluster_lookup,
    pod_resolv_conf,
    reverse_name,
    search,
)
from podnet.errors import UsageError
from podnet.model.cluster import Cluster
from podnet.model.objects import Pod
from podnet.report.dns import Resolved
from podnet.report.formats import choices, render


class _QueryByDefault(TyperGroup):
    """`podnet dns ARGS...` runs `podnet dns query ARGS...` unless ARGS start with a command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["query", *args]
        return super().parse_args(ctx, args)


dns_app = typer.Typer(
    cls=_QueryByDefault,
    no_args_is_help=True,
    help=(
        "Cluster DNS as CoreDNS serves it. `podnet dns PATH... NAME [TYPE]` is short for"
        " `podnet dns query ...`; `podnet dns serve PATH...` runs a DNS server."
        " (A manifest path named `serve` or `query` needs the explicit `query` command.)"
    ),
)
app.add_typer(dns_app, name="dns")

DnsFormat = choices("DnsFormat", Resolved)


@dns_app.command("query")
def query(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH... NAME [TYPE]",
            help="Manifest files or directories (- for stdin), the name, and a record type"
            " (default: A and AAAA with --from, A without; PTR for an IP address).",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="namespace/pod: resolve as that pod does (its resolv.conf, search list and"
            " ndots). Without it the name is asked once, as an absolute name, as dig does.",
        ),
    ] = None,
    namespace: NamespaceOpt = None,
    output: Annotated[DnsFormat, typer.Option("-o", "--output")] = DnsFormat.text,
) -> None:
    """The queries a name gives, each answer, and the result."""
    paths, name, qtype = split_args(args)
    cluster = load(paths, namespace)
    resolution, pod = resolve(cluster, name, qtype, source)
    sys.stdout.write(render(Resolved(resolution, pod), output.value))


@dns_app.command("serve")
def serve(
    paths: Annotated[list[str], typer.Argument(help="Manifest files or directories; - for stdin.")],
    listen: Annotated[
        str, typer.Option("--listen", help="IP:port for UDP and TCP ([IPv6]:port).")
    ] = "127.0.0.1:5353",
    upstream: Annotated[
        str | None,
        typer.Option(
            "--upstream",
            help="IP[:port] of a resolver for names outside the cluster (else REFUSED).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=64, help="Processes sharing the port (SO_REUSEPORT)."),
    ] = 1,
    namespace: NamespaceOpt = None,
) -> None:
    """Serve the cluster's DNS records on UDP and TCP until interrupted."""
    from podnet.dns import server

    address = server.parse_address(listen, 53)
    forward = server.parse_address(upstream, 53) if upstream else None
    zone = ClusterZone(load(paths, namespace))

    def ready(bound: server.Address) -> None:
        zones = ", ".join(z.to_text(omit_final_dot=True) for z in zone.zones)
        outside = f"forwarded to {forward}" if forward else "REFUSED"
        print(
            f"serving {zones} on {bound} (UDP and TCP, {workers} worker(s));"
            f" other names: {outside}",
            file=sys.stderr,
            flush=True,
        )

    server.serve(zone, address, upstream=forward, workers=workers, ready=ready)


def split_args(args: list[str]) -> tuple[list[str], str, str | None]:
    """PATH... NAME [TYPE]: TYPE only when the argument before it is not a manifest path."""
    qtype = None
    if len(args) >= 3 and _is_type(args[-1]) and not _is_path(args[-2]):
        qtype = args[-1].upper()
        args = args[:-1]
    if len(args) < 2:
        raise UsageError("give manifest paths, then the name: podnet dns PATH... NAME [TYPE]")
    return args[:-1], args[-1], qtype


def _is_type(text: str) -> bool:
    try:
        dns.rdatatype.from_text(text.upper())
    except dns.rdatatype.UnknownRdatatype:
        return False
    return not text.isdigit()


def _is_path(text: str) -> bool:
    return text == "-" or os.path.exists(text)


def resolve(
    cluster: Cluster, name: str, qtype: str | None, source: str | None
) -> tuple[Resolution, Pod | None]:
    """The walk for `name`: from a pod's resolver, or one absolute query to the cluster DNS."""
    reverse = reverse_name(name.rstrip(".")) if qtype in (None, "PTR") else None
    if reverse is not None:
        name, qtype = reverse, "PTR"
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as err:
        raise UsageError(f"{name!r} is not a valid DNS name: {err}") from None
    lookup = cluster_lookup(cluster, ClusterZone(cluster))
    if source is None:
        conf = ResolvConf(nameservers=(cluster_dns(cluster)[0],))
        absolute = name if name.endswith(".") else name + "."
        return search(absolute, conf, lookup, (qtype or "A",)), None
    pod = cluster.pod(source)
    if pod is None:
        ns = source.partition("/")[0]
        near = [p.key for p in cluster.pods if p.namespace == ns] or [p.key for p in cluster.pods]
        raise UsageError(f"--from {source}: no such pod (namespace/name: {', '.join(near[:5])})")
    conf = pod_resolv_conf(cluster, pod)
    qtypes = (qtype,) if qtype else ("A", "AAAA")
    return search(name, conf, lookup, qtypes), pod
