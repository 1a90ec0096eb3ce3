"""What `podnet demo` computes to show: the resolved cluster, its matrix, lint findings, one
connection traced and one explained (rendered by `report.demo`)."""

from __future__ import annotations

import sys

from podnet.model.cluster import Cluster
from podnet.policy import explain
from podnet.policy.engine import reach
from podnet.policy.lint import Findings, lint
from podnet.report.demo import Tour
from podnet.report.formats import render


def run(cluster: Cluster) -> None:
    named = _named_connection(cluster)
    example = _example_pair(cluster)
    tour = Tour(
        cluster,
        reach(cluster),
        Findings(tuple(lint(cluster))),
        named,
        explain.explain(cluster, *example) if example is not None else None,
    )
    sys.stdout.write(render(tour, "text"))


def _example_pair(cluster: Cluster):  # type: ignore[no-untyped-def]
    """A denied connection between two isolated pods of one namespace: the instructive case."""
    from podnet.policy.semantics import allowed, pod_peer

    pods = [p for p in cluster.running_pods if not p.host_network and p.ports]
    for a in pods:
        for b in pods:
            if a.namespace == b.namespace and a.labels.get("app") != b.labels.get("app"):
                port = b.ports[0]
                src, dst = pod_peer(a), pod_peer(b)
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
