"""Service addresses as kube-apiserver and the load-balancer controllers allocate them. Pure and
deterministic.

- ClusterIPs (kube-apiserver): given addresses are checked; others are drawn from the upper part
  of the service range (the lower band is kept for static addresses, KEP-3070) by a hash of the
  Service's name, so adding a Service never moves another one; the cluster's own Services take
  fixed offsets (`default/kubernetes` the first address, `kube-system/kube-dns` the tenth);
- nodePorts and healthCheckNodePorts the same way in the NodePort range (KEP-3668);
- load-balancer addresses from the pool in name order, as MetalLB or ServiceLB assign them,
  skipping the addresses Services already hold in `status.loadBalancer.ingress`; without a pool,
  from the `DefaultPool` on the node network: its top addresses, downwards, skipping the nodes'
  and the other reserved addresses (as kind's cloud-provider or MetalLB on kind would).

The allocator works on the plain values it is given (`ServiceRequest`), never on model objects,
and returns one `ServiceAddresses` per request plus the problems found, in the order found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from podnet.family import FAMILIES, family
from podnet.ipam.addresses import IPAddress, IPNetwork
from podnet.ipam.allocate import AllocationProblem

# Offsets in the first service range of the Services every cluster has (kubeadm's convention).
RESERVED_OFFSETS = {"default/kubernetes": 1, "kube-system/kube-dns": 10}


@dataclass(frozen=True, slots=True)
class PortRequest:
    """One entry of spec.ports, as far as nodePorts depend on it."""

    port: int
    protocol: str = "TCP"
    name: str = ""
    node_port: int | None = None  # given


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """The fields of a Service its addresses depend on, as given."""

    key: str  # namespace/name
    type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer | ExternalName
    built_in: bool = False  # one of the cluster's own Services, not declared in the manifests
    headless: bool = False
    cluster_ips: tuple[IPAddress, ...] = ()
    ip_families: tuple[int, ...] = ()
    ip_family_policy: str = ""
    ports: tuple[PortRequest, ...] = ()
    health_check_node_port: int | None = None
    allocate_load_balancer_node_ports: bool = True
    external_traffic_policy: str = ""
    load_balancer_ips: tuple[IPAddress, ...] = ()  # status.loadBalancer.ingress[].ip
    has_load_balancer: bool = False  # status.loadBalancer.ingress is not empty


@dataclass(frozen=True, slots=True)
class ServiceAddresses:
    """What a Service was given. None: the field is left as it was."""

    cluster_ips: tuple[IPAddress, ...] | None = None
    node_ports: tuple[int | None, ...] | None = None  # one per port, in spec.ports order
    health_check_node_port: int | None = None
    load_balancer_ip: IPAddress | None = None


@dataclass(frozen=True, slots=True)
class DefaultPool:
    """Load-balancer addresses when no pool is configured: the top of `network` (the node
    network), downwards, never an address in `reserved` (nodes, the gateway, the external
    client) nor one inside `avoid` (pod and service subnets that overlap the network)."""

    network: IPNetwork
    reserved: frozenset[IPAddress] = frozenset()
    avoid: tuple[IPNetwork, ...] = ()

    def addresses(self) -> Iterator[IPAddress]:
        net = self.network
        top = net.num_addresses - (2 if family(net).has_broadcast(net.prefixlen) else 1)
        base = int(net.network_address)
        make = net.network_address.__class__
        offset = top
        while offset > 0:
            ip = make(base + offset)
            inside = next((n for n in self.avoid if ip in n), None)
            if inside is not None:
                # Past the whole subnet at once: a large one would take long address by address.
                offset = int(inside.network_address) - 1 - base
                continue
            if ip not in self.reserved:
                yield ip
            offset -= 1


def allocate_services(
    services: Sequence[ServiceRequest],
    service_subnets: Sequence[IPNetwork],
    node_port_range: tuple[int, int],
    load_balancer_pool: Sequence[IPNetwork],
    default_pool: DefaultPool | None = None,
) -> tuple[list[ServiceAddresses], list[AllocationProblem]]:
    """ClusterIPs, nodePorts and load-balancer addresses for `services`, one result each; the
    `default_pool` serves when `load_balancer_pool` is empty."""
    problems: list[AllocationProblem] = []
    cluster_ips = _allocate_cluster_ips(services, service_subnets, problems)
    node_ports = _allocate_node_ports(services, node_port_range, problems)
    if load_balancer_pool or default_pool is None:
        load_balancers = _assign_load_balancers(services, _pool_addresses(load_balancer_pool))
    else:
        # A Service gets an address of the node network's family only when it has that family.
        version = default_pool.network.version
        load_balancers = _assign_load_balancers(
            services,
            default_pool.addresses(),
            lambda i: any(
                ip.version == version for ip in cluster_ips.get(i, services[i].cluster_ips)
            ),
        )
    out = []
    for i, svc in enumerate(services):
        ports, hc = node_ports.get(i, (None, svc.health_check_node_port))
        out.append(ServiceAddresses(cluster_ips.get(i), ports, hc, load_balancers.get(i)))
    return out, problems


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _static_band(size: int, low: int, high: int) -> int:
    return min(max(low, size // 16), high)


def _probe(start: int, size: int) -> Iterator[int]:
    for i in range(size):
        yield (start + i) % size


def _usable(net: IPNetwork) -> int:
    """Addresses a Service may take: all but the network address (and the IPv4 broadcast)."""
    return net.num_addresses - (2 if family(net).broadcast else 1)


def _allocation_order(services: Sequence[ServiceRequest]) -> list[int]:
    """The cluster's own Services first (their offsets are fixed), then by name."""
    return sorted(
        range(len(services)),
        key=lambda i: (services[i].key not in RESERVED_OFFSETS, services[i].key),
    )


def _families(
    svc: ServiceRequest, i: int, subnets: Sequence[IPNetwork], problems: list[AllocationProblem]
) -> list[int]:
    """IP families of a Service's ClusterIPs (ipFamilies, ipFamilyPolicy and the given IPs)."""
    cluster = [n.version for n in subnets]
    wanted = [ip.version for ip in svc.cluster_ips] or list(svc.ip_families) or cluster[:1]
    policy = svc.ip_family_policy or ("SingleStack" if len(wanted) == 1 else "RequireDualStack")
    if policy in ("PreferDualStack", "RequireDualStack"):
        wanted += [f for f in cluster if f not in wanted]
    if policy == "RequireDualStack" and len(cluster) < 2:
        problems.append(
            AllocationProblem(
                i,
                "spec.ipFamilyPolicy",
                'Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
            )
        )
    if policy == "SingleStack":
        wanted = wanted[:1]
    out = []
    for f in wanted:
        if f not in cluster:
            problems.append(
                AllocationProblem(
                    i,
                    "spec.ipFamilies",
                    f'Invalid value: "{FAMILIES[f].name}": not configured on this cluster (service subnets: {", ".join(map(str, subnets))})',
                )
            )
        elif f not in out:
            out.append(f)
    return out


def _allocate_cluster_ips(
    services: Sequence[ServiceRequest],
    service_subnets: Sequence[IPNetwork],
    problems: list[AllocationProblem],
) -> dict[int, tuple[IPAddress, ...]]:
    subnets = {n.version: n for n in service_subnets}
    reserved = RESERVED_OFFSETS
    taken: dict[IPAddress, str] = {}
    # The cluster's own Services exist before anything is applied: their addresses come first.
    for svc in services:
        if svc.built_in and svc.key in reserved:
            net = service_subnets[0]
            ip = net.network_address + reserved[svc.key]
            taken[ip] = svc.key
    for i, svc in enumerate(services):
        for n, ip in enumerate(svc.cluster_ips):
            net = subnets.get(ip.version)
            field = "spec.clusterIPs" + (f"[{n}]" if n else "")
            if net is None or ip not in net or ip in (net.network_address, net.broadcast_address):
                problems.append(
                    AllocationProblem(
                        i,
                        field,
                        f'Invalid value: "{ip}": provided IP is not in the valid range. The range of valid IPs is {", ".join(map(str, service_subnets))}',
                    )
                )
            elif ip in taken:
                problems.append(
                    AllocationProblem(
                        i,
                        field,
                        f'Invalid value: "{ip}": provided IP is already allocated (to {taken[ip]})',
                    )
                )
            else:
                taken[ip] = svc.key
    out: dict[int, tuple[IPAddress, ...]] = {}
    for i in _allocation_order(services):
        svc = services[i]
        if svc.headless or svc.type == "ExternalName":
            continue
        ips = list(svc.cluster_ips)
        for f in _families(svc, i, service_subnets, problems):
            if any(ip.version == f for ip in ips):
                continue
            net = subnets[f]
            if svc.built_in and net == service_subnets[0] and svc.key in reserved:
                ips.append(net.network_address + reserved[svc.key])
                continue
            ip = _next_address(net, svc.key, taken, reserved.get(svc.key))
            if ip is None:
                problems.append(
                    AllocationProblem(i, "spec.clusterIPs", f"the service range {net} is full")
                )
                continue
            taken[ip] = svc.key
            ips.append(ip)
        out[i] = tuple(ips)
    return out


def _next_address(
    net: IPNetwork, key: str, taken: dict[IPAddress, str], offset: int | None
) -> IPAddress | None:
    size = _usable(net)
    if offset is not None and offset <= size and net.network_address + offset not in taken:
        return net.network_address + offset
    band = _static_band(size, 16, 256)
    dynamic = size - band
    if dynamic <= 0:
        band, dynamic = 0, size
    start = _digest(f"{key}/{net.version}") % dynamic
    for i in _probe(start, dynamic) if dynamic <= 1 << 20 else iter(range(start, start + 1 << 20)):
        ip = net.network_address + 1 + band + (i % dynamic)
        if ip not in taken:
            return ip
    return None


class _NodePorts:
    """The NodePort range and who holds which port in it (kube-apiserver's port allocator)."""

    def __init__(self, node_port_range: tuple[int, int]) -> None:
        self.low, self.high = node_port_range
        self.taken: dict[int, str] = {}
        size = self.high - self.low + 1
        self.size = size
        # The lower band is kept for ports given in the manifests (KEP-3668).
        self.band = _static_band(size, 16, 128) if size > 256 else 0

    def claim_given(self, i: int, svc: ServiceRequest, problems: list[AllocationProblem]) -> None:
        """The nodePorts and healthCheckNodePort a Service gives: checked and taken."""
        numbers = {p.node_port for p in svc.ports if p.node_port is not None}
        if svc.health_check_node_port is not None:
            numbers.add(svc.health_check_node_port)
        for n in sorted(numbers):
            if not self.low <= n <= self.high:
                problems.append(
                    AllocationProblem(
                        i,
                        "spec.ports",
                        f"Invalid value: {n}: provided port is not in the valid range. The range of valid ports is {self.low}-{self.high}",
                    )
                )
            elif n in self.taken:
                problems.append(
                    AllocationProblem(
                        i,
                        "spec.ports",
                        f"Invalid value: {n}: provided port is already allocated (to {self.taken[n]})",
                    )
                )
            else:
                self.taken[n] = svc.key

    def allocate(self, key: str) -> int | None:
        """A free port for `key` ("ns/name#what"), found from a hash of it; None when full."""
        dynamic = self.size - self.band
        start = _digest(key) % dynamic
        for i in _probe(start, dynamic):
            n = self.low + self.band + i
            if n not in self.taken:
                self.taken[n] = key.split("#")[0]
                return n
        return None


def _allocate_node_ports(
    services: Sequence[ServiceRequest],
    node_port_range: tuple[int, int],
    problems: list[AllocationProblem],
) -> dict[int, tuple[tuple[int | None, ...] | None, int | None]]:
    """For each NodePort and LoadBalancer Service: its nodePorts (None: the ports are left as
    given) and its healthCheckNodePort."""
    ports = _NodePorts(node_port_range)
    for i in _allocation_order(services):
        ports.claim_given(i, services[i], problems)
    out: dict[int, tuple[tuple[int | None, ...] | None, int | None]] = {}
    for i in sorted(range(len(services)), key=lambda i: services[i].key):
        svc = services[i]
        if svc.type not in ("NodePort", "LoadBalancer"):
            continue
        hc = svc.health_check_node_port
        wants_hc = svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local"
        if svc.type == "LoadBalancer" and not svc.allocate_load_balancer_node_ports:
            # Only the nodePorts given are kept (the load balancer reaches the pods directly).
            if wants_hc and hc is None:
                hc = ports.allocate(f"{svc.key}#healthCheckNodePort")
            out[i] = (None, hc)
            continue
        numbers = _service_node_ports(i, svc, ports, problems)
        if wants_hc and hc is None:
            hc = ports.allocate(f"{svc.key}#healthCheckNodePort")
        out[i] = (numbers, hc)
    return out


def _service_node_ports(
    i: int, svc: ServiceRequest, ports: _NodePorts, problems: list[AllocationProblem]
) -> tuple[int | None, ...]:
    """One nodePort per port; a port number served on several protocols shares one."""
    by_number: dict[int, int] = {p.port: p.node_port for p in svc.ports if p.node_port is not None}
    out: list[int | None] = []
    for p in svc.ports:
        n = (
            p.node_port
            or by_number.get(p.port)
            or ports.allocate(f"{svc.key}#{p.name}/{p.protocol}/{p.port}")
        )
        if n is None:
            problems.append(
                AllocationProblem(
                    i, "spec.ports", f"the NodePort range {ports.low}-{ports.high} is full"
                )
            )
        else:
            by_number.setdefault(p.port, n)
        out.append(n)
    return tuple(out)


def _pool_addresses(pool: Sequence[IPNetwork]) -> Iterator[IPAddress]:
    for net in pool:
        fam = family(net)
        with_broadcast = fam.has_broadcast(net.prefixlen)
        yield from net.hosts() if with_broadcast else iter(net)


def _assign_load_balancers(
    services: Sequence[ServiceRequest],
    candidates: Iterator[IPAddress],
    eligible: Callable[[int], bool] = lambda i: True,
) -> dict[int, IPAddress]:
    used = {ip for s in services for ip in s.load_balancer_ips}
    free = (ip for ip in candidates if ip not in used)
    out: dict[int, IPAddress] = {}
    for i in sorted(range(len(services)), key=lambda i: services[i].key):
        svc = services[i]
        if svc.type == "LoadBalancer" and not svc.has_load_balancer and eligible(i):
            ip = next(free, None)
            if ip is not None:
                out[i] = ip
    return out
