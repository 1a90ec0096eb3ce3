"""`podnet reach`, `explain`, `lint` and `demo`: questions about a cluster's manifests."""

from __future__ import annotations

import dataclasses
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from podnet.cli import app
from podnet.errors import InvalidValue, PodnetError, UsageError
from podnet.model.cluster import Cluster, load_cluster
from podnet.model.names import Named, NameKind, node_pods, resolve
from podnet.policy import explain as explain_mod
from podnet.report.formats import choices, formats, render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"

Paths = Annotated[list[str], typer.Argument(help="Manifest files or directories; - for stdin.")]
Port = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Destination port.")]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "-n",
        "--namespace",
        help="The namespace of objects whose manifests state none, as kubectl apply -n"
        " (default: default); objects that state one keep it.",
        show_default=False,
    ),
]


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


SERVICE_REACH = "podnet.path.service_reach.ServiceReach"
ReachFormat = choices("ReachFormat", "podnet.policy.matrix.Reach", SERVICE_REACH)
TraceFormat = choices("TraceFormat", "podnet.path.trace.Trace", "podnet.path.trace.Traces")
ExplainFormat = choices("ExplainFormat", explain_mod.Explanation, explain_mod.Explanations)
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


def load(paths: list[str], namespace: str | None = None) -> Cluster:
    """The cluster, with what it leaves out said on stderr (`warn_gaps`); objects that state no
    namespace are in `namespace` (-n, default: default)."""
    cluster = load_cluster(paths, default_namespace(namespace))
    warn_gaps(cluster)
    return cluster


def default_namespace(namespace: str | None) -> str:
    """The namespace -n names (default: default), checked as a namespace's name."""
    from podnet.model.parse import check_namespace

    try:
        return check_namespace(namespace or "default")
    except InvalidValue as err:
        raise UsageError(f"-n {namespace!r}: {err.why}") from None


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


# What --from and --to take (model.names reads them), for the options' help.
NAMES = (
    "ns/pod, a workload (ns/deploy/NAME, ns/sts/NAME, ds, rs, rc, job, cronjob; ns/NAME when"
    " unambiguous), a Service (ns/svc/NAME, or svc/NAME in the -n namespace), a node, an IP, or a"
    " label selector (ns/app=web,tier!=db)"
)


def name_option(
    cluster: Cluster, option: str, text: str, namespace: str | None = None, *, dns: bool = False
) -> Named:
    """What `text`, given to `option`, names (without a namespace: the one of -n); errors worded
    with the option."""
    try:
        return resolve(cluster, text, namespace or cluster.default_namespace, dns=dns)
    except PodnetError as err:
        raise UsageError(f"{option} {text!r}: {err}") from None


def literal_family(named: Named) -> int | None:
    """The IP version of an address named on the command line, or None for other names."""
    return named.address.version if named.kind == NameKind.address and named.address else None


def selected_pods(cluster: Cluster, option: str, text: str, namespace: str) -> list[str]:
    """The pods (namespace/name) a name given to `option` selects; a node, the pods on it."""
    named = name_option(cluster, option, text, namespace)
    if named.port is not None:
        raise UsageError(f"{option} {text!r}: reach takes the port from --port")
    pods = node_pods(cluster, named.node) if named.kind == NameKind.node else named.pods
    if not pods:
        raise UsageError(f"{option} {text!r}: {named.name} selects no pod with an address")
    return [p.key for p in pods]


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
    src: Annotated[str | None, typer.Option("--from", help=f"Rows: the pods of {NAMES}.")] = None,
    dst: Annotated[str | None, typer.Option("--to", help="Columns: the pods of a name.")] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "-n",
            "--namespace",
            help="The namespace of objects whose manifests state none, as kubectl apply -n, and"
            " of names without one; and only its pods (rows, and columns, unless --from/--to"
            " name them).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[ReachFormat, typer.Option("-o", "--output")] = ReachFormat.table,
) -> None:
    """The pod-to-pod reachability matrix NetworkPolicy allows."""
    cluster = load(paths, namespace)
    check_family(cluster, ip_family)
    default = cluster.default_namespace
    sources = selected_pods(cluster, "--from", src, default) if src is not None else None
    destinations = selected_pods(cluster, "--to", dst, default) if dst is not None else None
    if services:
        from podnet.path.service_reach import service_reach

        if src is not None or dst is not None:
            raise UsageError("--services does not take --from or --to")
        if output.value not in formats(SERVICE_REACH):
            raise UsageError("--services prints a table or json")
        sys.stdout.write(render(service_reach(cluster), output.value))
        return
    from podnet.policy.engine import reach as compute_reach

    result = compute_reach(
        cluster,
        probe_ports(cluster, port, protocol),
        ip_family,
        namespace=namespace,
        sources=sources,
        destinations=destinations,
    )
    if port is not None:  # asked by number: a verdict toward every pod, declared or not
        result = dataclasses.replace(result, requested=True)
    sys.stdout.write(render(result, output.value))


@app.command()
def trace(
    paths: Paths,
    src: Annotated[str, typer.Option("--from", help=f"{NAMES}, or external; one trace per pod.")],
    dst: Annotated[
        str,
        typer.Option(
            "--to",
            help="Any name --from takes, a DNS name as the pod would type it, a ClusterIP,"
            " node:nodePort, a LoadBalancer IP or an external address; NAME:port also works.",
        ),
    ],
    port: Port = None,
    protocol: ProtocolOpt = None,
    namespace: NamespaceOpt = None,
    output: Annotated[TraceFormat, typer.Option("-o", "--output")] = TraceFormat.text,
) -> None:
    """One connection end to end: DNS, the Service, kube-proxy, the route, and policy. Exit
    status 1 when it is not delivered to every endpoint kube-proxy may choose (of every trace,
    when a name stands for several pods)."""
    from podnet.path.trace import PortNeeded, traces

    cluster = load(paths, namespace)
    source = name_option(cluster, "--from", src)
    target = name_option(cluster, "--to", dst, dns=True)
    try:
        result = traces(cluster, source, target, port, (protocol or Protocol.TCP).value)
    except PortNeeded as err:
        if err.why:
            raise UsageError(f"{err.what} {err.why}: give --port") from None
        raise UsageError(
            f"{err.what}: give --port (or name a port in the target, e.g. {err.example})"
        ) from None
    except InvalidValue as err:
        if err.field not in ("source", "target"):
            raise
        option = "--from" if err.field == "source" else "--to"
        raise UsageError(f"{option} {err.value!r}: {err}") from None
    # One connection prints as it always has; several, each and a summary.
    sys.stdout.write(render(result.traces[0] if len(result.traces) == 1 else result, output.value))
    if result.delivered < len(result.traces):  # so that CI can gate on a connection
        raise typer.Exit(1)


@app.command()
def explain(
    paths: Paths,
    src: Annotated[str, typer.Option("--from", help=f"{NAMES}; one explanation per pod.")],
    dst: Annotated[
        str, typer.Option("--to", help="Any name --from takes, with an optional :port.")
    ],
    port: Port = None,
    protocol: ProtocolOpt = None,
    ip_family: Family = None,
    namespace: NamespaceOpt = None,
    output: Annotated[ExplainFormat, typer.Option("-o", "--output")] = ExplainFormat.text,
) -> None:
    """Why one connection is allowed or denied, policy by policy and rule by rule."""
    cluster = load(paths, namespace)
    check_family(cluster, ip_family)
    source = name_option(cluster, "--from", src)
    target = name_option(cluster, "--to", dst)
    version = ip_family or literal_family(source) or literal_family(target)
    proto = protocol.value if protocol else None
    try:
        result = explain_mod.explain_names(cluster, source, target, port, proto, version)
    except InvalidValue as err:
        if err.field in ("source", "target"):
            option = "--from" if err.field == "source" else "--to"
            raise UsageError(f"{option} {err.value!r}: {err.why}") from None
        if err.field != "port":
            raise
        raise UsageError(f"{err}: give --port") from None
    # One connection prints as it always has; several, each and a summary.
    sys.stdout.write(render(result.items[0] if len(result.items) == 1 else result, output.value))


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
    namespace: NamespaceOpt = None,
) -> None:
    """NetworkPolicy mistakes: OR meant as AND, selectors that match nothing, missing DNS, ..."""
    if fail_on not in ("warning", "error"):
        raise UsageError(f"--fail-on {fail_on!r}: must be warning or error")
    cluster = load(paths, namespace)
    from podnet.policy.lint import findings as run_lint

    findings = run_lint(cluster)
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
