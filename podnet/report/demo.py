"""The rendering of `podnet demo`: the resolved cluster (nodes, pods, policies), its matrix, the
lint findings, one connection traced and one explained."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from podnet.model.cluster import Cluster
from podnet.path.trace import Trace
from podnet.policy.explain import Explanation
from podnet.policy.lint import Findings
from podnet.policy.matrix import Reach
from podnet.report import explain, reach, trace
from podnet.report.console import printed


@dataclass(frozen=True, slots=True)
class Tour:
    """What `podnet demo` shows of a cluster."""

    cluster: Cluster
    reach: Reach
    findings: Findings
    named: Trace | None  # a pod to a Service by its short name
    example: Explanation | None  # a denied connection between two isolated pods


def _nodes(cluster: Cluster) -> Table:
    nodes = Table("node", "IP", "podCIDR", "pods", title="nodes", title_justify="left")
    for n in cluster.nodes:
        count = sum(p.node_name == n.name for p in cluster.running_pods)
        nodes.add_row(
            n.name, ", ".join(map(str, n.ips)), ", ".join(map(str, n.pod_cidrs)), str(count)
        )
    return nodes


def _pods(cluster: Cluster) -> Table:
    pods = Table("pod", "node", "IP", "ports", title="pods", title_justify="left")
    for p in cluster.pods:
        ports = ", ".join(
            f"{c.name or c.container_port}:{c.container_port}/{c.protocol}" for c in p.ports
        )
        ip = ", ".join(map(str, p.ips)) + (" (host network)" if p.host_network else "")
        pods.add_row(p.key, p.node_name or "(pending)", ip or "-", ports)
    return pods


def _policies(cluster: Cluster) -> Table:
    policies = Table(
        "policy", "selects", "types", "rules", title="network policies", title_justify="left"
    )
    for pol in cluster.policies:
        policies.add_row(
            pol.key,
            str(pol.pod_selector),
            ", ".join(pol.policy_types),
            f"{len(pol.ingress)} ingress, {len(pol.egress)} egress",
        )
    return policies


def to_text(tour: Tour) -> str:
    cluster, cfg = tour.cluster, tour.cluster.config

    def draw(console: Console) -> None:
        console.rule(f"cluster {cluster.name}")
        console.print(
            f"pod network {', '.join(map(str, cfg.pod_subnets))}"
            f" (/{cfg.node_cidr_mask_size} per node),"
            f" services {', '.join(map(str, cfg.service_subnets))}, {cfg.backend} between nodes"
        )
        console.print(_nodes(cluster))
        console.print(_pods(cluster))
        console.print(_policies(cluster))
        console.rule("reachability (podnet reach)")
        console.print(reach.render_table(tour.reach, console.width), end="")
        console.rule("lint (podnet lint)")
        for f in tour.findings.items:
            console.print(str(f), markup=False)
        if not tour.findings.items:
            console.print("no findings")
        if tour.named is not None:
            t = tour.named
            console.rule(f"podnet trace --from {t.source} --to {t.target}")
            console.print(trace.to_text(t), markup=False)
        if tour.example is not None:
            e = tour.example
            src, dst = e.src.pod.key, e.dst.pod.key  # type: ignore[union-attr]
            console.rule(f"podnet explain --from {src} --to {dst} --port {e.port}")
            console.print(explain.to_text(e), markup=False)

    return printed(draw, 200)


RENDERERS = {Tour: {"text": to_text}}
