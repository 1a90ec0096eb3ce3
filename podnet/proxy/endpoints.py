"""Endpoints as kube-proxy uses them: the EndpointSlice cache and CategorizeEndpoints.

Mirrors upstream's `pkg/proxy/endpointslicecache.go` (slices to per-service-port endpoint lists)
and `pkg/proxy/topology.go` (which of them a node sends traffic to, by traffic policy, readiness
and topology hints). The one place these rules live: the verdicts and both renderers use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from socket import AF_INET, inet_ntop, inet_pton

from podnet.ipam.addresses import HostPort, join_host_port
from podnet.model.objects import EndpointSlice, IPAddress
from podnet.proxy.serviceport import (
    HEADLESS_LABEL,
    SERVICE_PROXY_NAME_LABEL,
    ServicePortInfo,
    ServicePortName,
)

ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True, slots=True)
class ProxyEndpoint:
    """One endpoint of one service port, with its conditions after API defaulting."""

    ip: IPAddress
    port: int
    node_name: str
    is_local: bool
    ready: bool
    serving: bool
    terminating: bool
    zone_hints: frozenset[str] = frozenset()
    node_hints: frozenset[str] = frozenset()
    address: str = ""  # str(ip), kept: renderers write it often
    key: str = ""  # str(host_port), kept: the sort key, as upstream writes it

    def __post_init__(self) -> None:
        if not self.key:
            address = _text(self.ip)
            object.__setattr__(self, "address", address)
            object.__setattr__(self, "key", join_host_port(address, self.port))

    @property
    def host_port(self) -> HostPort:
        return HostPort(self.ip, self.port)

    def __str__(self) -> str:
        return self.key


Endpoints = dict[ServicePortName, tuple[ProxyEndpoint, ...]]


def endpoints_by_service_port(
    slices: Iterable[EndpointSlice], node_name: str, family: int
) -> Endpoints:
    """Every service port's endpoints of `family`, de-duplicated and sorted by "IP:port"."""
    sets: dict[ServicePortName, dict[str, ProxyEndpoint]] = {}
    parsed: dict[str, tuple[IPAddress, str] | None] = {}
    for s in sorted(slices, key=lambda s: (s.namespace, s.service_name, s.name)):
        if s.address_type not in ("IPv4", "IPv6") or not s.service_name:
            continue
        if HEADLESS_LABEL in s.labels or SERVICE_PROXY_NAME_LABEL in s.labels:
            continue
        for p in s.ports:
            if p.name is None or not p.port:
                continue
            key = ServicePortName(s.namespace, s.service_name, p.name, p.protocol or "TCP")
            _add(sets.setdefault(key, {}), s, p.port, node_name, family, parsed)
    return {k: tuple(v[e] for e in sorted(v)) for k, v in sets.items()}


def _add(
    found: dict[str, ProxyEndpoint],
    s: EndpointSlice,
    port: int,
    node_name: str,
    family: int,
    parsed: dict[str, tuple[IPAddress, str] | None],
) -> None:
    for e in s.endpoints:
        if not e.addresses:
            continue
        text = e.addresses[0]
        if text in parsed:
            hit = parsed[text]
        else:
            ip = _parse(text)
            hit = parsed[text] = None if ip is None else (ip, _text(ip))
        if hit is None or hit[0].version != family:
            continue
        ip, address = hit
        local = bool(e.node_name) and e.node_name == node_name
        ep = ProxyEndpoint(
            ip=ip,
            port=port,
            node_name=e.node_name,
            is_local=local,
            ready=e.is_ready,
            serving=e.is_serving,
            terminating=e.is_terminating,
            zone_hints=frozenset(e.hints_zones),
            node_hints=frozenset(e.hints_nodes),
            address=address,
            key=join_host_port(address, port),
        )
        key = ep.key
        # The same address in two slices: the local copy wins, otherwise the first one.
        if key not in found or local:
            found[key] = ep


def _text(ip: IPAddress) -> str:
    # inet_ntop gives ipaddress's own IPv4 text, in C; IPv6 keeps Python's spelling.
    return inet_ntop(AF_INET, ip.packed) if ip.version == 4 else str(ip)


def _parse(text: str) -> IPAddress | None:
    try:
        # The API server accepts only canonical IPv4 text here; inet_pton is the fast path.
        return IPv4Address(inet_pton(AF_INET, text))
    except OSError:
        pass
    try:
        return ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Categorized:
    """CategorizeEndpoints' result for one service port on one node."""

    cluster: tuple[ProxyEndpoint, ...]  # used by "Cluster" traffic policy
    local: tuple[ProxyEndpoint, ...]  # used by "Local" traffic policy
    reachable: tuple[ProxyEndpoint, ...]  # every endpoint some rule on this node may pick
    has_any: bool  # usable endpoints exist somewhere in the cluster
    topology: str = ""  # "", PreferSameZone or PreferSameNode: how `cluster` was filtered


def categorize(
    endpoints: tuple[ProxyEndpoint, ...], info: ServicePortInfo, node_name: str, zone: str
) -> Categorized:
    cluster: tuple[ProxyEndpoint, ...] = ()
    local: tuple[ProxyEndpoint, ...] = ()
    has_any = False
    mode = ""
    if info.uses_cluster_endpoints:
        mode = topology_mode(endpoints, node_name, zone)
        cluster = _only(endpoints, lambda e: e.ready and _in_topology(e, mode, node_name, zone))
        if not cluster:
            # No ready endpoint anywhere (topology never empties the set): terminating ones.
            cluster = _only(endpoints, lambda e: e.serving and e.terminating)
        has_any = bool(cluster)
    if not info.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any, mode)
    local_ready = local_terminating = False
    for e in endpoints:
        if e.ready:
            has_any = True
            local_ready |= e.is_local
        elif e.serving and e.terminating:
            has_any = True
            local_terminating |= e.is_local
    if local_ready:
        local = _only(endpoints, lambda e: e.is_local and e.ready)
    elif local_terminating:
        local = _only(endpoints, lambda e: e.is_local and e.serving and e.terminating)
    if not info.uses_cluster_endpoints:
        return Categorized((), local, local, has_any, mode)
    if not local:
        return Categorized(cluster, local, cluster, has_any, mode)
    merged = {str(e): e for e in (*cluster, *local)}
    reachable = tuple(merged[k] for k in sorted(merged))
    return Categorized(cluster, local, reachable, has_any, mode)


def topology_mode(endpoints: Iterable[ProxyEndpoint], node_name: str, zone: str) -> str:
    """topologyModeFromHints: all or nothing; a single ready endpoint without hints disables it.

    PreferSameTrafficDistribution is taken as enabled (beta, on by default since 1.34).
    """
    all_nodes = all_zones = True
    for_node = for_zone = False
    for e in endpoints:
        if not e.ready:
            continue
        if not e.zone_hints:
            all_zones = False
        elif zone in e.zone_hints:
            for_zone = True
        if not e.node_hints:
            all_nodes = False
        elif node_name in e.node_hints:
            for_node = True
    if all_nodes and for_node:
        return "PreferSameNode"
    if all_zones and for_zone:
        return "PreferSameZone"
    return ""


def _in_topology(e: ProxyEndpoint, mode: str, node_name: str, zone: str) -> bool:
    if mode == "PreferSameNode":
        return node_name in e.node_hints
    if mode == "PreferSameZone":
        return zone in e.zone_hints
    return True


def _only(
    endpoints: tuple[ProxyEndpoint, ...], keep: Callable[[ProxyEndpoint], bool]
) -> tuple[ProxyEndpoint, ...]:
    return tuple(e for e in endpoints if keep(e))
