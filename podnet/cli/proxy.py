"""`podnet proxy rules` and `podnet proxy trace`: kube-proxy on one node of a cluster."""

from __future__ import annotations

import sys
from collections.abc import Callable
from ipaddress import ip_address
from typing import Annotated

import typer

from podnet.cli import app
from podnet.cli.cluster import NamespaceOpt, Paths, Protocol, ProtocolOpt, load
from podnet.errors import UsageError
from podnet.model.cluster import Cluster
from podnet.model.config import ProxyMode as Mode
from podnet.model.objects import IPAddress
from podnet.proxy.iptables import render_iptables
from podnet.proxy.nftables import render_nftables
from podnet.proxy.trace_iptables import trace_iptables
from podnet.proxy.trace_nftables import trace_nftables
from podnet.proxy.tracer import Trace
from podnet.proxy.verdict import decide
from podnet.report.formats import choices, render
from podnet.report.proxy import ProxyTrace

proxy_app = typer.Typer(
    help="kube-proxy: the rules it writes on a node, and what they do to a packet.",
    no_args_is_help=True,
)
app.add_typer(proxy_app, name="proxy")

TraceFormat = choices("TraceFormat", ProxyTrace)


NodeOpt = Annotated[str, typer.Option("--node", help="The node kube-proxy runs on.")]
ModeOpt = Annotated[
    Mode | None,
    typer.Option(
        "--mode", help="nftables, iptables or ipvs (default: the cluster's kubeProxyMode)."
    ),
]


def _ip(option: str, text: str) -> IPAddress:
    try:
        return ip_address(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: not an IP address") from None


def _renderer(mode: Mode) -> Callable[[Cluster, str], str]:
    if mode == Mode.ipvs:
        from podnet.proxy.ipvs import render_ipvs

        return render_ipvs
    return render_nftables if mode == Mode.nftables else render_iptables


@proxy_app.command()
def rules(
    paths: Paths, node: NodeOpt, mode: ModeOpt = None, namespace: NamespaceOpt = None
) -> None:
    """The whole state kube-proxy writes on the node: `nft -f` input, `iptables-restore` input,
    or, in the ipvs mode, its virtual servers (`ipvsadm-save -n`), ipsets and iptables rules."""
    cluster = load(paths, namespace)
    cluster.node(node)
    chosen = mode or Mode(cluster.config.kube_proxy_mode)
    sys.stdout.write(_renderer(chosen)(cluster, node))


def _tracer(mode: Mode) -> Callable[..., Trace]:
    if mode == Mode.ipvs:
        from podnet.proxy.trace_ipvs import trace_ipvs

        return trace_ipvs
    return trace_nftables if mode == Mode.nftables else trace_iptables


@proxy_app.command("trace")
def trace_command(
    paths: Paths,
    node: NodeOpt,
    src: Annotated[str, typer.Option("--src", help="Source IP.")],
    dst: Annotated[str, typer.Option("--dst", help="Destination IP.")],
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Destination port.")],
    protocol: ProtocolOpt = None,
    mode: ModeOpt = None,
    namespace: NamespaceOpt = None,
    output: Annotated[TraceFormat, typer.Option("-o", "--output")] = TraceFormat.text,
) -> None:
    """One packet through the rules kube-proxy writes on the node: the rules it hits, the
    endpoints it may be DNATed to (or DROP, REJECT, NONE) and whether it is masqueraded."""
    source, target = _ip("--src", src), _ip("--dst", dst)
    if source.version != target.version:
        raise UsageError(f"--src {source} and --dst {target} are of different IP families")
    proto = (protocol or Protocol.TCP).value
    cluster = load(paths, namespace)
    the_node = cluster.node(node)
    chosen = mode or Mode(cluster.config.kube_proxy_mode)
    written = _renderer(chosen)(cluster, node)
    t = _tracer(chosen)(written, the_node.ips, source, target, port, proto)
    v = decide(cluster, node, source, target, port, proto, chosen.value)
    result = ProxyTrace(node, chosen.value, source, target, port, proto, t, v)
    sys.stdout.write(render(result, output.value))
