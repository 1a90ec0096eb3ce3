"""Builders for kube-proxy test clusters, with upstream's test conventions.

Pods 10.0.0.0/8 (node-1 10.180.0.0/24, node-2 10.180.1.0/24, node-3 10.180.2.0/24), ClusterIPs
172.30.0.0/16, nodes 192.168.0.2 (zone a), .3 (zone b) and .4 (zone a), ExternalIPs
192.168.99.0/24, LoadBalancer IPs 1.2.3.4 / 5.6.7.8 / 9.10.11.12, external client 203.0.113.2,
blocked client 203.0.113.130, source range 203.0.113.0/25.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address, ip_network
from typing import Any

from podnet.model.cluster import Cluster
from podnet.model.config import ClusterConfig
from podnet.model.objects import (
    Endpoint,
    EndpointPort,
    EndpointSlice,
    LoadBalancerIngress,
    Namespace,
    Node,
    Service,
    ServicePort,
)

ZONE = "topology.kubernetes.io/zone"

CONFIG = ClusterConfig(
    name="test",
    pod_subnets=(ip_network("10.0.0.0/8"),),
    service_subnets=(ip_network("172.30.0.0/16"),),
)

NODES = (
    Node("node-1", {ZONE: "a"}, (ip_address("192.168.0.2"),), (ip_network("10.180.0.0/24"),)),
    Node("node-2", {ZONE: "b"}, (ip_address("192.168.0.3"),), (ip_network("10.180.1.0/24"),)),
    Node("node-3", {ZONE: "a"}, (ip_address("192.168.0.4"),), (ip_network("10.180.2.0/24"),)),
)


def port(
    number: int = 80,
    protocol: str = "TCP",
    name: str = "p80",
    target: int | str = 0,
    node_port: int | None = None,
) -> ServicePort:
    return ServicePort(number, protocol, name, target, node_port)


def service(
    ns: str,
    name: str,
    cluster_ip: str | tuple[str, ...] | None,
    ports: tuple[ServicePort, ...] = (ServicePort(80, "TCP", "p80"),),
    type: str = "ClusterIP",
    external_ips: tuple[str, ...] = (),
    lb: tuple[str | tuple[str, str], ...] = (),
    ranges: tuple[str, ...] = (),
    **kw: Any,
) -> Service:
    ips = (cluster_ip,) if isinstance(cluster_ip, str) else (cluster_ip or ())
    ingress = tuple(
        LoadBalancerIngress(ip_address(i), ip_mode="")
        if isinstance(i, str)
        else LoadBalancerIngress(ip_address(i[0]), ip_mode=i[1])
        for i in lb
    )
    if type in ("NodePort", "LoadBalancer"):
        kw.setdefault("external_traffic_policy", "Cluster")
    return Service(
        name=name,
        namespace=ns,
        labels=kw.pop("labels", {}),
        selector=None,
        ports=ports,
        type=type,
        cluster_ips=tuple(ip_address(i) for i in ips),
        headless=cluster_ip is None and type != "ExternalName",
        external_ips=tuple(ip_address(i) for i in external_ips),
        load_balancer=ingress,
        load_balancer_source_ranges=tuple(ip_network(r.strip()) for r in ranges),
        **kw,
    )


def ep(ip: str, node: str = "node-1", **kw: Any) -> Endpoint:
    return Endpoint((ip,), node_name=node, **kw)


def slice_(
    ns: str,
    svc: str,
    *endpoints: Endpoint,
    ports: tuple[EndpointPort, ...] = (EndpointPort(80, "TCP", "p80"),),
    name: str = "",
    address_type: str = "IPv4",
    labels: dict[str, str] | None = None,
) -> EndpointSlice:
    return EndpointSlice(
        name or f"{svc}-abcde",
        ns,
        {"kubernetes.io/service-name": svc, **(labels or {})},
        address_type,
        tuple(endpoints),
        ports,
    )


def cluster(
    services: tuple[Service, ...] | list[Service],
    slices: tuple[EndpointSlice, ...] | list[EndpointSlice],
    nodes: tuple[Node, ...] = NODES,
    **config: Any,
) -> Cluster:
    namespaces = sorted({s.namespace for s in services} | {"default", "kube-system"})
    return Cluster(
        config=replace(CONFIG, **config),
        namespaces={n: Namespace(n, {}) for n in namespaces},
        nodes=nodes,
        pods=(),
        services=tuple(services),
        endpoint_slices=tuple(slices),
    )


def test_builders_give_a_cluster() -> None:
    c = cluster([service("ns1", "svc1", "172.30.0.41")], [slice_("ns1", "svc1", ep("10.180.0.1"))])
    assert c.services[0].cluster_ips == (ip_address("172.30.0.41"),)
    assert c.endpoint_slices[0].service_name == "svc1"
