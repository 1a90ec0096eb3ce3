"""`podnet dns PATH... NAME [TYPE]` (what a name resolves to) and `podnet dns serve PATH...`."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import dns.name
import dns.rdatatype
import typer
from typer.core import TyperGroup

from podnet.cli import app
from podnet.cli.cluster import TextFormat, load
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
    output: Annotated[TextFormat, typer.Option("-o", "--output")] = TextFormat.text,
) -> None:
    """The queries a name gives, each answer, and the result."""
    paths, name, qtype = split_args(args)
    cluster = load(paths)
    resolution, pod = resolve(cluster, name, qtype, source)
    if output is TextFormat.json:
        print(json.dumps({"from": pod.key if pod else None, **resolution.to_dict()}, indent=2))
    else:
        sys.stdout.write(render(resolution, pod))


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
) -> None:
    """Serve the cluster's DNS records on UDP and TCP until interrupted."""
    from podnet.dns import server

    address = server.parse_address(listen, 53)
    forward = server.parse_address(upstream, 53) if upstream else None
    zone = ClusterZone(load(paths))

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


def render(r: Resolution, pod: Pod | None) -> str:
    lines: list[str] = []
    conf = r.conf
    if pod is not None:
        network = ", hostNetwork" if pod.host_network else ""
        lines.append(f"{pod.key} (dnsPolicy {pod.dns_policy or 'ClusterFirst'}{network}):")
        lines += ["  " + line for line in conf.text().splitlines()] or ["  (empty)"]
        lines += [f"  warning: {w}" for w in conf.warnings]
        lines.append(_walk_summary(r))
    else:
        lines.append(f"asked directly of the cluster DNS at {conf.nameservers[0]}")
    lines.append("")
    width = max((len(q.qname.to_text()) for q in r.queries), default=5)
    for i, q in enumerate(r.queries, 1):
        head = f"{i:>3}  {q.qname.to_text():<{width}}  {q.qtype.name:<5}  {q.status:<8}  "
        body = _answer_text(q)
        lines.append(head + body[0])
        lines += [" " * len(head) + more for more in body[1:]]
    lines.append("")
    lines.append("result: " + _result_text(r))
    return "\n".join(lines) + "\n"


def _walk_summary(r: Resolution) -> str:
    name, ndots = r.name, r.conf.ndots
    dots = name.count(".")
    if name.endswith("."):
        return f"{name} ends with a dot: asked as is, no search list"
    if not r.conf.searches:
        return f"{name}: no search list, asked as is"
    if dots >= ndots:
        return f"{name} has {dots} dot(s), ndots is {ndots}: as is first, then the search list"
    return f"{name} has {dots} dot(s), fewer than ndots {ndots}: the search list first, then as is"


def _answer_text(q) -> list[str]:
    if q.answer is None:
        return ["(outside the cluster: for the upstream resolver)"]
    a = q.answer
    if a.answer:
        out = []
        for rrset in a.answer:
            prefix = "" if rrset.name == q.qname else f"{rrset.name} "
            out += [f"{prefix}{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}" for rd in rrset]
        return out
    return ["-"]


def _result_text(r: Resolution) -> str:
    if r.outcome == "no nameserver":
        return "no nameserver in resolv.conf: glibc tries 127.0.0.1 in the pod, which has none"
    if r.outcome == "answer":
        final = r.queries[r.final[0]].qname.to_text()
        values = [
            f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}"
            for a in r.answers
            for rrset in a.answer
            for rd in rrset
        ]
        text = f"{final} {', '.join(dict.fromkeys(values))}"
        upstream = r.upstream_name
        if upstream is not None and not r.addresses:
            text += f" (the addresses of {upstream} come from the upstream resolver)"
        return text
    if r.outcome == "upstream":
        first = next(i for i, q in enumerate(r.queries) if q.upstream)
        later = first < len(r.queries) - len(r.qtypes)
        return f"not in the cluster: the upstream resolver answers {r.upstream_name}" + (
            " (unknown to the model; if it finds nothing, the walk goes on as shown)"
            if later
            else " (unknown to the model)"
        )
    if r.outcome == "NODATA":
        return "NODATA: the name exists, with no records of the type asked"
    if r.outcome == "NXDOMAIN":
        return "NXDOMAIN: no such name"
    return r.outcome
