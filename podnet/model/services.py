"""Services as the control plane completes them. Pure and deterministic.

- the objects every cluster has: Service `default/kubernetes` (the first service address) and
  Service `kube-system/kube-dns` (the tenth) with its CoreDNS Deployment (as kubeadm installs
  them), unless the manifests declare their own;
- ClusterIPs (kube-apiserver): given addresses are checked; others are drawn from the upper part
  of the service range (the lower band is kept for static addresses, KEP-3070) by a hash of the
  Service's name, so adding a Service never moves another one;
- nodePorts and healthCheckNodePorts the same way in the NodePort range (KEP-3668);
- load-balancer addresses from `status.loadBalancer.ingress`, else from the ClusterNetwork's
  `loadBalancerPool` in name order, as MetalLB or ServiceLB assign them;
- EndpointSlices from selectors (the EndpointSlice controller): pod conditions, named target
  ports resolved per pod, `hostname` when the pod's subdomain names the Service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Network

from podnet.errors import Problem
from podnet.model.config import ClusterConfig
from podnet.model.objects import (
    ContainerPort,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    IPAddress,
    IPNetwork,
    LoadBalancerIngress,
    Node,
    Origin,
    Pod,
    Service,
    ServicePort,
    Toleration,
)
from podnet.model.selectors import LabelSelector
from podnet.model.workloads import suffix

BUILT_IN = Origin("<podnet built-in>")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100
DNS_LABELS = {"k8s-app": "kube-dns"}
DNS_PORTS = (
    ContainerPort(53, "UDP", "dns", container="coredns"),
    ContainerPort(53, "TCP", "dns-tcp", container="coredns"),
    ContainerPort(9153, "TCP", "metrics", container="coredns"),
)


# built-in objects ---------------------------------------------------------------------------------


def builtin_services(declared: list[Service]) -> list[Service]:
    have = {s.key for s in declared}
    out = []
    if "default/kubernetes" not in have:
        out.append(
            Service(
                "kubernetes",
                "default",
                {"component": "apiserver", "provider": "kubernetes"},
                None,
                (ServicePort(443, "TCP", "https", 6443),),
                origin=BUILT_IN,
            )
        )
    if "kube-system/kube-dns" not in have:
        out.append(
            Service(
                "kube-dns",
                "kube-system",
                {**DNS_LABELS, "kubernetes.io/name": "CoreDNS"},
                dict(DNS_LABELS),
                (
                    ServicePort(53, "UDP", "dns", 53),
                    ServicePort(53, "TCP", "dns-tcp", 53),
                    ServicePort(9153, "TCP", "metrics", 9153),
                ),
                origin=BUILT_IN,
            )
        )
    return out


def coredns_template() -> tuple[Pod, dict]:
    """CoreDNS as kubeadm deploys it: the pod template and its manifest form (for the hash)."""
    pod = Pod(
        name="",
        namespace="kube-system",
        labels=dict(DNS_LABELS),
        ports=DNS_PORTS,
        tolerations=(
            Toleration("CriticalAddonsOnly", "Exists"),
            Toleration("node-role.kubernetes.io/control-plane", effect="NoSchedule"),
        ),
        dns_policy="Default",
        owner="Deployment/coredns",
        origin=BUILT_IN,
    )
    raw = {
        "metadata": {"labels": dict(DNS_LABELS)},
        "spec": {
            "containers": [
                {
                    "name": "coredns",
                    "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                    "ports": [
                        {"name": p.name, "containerPort": p.container_port, "protocol": p.protocol}
                        for p in DNS_PORTS
                    ],
                }
            ],
            "dnsPolicy": "Default",
        },
    }
    return pod, raw


# addresses and ports ------------------------------------------------------------------------------


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _static_band(size: int, low: int, high: int) -> int:
    return min(max(low, size // 16), high)


def _probe(start: int, size: int) -> Iterator[int]:
    for i in range(size):
        yield (start + i) % size


def _usable(net: IPNetwork) -> int:
    """Addresses a Service may take: all but the network address (and the IPv4 broadcast)."""
    return net.num_addresses - (2 if net.version == 4 else 1)


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, svc: Service, field: str, message: str) -> None:
        self.items.append(
            Problem(svc.origin.file, svc.origin.line, f"Service {svc.key}", field, message)
        )


def _families(svc: Service, config: ClusterConfig, problems: _Problems) -> list[int]:
    """IP families of a Service's ClusterIPs (ipFamilies, ipFamilyPolicy and the given IPs)."""
    cluster = [n.version for n in config.service_subnets]
    wanted = [ip.version for ip in svc.cluster_ips] or list(svc.ip_families) or cluster[:1]
    policy = svc.ip_family_policy or ("SingleStack" if len(wanted) == 1 else "RequireDualStack")
    if policy in ("PreferDualStack", "RequireDualStack"):
        wanted += [f for f in cluster if f not in wanted]
    if policy == "RequireDualStack" and len(cluster) < 2:
        problems.add(
            svc,
            "spec.ipFamilyPolicy",
            'Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
        )
    if policy == "SingleStack":
        wanted = wanted[:1]
    out = []
    for f in wanted:
        if f not in cluster:
            problems.add(
                svc,
                "spec.ipFamilies",
                f'Invalid value: "IPv{f}": not configured on this cluster (service subnets: {", ".join(map(str, config.service_subnets))})',
            )
        elif f not in out:
            out.append(f)
    return out


def _allocate_cluster_ips(
    services: list[Service], config: ClusterConfig, problems: _Problems
) -> list[Service]:
    subnets = {n.version: n for n in config.service_subnets}
    reserved = {"default/kubernetes": 1, "kube-system/kube-dns": 10}
    taken: dict[IPAddress, str] = {}
    # The cluster's own Services exist before anything is applied: their addresses come first.
    for svc in services:
        if svc.origin is BUILT_IN and svc.key in reserved:
            net = config.service_subnets[0]
            ip = net.network_address + reserved[svc.key]
            taken[ip] = svc.key
    for svc in services:
        for i, ip in enumerate(svc.cluster_ips):
            net = subnets.get(ip.version)
            field = "spec.clusterIPs" + (f"[{i}]" if i else "")
            if net is None or ip not in net or ip in (net.network_address, net.broadcast_address):
                problems.add(
                    svc,
                    field,
                    f'Invalid value: "{ip}": provided IP is not in the valid range. The range of valid IPs is {", ".join(map(str, config.service_subnets))}',
                )
            elif ip in taken:
                problems.add(
                    svc,
                    field,
                    f'Invalid value: "{ip}": provided IP is already allocated (to {taken[ip]})',
                )
            else:
                taken[ip] = svc.key
    out = []
    for svc in sorted(services, key=lambda s: (s.key not in reserved, s.key)):
        if svc.headless or svc.type == "ExternalName":
            out.append(svc)
            continue
        families = _families(svc, config, problems)
        ips = list(svc.cluster_ips)
        for f in families:
            if any(ip.version == f for ip in ips):
                continue
            net = subnets[f]
            if svc.origin is BUILT_IN and net == config.service_subnets[0] and svc.key in reserved:
                ips.append(net.network_address + reserved[svc.key])
                continue
            ip = _next_address(net, svc.key, taken, reserved.get(svc.key))
            if ip is None:
                problems.add(svc, "spec.clusterIPs", f"the service range {net} is full")
                continue
            taken[ip] = svc.key
            ips.append(ip)
        out.append(
            replace(svc, cluster_ips=tuple(ips), ip_families=tuple(ip.version for ip in ips))
        )
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


def _allocate_node_ports(
    services: list[Service], config: ClusterConfig, problems: _Problems
) -> list[Service]:
    low, high = config.service_node_port_range
    taken: dict[int, str] = {}
    for svc in services:
        numbers = {p.node_port for p in svc.ports if p.node_port is not None}
        if svc.health_check_node_port is not None:
            numbers.add(svc.health_check_node_port)
        for n in sorted(numbers):
            if not low <= n <= high:
                problems.add(
                    svc,
                    "spec.ports",
                    f"Invalid value: {n}: provided port is not in the valid range. The range of valid ports is {low}-{high}",
                )
            elif n in taken:
                problems.add(
                    svc,
                    "spec.ports",
                    f"Invalid value: {n}: provided port is already allocated (to {taken[n]})",
                )
            else:
                taken[n] = svc.key
    size = high - low + 1
    band = _static_band(size, 16, 128) if size > 256 else 0

    def allocate(key: str) -> int | None:
        dynamic = size - band
        start = _digest(key) % dynamic
        for i in _probe(start, dynamic):
            n = low + band + i
            if n not in taken:
                taken[n] = key.split("#")[0]
                return n
        return None

    out = []
    for svc in sorted(services, key=lambda s: s.key):
        if svc.type not in ("NodePort", "LoadBalancer"):
            out.append(svc)
            continue
        if svc.type == "LoadBalancer" and not svc.allocate_load_balancer_node_ports:
            # Only the nodePorts given are kept (the load balancer reaches the pods directly).
            hc = svc.health_check_node_port
            if svc.external_traffic_policy == "Local" and hc is None:
                hc = allocate(f"{svc.key}#healthCheckNodePort")
            out.append(replace(svc, health_check_node_port=hc))
            continue
        by_number: dict[int, int] = {
            p.port: p.node_port for p in svc.ports if p.node_port is not None
        }
        ports = []
        for p in svc.ports:
            n = (
                p.node_port
                or by_number.get(p.port)
                or allocate(f"{svc.key}#{p.name}/{p.protocol}/{p.port}")
            )
            if n is None:
                problems.add(svc, "spec.ports", f"the NodePort range {low}-{high} is full")
            else:
                by_number.setdefault(p.port, n)
            ports.append(replace(p, node_port=n))
        hc = svc.health_check_node_port
        if svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local" and hc is None:
            hc = allocate(f"{svc.key}#healthCheckNodePort")
        out.append(replace(svc, ports=tuple(ports), health_check_node_port=hc))
    return out


def _assign_load_balancers(services: list[Service], config: ClusterConfig) -> list[Service]:
    used = {i.ip for s in services for i in s.load_balancer if i.ip is not None}

    def pool() -> Iterator[IPAddress]:
        for net in config.load_balancer_pool:
            hosts = (
                net.hosts() if isinstance(net, IPv4Network) and net.prefixlen < 31 else iter(net)
            )
            for ip in hosts:
                if ip not in used:
                    yield ip

    free = pool()
    out = []
    for svc in sorted(services, key=lambda s: s.key):
        if svc.type == "LoadBalancer" and not svc.load_balancer:
            ip = next(free, None)
            if ip is not None:
                svc = replace(svc, load_balancer=(LoadBalancerIngress(ip, "", "VIP"),))
        out.append(svc)
    return out


# endpoints ----------------------------------------------------------------------------------------


def _endpoint_slices(svc: Service, pods: list[Pod], nodes: dict[str, Node]) -> list[EndpointSlice]:
    """The EndpointSlice controller's slices for one Service with a selector."""
    assert svc.selector is not None
    selector = LabelSelector.of(svc.selector)
    groups: dict[tuple[int, tuple[EndpointPort, ...]], list[Endpoint]] = {}
    for pod in pods:
        if pod.namespace != svc.namespace or not pod.ips or not selector.matches(pod.labels):
            continue
        if pod.phase in ("Succeeded", "Failed"):
            continue
        ports = []
        for sp in svc.ports:
            target = (
                sp.target if isinstance(sp.target, int) else pod.named_port(sp.target, sp.protocol)
            )
            if target is not None:
                ports.append(EndpointPort(target, sp.protocol, sp.name))
        terminating = bool(pod.deletion_timestamp)
        node = nodes.get(pod.node_name)
        for ip in pod.ips:
            if svc.ip_families and ip.version not in svc.ip_families and not svc.headless:
                continue
            endpoint = Endpoint(
                addresses=(str(ip),),
                ready=svc.publish_not_ready_addresses or (pod.ready and not terminating),
                serving=svc.publish_not_ready_addresses or pod.ready,
                terminating=terminating,
                hostname=pod.hostname if pod.hostname and pod.subdomain == svc.name else "",
                node_name=pod.node_name,
                zone=node.labels.get(ZONE_LABEL, "") if node else "",
                target=pod.key,
            )
            groups.setdefault((ip.version, tuple(ports)), []).append(endpoint)
    slices = []
    for (version, ports), endpoints in sorted(
        groups.items(), key=lambda g: (g[0][0], repr(g[0][1]))
    ):
        endpoints = _hints(svc, endpoints)
        for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
            index = len(slices)
            slices.append(
                EndpointSlice(
                    name=f"{svc.name}-{suffix(svc.key, index)}",
                    namespace=svc.namespace,
                    labels={
                        **svc.labels,
                        SERVICE_NAME_LABEL: svc.name,
                        MANAGED_BY_LABEL: CONTROLLER,
                    },
                    address_type=f"IPv{version}",
                    endpoints=tuple(endpoints[start : start + MAX_ENDPOINTS_PER_SLICE]),
                    ports=ports,
                    origin=svc.origin,
                )
            )
    return slices


def _hints(svc: Service, endpoints: list[Endpoint]) -> list[Endpoint]:
    """Topology hints the controller writes for spec.trafficDistribution (and topology-mode Auto,
    approximated as PreferClose): only when every endpoint has a zone."""
    mode = svc.traffic_distribution or (
        "PreferClose"
        if svc.annotations.get("service.kubernetes.io/topology-mode") == "Auto"
        else ""
    )
    if not mode or not all(e.zone for e in endpoints):
        return endpoints
    nodes = mode == "PreferSameNode"
    return [
        replace(e, hints_zones=(e.zone,), hints_nodes=(e.node_name,) if nodes else ())
        for e in endpoints
    ]


def _kubernetes_slice(nodes: list[Node]) -> EndpointSlice:
    """The API server's endpoint: the control-plane node (else the first node) on port 6443."""
    plane = next(
        (n for n in nodes if "node-role.kubernetes.io/control-plane" in n.labels), nodes[0]
    )
    return EndpointSlice(
        "kubernetes",
        "default",
        {SERVICE_NAME_LABEL: "kubernetes"},
        f"IPv{plane.ips[0].version}",
        (Endpoint((str(plane.ips[0]),), True, True, False, node_name=plane.name),),
        (EndpointPort(6443, "TCP", "https"),),
        BUILT_IN,
    )


def resolve_services(
    services: list[Service],
    given_slices: list[EndpointSlice],
    pods: list[Pod],
    nodes: list[Node],
    config: ClusterConfig,
) -> tuple[list[Service], list[EndpointSlice], list[Problem]]:
    problems = _Problems()
    services = _allocate_cluster_ips(services, config, problems)
    services = _allocate_node_ports(services, config, problems)
    services = _assign_load_balancers(services, config)
    services.sort(key=lambda s: s.key)
    by_name = {n.name: n for n in nodes}
    dumped = {
        (s.namespace, s.service_name)
        for s in given_slices
        if s.labels.get(MANAGED_BY_LABEL) == CONTROLLER
    }
    slices = list(given_slices)
    for svc in services:
        if svc.origin is BUILT_IN and svc.key == "default/kubernetes" and nodes:
            if ("default", "kubernetes") not in {
                (s.namespace, s.service_name) for s in given_slices
            }:
                slices.append(_kubernetes_slice(nodes))
        elif (
            svc.selector is not None
            and svc.type != "ExternalName"
            and (svc.namespace, svc.name) not in dumped
        ):
            slices += _endpoint_slices(svc, pods, by_name)
    return services, slices, problems.items
