"""kube-proxy on one node, for one IP family: its settings and every service port's endpoints.

Both the verdicts and the renderers start here, so they agree on what the node has: which source
addresses count as "local pods" (the local-traffic detector), which addresses accept NodePorts,
and, per service port, the endpoints CategorizeEndpoints chose.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from podnet.family import FAMILIES
from podnet.model.cluster import Cluster
from podnet.model.config import ProxyMode
from podnet.model.objects import IPAddress, IPNetwork, Node
from podnet.proxy.endpoints import ZONE_LABEL, Categorized, categorize, endpoints_by_service_port
from podnet.proxy.serviceport import ServicePortInfo, service_ports


def is_local(ip: IPAddress, node_ips: tuple[IPAddress, ...]) -> bool:
    """`fib ... type local` and `addrtype LOCAL` on a node: its own addresses and loopback."""
    return ip in node_ips or ip in FAMILIES[ip.version].loopback


@dataclass(frozen=True, slots=True)
class PortState:
    """A service port and the endpoints this node uses for it, with the decisions both
    renderers write down: which of the port's chains exist and whom its firewall lets in."""

    info: ServicePortInfo
    endpoints: Categorized
    # loadBalancerSourceRanges, and the VIPs themselves when the node is inside a range (traffic
    # the node sends to its own VIP comes back with the VIP as source); () without a firewall.
    firewall_sources: tuple[IPNetwork | IPAddress, ...] = ()

    @property
    def uses_cluster_chain(self) -> bool:
        """The chain choosing among the cluster-wide endpoints (`service-`, `KUBE-SVC-`)."""
        return bool(self.endpoints.cluster) and self.info.uses_cluster_endpoints

    @property
    def uses_local_chain(self) -> bool:
        """The chain choosing among this node's endpoints (`local-`, `KUBE-SVL-`)."""
        return bool(self.endpoints.local) and self.info.uses_local_endpoints

    @property
    def uses_external_chain(self) -> bool:
        """The chain for NodePort, external and LoadBalancer IP traffic (`external-`, `KUBE-EXT-`)."""
        return self.endpoints.has_any and self.info.externally_accessible

    @property
    def uses_firewall_chain(self) -> bool:
        """The loadBalancerSourceRanges chain (`firewall-`, `KUBE-FW-`)."""
        return bool(self.firewall_sources)

    @property
    def has_internal_endpoints(self) -> bool:
        if self.info.internal_policy_local:
            return bool(self.endpoints.local)
        return self.endpoints.has_any

    @property
    def has_external_endpoints(self) -> bool:
        if self.info.external_policy_local:
            return bool(self.endpoints.local)
        return self.endpoints.has_any

    @property
    def internal_endpoints(self) -> tuple:
        e = self.endpoints
        return e.local if self.info.internal_policy_local else e.cluster


@dataclass(frozen=True)
class NodeProxy:
    """What kube-proxy knows and decides on `node` for IP `family`."""

    cluster: Cluster
    node: Node
    family: int
    mode: str  # nftables | iptables | ipvs
    node_ips: tuple[IPAddress, ...]
    local_cidr: IPNetwork | None  # the local-traffic detector; None: no detector
    node_port_ips: tuple[IPAddress, ...] | None  # None: every local address but loopback
    service_cidrs: tuple[IPNetwork, ...]
    masquerade_all: bool
    ports: tuple[PortState, ...]
    # (destination IP, protocol, port) -> (port, "cluster" | "external" | "load-balancer")
    service_ips: dict[tuple[IPAddress, str, int], tuple[PortState, str]]
    node_ports: dict[tuple[str, int], PortState]  # (protocol, nodePort) -> port
    total_endpoints: int  # endpoints of every proxied service port, before selection

    @property
    def primary_ip(self) -> IPAddress | None:
        return self.node_ips[0] if self.node_ips else None

    def is_local_address(self, ip: IPAddress) -> bool:
        """`fib ... type local`: one of the node's own addresses."""
        return is_local(ip, self.node_ips)

    def is_local_traffic(self, ip: IPAddress) -> bool:
        """The detector's "pod traffic" test (`ip saddr <cidr>`)."""
        return self.local_cidr is not None and ip in self.local_cidr

    def accepts_node_port(self, ip: IPAddress) -> bool:
        if self.node_port_ips is not None:
            return ip in self.node_port_ips
        if ip in FAMILIES[ip.version].loopback:
            # Only the iptables mode serves NodePorts on 127.0.0.0/8 (route_localnet); never ::1.
            return self.mode == ProxyMode.iptables and FAMILIES[ip.version].route_localnet
        return self.is_local_address(ip)


@contextmanager
def paused_gc() -> Iterator[None]:
    """For the renderers: they allocate hundreds of thousands of objects and free none until
    the end, so the cyclic collector would only scan them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def families(cluster: Cluster) -> tuple[int, ...]:
    """The IP families kube-proxy runs a proxier for, primary first."""
    return tuple(dict.fromkeys(cluster.config.families or (4,)))


def node_proxy(cluster: Cluster, node_name: str, family: int, mode: str | None = None) -> NodeProxy:
    node = cluster.node(node_name)
    config = cluster.config
    mode = mode or config.kube_proxy_mode
    node_ips = tuple(ip for ip in node.ips if ip.version == family)
    zone = node.labels.get(ZONE_LABEL, "")
    endpoints = endpoints_by_service_port(cluster.endpoint_slices, node.name, family)
    infos = service_ports(cluster, family)
    primary = node_ips[0] if node_ips else None
    states = tuple(
        PortState(
            info,
            categorize(endpoints.get(info.name, ()), info, node.name, zone),
            _firewall_sources(info, primary),
        )
        for info in infos
    )
    service_ips: dict[tuple[IPAddress, str, int], tuple[PortState, str]] = {}
    node_ports: dict[tuple[str, int], PortState] = {}
    # One service port per key: the first in name order (a conflict is a broken cluster anyway).
    for st in states:
        i = st.info
        service_ips.setdefault((i.cluster_ip, i.name.protocol, i.port.port), (st, "cluster"))
    for st in states:
        i = st.info
        for ip in i.external_ips:
            service_ips.setdefault((ip, i.name.protocol, i.port.port), (st, "external"))
        for ip in i.load_balancer_vips:
            service_ips.setdefault((ip, i.name.protocol, i.port.port), (st, "load-balancer"))
        if i.node_port:
            node_ports.setdefault((i.name.protocol, i.node_port), st)
    return NodeProxy(
        cluster=cluster,
        node=node,
        family=family,
        mode=mode,
        node_ips=node_ips,
        local_cidr=_local_cidr(cluster, node, family),
        node_port_ips=_node_port_ips(cluster, node_ips, family, mode),
        service_cidrs=tuple(n for n in config.service_subnets if n.version == family),
        masquerade_all=config.masquerade_all,
        ports=states,
        service_ips=service_ips,
        node_ports=node_ports,
        total_endpoints=sum(len(endpoints.get(i.name, ())) for i in infos),
    )


def _firewall_sources(
    info: ServicePortInfo, node_ip: IPAddress | None
) -> tuple[IPNetwork | IPAddress, ...]:
    ranges = info.load_balancer_source_ranges
    if not (info.load_balancer_vips and ranges):
        return ()
    if node_ip is not None and any(node_ip in r for r in ranges):
        return (*ranges, *info.load_balancer_vips)
    return ranges


def _local_cidr(cluster: Cluster, node: Node, family: int) -> IPNetwork | None:
    mode = cluster.config.detect_local_mode
    if mode == "ClusterCIDR":
        nets = cluster.config.pod_subnets
    elif mode == "NodeCIDR":
        nets = node.pod_cidrs
    else:
        return None
    return next((n for n in nets if n.version == family), None)


def _node_port_ips(
    cluster: Cluster, node_ips: tuple[IPAddress, ...], family: int, mode: str
) -> tuple[IPAddress, ...] | None:
    """--nodeport-addresses for this family: the node's addresses it selects; None means every
    local address ("match all"), as upstream's NodePortAddresses.

    `primary` (the nftables mode's default when nothing is given, KEP-3866; the iptables and
    ipvs modes match every local address then) is the node's primary IP of the family; CIDRs
    select every node address inside one of them. When nothing selects in this family (no
    primary IP of it, or CIDRs of the other family only), kube-proxy falls back to matching every
    local address, as upstream does.
    """
    config = cluster.config
    given = config.node_port_addresses
    if config.node_port_primary or (not given and mode == ProxyMode.nftables):
        primary = node_ips[:1]
        return primary if primary and not primary[0].is_loopback else None
    if not given:
        return None
    cidrs = [c for c in given if c.version == family]
    if not cidrs or any(c.prefixlen == 0 for c in cidrs):
        return None
    return tuple(ip for ip in node_ips if any(ip in c for c in cidrs))
