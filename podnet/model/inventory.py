"""The resolved inventory `podnet get` lists, as kubectl shows a live cluster: pods with their
phase, node and addresses (and why a pod is pending); Services with their addresses, ports and
endpoints; nodes with their roles, addresses and podCIDRs; network policies and the pods they
select.

Pure: a value computed from a resolved `Cluster`; `report.get` renders it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from podnet.errors import InvalidValue
from podnet.ipam.addresses import IPAddress, IPNetwork, join_host_port
from podnet.model.cluster import Cluster
from podnet.model.names import NODE_NAMES, POD_NAMES, SERVICE_NAMES
from podnet.model.objects import (
    EndpointSlice,
    NetworkPolicy,
    Node,
    Pod,
    PolicyType,
    Service,
    ServicePort,
    ServiceType,
    Taint,
)
from podnet.model.selectors import LabelSelector

# kubelet and kubeadm mark a node's role with a label of this prefix (node-role.kubernetes.io/
# control-plane); kubectl also reads the older kubernetes.io/role=<role>.
NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"


class Resource(StrEnum):
    """The kinds of object `get` lists, in the order `all` prints them."""

    pods = "pods"
    services = "services"
    nodes = "nodes"
    policies = "policies"


# The names kubectl accepts for each (plural, singular, short), and podnet's `policies`.
RESOURCE_NAMES: Mapping[Resource, tuple[str, ...]] = {
    Resource.pods: POD_NAMES,
    Resource.services: SERVICE_NAMES,
    Resource.nodes: NODE_NAMES,
    Resource.policies: (
        "policies",
        "policy",
        "networkpolicies",
        "networkpolicy",
        "netpol",
        "networkpolicies.networking.k8s.io",
    ),
}
ALL = "all"
_BY_NAME = {name: r for r, names in RESOURCE_NAMES.items() for name in names}


def is_resource_list(text: str) -> bool:
    """Whether `text` is written as a list of resource names: `pods`, `svc,po`, `all`."""
    return all(n.lower() in _BY_NAME or n.lower() == ALL for n in text.split(",") if n)


def parse_resources(text: str) -> tuple[Resource, ...]:
    """The resources `text` asks for, in its order: kubectl's names, comma-separated,
    case-insensitive; `all` is every one. Raises InvalidValue("resource type", name, why)."""
    out: list[Resource] = []
    for name in (n.strip().lower() for n in text.split(",")):
        if name == ALL:
            out += list(Resource)
        elif name in _BY_NAME:
            out.append(_BY_NAME[name])
        else:
            valid = ", ".join(
                f"{names[0]} ({', '.join(names[1:])})" for names in RESOURCE_NAMES.values()
            )
            why = f"valid names are {valid}, {ALL}"
            message = f'unknown resource type "{name}": {why}'
            raise InvalidValue("resource type", name, why, message=message)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class PodEntry:
    namespace: str
    name: str
    phase: str  # Running | Pending | Succeeded | Failed; Pending when no node takes the pod
    terminating: bool  # metadata.deletionTimestamp is set
    ready: bool
    ips: tuple[IPAddress, ...]  # status.podIPs, the node's for a host-network pod
    node: str  # "" while pending, unless spec.nodeName names one
    host_network: bool
    owner: str  # the controller, "Kind/name" ("" for a bare pod)
    reason: str  # why pending, in kube-scheduler's words ("" otherwise)
    labels: Mapping[str, str]

    @property
    def status(self) -> str:
        """kubectl's STATUS column."""
        return "Terminating" if self.terminating else self.phase


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    namespace: str
    name: str
    type: ServiceType
    cluster_ips: tuple[IPAddress, ...]  # empty for headless and ExternalName Services
    headless: bool
    external_name: str
    external_ips: tuple[IPAddress, ...]
    load_balancer: tuple[str, ...]  # status.loadBalancer.ingress: IPs or hostnames
    ports: tuple[ServicePort, ...]  # node ports allocated
    selector: Mapping[str, str] | None
    endpoints: tuple[str, ...]  # ready endpoints as IP:port, port by port, as kubectl lists them


@dataclass(frozen=True, slots=True)
class NodeEntry:
    name: str
    roles: tuple[str, ...]
    ips: tuple[IPAddress, ...]  # InternalIP(s)
    pod_cidrs: tuple[IPNetwork, ...]
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    kind: str  # NetworkPolicy
    namespace: str
    name: str
    pod_selector: LabelSelector
    policy_types: tuple[PolicyType, ...]


@dataclass(frozen=True, slots=True)
class Inventory:
    """The objects of the resources asked for (`resources`, in the order asked); a resource not
    asked for has no entries."""

    resources: tuple[Resource, ...]
    pods: tuple[PodEntry, ...] = ()
    services: tuple[ServiceEntry, ...] = ()
    nodes: tuple[NodeEntry, ...] = ()
    policies: tuple[PolicyEntry, ...] = ()
    namespace: str | None = None  # the namespace listed; None: every namespace

    @property
    def empty(self) -> bool:
        return not (self.pods or self.services or self.nodes or self.policies)


def inventory(
    cluster: Cluster, resources: Iterable[Resource] = tuple(Resource), namespace: str | None = None
) -> Inventory:
    """The cluster's objects of `resources`; namespaced ones only in `namespace` when given."""
    asked = tuple(dict.fromkeys(resources))

    def listed(objects: Iterable[Pod | Service | NetworkPolicy]) -> list:
        return [o for o in objects if namespace is None or o.namespace == namespace]

    return Inventory(
        resources=asked,
        pods=tuple(pod_entry(cluster, p) for p in listed(cluster.pods))
        if Resource.pods in asked
        else (),
        services=tuple(
            service_entry(s, cluster.endpoint_slices)
            for s in sorted(listed(cluster.services), key=lambda s: (s.namespace, s.name))
        )
        if Resource.services in asked
        else (),
        nodes=tuple(node_entry(n) for n in cluster.nodes) if Resource.nodes in asked else (),
        policies=tuple(
            policy_entry(p)
            for p in sorted(listed(cluster.policies), key=lambda p: (p.namespace, p.name))
        )
        if Resource.policies in asked
        else (),
        namespace=namespace,
    )


def pod_entry(cluster: Cluster, pod: Pod) -> PodEntry:
    reason = cluster.pending.get(pod.key, "")
    return PodEntry(
        namespace=pod.namespace,
        name=pod.name,
        phase="Pending" if reason else pod.phase,
        terminating=bool(pod.deletion_timestamp),
        ready=pod.ready and not reason,
        ips=pod.ips,
        node=pod.node_name,
        host_network=pod.host_network,
        owner=pod.owner,
        reason=reason,
        labels=pod.labels,
    )


def service_entry(service: Service, slices: Iterable[EndpointSlice]) -> ServiceEntry:
    return ServiceEntry(
        namespace=service.namespace,
        name=service.name,
        type=service.type,
        cluster_ips=service.cluster_ips,
        headless=service.headless,
        external_name=service.external_name,
        external_ips=service.external_ips,
        load_balancer=tuple(
            str(i.ip) if i.ip is not None else i.hostname
            for i in service.load_balancer
            if i.ip is not None or i.hostname
        ),
        ports=service.ports,
        selector=service.selector,
        endpoints=tuple(
            e
            for s in slices
            if s.namespace == service.namespace and s.service_name == service.name
            for e in _ready_endpoints(s)
        ),
    )


def _ready_endpoints(s: EndpointSlice) -> list[str]:
    """The slice's ready addresses as kubectl prints an Endpoints object: for each port, every
    address with it; addresses alone when the slice has no port."""
    addresses = [a for e in s.endpoints if e.is_ready for a in e.addresses]
    ports = [p.port for p in s.ports if p.port is not None]
    if not ports:
        return addresses
    return [join_host_port(a, port) for port in ports for a in addresses]


def node_roles(labels: Mapping[str, str]) -> tuple[str, ...]:
    """The roles kubectl shows: node-role.kubernetes.io/<role> labels and kubernetes.io/role."""
    roles = {k.removeprefix(NODE_ROLE_PREFIX) for k in labels if k.startswith(NODE_ROLE_PREFIX)}
    if labels.get(LEGACY_ROLE_LABEL):
        roles.add(labels[LEGACY_ROLE_LABEL])
    return tuple(sorted(r for r in roles if r))


def node_entry(node: Node) -> NodeEntry:
    return NodeEntry(
        node.name, node_roles(node.labels), node.ips, node.pod_cidrs, node.labels, node.taints
    )


def policy_entry(policy: NetworkPolicy) -> PolicyEntry:
    return PolicyEntry(
        "NetworkPolicy", policy.namespace, policy.name, policy.pod_selector, policy.policy_types
    )
