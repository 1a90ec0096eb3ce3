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


def untolerated(pod: Pod, node: Node, *, daemon: bool = False) -> Taint | None:
    """The first taint of the node the pod does not tolerate."""
    return next((t for t in node.taints if not tolerated(pod, t, daemon=daemon)), None)


def selected(pod: Pod, node: Node) -> bool:
    """The node satisfies the pod's nodeSelector and required node affinity."""
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    return not pod.node_affinity or any(term.matches(node.labels) for term in pod.node_affinity)


def eligible(pod: Pod, node: Node, *, daemon: bool = False) -> bool:
    """The pod may be placed on the node: selector, required affinity and taints allow it."""
    return selected(pod, node) and untolerated(pod, node, daemon=daemon) is None


def unschedulable(pod: Pod, nodes: list[Node]) -> str:
    """Why no node takes the pod, in kube-scheduler's words ("0/2 nodes are available: ..."),
    each node counted under the first filter it fails (taints before node affinity)."""
    if pod.node_name:
        return f"node {pod.node_name} (spec.nodeName) does not exist"
    reasons: dict[str, int] = {}
    for n in nodes:
        taint = untolerated(pod, n)
        if taint is not None:
            reason = f"had untolerated taint {{{taint.key}: {taint.value}}}"
        elif not selected(pod, n):
            reason = "didn't match Pod's node affinity/selector"
        else:
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
    parts = [f"{count} node(s) {reason}" for reason, count in sorted(reasons.items())]
    return f"0/{len(nodes)} nodes are available: {', '.join(parts) or 'there are no nodes'}."


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
