"""The resolved cluster: every object of the manifests, scheduled and addressed.

`load_cluster(paths)` reads, validates, expands workloads, schedules pods and allocates node
podCIDRs, node IPs and pod IPs. The result is immutable and deterministic: the same manifests
always give the same addresses, whatever policies are added or removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from podnet.errors import ManifestError, NotFound, Problem
from podnet.ipam.allocate import NodeAddresses, PodAddresses, address_nodes, address_pods
from podnet.model.cluster_policy import ClusterPolicy, evaluation_order
from podnet.model.config import ClusterConfig
from podnet.model.documents import parse_text, read_documents
from podnet.model.objects import (
    NAMESPACE_NAME_LABEL,
    EndpointSlice,
    Namespace,
    NetworkPolicy,
    Node,
    Pod,
    Service,
)
from podnet.model.parse import Manifests, Workload, parse_documents
from podnet.model.scheduling import Placement, schedule
from podnet.model.selectors import LabelSelector
from podnet.model.service_controllers import (
    BUILT_IN,
    builtin_services,
    coredns_template,
    resolve_services,
)
from podnet.model.workloads import expand

ALWAYS_NAMESPACES = ("default", "kube-system")
# Kinds that decide who may talk to whom, besides those ending in NetworkPolicy (Calico's and
# Cilium's, the admin tiers): objects of them that podnet skips change the answers.
POLICY_KINDS = frozenset(
    {"NetworkSet", "GlobalNetworkSet", "Tier", "HostEndpoint", "CiliumCIDRGroup"}
)


def is_policy_kind(kind: str) -> bool:
    return kind.endswith("NetworkPolicy") or kind in POLICY_KINDS


def kubelet_labels(node: str) -> dict[str, str]:
    """The labels the kubelet sets on every node it registers (charts select on them, most often
    `kubernetes.io/os: linux`); labels a Node object states win."""
    return {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node,
        "kubernetes.io/os": "linux",
    }


@dataclass(frozen=True)
class Cluster:
    config: ClusterConfig
    namespaces: Mapping[str, Namespace]
    nodes: tuple[Node, ...]
    pods: tuple[Pod, ...]  # sorted by namespace/name; scheduled and addressed when possible
    services: tuple[Service, ...] = ()
    endpoint_slices: tuple[EndpointSlice, ...] = ()
    policies: tuple[NetworkPolicy, ...] = ()
    skipped: Mapping[str, int] = field(default_factory=dict)  # kinds podnet does not model
    # Pods that no node takes, by namespace/name: why, in kube-scheduler's words.
    pending: Mapping[str, str] = field(default_factory=dict)
    # The namespace of objects whose manifests state none (`-n`, as kubectl apply -n).
    default_namespace: str = "default"
    # The controllers whose pods are among `pods`, so that a workload can be named.
    workloads: tuple[Workload, ...] = ()
    # ClusterNetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy objects, in
    # evaluation order (`ClusterPolicy.order`: tier, priority, then name).
    cluster_policies: tuple[ClusterPolicy, ...] = ()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def running_pods(self) -> tuple[Pod, ...]:
        """Pods on the pod network: scheduled, addressed and not finished."""
        return tuple(p for p in self.pods if p.ips)

    @property
    def skipped_policies(self) -> dict[str, int]:
        """The skipped objects that are network policy of a kind or API podnet does not apply."""
        return {k: n for k, n in self.skipped.items() if is_policy_kind(k.split(" (")[0])}

    def node(self, name: str) -> Node:
        """The node called `name`; `NotFound` when there is none."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise NotFound("node", name, (n.name for n in self.nodes))

    def pod(self, key: str) -> Pod | None:
        return next((p for p in self.pods if p.key == key), None)

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        ns = self.namespaces.get(name)
        return ns.labels if ns is not None else {NAMESPACE_NAME_LABEL: name}


def load_cluster(paths: Iterable[str], namespace: str = "default") -> Cluster:
    """The cluster the manifests at `paths` (files, directories, "-") describe; objects that
    state no namespace are in `namespace`."""
    return resolve(parse_documents(read_documents(paths), namespace))


def cluster_from_text(text: str, file: str = "<text>", namespace: str = "default") -> Cluster:
    return resolve(parse_documents(parse_text(file, text), namespace))


def resolve(m: Manifests) -> Cluster:
    m = _with_builtins(m)
    config = m.config
    problems: list[Problem] = []
    # Nodes are complete (implicit ones, hostname labels) before DaemonSets are expanded on them.
    templates = [*m.pods, *(w.template for w in m.workloads)]
    nodes = _implicit_nodes(_nodes(m, config), templates, bool(m.nodes))
    nodes = [replace(n, labels={**kubelet_labels(n.name), **n.labels}) for n in nodes]
    pods = sorted(m.pods + expand(m, nodes), key=lambda p: (p.namespace, p.name))
    _check_unique(pods, problems)
    nodes = _address_nodes(nodes, config, problems)
    if problems:
        raise ManifestError(problems)
    # The cluster's own pods (CoreDNS) come after the declared ones: adding them moves nobody.
    pods.sort(key=lambda p: (p.origin is BUILT_IN, p.namespace, p.name))
    namespaces = _namespaces(m, pods)
    placement = _schedule(pods, nodes, namespaces)
    pods, unaddressed = _address_pods(pods, placement.nodes, nodes, problems)
    pods.sort(key=lambda p: (p.namespace, p.name))
    waiting = {**placement.pending, **unaddressed}
    pending = {p.key: waiting[p.key] for p in pods if p.key in waiting}
    if problems:
        raise ManifestError(problems)
    services, slices, service_problems = resolve_services(
        m.services, m.endpoint_slices, pods, nodes, config
    )
    if service_problems:
        raise ManifestError(service_problems)
    return Cluster(
        config=config,
        namespaces=namespaces,
        nodes=tuple(nodes),
        pods=tuple(pods),
        services=tuple(services),
        endpoint_slices=tuple(slices),
        policies=tuple(m.policies),
        skipped=dict(m.skipped),
        pending=pending,
        default_namespace=m.default_namespace,
        workloads=tuple(m.workloads),
        cluster_policies=evaluation_order(m.cluster_policies),
    )


def _with_builtins(m: Manifests) -> Manifests:
    """The manifests plus the objects every cluster has (see `model.service_controllers`)."""
    services = m.services + builtin_services(m.services)
    workloads = list(m.workloads)
    dns_declared = any(s.key == "kube-system/kube-dns" for s in m.services) or any(
        p.namespace == "kube-system" and p.labels.get("k8s-app") == "kube-dns"
        for p in [*m.pods, *(w.template for w in m.workloads)]
    )
    if not dns_declared:
        template, raw = coredns_template()
        workloads.append(
            Workload(
                "Deployment",
                "coredns",
                "kube-system",
                template,
                raw,
                2,
                LabelSelector.of(template.labels),
                "",
                BUILT_IN,
            )
        )
    return replace(m, services=services, workloads=workloads)


def _namespaces(m: Manifests, pods: list[Pod]) -> dict[str, Namespace]:
    declared = {ns.name: ns for ns in m.namespaces}
    referenced = {*ALWAYS_NAMESPACES, *(p.namespace for p in pods)}
    referenced |= {o.namespace for o in (*m.services, *m.policies, *m.endpoint_slices)}
    out = {}
    for name in sorted(referenced | declared.keys()):
        ns = declared.get(name) or Namespace(name, {})
        # The API server sets this label on every namespace and keeps it immutable.
        out[name] = replace(ns, labels={**ns.labels, NAMESPACE_NAME_LABEL: name})
    return out


def _nodes(m: Manifests, config: ClusterConfig) -> list[Node]:
    if m.nodes:
        return list(m.nodes)
    return [Node(s.name, s.labels, s.ips, (), s.taints, config.origin) for s in config.nodes]


def _implicit_nodes(nodes: list[Node], pods: list[Pod], declared: bool) -> list[Node]:
    """Without Node objects, nodes that pods name in spec.nodeName exist as well."""
    if declared:
        return nodes
    known = {n.name for n in nodes}
    extra = sorted({p.node_name for p in pods if p.node_name and p.node_name not in known})
    return nodes + [Node(name, kubelet_labels(name)) for name in extra]


def _check_unique(pods: list[Pod], problems: list[Problem]) -> None:
    seen: dict[str, Pod] = {}
    for p in pods:
        if p.key in seen:
            problems.append(
                _problem(p, "metadata.name", f"pod {p.key} also comes from {seen[p.key].origin}")
            )
        seen[p.key] = p


def _problem(obj: Pod | Node, path: str, message: str) -> Problem:
    kind = "Pod " + obj.key if isinstance(obj, Pod) else "Node " + obj.name
    return Problem(obj.origin.file, obj.origin.line, kind, path, message)


def _address_nodes(nodes: list[Node], config: ClusterConfig, problems: list[Problem]) -> list[Node]:
    """Node IPs from the underlay, podCIDRs from the pod subnets, one per family."""
    given = [NodeAddresses(n.name, n.ips, n.pod_cidrs) for n in nodes]
    addressed, found = address_nodes(
        given, config.node_subnet, config.pod_subnets, config.node_mask
    )
    for p in found:
        if p.subject is not None:
            problems.append(_problem(nodes[p.subject], p.field, p.message))
        else:
            where = "networking" if config.document.startswith("Cluster ") else "spec"
            problems.append(
                Problem(
                    config.origin.file,
                    config.origin.line,
                    config.document,
                    f"{where}.{p.field}",
                    p.message,
                )
            )
    return [
        replace(n, ips=a.ips, pod_cidrs=a.pod_cidrs) for n, a in zip(nodes, addressed, strict=True)
    ]


def _schedule(pods: list[Pod], nodes: list[Node], namespaces: dict[str, Namespace]) -> Placement:
    """Where every pod that has not finished runs, or why it is pending."""
    running = [p for p in pods if p.phase not in ("Succeeded", "Failed")]
    return schedule(running, nodes, {name: ns.labels for name, ns in namespaces.items()})


def _address_pods(
    pods: list[Pod], placed: Mapping[str, str], nodes: list[Node], problems: list[Problem]
) -> tuple[list[Pod], dict[str, str]]:
    """The pods on the nodes they are `placed` on, with their addresses; and why each pod left
    without an address (its node's podCIDR is full) has none."""
    given = []
    for p in pods:
        key = p.key
        finished = p.phase in ("Succeeded", "Failed")
        given.append(PodAddresses(key, placed.get(key, ""), p.ips, p.host_network, finished))
    node_addresses = [NodeAddresses(n.name, n.ips, n.pod_cidrs) for n in nodes]
    addressed, found, unaddressed = address_pods(given, node_addresses)
    problems += [
        _problem(pods[p.subject], p.field, p.message) for p in found if p.subject is not None
    ]
    # One copy per pod that changes, scheduling and addresses at once: a pod has many fields.
    out = []
    for p, a in zip(pods, addressed, strict=True):
        if a.node_name != p.node_name:
            p = replace(p, ips=a.ips, node_name=a.node_name)
        elif a.ips != p.ips:
            p = replace(p, ips=a.ips)
        out.append(p)
    return out, {pods[i].key: why for i, why in unaddressed.items()}
