"""Which node a pod runs on, as kube-scheduler's filters decide it for what manifests state.

A pod with spec.nodeName runs there. Every other pod is placed one at a time, in the order given,
on the least loaded node (ties in node order) among those that pass the filters, in
kube-scheduler's order: TaintToleration, NodeAffinity (nodeSelector and required node affinity),
PodTopologySpread (`whenUnsatisfiable: DoNotSchedule`), InterPodAffinity (required pod affinity,
required pod anti-affinity, and the anti-affinity of the pods already placed). A pod that waits for
other pods (pod affinity, spread) is tried again once the others are placed, as the scheduler's
queue retries it when a pod is added. A pod no node takes is pending, with kube-scheduler's reason.

Pure. Preferences (preferred affinity, ScheduleAnyway, resources) are not modelled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from podnet.model.objects import (
    NAMESPACE_NAME_LABEL,
    Node,
    Pod,
    PodAffinityTerm,
    Taint,
    TopologySpreadConstraint,
)
from podnet.model.selectors import LabelSelector, Requirement

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

# kube-scheduler's words for a node a filter rejects (its plugins' ErrReason... constants).
NODE_AFFINITY_MISMATCH = "didn't match Pod's node affinity/selector"
SPREAD_MISMATCH = "didn't match pod topology spread constraints"
SPREAD_LABEL_MISSING = SPREAD_MISMATCH + " (missing required label)"
AFFINITY_MISMATCH = "didn't match pod affinity rules"
ANTI_AFFINITY_MISMATCH = "didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY_MISMATCH = "didn't satisfy existing pods anti-affinity rules"


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
    return not pod.node_affinity or any(
        term.matches(node.name, node.labels) for term in pod.node_affinity
    )


def eligible(pod: Pod, node: Node, *, daemon: bool = False) -> bool:
    """The pod may be placed on the node: selector, required affinity and taints allow it."""
    return selected(pod, node) and untolerated(pod, node, daemon=daemon) is None


def node_filter(pod: Pod, node: Node) -> str | None:
    """The reason the node-level filters (taints, then node affinity) reject the node, if any."""
    taint = untolerated(pod, node)
    if taint is not None:
        return f"had untolerated taint {{{taint.key}: {taint.value}}}"
    if not selected(pod, node):
        return NODE_AFFINITY_MISMATCH
    return None


@dataclass(frozen=True, slots=True)
class Placement:
    """The node of every pod that runs somewhere, and why each other pod runs nowhere."""

    nodes: Mapping[str, str]  # pod key -> node name
    pending: Mapping[str, str]  # pod key -> kube-scheduler's reason


def schedule(
    pods: list[Pod], nodes: list[Node], namespaces: Mapping[str, Mapping[str, str]] | None = None
) -> Placement:
    """Where the pods run; pods given in a stable order, `namespaces` the labels of each namespace
    (for namespaceSelector; an absent namespace has only its name label)."""
    state = _State(nodes, namespaces or {})
    pending: dict[str, str] = {}
    for pod in pods:
        if pod.node_name:
            if pod.node_name in state.by_name:
                state.add(pod, pod.node_name)
            else:
                pending[pod.key] = f"node {pod.node_name} (spec.nodeName) does not exist"
    waiting = [p for p in pods if not p.node_name and not state.place(p)]
    # Another pod's arrival can only help a pod that waits for pods: retry those until none moves.
    while any(_waits_for_pods(p) for p in waiting):
        still = [p for p in waiting if not (_waits_for_pods(p) and state.place(p))]
        if len(still) == len(waiting):
            break
        waiting = still
    pending.update((p.key, state.unschedulable(p)) for p in waiting)
    return Placement(state.placed, pending)


def _waits_for_pods(pod: Pod) -> bool:
    return bool(pod.pod_affinity) or any(
        c.when_unsatisfiable == "DoNotSchedule" for c in pod.topology_spread_constraints
    )


def _has_pod_constraints(pod: Pod) -> bool:
    return _waits_for_pods(pod) or bool(pod.pod_anti_affinity)


@dataclass(frozen=True, slots=True)
class _Term:
    """A pod affinity term resolved against the pod that states it (namespaces, label keys)."""

    selector: LabelSelector | None
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None
    topology_key: str

    @classmethod
    def of(cls, term: PodAffinityTerm, pod: Pod) -> _Term:
        namespaces = frozenset(term.namespaces)
        if not term.namespaces and term.namespace_selector is None:
            namespaces = frozenset((pod.namespace,))
        return cls(
            _with_label_keys(
                term.label_selector, pod, term.match_label_keys, term.mismatch_label_keys
            ),
            namespaces,
            term.namespace_selector,
            term.topology_key,
        )

    def matches(self, namespace: str, labels: Mapping[str, str], state: _State) -> bool:
        if self.selector is None:
            return False
        if namespace not in self.namespaces and not (
            self.namespace_selector is not None
            and self.namespace_selector.matches(state.namespace_labels(namespace))
        ):
            return False
        return self.selector.matches(labels)


def _with_label_keys(
    selector: LabelSelector | None,
    pod: Pod,
    match_keys: Iterable[str],
    mismatch_keys: Iterable[str] = (),
) -> LabelSelector | None:
    """The selector with matchLabelKeys (`key in (pod's value)`) and mismatchLabelKeys (`key notin
    (pod's value)`) added, for the keys the pod has, as the API server merges them."""
    if selector is None:
        return None
    extra = [Requirement(k, "In", (pod.labels[k],)) for k in match_keys if k in pod.labels]
    extra += [Requirement(k, "NotIn", (pod.labels[k],)) for k in mismatch_keys if k in pod.labels]
    if not extra:
        return selector
    return LabelSelector(selector.match_labels, (*selector.match_expressions, *extra))


@dataclass(slots=True)
class _Group:
    """Placed pods with the same namespace and labels, counted per node."""

    namespace: str
    labels: Mapping[str, str]
    terminating: bool
    on: Counter[str] = field(default_factory=Counter)


class _State:
    """The pods placed so far, indexed for the filters."""

    def __init__(self, nodes: list[Node], namespaces: Mapping[str, Mapping[str, str]]) -> None:
        self.nodes = nodes
        self.by_name = {n.name: n for n in nodes}
        self.namespaces = namespaces
        self.load = {n.name: 0 for n in nodes}
        self.placed: dict[str, str] = {}
        self.groups: dict[tuple, _Group] = {}
        # The required anti-affinity terms of placed pods, with the topology pairs they hold.
        self.anti: dict[_Term, Counter[tuple[str, str]]] = {}
        self.eligible_nodes: dict[tuple, list[Node]] = {}  # pods with equal constraints share it

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        return self.namespaces.get(namespace) or {NAMESPACE_NAME_LABEL: namespace}

    def add(self, pod: Pod, node_name: str) -> None:
        self.placed[pod.key] = node_name
        self.load[node_name] += 1
        terminating = bool(pod.deletion_timestamp)
        key = (pod.namespace, frozenset(pod.labels.items()), terminating)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(pod.namespace, pod.labels, terminating)
        group.on[node_name] += 1
        labels = self.by_name[node_name].labels
        for term in pod.pod_anti_affinity:
            t = _Term.of(term, pod)
            if t.topology_key in labels:
                self.anti.setdefault(t, Counter())[(t.topology_key, labels[t.topology_key])] += 1

    def node_eligible(self, pod: Pod) -> list[Node]:
        """The nodes the node-level filters let the pod on, shared by pods that state the same."""
        key = (tuple(sorted(pod.node_selector.items())), pod.node_affinity, pod.tolerations)
        found = self.eligible_nodes.get(key)
        if found is None:
            found = self.eligible_nodes[key] = [n for n in self.nodes if eligible(pod, n)]
        return found

    def forbidden(self, pod: Pod) -> set[tuple[str, str]]:
        """The topology pairs (label, value) where placed pods' anti-affinity rejects the pod."""
        out: set[tuple[str, str]] = set()
        for term, pairs in self.anti.items():
            if term.matches(pod.namespace, pod.labels, self):
                out.update(pairs)
        return out

    def place(self, pod: Pod) -> bool:
        """Put the pod on the least loaded node that takes it; False when none does."""
        candidates = self.node_eligible(pod)
        if _has_pod_constraints(pod):
            check = _PodFilters(pod, self)
            candidates = [n for n in candidates if check.reject(n) is None]
        elif self.anti:
            forbidden = self.forbidden(pod)
            if forbidden:
                candidates = [n for n in candidates if not _holds_any(n, forbidden)]
        if not candidates:
            return False
        best = min(candidates, key=lambda n: self.load[n.name])  # min keeps node order on ties
        self.add(pod, best.name)
        return True

    def unschedulable(self, pod: Pod) -> str:
        """Why no node takes the pod, in kube-scheduler's words ("0/2 nodes are available: ..."),
        each node counted under the first filter that rejects it."""
        check = _PodFilters(pod, self)
        reasons: Counter[str] = Counter()
        for n in self.nodes:
            reason = node_filter(pod, n) or check.reject(n)
            if reason is not None:
                reasons[f"node(s) {reason}"] += 1
        # sorted as kube-scheduler sorts them: the whole "<count> <reason>" strings
        parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
        return (
            f"0/{len(self.nodes)} nodes are available: {', '.join(parts) or 'there are no nodes'}."
        )


def _holds_any(node: Node, pairs: set[tuple[str, str]]) -> bool:
    return any(node.labels.get(k) == v for k, v in pairs)


@dataclass(slots=True)
class _Spread:
    """One DoNotSchedule constraint, with the matching pods counted per domain."""

    constraint: TopologySpreadConstraint
    counts: dict[str, int]  # topology value -> matching pods in that domain
    least: int  # the global minimum, 0 while fewer domains than minDomains
    itself: int  # 1 when the pod matches its own selector


class _PodFilters:
    """PodTopologySpread and InterPodAffinity for one pod against the placed pods (their
    PreFilter state), then asked node by node."""

    def __init__(self, pod: Pod, state: _State) -> None:
        self.spread = _spread(pod, state)
        self.affinity = [_Term.of(t, pod) for t in pod.pod_affinity]
        self.anti_affinity = [_Term.of(t, pod) for t in pod.pod_anti_affinity]
        self.affinity_counts: Counter[tuple[str, str]] = Counter()
        self.anti_counts: Counter[tuple[str, str]] = Counter()
        if self.affinity or self.anti_affinity:
            self._count_matching(state)
        # The "first pod" rule: a pod whose affinity matches itself, while no placed pod matches
        # it anywhere, may go where the topology labels exist.
        self.first = (
            bool(self.affinity)
            and not self.affinity_counts
            and all(t.matches(pod.namespace, pod.labels, state) for t in self.affinity)
        )
        self.forbidden = state.forbidden(pod) if state.anti else set()

    def _count_matching(self, state: _State) -> None:
        for group in state.groups.values():
            all_affinity = bool(self.affinity) and all(
                t.matches(group.namespace, group.labels, state) for t in self.affinity
            )
            anti = [
                t for t in self.anti_affinity if t.matches(group.namespace, group.labels, state)
            ]
            if not all_affinity and not anti:
                continue
            for name, count in group.on.items():
                labels = state.by_name[name].labels
                for t in self.affinity if all_affinity else ():
                    if t.topology_key in labels:
                        self.affinity_counts[(t.topology_key, labels[t.topology_key])] += count
                for t in anti:
                    if t.topology_key in labels:
                        self.anti_counts[(t.topology_key, labels[t.topology_key])] += count

    def reject(self, node: Node) -> str | None:
        """The reason the first pod-level filter that rejects the node gives, if one does."""
        labels = node.labels
        for s in self.spread:
            key = s.constraint.topology_key
            if key not in labels:
                return SPREAD_LABEL_MISSING
            if s.counts.get(labels[key], 0) + s.itself - s.least > s.constraint.max_skew:
                return SPREAD_MISMATCH
        if not self._affinity_satisfied(labels):
            return AFFINITY_MISMATCH
        for t in self.anti_affinity:
            value = labels.get(t.topology_key)
            if value is not None and self.anti_counts[(t.topology_key, value)] > 0:
                return ANTI_AFFINITY_MISMATCH
        if self.forbidden and _holds_any(node, self.forbidden):
            return EXISTING_ANTI_AFFINITY_MISMATCH
        return None

    def _affinity_satisfied(self, labels: Mapping[str, str]) -> bool:
        if any(t.topology_key not in labels for t in self.affinity):
            return False
        counts = self.affinity_counts
        return self.first or all(
            counts[(t.topology_key, labels[t.topology_key])] for t in self.affinity
        )


def _spread(pod: Pod, state: _State) -> list[_Spread]:
    """The pod's DoNotSchedule constraints with their domains counted, as PodTopologySpread's
    PreFilter counts them: on nodes that hold every constraint's key and pass its node inclusion
    policies, pods of the pod's namespace that match the selector and are not terminating."""
    constraints = [
        c for c in pod.topology_spread_constraints if c.when_unsatisfiable == "DoNotSchedule"
    ]
    if not constraints:
        return []
    keys = [c.topology_key for c in constraints]
    out = []
    for c in constraints:
        selector = _with_label_keys(c.label_selector, pod, c.match_label_keys)
        domains = [
            n
            for n in state.nodes
            if all(k in n.labels for k in keys)
            and (c.node_affinity_policy != "Honor" or selected(pod, n))
            and (c.node_taints_policy != "Honor" or untolerated(pod, n) is None)
        ]
        counts = dict.fromkeys((n.labels[c.topology_key] for n in domains), 0)
        # An empty selector counts no pod, as upstream's countPodsMatchSelector.
        if selector is not None and not selector.is_empty:
            in_domain = {n.name: n.labels[c.topology_key] for n in domains}
            for group in state.groups.values():
                if (
                    group.namespace != pod.namespace
                    or group.terminating
                    or not selector.matches(group.labels)
                ):
                    continue
                for name, count in group.on.items():
                    if name in in_domain:
                        counts[in_domain[name]] += count
        least = min(counts.values(), default=0)
        if len(counts) < (c.min_domains or 1):
            least = 0
        itself = int(selector is not None and selector.matches(pod.labels))
        out.append(_Spread(c, counts, least, itself))
    return out
