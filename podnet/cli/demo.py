"""What `podnet demo` shows: the resolved cluster, its matrix, lint findings, one explanation."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from podnet.model.cluster import Cluster
from podnet.policy import explain
from podnet.policy.engine import reach
from podnet.policy.lint import lint
from podnet.report import explain as explain_report
from podnet.report import trace as trace_report
from podnet.report.formats import render


def run(cluster: Cluster) -> None:
    console = Console(width=200)
    cfg = cluster.config
    console.rule(f"cluster {cluster.name}")
    console.print(
        f"pod network {', '.join(map(str, cfg.pod_subnets))} (/{cfg.node_cidr_mask_size} per node),"
        f" services {', '.join(map(str, cfg.service_subnets))}, {cfg.backend} between nodes"
    )
    nodes = Table(title="nodes", title_justify="left")
    for col in ("node", "IP", "podCIDR", "pods"):
        nodes.add_column(col)
    for n in cluster.nodes:
        count = sum(p.node_name == n.name for p in cluster.running_pods)
        nodes.add_row(
            n.name, ", ".join(map(str, n.ips)), ", ".join(map(str, n.pod_cidrs)), str(count)
        )
    console.print(nodes)
    pods = Table(title="pods", title_justify="left")
    for col in ("pod", "node", "IP", "ports"):
        pods.add_column(col)
    for p in cluster.pods:
        ports = ", ".join(
            f"{c.name or c.container_port}:{c.container_port}/{c.protocol}" for c in p.ports
        )
        ip = ", ".join(map(str, p.ips)) + (" (host network)" if p.host_network else "")
        pods.add_row(p.key, p.node_name or "(pending)", ip or "-", ports)
    console.print(pods)
    policies = Table(title="network policies", title_justify="left")
    for col in ("policy", "selects", "types", "rules"):
        policies.add_column(col)
    for pol in cluster.policies:
        policies.add_row(
            pol.key,
            str(pol.pod_selector),
            ", ".join(pol.policy_types),
            f"{len(pol.ingress)} ingress, {len(pol.egress)} egress",
        )
    console.print(policies)
    console.rule("reachability (podnet reach)")
    console.print(render(reach(cluster), "table"), end="")
    console.rule("lint (podnet lint)")
    findings = lint(cluster)
    for f in findings:
        console.print(str(f), markup=False)
    if not findings:
        console.print("no findings")
    named = _named_connection(cluster)
    if named is not None:
        console.rule(f"podnet trace --from {named.source} --to {named.target}")
        console.print(trace_report.to_text(named), markup=False)
    example = _example_pair(cluster)
    if example is not None:
        src, dst, port, proto = example
        console.rule(f"podnet explain --from {src.pod.key} --to {dst.pod.key} --port {port}")  # type: ignore[union-attr]
        result = explain.explain(cluster, src, dst, port, proto)
        console.print(explain_report.to_text(result), markup=False)


def _example_pair(cluster: Cluster):  # type: ignore[no-untyped-def]
    """A denied connection between two isolated pods of one namespace: the instructive case."""
    from podnet.policy.semantics import allowed, pod_endpoint

    pods = [p for p in cluster.running_pods if not p.host_network and p.ports]
    for a in pods:
        for b in pods:
            if a.namespace == b.namespace and a.labels.get("app") != b.labels.get("app"):
                port = b.ports[0]
                src, dst = pod_endpoint(a), pod_endpoint(b)
                if not allowed(cluster, src, dst, port.container_port, port.protocol):
                    return src, dst, port.container_port, port.protocol
    return None


def _named_connection(cluster: Cluster):  # type: ignore[no-untyped-def]
    """A delivered connection from a pod to a one-port Service of its namespace, by short name."""
    from podnet.path.trace import trace

    first = None
    for svc in cluster.services:
        if (
            svc.selector is None
            or svc.headless
            or len(svc.ports) != 1
            or svc.namespace == "kube-system"
        ):
            continue
        for pod in cluster.running_pods:
            if pod.namespace != svc.namespace or pod.host_network:
                continue
            if all(pod.labels.get(k) == v for k, v in svc.selector.items()):
                continue
            t = trace(cluster, pod.key, svc.name)
            if t.verdict == "delivered":
                return t
            first = first or t
    return first
