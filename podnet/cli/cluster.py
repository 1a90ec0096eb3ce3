"""`podnet reach`, `explain`, `lint` and `demo`: questions about a cluster's manifests."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from podnet.cli import app
from podnet.errors import InvalidValue, UsageError
from podnet.ipam.addresses import split_host_port
from podnet.model.cluster import Cluster, load_cluster
from podnet.policy import explain as explain_mod
from podnet.report.formats import choices, formats, render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"

Paths = Annotated[list[str], typer.Argument(help="Manifest files or directories; - for stdin.")]
Port = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Destination port.")]


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


SERVICE_REACH = "podnet.path.service_reach.ServiceReach"
ReachFormat = choices("ReachFormat", "podnet.policy.matrix.Reach", SERVICE_REACH)
TraceFormat = choices("TraceFormat", "podnet.path.trace.Trace")
ExplainFormat = choices("ExplainFormat", explain_mod.Explanation)
LintFormat = choices("LintFormat", "podnet.policy.lint.Findings")


Family = Annotated[
    int | None,
    typer.Option(
        "--ip-family", min=4, max=6, help="4 or 6: the pods' addresses to use (dual-stack)."
    ),
]
ProtocolOpt = Annotated[
    Protocol | None, typer.Option("--protocol", case_sensitive=False, help="TCP, UDP or SCTP.")
]


# Pending pods named on stderr; the rest are counted.
PENDING_SHOWN = 10


def load(paths: list[str]) -> Cluster:
    """The cluster, with what it leaves out said on stderr (`warn_gaps`)."""
    cluster = load_cluster(paths)
    warn_gaps(cluster)
    return cluster


def warn_gaps(cluster: Cluster) -> None:
    """On stderr: the kinds podnet does not model (one summary line) and every pod that no node
    takes, with the scheduler's reason, so that no answer silently covers a smaller cluster."""
    policies = cluster.skipped_policies
    others = {k: n for k, n in cluster.skipped.items() if k not in policies}
    for counts, text in (
        (policies, "NOT APPLIED: {} network policy object(s) of kinds podnet does not model yet,"
                   " so no answer includes them: {}"),
        (others, "skipped {} object(s) of kinds podnet does not model: {}"),
    ):  # fmt: skip
        if counts:
            kinds = ", ".join(f"{k} ({n})" for k, n in sorted(counts.items()))
            print(text.format(sum(counts.values()), kinds), file=sys.stderr)
    if cluster.pending:
        shown = list(cluster.pending.items())[:PENDING_SHOWN]
        lines = [f"{len(cluster.pending)} pod(s) pending:"] + [f"  {k}: {why}" for k, why in shown]
        if len(cluster.pending) > len(shown):
            lines.append(f"  ... and {len(cluster.pending) - len(shown)} more")
        print("\n".join(lines), file=sys.stderr)


def literal_family(text: str) -> int | None:
    """The IP version of an address written on the command line (with or without a port)."""
    host, _ = split_host_port(text)
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def check_family(cluster: Cluster, version: int | None) -> None:
    if version is not None and version not in cluster.config.families:
        have = " and ".join(f"IPv{f}" for f in cluster.config.families)
        raise UsageError(f"--ip-family {version}: the pod network is {have} only")


def probe_ports(
    cluster: Cluster, port: int | None, protocol: Protocol | None
) -> list[tuple[int, str]] | None:
    """The (port, protocol) pairs asked for; None means every declared one."""
    from podnet.policy.engine import declared_ports

    if port is not None:
        return [(port, (protocol or Protocol.TCP).value)]
    if protocol is not None:
        return [
            pp for pp in declared_ports(cluster.running_pods, cluster) if pp[1] == protocol.value
        ]
    return None


@app.command()
def reach(
    paths: Paths,
    port: Port = None,
    protocol: ProtocolOpt = None,
    services: Annotated[
        bool, typer.Option("--services", help="Pods to Service ports (ClusterIPs) instead.")
    ] = False,
    ip_family: Family = None,
    output: Annotated[ReachFormat, typer.Option("-o", "--output")] = ReachFormat.table,
) -> None:
    """The pod-to-pod reachability matrix NetworkPolicy allows."""
    cluster = load(paths)
    check_family(cluster, ip_family)
    if services:
        from podnet.path.service_reach import service_reach

        if output.value not in formats(SERVICE_REACH):
            raise UsageError("--services prints a table or json")
        sys.stdout.write(render(service_reach(cluster), output.value))
        return
    from podnet.policy.engine import reach as compute_reach

    result = compute_reach(cluster, probe_ports(cluster, port, protocol), ip_family)
    if port is not None:  # asked by number: a verdict toward every pod, declared or not
        result = dataclasses.replace(result, requested=True)
    sys.stdout.write(render(result, output.value))


@app.command()
def trace(
    paths: Paths,
    src: Annotated[str, typer.Option("--from", help="namespace/pod, a node, or external.")],
    dst: Annotated[
        str,
        typer.Option(
            "--to",
            help="A pod, an IP, a DNS name as the pod would type it, a ClusterIP,"
            " node:nodePort, a LoadBalancer IP or an external address; IP:port also works.",
        ),
    ],
    port: Port = None,
    protocol: ProtocolOpt = None,
    output: Annotated[TraceFormat, typer.Option("-o", "--output")] = TraceFormat.text,
) -> None:
    """One connection end to end: DNS, the Service, kube-proxy, the route, and policy. Exit
    status 1 when it is not delivered to every endpoint kube-proxy may choose."""
    from podnet.path.trace import PortNeeded
    from podnet.path.trace import trace as run_trace

    cluster = load(paths)
    try:
        result = run_trace(cluster, src, dst, port, (protocol or Protocol.TCP).value)
    except PortNeeded as err:
        if err.why:
            raise UsageError(f"{err.what} {err.why}: give --port") from None
        raise UsageError(
            f"{err.what}: give --port (or name a port in the target, e.g. {err.example})"
        ) from None
    except InvalidValue as err:
        if err.field != "source":
            raise
        raise UsageError(f"--from {err.value!r}: {err.why}") from None
    sys.stdout.write(render(result, output.value))
    if result.verdict != "delivered":  # so that CI can gate on a connection
        raise typer.Exit(1)


@app.command()
def explain(
    paths: Paths,
    src: Annotated[str, typer.Option("--from", help="namespace/pod, a node, or an IP[:port].")],
    dst: Annotated[str, typer.Option("--to", help="namespace/pod, a node, or an IP[:port].")],
    port: Port = None,
    protocol: ProtocolOpt = None,
    ip_family: Family = None,
    output: Annotated[ExplainFormat, typer.Option("-o", "--output")] = ExplainFormat.text,
) -> None:
    """Why one connection is allowed or denied, policy by policy and rule by rule."""
    cluster = load(paths)
    check_family(cluster, ip_family)
    ip_family = ip_family or literal_family(src) or literal_family(dst)
    source, _ = explain_mod.parse_endpoint(cluster, src, ip_family)
    target, target_port = explain_mod.parse_endpoint(cluster, dst, ip_family)
    if source.ip.version != target.ip.version:
        raise UsageError(
            f"{src} ({source.ip}) and {dst} ({target.ip}) are of different IP families"
        )
    proto = (protocol or Protocol.TCP).value
    port = port or target_port
    if port is None:
        from podnet.policy.engine import declared_ports

        declared = [
            pp
            for pp in declared_ports([target.pod] if target.pod else [], cluster)
            if protocol is None or pp[1] == proto
        ]
        if not declared:
            raise UsageError(
                f"{dst} declares no {proto if protocol else ''} port: give --port".replace(
                    "  ", " "
                )
            )
        port, proto = declared[0]
    result = explain_mod.explain(cluster, source, target, port, proto)
    sys.stdout.write(render(result, output.value))


@app.command()
def lint(
    paths: Paths,
    output: Annotated[LintFormat, typer.Option("-o", "--output")] = LintFormat.text,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on", help="Exit 1 when a finding is at least this severe: warning or error."
        ),
    ] = "error",
) -> None:
    """NetworkPolicy mistakes: OR meant as AND, selectors that match nothing, missing DNS, ..."""
    if fail_on not in ("warning", "error"):
        raise UsageError(f"--fail-on {fail_on!r}: must be warning or error")
    cluster = load(paths)
    from podnet.policy.lint import Findings
    from podnet.policy.lint import lint as run_lint

    findings = Findings(tuple(run_lint(cluster)))
    sys.stdout.write(render(findings, output.value))
    if findings.at_least(fail_on):
        raise typer.Exit(1)


@app.command()
def demo(
    path: Annotated[Path, typer.Option(help="The example cluster to show.")] = EXAMPLE,
) -> None:
    """A tour of podnet on the bundled example: the cluster, its matrix, lint and one explanation."""
    from podnet.cli.demo import run

    shown = os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    run(load([shown]))
