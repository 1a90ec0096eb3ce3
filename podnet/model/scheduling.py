"""Which node a pod runs on: spec.nodeName, else nodeSelector, required node affinity and taints,
then a deterministic spread (the least loaded eligible node, ties in node order).

Pure. Preferences (preferred affinity, topology spread, resources) are not modelled.
"""

from __future__ import annotations

from podnet.model.objects import Node, Pod, Taint

# Taints the DaemonSet controller tolerates on the pods it creates.
DAEMONSET_TOLERATED = (
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/network-unavailable",
)


def tolerated(pod: Pod, taint: Taint, *, daemon: bool = False) -> bool:
    if taint.effect == "PreferNoSchedule":
        return True
    if daemon and taint.key in DAEMONSET_TOLERATED:
        return True
    return any(t.tolerates(taint) for t in pod.tolerations)


def eligible(pod: Pod, node: Node, *, daemon: bool = False) -> bool:
    """The pod may be placed on the node: selector, required affinity and taints allow it."""
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    if pod.node_affinity and not any(term.matches(node.labels) for term in pod.node_affinity):
        return False
    return all(tolerated(pod, t, daemon=daemon) for t in node.taints)


def schedule(pods: list[Pod], nodes: list[Node]) -> dict[str, str]:
    """Node name per pod key, for pods that can run somewhere; pods given in a stable order."""
    load = {n.name: 0 for n in nodes}
    placed: dict[str, str] = {}
    for pod in pods:
        if pod.node_name:
            placed[pod.key] = pod.node_name
            load[pod.node_name] = load.get(pod.node_name, 0) + 1
    eligible_nodes: dict[tuple, list[str]] = {}  # pods with the same constraints share them
    for pod in pods:
        if pod.node_name:
            continue
        constraints = (
            tuple(sorted(pod.node_selector.items())),
            pod.node_affinity,
            pod.tolerations,
        )
        candidates = eligible_nodes.get(constraints)
        if candidates is None:
            candidates = [n.name for n in nodes if eligible(pod, n)]
            eligible_nodes[constraints] = candidates
        if candidates:
            best = min(candidates, key=lambda name: load[name])  # min keeps node order on ties
            placed[pod.key] = best
            load[best] += 1
    return placed
