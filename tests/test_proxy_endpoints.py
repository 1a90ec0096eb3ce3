"""The EndpointSlice cache and CategorizeEndpoints, as upstream's endpointslicecache_test and
topology_test: tables of slices or endpoints in, endpoint sets out."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any, NamedTuple

import pytest

from podnet.model.objects import Endpoint, EndpointPort
from podnet.proxy.endpoints import (
    ProxyEndpoint,
    categorize,
    endpoints_by_service_port,
)
from podnet.proxy.serviceport import ServicePortName, service_ports
from tests.test_proxy_helpers import cluster, ep, port, service, slice_

P80 = ServicePortName("ns1", "svc1", "p80", "TCP")


class SliceCase(NamedTuple):
    name: str
    slices: list
    family: int
    expected: dict  # ServicePortName -> ["IP:port (local)", ...]


def key(e: ProxyEndpoint) -> str:
    return f"{e}{' local' if e.is_local else ''}"


SLICE_CASES = [
    SliceCase(
        "one slice",
        [slice_("ns1", "svc1", ep("10.0.0.2"), ep("10.0.0.1", "node-2"))],
        4,
        {P80: ["10.0.0.1:80", "10.0.0.2:80 local"]},
    ),
    SliceCase(
        "sorted as strings",
        [slice_("ns1", "svc1", ep("10.0.0.10", "n"), ep("10.0.0.9", "n"), ep("10.0.0.100", "n"))],
        4,
        {P80: ["10.0.0.100:80", "10.0.0.10:80", "10.0.0.9:80"]},
    ),
    SliceCase(
        "port with nil name ignored",
        [slice_("ns1", "svc1", ep("10.0.0.1"), ports=(EndpointPort(80, "TCP", None),))],
        4,
        {},
    ),
    SliceCase(
        "port 0 or nil ignored",
        [
            slice_(
                "ns1",
                "svc1",
                ep("10.0.0.1"),
                ports=(EndpointPort(0, "TCP", "p80"), EndpointPort(None, "TCP", "x")),
            )
        ],
        4,
        {},
    ),
    SliceCase(
        "endpoint without addresses ignored",
        [slice_("ns1", "svc1", Endpoint((), node_name="node-1"), ep("10.0.0.1"))],
        4,
        {P80: ["10.0.0.1:80 local"]},
    ),
    SliceCase(
        "only addresses[0]",
        [slice_("ns1", "svc1", Endpoint(("10.0.0.1", "10.0.0.2"), node_name="node-1"))],
        4,
        {P80: ["10.0.0.1:80 local"]},
    ),
    SliceCase(
        "other family dropped",
        [slice_("ns1", "svc1", ep("10.0.0.1"), ep("fd00::1"))],
        6,
        {P80: ["[fd00::1]:80 local"]},
    ),
    SliceCase(
        "duplicate across slices: the local copy wins",
        [
            slice_("ns1", "svc1", ep("10.0.0.1", "node-2"), name="a"),
            slice_("ns1", "svc1", ep("10.0.0.1", "node-1"), name="b"),
            slice_("ns1", "svc1", ep("10.0.0.1", "node-3"), name="c"),
        ],
        4,
        {P80: ["10.0.0.1:80 local"]},
    ),
    SliceCase(
        "two slices merged",
        [
            slice_("ns1", "svc1", ep("10.0.0.1", "node-2"), name="a"),
            slice_("ns1", "svc1", ep("10.0.0.2", "node-2"), name="b"),
        ],
        4,
        {P80: ["10.0.0.1:80", "10.0.0.2:80"]},
    ),
    SliceCase(
        "headless and proxy-name labelled slices ignored",
        [
            slice_("ns1", "svc1", ep("10.0.0.1"), labels={"service.kubernetes.io/headless": ""}),
            slice_(
                "ns1",
                "svc1",
                ep("10.0.0.2"),
                labels={"service.kubernetes.io/service-proxy-name": "x"},
                name="b",
            ),
        ],
        4,
        {},
    ),
    SliceCase(
        "FQDN slice ignored", [slice_("ns1", "svc1", ep("example.com"), address_type="FQDN")], 4, {}
    ),
    SliceCase(
        "keyed by port name and protocol",
        [
            slice_(
                "ns1",
                "svc1",
                ep("10.0.0.1"),
                ports=(EndpointPort(53, "UDP", "dns"), EndpointPort(5353, "TCP", "dns")),
            )
        ],
        4,
        {
            ServicePortName("ns1", "svc1", "dns", "UDP"): ["10.0.0.1:53 local"],
            ServicePortName("ns1", "svc1", "dns", "TCP"): ["10.0.0.1:5353 local"],
        },
    ),
    SliceCase(
        "unnamed port",
        [slice_("ns1", "svc1", ep("10.0.0.1"), ports=(EndpointPort(8080, "TCP", ""),))],
        4,
        {ServicePortName("ns1", "svc1", "", "TCP"): ["10.0.0.1:8080 local"]},
    ),
    SliceCase("no service-name label", [slice_("ns1", "", ep("10.0.0.1"))], 4, {}),
]


@pytest.mark.parametrize("case", SLICE_CASES, ids=lambda c: c.name)
def test_endpoint_slice_cache(case: SliceCase) -> None:
    got = endpoints_by_service_port(case.slices, "node-1", case.family)
    assert {k: [key(e) for e in v] for k, v in got.items()} == case.expected


def test_conditions_default_as_the_api() -> None:
    s = slice_(
        "ns1",
        "svc1",
        Endpoint(("10.0.0.1",)),
        Endpoint(("10.0.0.2",), ready=False, serving=None, terminating=None),
    )
    a, b = endpoints_by_service_port([s], "node-1", 4)[P80]
    assert (a.ready, a.serving, a.terminating, a.is_local) == (True, True, False, False)
    assert (b.ready, b.serving, b.terminating) == (False, True, False)


def e(
    ip: str,
    local: bool = False,
    ready: bool = True,
    serving: bool = True,
    terminating: bool = False,
    zones: tuple[str, ...] = (),
    nodes: tuple[str, ...] = (),
) -> ProxyEndpoint:
    return ProxyEndpoint(
        ip_address(ip),
        80,
        "node-1" if local else "node-2",
        local,
        ready,
        serving,
        terminating,
        frozenset(zones),
        frozenset(nodes),
    )


class TopologyCase(NamedTuple):
    name: str
    service: dict[str, Any]
    endpoints: list[ProxyEndpoint]
    cluster: list[str] | None  # None: not used
    local: list[str] | None
    reachable: list[str]
    has_any: bool = True
    zone: str = "a"


NODEPORT = {"type": "NodePort", "ports": (port(node_port=30080),)}
TOPOLOGY_CASES = [
    TopologyCase(
        "no hints",
        {},
        [e("10.0.0.1"), e("10.0.0.2")],
        ["10.0.0.1:80", "10.0.0.2:80"],
        None,
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "zone hints",
        {},
        [e("10.0.0.1", zones=("a",)), e("10.0.0.2", zones=("b",)), e("10.0.0.3", zones=("a", "b"))],
        ["10.0.0.1:80", "10.0.0.3:80"],
        None,
        ["10.0.0.1:80", "10.0.0.3:80"],
    ),
    TopologyCase(
        "zone hints, none for this zone: all",
        {},
        [e("10.0.0.1", zones=("b",)), e("10.0.0.2", zones=("c",))],
        ["10.0.0.1:80", "10.0.0.2:80"],
        None,
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "node without a zone: hints ignored",
        {},
        [e("10.0.0.1", zones=("a",)), e("10.0.0.2", zones=("b",))],
        ["10.0.0.1:80", "10.0.0.2:80"],
        None,
        ["10.0.0.1:80", "10.0.0.2:80"],
        zone="",
    ),
    TopologyCase(
        "one ready endpoint without hints: all",
        {},
        [e("10.0.0.1", zones=("a",)), e("10.0.0.2")],
        ["10.0.0.1:80", "10.0.0.2:80"],
        None,
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "hints of unready endpoints do not count",
        {},
        [
            e("10.0.0.1", zones=("a",)),
            e("10.0.0.2", zones=("b",)),
            e("10.0.0.3", ready=False, serving=False),
        ],
        ["10.0.0.1:80"],
        None,
        ["10.0.0.1:80"],
    ),
    TopologyCase(
        "node hints",
        {},
        [
            e("10.0.0.1", zones=("a",), nodes=("node-1",)),
            e("10.0.0.2", zones=("a",), nodes=("node-2",)),
        ],
        ["10.0.0.1:80"],
        None,
        ["10.0.0.1:80"],
    ),
    TopologyCase(
        "node hints, one missing: zone hints",
        {},
        [
            e("10.0.0.1", zones=("a",), nodes=("node-1",)),
            e("10.0.0.2", zones=("a",)),
            e("10.0.0.3", zones=("b",), nodes=("node-2",)),
        ],
        ["10.0.0.1:80", "10.0.0.2:80"],
        None,
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "only terminating: serving ones",
        {},
        [
            e("10.0.0.1", ready=False, terminating=True),
            e("10.0.0.2", ready=False, serving=False, terminating=True),
        ],
        ["10.0.0.1:80"],
        None,
        ["10.0.0.1:80"],
    ),
    TopologyCase(
        "ready and terminating: ready only",
        {},
        [e("10.0.0.1"), e("10.0.0.2", local=True, ready=False, terminating=True)],
        ["10.0.0.1:80"],
        None,
        ["10.0.0.1:80"],
    ),
    TopologyCase(
        "nothing serving",
        {},
        [e("10.0.0.1", ready=False, serving=False), e("10.0.0.2", ready=False, serving=True)],
        [],
        None,
        [],
        has_any=False,
    ),
    TopologyCase(
        "iTP Local with local endpoints",
        {"internal_traffic_policy": "Local"},
        [e("10.0.0.1", local=True), e("10.0.0.2")],
        [],
        ["10.0.0.1:80"],
        ["10.0.0.1:80"],
    ),
    TopologyCase(
        "iTP Local, all remote",
        {"internal_traffic_policy": "Local"},
        [e("10.0.0.1"), e("10.0.0.2")],
        [],
        [],
        [],
    ),
    TopologyCase(
        "iTP Local, local only terminating",
        {"internal_traffic_policy": "Local"},
        [e("10.0.0.1", local=True, ready=False, terminating=True), e("10.0.0.2")],
        [],
        ["10.0.0.1:80"],
        ["10.0.0.1:80"],
    ),
    TopologyCase(
        "iTP Local: topology ignored",
        {"internal_traffic_policy": "Local"},
        [e("10.0.0.1", local=True, zones=("b",)), e("10.0.0.2", zones=("a",))],
        [],
        ["10.0.0.1:80"],
        ["10.0.0.1:80"],
    ),
    TopologyCase(
        "eTP Local with local endpoints",
        {**NODEPORT, "external_traffic_policy": "Local"},
        [e("10.0.0.1", local=True), e("10.0.0.2")],
        ["10.0.0.1:80", "10.0.0.2:80"],
        ["10.0.0.1:80"],
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "eTP Local, all remote",
        {**NODEPORT, "external_traffic_policy": "Local"},
        [e("10.0.0.1"), e("10.0.0.2")],
        ["10.0.0.1:80", "10.0.0.2:80"],
        [],
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "eTP Local: local terminating, remote ready",
        {**NODEPORT, "external_traffic_policy": "Local"},
        [e("10.0.0.1", local=True, ready=False, terminating=True), e("10.0.0.2")],
        ["10.0.0.2:80"],
        ["10.0.0.1:80"],
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "eTP Local: hinted cluster set, local outside it",
        {**NODEPORT, "external_traffic_policy": "Local"},
        [e("10.0.0.1", local=True, zones=("b",)), e("10.0.0.2", zones=("a",))],
        ["10.0.0.2:80"],
        ["10.0.0.1:80"],
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "eTP Local on a ClusterIP service without external IPs: Cluster",
        {"external_traffic_policy": "Local"},
        [e("10.0.0.1", local=True), e("10.0.0.2")],
        ["10.0.0.1:80", "10.0.0.2:80"],
        None,
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
    TopologyCase(
        "iTP Local, eTP Cluster, NodePort: both sets",
        {**NODEPORT, "internal_traffic_policy": "Local"},
        [e("10.0.0.1", local=True), e("10.0.0.2")],
        ["10.0.0.1:80", "10.0.0.2:80"],
        ["10.0.0.1:80"],
        ["10.0.0.1:80", "10.0.0.2:80"],
    ),
]


@pytest.mark.parametrize("case", TOPOLOGY_CASES, ids=lambda c: c.name)
def test_categorize(case: TopologyCase) -> None:
    svc = service("ns1", "svc1", "172.30.0.1", **case.service)
    (info,) = service_ports(cluster([svc], []), 4)
    eps = tuple(sorted(case.endpoints, key=str))
    got = categorize(eps, info, "node-1", case.zone)
    assert [str(x) for x in got.reachable] == case.reachable
    assert got.has_any == case.has_any
    if case.cluster is not None:
        assert [str(x) for x in got.cluster] == case.cluster
    if case.local is not None:
        assert [str(x) for x in got.local] == case.local
    else:
        assert got.local == ()


SKIP_CASES = [
    ("ClusterIP", service("ns", "a", "172.30.0.1"), 1),
    ("headless", service("ns", "a", None), 0),
    ("ExternalName", service("ns", "a", None, type="ExternalName"), 0),
    (
        "service-proxy-name",
        service("ns", "a", "172.30.0.1", labels={"service.kubernetes.io/service-proxy-name": "x"}),
        0,
    ),
    ("two ports", service("ns", "a", "172.30.0.1", (port(80, name="a"), port(53, "UDP", "b"))), 2),
    ("IPv6 only: no IPv4 proxier entry", service("ns", "a", "fd00::1"), 0),
]


@pytest.mark.parametrize(("name", "svc", "count"), SKIP_CASES, ids=[c[0] for c in SKIP_CASES])
def test_which_services_are_proxied(name: str, svc, count: int) -> None:
    assert len(service_ports(cluster([svc], []), 4)) == count


def test_service_port_families_and_vips() -> None:
    svc = service(
        "ns",
        "a",
        ("172.30.0.1", "fd00::1"),
        type="LoadBalancer",
        external_ips=("192.168.99.1", "2001:db8::1"),
        lb=("1.2.3.4", ("5.6.7.8", "Proxy"), ("2001:db8::4", "VIP")),
        ranges=(" 203.0.113.0/25", "2001:db8::/64"),
    )
    c = cluster([svc], [])
    (v4,) = service_ports(c, 4)
    (v6,) = service_ports(c, 6)
    assert [str(i) for i in v4.load_balancer_vips] == ["1.2.3.4"]
    assert [str(i) for i in v6.load_balancer_vips] == ["2001:db8::4"]
    assert [str(i) for i in v4.external_ips] == ["192.168.99.1"]
    assert [str(r) for r in v4.load_balancer_source_ranges] == ["203.0.113.0/25"]
    assert [str(r) for r in v6.load_balancer_source_ranges] == ["2001:db8::/64"]
    assert str(v6.cluster_ip) == "fd00::1"
