"""What kube-proxy does to one packet on one node: the semantics stated directly.

The packet is (source IP, destination IP, destination port, protocol) arriving at, or leaving
from, a node. The answer is the set of endpoints it may be DNATed to, or DROP, REJECT or NONE
(no kube-proxy rule applies), and whether it is marked for masquerading. This is the statement
the rendered rules are checked against (the tracers replay them; the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from podnet.errors import InvalidValue
from podnet.ipam.addresses import HostPort
from podnet.model.cluster import Cluster
from podnet.model.config import ProxyMode
from podnet.model.objects import PROTOCOLS, IPAddress, TrafficPolicy
from podnet.proxy.endpoints import ProxyEndpoint
from podnet.proxy.node import NodeProxy, PortState, node_proxy


class ProxyVerdict(StrEnum):
    """What kube-proxy's rules do to a packet."""

    ACCEPT = "ACCEPT"  # DNAT to one of the endpoints
    DROP = "DROP"
    REJECT = "REJECT"
    NONE = "NONE"  # no kube-proxy rule applies


VERDICTS = tuple(ProxyVerdict)


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: ProxyVerdict
    targets: tuple[HostPort, ...] = ()  # sorted as their text, as upstream lists them
    masquerade: bool = False  # marked for SNAT on some endpoint it may reach
    service: str = ""  # the service port that matched, "ns/name:port"
    reason: str = ""
    # Marked whatever endpoint is chosen; otherwise only the endpoint that is the source itself
    # (hairpin: the first rule of every endpoint chain) masquerades.
    snat: bool = False

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The targets as kube-proxy writes them ("IP:port", "[IPv6]:port")."""
        return tuple(map(str, self.targets))

    def masquerades(self, endpoint_ip: IPAddress, src: IPAddress) -> bool:
        """Whether the packet is masqueraded when DNATed to `endpoint_ip`."""
        return self.snat or endpoint_ip == src


def decide(
    cluster: Cluster,
    node: str,
    src: IPAddress,
    dst: IPAddress,
    port: int,
    protocol: str = "TCP",
    mode: str | None = None,
) -> Verdict:
    """The verdict for a packet on `node`, in the cluster's kube-proxy mode unless `mode`."""
    if src.version != dst.version:
        raise InvalidValue(
            "destination",
            dst,
            f"not of the IP family of the source {src}",
            message=f"source {src} and destination {dst} are of different IP families",
        )
    return decide_on(node_proxy(cluster, node, dst.version, mode), src, dst, port, protocol)


def decide_on(np: NodeProxy, src: IPAddress, dst: IPAddress, port: int, protocol: str) -> Verdict:
    proto = protocol.upper()
    if proto not in PROTOCOLS:
        why = f"must be one of {', '.join(PROTOCOLS)}"
        raise InvalidValue("protocol", protocol, why, message=f"protocol {protocol!r}: {why}")
    if np.mode == "ipvs":
        from podnet.proxy.ipvs import decide_ipvs, ipvs_state

        return decide_ipvs(ipvs_state(np), src, dst, port, proto)
    hit = np.service_ips.get((dst, proto, port))
    if hit is not None:
        st, kind = hit
        if kind == "load-balancer" and not firewall_allows(np, st, src):
            return Verdict(
                ProxyVerdict.DROP,
                service=str(st.info.name),
                reason=f"{src} is outside the loadBalancerSourceRanges",
            )
        if kind == "cluster":
            return _internal(np, st, src)
        return _external(np, st, src, kind, dst)
    st = np.node_ports.get((proto, port))
    if st is not None and np.accepts_node_port(dst):
        return _external(np, st, src, "node-port")
    if st is not None and np.mode == ProxyMode.iptables and np.is_local_address(dst):
        # KUBE-EXTERNAL-SERVICES matches NodePorts on every local address (addrtype LOCAL),
        # whatever --nodeport-addresses says.
        if not st.endpoints.has_any:
            return Verdict(
                ProxyVerdict.REJECT,
                service=str(st.info.name),
                reason="the service port has no endpoints",
            )
        if not st.has_external_endpoints:
            return Verdict(
                ProxyVerdict.DROP,
                service=str(st.info.name),
                reason="externalTrafficPolicy Local: no endpoint on this node",
            )
    if np.mode == ProxyMode.nftables:
        # cluster-ips-check: only the nftables proxier guards the service CIDR.
        if any(s.info.cluster_ip == dst for s in np.ports):
            return Verdict(
                ProxyVerdict.REJECT, reason=f"{dst} is a ClusterIP without a {proto} port {port}"
            )
        if any(dst in net for net in np.service_cidrs):
            return Verdict(ProxyVerdict.DROP, reason=f"{dst} is not an allocated ClusterIP")
    return Verdict(ProxyVerdict.NONE, reason="no Service has this destination")


def firewall_allows(np: NodeProxy, st: PortState, src: IPAddress) -> bool:
    """loadBalancerSourceRanges, checked before DNAT, for LoadBalancer IPs only."""
    ranges = st.info.load_balancer_source_ranges
    if not ranges or any(src in r for r in ranges):
        return True
    # A node inside the ranges may reach the VIP looped back with the VIP as source.
    node_ip = np.primary_ip
    return (
        node_ip is not None
        and any(node_ip in r for r in ranges)
        and src in st.info.load_balancer_vips
    )


def _internal(np: NodeProxy, st: PortState, src: IPAddress) -> Verdict:
    name = str(st.info.name)
    if not st.endpoints.has_any:
        return Verdict(
            ProxyVerdict.REJECT, service=name, reason="the service port has no endpoints"
        )
    if not st.has_internal_endpoints:
        return Verdict(
            ProxyVerdict.DROP,
            service=name,
            reason="internalTrafficPolicy Local: no endpoint on this node",
        )
    masq = np.masquerade_all or (np.local_cidr is not None and not np.is_local_traffic(src))
    policy = TrafficPolicy.Local if st.info.internal_policy_local else TrafficPolicy.Cluster
    return _accept(
        st, st.internal_endpoints, src, masq, f"ClusterIP, internalTrafficPolicy {policy}"
    )


def _external(
    np: NodeProxy, st: PortState, src: IPAddress, kind: str, dst: IPAddress | None = None
) -> Verdict:
    name = str(st.info.name)
    if (
        not st.endpoints.has_any
        and np.mode == ProxyMode.iptables
        and np.is_local_address(src)
        and dst is not None
        and not np.is_local_address(dst)
    ):
        # KUBE-EXTERNAL-SERVICES hooks into INPUT and FORWARD only: the node's own traffic to
        # an external IP or LoadBalancer IP without endpoints is routed on.
        return Verdict(
            ProxyVerdict.NONE, reason="iptables: the node's own traffic is not filtered here"
        )
    if not st.endpoints.has_any:
        return Verdict(
            ProxyVerdict.REJECT, service=name, reason="the service port has no endpoints"
        )
    cluster = st.endpoints.cluster
    if not st.info.external_policy_local:
        return _accept(st, cluster, src, True, f"{kind}, externalTrafficPolicy Cluster")
    if np.is_local_traffic(src):
        return _accept(
            st, cluster, src, False, f"{kind}, pod traffic short-circuited to the cluster endpoints"
        )
    if np.is_local_address(src):
        return _accept(
            st, cluster, src, True, f"{kind}, node traffic short-circuited to the cluster endpoints"
        )
    if st.endpoints.local:
        return _accept(st, st.endpoints.local, src, False, f"{kind}, externalTrafficPolicy Local")
    return Verdict(
        ProxyVerdict.DROP,
        service=name,
        reason="externalTrafficPolicy Local: no endpoint on this node",
    )


def _accept(
    st: PortState, eps: Iterable[ProxyEndpoint], src: IPAddress, masq: bool, reason: str
) -> Verdict:
    eps = tuple(eps)
    hairpin = any(e.ip == src for e in eps)  # the endpoint chain masquerades its own traffic
    return Verdict(
        ProxyVerdict.ACCEPT,
        tuple(e.host_port for e in sorted(eps, key=str)),
        masq or hairpin,
        str(st.info.name),
        reason + (" (hairpin)" if hairpin and not masq else ""),
        snat=masq,
    )
