"""Service ports as kube-proxy sees them: one per (Service, port, IP family).

Mirrors upstream's `pkg/proxy/serviceport.go` and the informer's label selector: Services that
kube-proxy ignores or does not proxy are left out here, so nothing downstream sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_address, ip_network

from podnet.model.cluster import Cluster
from podnet.model.objects import (
    IPAddress,
    IPNetwork,
    Service,
    ServicePort,
    ServiceType,
    TrafficPolicy,
)

SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
HEADLESS_LABEL = "service.kubernetes.io/headless"


# Looked up once: the renderers ask for the traffic policies several times per service port, and
# reading a member off its enum class costs several times a comparison.
_LOCAL = TrafficPolicy.Local


@dataclass(frozen=True, slots=True, order=True)
class ServicePortName:
    """Upstream's ServicePortName: the key endpoints and service ports are matched by."""

    namespace: str
    name: str
    port: str  # the port's name, possibly ""
    protocol: str  # TCP | UDP | SCTP

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    """One service port in one IP family, with the addresses of that family only."""

    service: Service
    port: ServicePort
    name: ServicePortName
    family: int
    cluster_ip: IPAddress
    external_ips: tuple[IPAddress, ...]
    load_balancer_vips: tuple[IPAddress, ...]
    load_balancer_source_ranges: tuple[IPNetwork, ...]
    node_port: int  # 0: none
    health_check_node_port: int  # 0: none

    @property
    def protocol(self) -> str:
        """The protocol as nftables and iptables spell it."""
        return self.name.protocol.lower()

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.load_balancer_vips or self.external_ips)

    @property
    def internal_policy_local(self) -> bool:
        return self.service.internal_traffic_policy == _LOCAL

    @property
    def external_policy_local(self) -> bool:
        # apiservice.ExternalPolicyLocal: the Service must be externally accessible at all.
        return self.service.externally_reachable and self.service.external_traffic_policy == _LOCAL

    @property
    def uses_cluster_endpoints(self) -> bool:
        # eTP=Local still needs the cluster endpoints to short-circuit pod and host traffic.
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (
            self.external_policy_local and self.externally_accessible
        )

    @property
    def affinity_timeout(self) -> int:
        """Seconds of ClientIP session affinity; 0 without affinity."""
        if self.service.session_affinity != "ClientIP":
            return 0
        return self.service.session_affinity_timeout or 10800


def proxied(service: Service) -> bool:
    """Whether kube-proxy writes rules for the Service at all (informer selector, ShouldSkipService)."""
    if SERVICE_PROXY_NAME_LABEL in service.labels or HEADLESS_LABEL in service.labels:
        return False
    return service.type != ServiceType.ExternalName and not service.headless


def service_ports(cluster: Cluster, family: int) -> tuple[ServicePortInfo, ...]:
    """Every proxied service port with a ClusterIP of `family`, sorted by name and protocol."""
    out = []
    for svc in cluster.services:
        if not proxied(svc):
            continue
        cluster_ip = next((ip for ip in addresses(svc.cluster_ips) if ip.version == family), None)
        if cluster_ip is None:
            continue
        external = _unique(ip for ip in addresses(svc.external_ips) if ip.version == family)
        vips = _unique(
            ip
            for ing in svc.load_balancer
            if ing.ip is not None and ing.ip_mode in ("", "VIP")
            for ip in addresses((ing.ip,))
            if ip.version == family
        )
        ranges = tuple(r for r in _networks(svc.load_balancer_source_ranges) if r.version == family)
        for p in svc.ports:
            out.append(
                ServicePortInfo(
                    service=svc,
                    port=p,
                    name=ServicePortName(svc.namespace, svc.name, p.name, p.protocol),
                    family=family,
                    cluster_ip=cluster_ip,
                    external_ips=external,
                    load_balancer_vips=vips,
                    load_balancer_source_ranges=ranges,
                    node_port=p.node_port or 0,
                    health_check_node_port=svc.health_check_node_port or 0,
                )
            )
    out.sort(key=lambda i: i.name)
    return tuple(out)


def addresses(values: Iterable[object]) -> list[IPAddress]:
    """IP addresses, skipping what is not one ("None", "", hostnames)."""
    out = []
    for v in values:
        try:
            out.append(v if isinstance(v, IPAddress) else ip_address(str(v).strip()))
        except ValueError:
            continue
    return out


def _networks(values: Iterable[object]) -> list[IPNetwork]:
    out = []
    for v in values:
        try:
            # Upstream trims the ranges it is given (" 203.0.113.0/25" is accepted).
            out.append(v if isinstance(v, IPNetwork) else ip_network(str(v).strip(), strict=False))
        except ValueError:
            continue
    return out


def _unique(ips: Iterable[IPAddress]) -> tuple[IPAddress, ...]:
    return tuple(dict.fromkeys(ips))
