"""The control-plane controllers that complete Services and their EndpointSlices. Pure and
deterministic.

- the objects every cluster has: Service `default/kubernetes` (the first service address) and
  Service `kube-system/kube-dns` (the tenth) with its CoreDNS Deployment (as kubeadm installs
  them), unless the manifests declare their own;
- ClusterIPs, nodePorts, healthCheckNodePorts and load-balancer addresses: allocated by
  `ipam.service_allocation` (kube-apiserver's allocators, MetalLB's pool), written back here;
  addresses in `status.loadBalancer.ingress` are kept; without a configured loadBalancerPool,
  addresses come from the top of the node network (`default_load_balancer_pool`);
- EndpointSlices from selectors (the EndpointSlice controller): pod conditions, named target
  ports resolved per pod, `hostname` when the pod's subdomain names the Service.

It never allocates an address itself: that is ipam's job.
"""

from __future__ import annotations

from dataclasses import replace

from podnet.errors import Problem
from podnet.family import family
from podnet.ipam.allocate import node_network_gateway, outside_address
from podnet.ipam.service_allocation import (
    DefaultPool,
    PortRequest,
    ServiceAddresses,
    ServiceRequest,
    allocate_services,
)
from podnet.model.config import ClusterConfig
from podnet.model.objects import (
    ContainerPort,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    LoadBalancerIngress,
    Node,
    Origin,
    Pod,
    Service,
    ServicePort,
    ServiceType,
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


def _request(svc: Service) -> ServiceRequest:
    return ServiceRequest(
        key=svc.key,
        type=svc.type,
        built_in=svc.origin is BUILT_IN,
        headless=svc.headless,
        cluster_ips=svc.cluster_ips,
        ip_families=svc.ip_families,
        ip_family_policy=svc.ip_family_policy,
        ports=tuple(PortRequest(p.port, p.protocol, p.name, p.node_port) for p in svc.ports),
        health_check_node_port=svc.health_check_node_port,
        allocate_load_balancer_node_ports=svc.allocate_load_balancer_node_ports,
        external_traffic_policy=svc.external_traffic_policy,
        load_balancer_ips=tuple(i.ip for i in svc.load_balancer if i.ip is not None),
        has_load_balancer=bool(svc.load_balancer),
    )


def _with_addresses(svc: Service, got: ServiceAddresses) -> Service:
    changes: dict[str, object] = {"health_check_node_port": got.health_check_node_port}
    if got.cluster_ips is not None:
        changes["cluster_ips"] = got.cluster_ips
        changes["ip_families"] = tuple(ip.version for ip in got.cluster_ips)
    if got.node_ports is not None:
        changes["ports"] = tuple(
            replace(p, node_port=n) for p, n in zip(svc.ports, got.node_ports, strict=True)
        )
    if got.load_balancer_ip is not None:
        changes["load_balancer"] = (LoadBalancerIngress(got.load_balancer_ip, "", "VIP"),)
    return replace(svc, **changes)  # type: ignore[arg-type]


def default_load_balancer_pool(config: ClusterConfig, nodes: list[Node]) -> DefaultPool:
    """Where LoadBalancer Services get an address when no loadBalancerPool is configured: the
    top of the node network, as a load-balancer controller on kind hands them out, never a
    node's address, the network's gateway, the external client's, nor one inside the pod or
    service subnets."""
    net = config.node_subnet
    reserved = {ip for n in nodes for ip in n.ips}
    reserved |= {node_network_gateway(net), outside_address(net)}
    avoid = tuple(n for n in (*config.pod_subnets, *config.service_subnets) if n.overlaps(net))  # type: ignore[arg-type]
    return DefaultPool(net, frozenset(reserved), avoid)


def _allocate(
    services: list[Service], nodes: list[Node], config: ClusterConfig, problems: list[Problem]
) -> list[Service]:
    """ClusterIPs, nodePorts and load-balancer addresses, as kube-apiserver and the
    load-balancer controller give them (see `ipam.service_allocation`)."""
    got, found = allocate_services(
        [_request(s) for s in services],
        config.service_subnets,
        config.service_node_port_range,
        config.load_balancer_pool,
        default_load_balancer_pool(config, nodes),
    )
    for p in found:
        svc = services[p.subject]  # type: ignore[index]  # every service problem has a subject
        problems.append(
            Problem(svc.origin.file, svc.origin.line, f"Service {svc.key}", p.field, p.message)
        )
    return [_with_addresses(s, g) for s, g in zip(services, got, strict=True)]


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
                    address_type=family(version).name,
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
        family(plane.ips[0]).name,
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
    problems: list[Problem] = []
    services = sorted(_allocate(services, nodes, config, problems), key=lambda s: s.key)
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
            and svc.type != ServiceType.ExternalName
            and (svc.namespace, svc.name) not in dumped
        ):
            slices += _endpoint_slices(svc, pods, by_name)
    return services, slices, problems
