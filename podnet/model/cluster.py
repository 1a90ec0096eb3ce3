"""The resolved cluster: every object of the manifests, scheduled and addressed.

`load_cluster(paths)` reads, validates, expands workloads, schedules pods and allocates node
podCIDRs, node IPs and pod IPs. The result is immutable and deterministic: the same manifests
always give the same addresses, whatever policies are added or removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from podnet.errors import ManifestError, PodnetError, Problem
from podnet.ipam.allocate import host_addresses, node_pod_cidrs
from podnet.model.config import ClusterConfig
from podnet.model.documents import parse_text, read_documents
from podnet.model.objects import (
    NAMESPACE_NAME_LABEL,
    EndpointSlice,
    IPAddress,
    IPNetwork,
    Namespace,
    NetworkPolicy,
    Node,
    Pod,
    Service,
)
from podnet.model.parse import Manifests, Workload, parse_documents
from podnet.model.scheduling import schedule
from podnet.model.selectors import LabelSelector
from podnet.model.services import BUILT_IN, builtin_services, coredns_template, resolve_services
from podnet.model.workloads import expand

ALWAYS_NAMESPACES = ("default", "kube-system")


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

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def running_pods(self) -> tuple[Pod, ...]:
        """Pods on the pod network: scheduled, addressed and not finished."""
        return tuple(p for p in self.pods if p.ips)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def pod(self, key: str) -> Pod | None:
        return next((p for p in self.pods if p.key == key), None)

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        ns = self.namespaces.get(name)
        return ns.labels if ns is not None else {NAMESPACE_NAME_LABEL: name}


def load_cluster(paths: Iterable[str]) -> Cluster:
    """The cluster the manifests at `paths` (files, directories, "-") describe."""
    return resolve(parse_documents(read_documents(paths)))


def cluster_from_text(text: str, file: str = "<text>") -> Cluster:
    return resolve(parse_documents(parse_text(file, text)))


def resolve(m: Manifests) -> Cluster:
    m = _with_builtins(m)
    config = m.config
    problems: list[Problem] = []
    # Nodes are complete (implicit ones, hostname labels) before DaemonSets are expanded on them.
    templates = [*m.pods, *(w.template for w in m.workloads)]
    nodes = _implicit_nodes(_nodes(m, config), templates, bool(m.nodes))
    nodes = [replace(n, labels={"kubernetes.io/hostname": n.name, **n.labels}) for n in nodes]
    pods = sorted(m.pods + expand(m, nodes), key=lambda p: (p.namespace, p.name))
    _check_unique(pods, problems)
    nodes = _address_nodes(nodes, config, problems)
    if problems:
        raise ManifestError(problems)
    # The cluster's own pods (CoreDNS) come after the declared ones: adding them moves nobody.
    pods.sort(key=lambda p: (p.origin is BUILT_IN, p.namespace, p.name))
    pods = _address_pods(_schedule(pods, nodes), nodes, problems)
    pods.sort(key=lambda p: (p.namespace, p.name))
    if problems:
        raise ManifestError(problems)
    services, slices, service_problems = resolve_services(
        m.services, m.endpoint_slices, pods, nodes, config
    )
    if service_problems:
        raise ManifestError(service_problems)
    return Cluster(
        config=config,
        namespaces=_namespaces(m, pods),
        nodes=tuple(nodes),
        pods=tuple(pods),
        services=tuple(services),
        endpoint_slices=tuple(slices),
        policies=tuple(m.policies),
        skipped=dict(m.skipped),
    )


def _with_builtins(m: Manifests) -> Manifests:
    """The manifests plus the objects every cluster has (see `model.services`)."""
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
    return [
        Node(s.name, s.labels, (s.ip,) if s.ip else (), (), s.taints, config.origin)
        for s in config.nodes
    ]


def _implicit_nodes(nodes: list[Node], pods: list[Pod], declared: bool) -> list[Node]:
    """Without Node objects, nodes that pods name in spec.nodeName exist as well."""
    if declared:
        return nodes
    known = {n.name for n in nodes}
    extra = sorted({p.node_name for p in pods if p.node_name and p.node_name not in known})
    return nodes + [Node(name, {"kubernetes.io/hostname": name}) for name in extra]


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
    out = list(nodes)
    used: dict[IPAddress, str] = {}
    for n in nodes:
        for ip in n.ips:
            if ip in used:
                problems.append(
                    _problem(n, "status.addresses", f"{ip} is also the IP of node {used[ip]}")
                )
            used.setdefault(ip, n.name)
    free = host_addresses(config.node_subnet, 2, set(used))
    for i, n in enumerate(out):
        if not any(ip.version == config.node_subnet.version for ip in n.ips):
            ip = next(free, None)
            if ip is None:
                problems.append(_problem(n, "status.addresses", "the node subnet is full"))
                continue
            out[i] = replace(n, ips=(ip, *n.ips))
    cidrs: dict[str, list[IPNetwork]] = {n.name: [] for n in out}
    for subnet in config.pod_subnets:
        given: list[tuple[str, IPNetwork | None]] = []
        for n in out:
            mine = [c for c in n.pod_cidrs if c.version == subnet.version]
            other = next((o for o, c in given if c and mine and c.overlaps(mine[0])), None)  # type: ignore[arg-type]
            if other is not None:
                problems.append(
                    _problem(n, "spec.podCIDRs", f"{mine[0]} overlaps the podCIDR of node {other}")
                )
            if mine and not mine[0].subnet_of(subnet):  # type: ignore[arg-type]
                problems.append(
                    _problem(
                        n,
                        "spec.podCIDRs",
                        f"{mine[0]} is outside the cluster's pod subnet {subnet}"
                        " (set spec.podSubnet in a ClusterNetwork document)",
                    )
                )
            given.append((n.name, mine[0] if mine else None))
        try:
            for name, cidr in node_pod_cidrs(
                subnet, config.node_mask(subnet.version), given
            ).items():
                cidrs[name].append(cidr)
        except PodnetError as err:  # AddressExhausted, or a mask the subnet cannot hold
            where = "networking" if config.document.startswith("Cluster ") else "spec"
            problems.append(
                Problem(
                    config.origin.file,
                    config.origin.line,
                    config.document,
                    f"{where}.podSubnet",
                    str(err),
                )
            )
    return [replace(n, pod_cidrs=tuple(cidrs[n.name])) for n in out]


def _schedule(pods: list[Pod], nodes: list[Node]) -> list[Pod]:
    placed = schedule([p for p in pods if p.phase not in ("Succeeded", "Failed")], nodes)
    return [replace(p, node_name=placed.get(p.key, "")) for p in pods]


def _address_pods(pods: list[Pod], nodes: list[Node], problems: list[Problem]) -> list[Pod]:
    by_node = {n.name: n for n in nodes}
    used: dict[IPNetwork, set[IPAddress]] = {c: set() for n in nodes for c in n.pod_cidrs}
    owner: dict[IPAddress, str] = {}
    # Addresses given in the manifests first (a dump of a live cluster), then the rest.
    for p in pods:
        node = by_node.get(p.node_name)
        if node is None or p.host_network or not p.ips:
            continue
        for ip in p.ips:
            cidr = next((c for c in node.pod_cidrs if ip in c), None)
            if cidr is None:
                problems.append(
                    _problem(
                        p,
                        "status.podIPs",
                        f"{ip} is outside the podCIDRs of node {node.name}"
                        f" ({', '.join(map(str, node.pod_cidrs))})",
                    )
                )
            elif ip in owner:
                problems.append(_problem(p, "status.podIPs", f"{ip} is also the IP of {owner[ip]}"))
            else:
                used[cidr].add(ip)
                owner[ip] = p.key
    free = {c: host_addresses(c, 2, used[c]) for c in used}
    left_out: dict[tuple[str, IPNetwork], list[Pod]] = {}
    out = []
    for p in pods:
        node = by_node.get(p.node_name)
        if node is None or p.phase in ("Succeeded", "Failed"):
            out.append(replace(p, ips=(), node_name=p.node_name if node else ""))
        elif p.host_network:
            out.append(replace(p, ips=node.ips))
        elif p.ips:
            out.append(p)
        else:
            ips = []
            for cidr in node.pod_cidrs:
                ip = next(free[cidr], None)
                if ip is None:
                    left_out.setdefault((node.name, cidr), []).append(p)
                    continue
                ips.append(ip)
            out.append(replace(p, ips=tuple(ips)))
    for (name, cidr), missed in left_out.items():  # one problem per range, not one per pod
        more = f" ({len(missed) - 1} more pods after it)" if len(missed) > 1 else ""
        problems.append(
            _problem(missed[0], "status.podIPs", f"node {name}'s podCIDR {cidr} is full{more}")
        )
    return out
