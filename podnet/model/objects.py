"""The Kubernetes objects podnet understands, as immutable values.

Pure: these are plain data. Loading, validation and resolution (scheduling, addresses) live in
their own modules; a resolved `Cluster` holds these same types with addresses filled in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from podnet.ipam.addresses import IPAddress, IPNetwork
from podnet.model.selectors import LabelSelector, Requirement

PROTOCOLS = ("TCP", "UDP", "SCTP")


# Kubernetes' own words, as values: each member is its string (it compares, hashes, formats and
# serialises as the word), so text and JSON stay the API's.
class ServiceType(StrEnum):
    ClusterIP = "ClusterIP"
    NodePort = "NodePort"
    LoadBalancer = "LoadBalancer"
    ExternalName = "ExternalName"


class TrafficPolicy(StrEnum):
    """externalTrafficPolicy and internalTrafficPolicy."""

    Cluster = "Cluster"
    Local = "Local"


class PolicyType(StrEnum):
    """A NetworkPolicy's policyTypes: the direction of the traffic it restricts."""

    Ingress = "Ingress"
    Egress = "Egress"


SERVICE_TYPES = tuple(ServiceType)
TRAFFIC_POLICIES = tuple(TrafficPolicy)
POLICY_TYPES = tuple(PolicyType)
EXTERNAL_SERVICE_TYPES = (ServiceType.NodePort, ServiceType.LoadBalancer)

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


_FIELD_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an object was read: file, document index, first line. `lines`, kept only for the
    objects whose fields are pointed at after loading (NetworkPolicy, for lint and explain), maps
    the paths of those fields to their lines."""

    file: str = "<built-in>"
    document: int = 0
    line: int | None = None
    lines: Mapping[tuple[str | int, ...], int] | None = field(
        default=None, compare=False, repr=False
    )

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def line_of(self, field: str) -> int | None:
        """The line of the field written `spec.ingress[0].from[1]` (as problems name fields), or
        of its deepest written ancestor; the object's first line without a map."""
        if self.lines is not None:
            path = tuple(int(i) if i else key for key, i in _FIELD_STEP.findall(field))
            for end in range(len(path), -1, -1):
                found = self.lines.get(path[:end])
                if found is not None:
                    return found
        return self.line


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Mapping[str, str]
    origin: Origin = Origin()


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    labels: Mapping[str, str]
    # Every address of the node (status.addresses: InternalIPs, then ExternalIPs), the primary
    # of each family first, as the kubelet's GetNodeHostIPs picks them; resolved: an address of
    # the node network is allocated when the node has none of its family.
    ips: tuple[IPAddress, ...] = ()
    pod_cidrs: tuple[IPNetwork, ...] = ()  # spec.podCIDRs; resolved: allocated when absent
    taints: tuple[Taint, ...] = ()
    origin: Origin = Origin()


@dataclass(frozen=True, slots=True)
class ContainerPort:
    container_port: int
    protocol: str = "TCP"
    name: str = ""
    host_port: int | None = None
    container: str = ""


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # empty: every effect

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    """One required term of podAffinity or podAntiAffinity: the pods it selects, and the node label
    whose value they must share (affinity) or must not share (anti-affinity) with the pod."""

    label_selector: LabelSelector | None  # None: absent, which selects no pod
    topology_key: str
    namespaces: tuple[str, ...] = ()
    # None: absent (with no `namespaces`, the pod's own namespace); empty: every namespace
    namespace_selector: LabelSelector | None = None
    match_label_keys: tuple[str, ...] = ()  # keys whose value must equal the pod's own
    mismatch_label_keys: tuple[str, ...] = ()  # keys whose value must differ from the pod's own


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """A term of required node affinity: matchExpressions on the node's labels and matchFields on
    its fields (the API allows only metadata.name), ANDed. A term with neither matches no node."""

    match_expressions: LabelSelector = LabelSelector()
    match_fields: tuple[Requirement, ...] = ()

    def matches(self, node_name: str, labels: Mapping[str, str]) -> bool:
        if self.match_expressions.is_empty and not self.match_fields:
            return False
        fields = {"metadata.name": node_name}
        return self.match_expressions.matches(labels) and all(
            r.matches(fields) for r in self.match_fields
        )


@dataclass(frozen=True, slots=True)
class TopologySpreadConstraint:
    """One entry of spec.topologySpreadConstraints, after the API's defaults."""

    max_skew: int
    topology_key: str
    when_unsatisfiable: str  # DoNotSchedule | ScheduleAnyway
    label_selector: LabelSelector | None = None  # None: absent, which counts no pod
    min_domains: int | None = None
    node_affinity_policy: str = "Honor"  # Honor | Ignore
    node_taints_policy: str = "Ignore"  # Honor | Ignore
    match_label_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PodDNSConfig:
    """spec.dnsConfig: merged on top of what dnsPolicy gives."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()  # (name, value or None)


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...] = ()
    node_name: str = ""  # spec.nodeName; resolved: the node it is scheduled on
    node_selector: Mapping[str, str] = field(default_factory=dict)
    node_affinity: tuple[NodeSelectorTerm, ...] = ()  # required terms, ORed
    tolerations: tuple[Toleration, ...] = ()
    pod_affinity: tuple[PodAffinityTerm, ...] = ()  # required terms, ANDed
    pod_anti_affinity: tuple[PodAffinityTerm, ...] = ()  # required terms, ANDed
    topology_spread_constraints: tuple[TopologySpreadConstraint, ...] = ()
    host_network: bool = False
    ips: tuple[IPAddress, ...] = ()  # status.podIPs; resolved: allocated when absent
    hostname: str = ""
    subdomain: str = ""
    dns_policy: str = "ClusterFirst"  # ClusterFirst | ClusterFirstWithHostNet | Default | None
    dns_config: PodDNSConfig | None = None
    phase: str = "Running"
    ready: bool = True
    deletion_timestamp: str = ""
    owner: str = ""  # "Kind/name" of the workload that created it, if any
    origin: Origin = Origin()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> int | None:
        """The number a named port resolves to on this pod, or None when not declared."""
        for p in self.ports:
            if p.name == name and p.protocol == protocol:
                return p.container_port
        return None


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    protocol: str = "TCP"
    name: str = ""
    target_port: int | str = 0  # number or a container port name; 0 means "same as port"
    node_port: int | None = None  # resolved: allocated for NodePort and LoadBalancer Services
    app_protocol: str = ""

    @property
    def target(self) -> int | str:
        return self.target_port or self.port


@dataclass(frozen=True, slots=True)
class LoadBalancerIngress:
    ip: IPAddress | None = None
    hostname: str = ""
    ip_mode: str = ""  # VIP (or empty) | Proxy


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    namespace: str
    labels: Mapping[str, str]
    selector: Mapping[str, str] | None  # None: no selector (EndpointSlices managed by hand)
    ports: tuple[ServicePort, ...]
    type: ServiceType = ServiceType.ClusterIP
    # As given, then resolved: allocated addresses; empty for ExternalName and headless.
    cluster_ips: tuple[IPAddress, ...] = ()
    headless: bool = False  # clusterIP: None
    ip_families: tuple[int, ...] = ()  # resolved: the families of cluster_ips
    ip_family_policy: str = ""  # SingleStack | PreferDualStack | RequireDualStack
    external_name: str = ""
    external_ips: tuple[IPAddress, ...] = ()
    load_balancer: tuple[LoadBalancerIngress, ...] = ()  # status.loadBalancer.ingress / the pool
    load_balancer_source_ranges: tuple[IPNetwork, ...] = ()
    session_affinity: str = "None"  # None | ClientIP
    session_affinity_timeout: int = 10800
    # Set for NodePort and LoadBalancer Services only ("" otherwise).
    external_traffic_policy: TrafficPolicy | str = ""
    internal_traffic_policy: TrafficPolicy = TrafficPolicy.Cluster
    health_check_node_port: int | None = None
    allocate_load_balancer_node_ports: bool = True
    traffic_distribution: str = ""  # PreferClose | PreferSameZone | PreferSameNode
    publish_not_ready_addresses: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)
    origin: Origin = Origin()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def externally_reachable(self) -> bool:
        return self.type in EXTERNAL_SERVICE_TYPES or bool(self.external_ips)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of an EndpointSlice (discovery.k8s.io/v1)."""

    addresses: tuple[str, ...]
    ready: bool | None = None  # None means true (EndpointSlice API defaulting semantics)
    serving: bool | None = None
    terminating: bool | None = None
    hostname: str = ""
    node_name: str = ""
    zone: str = ""
    target: str = ""  # "ns/pod" of a Pod targetRef
    hints_zones: tuple[str, ...] = ()
    hints_nodes: tuple[str, ...] = ()

    @property
    def is_ready(self) -> bool:
        return self.ready is None or self.ready

    @property
    def is_serving(self) -> bool:
        return self.serving is None or self.serving

    @property
    def is_terminating(self) -> bool:
        return bool(self.terminating)


@dataclass(frozen=True, slots=True)
class EndpointPort:
    port: int | None
    protocol: str = "TCP"
    name: str | None = ""  # None: absent (kube-proxy ignores such ports)


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    name: str
    namespace: str
    labels: Mapping[str, str]  # kubernetes.io/service-name links it to its Service
    address_type: str  # IPv4 | IPv6 | FQDN
    endpoints: tuple[Endpoint, ...]
    ports: tuple[EndpointPort, ...]
    origin: Origin = Origin()

    @property
    def service_name(self) -> str:
        return self.labels.get("kubernetes.io/service-name", "")


# NetworkPolicy -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyPort:
    """One entry of a rule's `ports`: a protocol and a port, a named port or a range."""

    protocol: str = "TCP"
    port: int | str | None = None  # None: every port of the protocol
    end_port: int | None = None

    def __str__(self) -> str:
        if self.port is None:
            return f"{self.protocol}/*"
        if self.end_port is not None:
            return f"{self.protocol}/{self.port}-{self.end_port}"
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True, slots=True)
class IPBlock:
    cidr: IPNetwork
    except_: tuple[IPNetwork, ...] = ()

    def contains(self, address: IPAddress) -> bool:
        return (
            address.version == self.cidr.version
            and address in self.cidr
            and not any(address in e for e in self.except_)
        )

    def __str__(self) -> str:
        if not self.except_:
            return str(self.cidr)
        return f"{self.cidr} except {', '.join(str(e) for e in self.except_)}"


@dataclass(frozen=True, slots=True)
class PolicyPeer:
    """One `from`/`to` item. Selectors inside one item are ANDed."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    def __str__(self) -> str:
        if self.ip_block is not None:
            return f"ipBlock {self.ip_block}"
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {self.namespace_selector}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {self.pod_selector}")
        return " AND ".join(parts)


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """An ingress or egress rule. Empty `peers` matches every address; empty `ports` every port."""

    peers: tuple[PolicyPeer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    name: str
    namespace: str
    pod_selector: LabelSelector
    policy_types: tuple[PolicyType, ...]  # after API defaulting
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()
    origin: Origin = Origin()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[PolicyRule, ...]:
        return self.ingress if direction == PolicyType.Ingress else self.egress
