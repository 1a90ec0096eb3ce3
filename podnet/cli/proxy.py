"""`podnet proxy rules` and `podnet proxy trace`: kube-proxy on one node of a cluster."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from ipaddress import ip_address
from typing import Annotated

import typer

from podnet.cli import app
from podnet.cli.cluster import Paths, Protocol, ProtocolOpt, TextFormat, load
from podnet.errors import UsageError
from podnet.model.objects import IPAddress
from podnet.proxy.iptables import render_iptables
from podnet.proxy.nftables import render_nftables
from podnet.proxy.node import find_node
from podnet.proxy.trace_iptables import trace_iptables
from podnet.proxy.trace_nftables import trace_nftables as trace
from podnet.proxy.tracer import Trace
from podnet.proxy.verdict import decide

proxy_app = typer.Typer(
    help="kube-proxy: the rules it writes on a node, and what they do to a packet.",
    no_args_is_help=True,
)
app.add_typer(proxy_app, name="proxy")


class Mode(StrEnum):
    nftables = "nftables"
    iptables = "iptables"


NodeOpt = Annotated[str, typer.Option("--node", help="The node kube-proxy runs on.")]
ModeOpt = Annotated[
    Mode | None,
    typer.Option("--mode", help="nftables or iptables (default: the cluster's kubeProxyMode)."),
]


def _ip(option: str, text: str) -> IPAddress:
    try:
        return ip_address(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: not an IP address") from None


@proxy_app.command()
def rules(paths: Paths, node: NodeOpt, mode: ModeOpt = None) -> None:
    """The whole ruleset kube-proxy writes on the node: `nft -f` or `iptables-restore` input."""
    cluster = load(paths)
    find_node(cluster, node)
    chosen = (mode or Mode(cluster.config.kube_proxy_mode)).value
    render = render_nftables if chosen == "nftables" else render_iptables
    sys.stdout.write(render(cluster, node))


@proxy_app.command("trace")
def trace_command(
    paths: Paths,
    node: NodeOpt,
    src: Annotated[str, typer.Option("--src", help="Source IP.")],
    dst: Annotated[str, typer.Option("--dst", help="Destination IP.")],
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Destination port.")],
    protocol: ProtocolOpt = None,
    mode: ModeOpt = None,
    output: Annotated[TextFormat, typer.Option("-o", "--output")] = TextFormat.text,
) -> None:
    """One packet through the rules kube-proxy writes on the node: the rules it hits, the
    endpoints it may be DNATed to (or DROP, REJECT, NONE) and whether it is masqueraded."""
    source, target = _ip("--src", src), _ip("--dst", dst)
    if source.version != target.version:
        raise UsageError(f"--src {source} and --dst {target} are of different IP families")
    proto = (protocol or Protocol.TCP).value
    cluster = load(paths)
    the_node = find_node(cluster, node)
    chosen = (mode or Mode(cluster.config.kube_proxy_mode)).value
    if chosen == "nftables":
        t = trace(render_nftables(cluster, node), the_node.ips, source, target, port, proto)
    else:
        t = trace_iptables(
            render_iptables(cluster, node), the_node.ips, source, target, port, proto
        )
    v = decide(cluster, node, source, target, port, proto, chosen)
    if (t.verdict, t.endpoints, t.masquerade) != (v.verdict, v.endpoints, v.masquerade):
        raise RuntimeError(
            f"the {chosen} rules and the kube-proxy model disagree: rules give {t.verdict}"
            f" {list(t.endpoints)} masquerade={t.masquerade}, the model {v.verdict}"
            f" {list(v.endpoints)} masquerade={v.masquerade} ({v.reason})"
        )
    if output is TextFormat.json:
        print(json.dumps(to_json(node, t)))
        return
    print(f"{node} ({chosen}): {source} -> {_hostport(target, port)} {proto}")
    for r in t.rules:
        print(f"  {r}")
    print(_summary(t))
    if v.service or v.reason:
        print(f"why: {v.service + ': ' if v.service else ''}{v.reason}")


def to_json(node: str, t: Trace) -> dict:
    return {
        "node": node,
        "verdict": t.verdict,
        "endpoints": list(t.endpoints),
        "masquerade": t.masquerade,
        "rules": list(t.rules),
    }


def _hostport(ip: IPAddress, port: int) -> str:
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _summary(t: Trace) -> str:
    if t.verdict == "ACCEPT":
        masq = "masqueraded" if t.masquerade else "not masqueraded"
        return f"verdict: ACCEPT, DNAT to one of {', '.join(t.endpoints)}; {masq}"
    if t.verdict == "NONE":
        return "verdict: NONE (no kube-proxy rule applies)"
    return f"verdict: {t.verdict}"
