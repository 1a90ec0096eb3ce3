"""podnet.ipam.allocate and podnet.ipam.service_allocation on plain values (no model), and the
address families of podnet.ipam.addresses."""

from __future__ import annotations

import ast
import socket
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from podnet.errors import InvalidValue, NotFound, PodnetError
from podnet.family import FAMILIES, IPV4, IPV6, family
from podnet.ipam.allocate import (
    AllocationProblem,
    NodeAddresses,
    PodAddresses,
    address_nodes,
    address_pods,
)
from podnet.ipam.service_allocation import PortRequest, ServiceRequest, allocate_services
from tests.conftest import load, node

NET = ip_network


def masks(version: int) -> int:
    return {4: 24, 6: 64}[version]


def test_ipam_never_imports_the_model() -> None:
    package = Path(__file__).parent.parent / "podnet" / "ipam"
    for path in sorted(package.glob("*.py")):
        for n in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else []
            if isinstance(n, ast.ImportFrom):
                names = [n.module or ""]
            assert not any(m.startswith("podnet.model") for m in names), path.name


@dataclass(frozen=True)
class FamilyCase:
    text: str
    version: int
    af: int
    nft: str
    dns_type: str
    host_prefix: int


FAMILY_CASES = [
    FamilyCase("10.0.0.1", 4, socket.AF_INET, "ip", "A", 32),
    FamilyCase("fd00::1", 6, socket.AF_INET6, "ip6", "AAAA", 128),
]


@pytest.mark.parametrize("case", FAMILY_CASES, ids=lambda c: c.text)
def test_family(case: FamilyCase) -> None:
    fam = family(ip_address(case.text))
    assert fam is FAMILIES[case.version] is family(case.version)
    assert (fam.af, fam.nft, fam.dns_type, fam.bits) == (
        case.af,
        case.nft,
        case.dns_type,
        case.host_prefix,
    )
    assert fam.name == f"IPv{case.version}"
    assert ip_address(case.text) not in fam.loopback
    assert fam.any_address in fam.any_network


def test_family_special_networks() -> None:
    assert ip_address("127.0.0.1") in IPV4.loopback and ip_address("::1") in IPV6.loopback
    assert str(IPV4.any_network) == "0.0.0.0/0" and str(IPV6.any_network) == "::/0"
    assert (IPV4.broadcast, IPV6.broadcast) == (True, False)
    assert (IPV4.max_node_mask_bits, IPV6.max_node_mask_bits) == (None, 16)


NODE_CASES = [
    # (given nodes, node subnet, pod subnets, expected (ips, podCIDRs), expected problems)
    (
        [NodeAddresses("a"), NodeAddresses("b")],
        "172.18.0.0/16",
        ["10.244.0.0/16"],
        [(("172.18.0.2",), ("10.244.0.0/24",)), (("172.18.0.3",), ("10.244.1.0/24",))],
        [],
    ),
    (  # given addresses are kept and skipped; dual-stack gives one podCIDR per family
        [NodeAddresses("a", pod_cidrs=(NET("10.244.0.0/24"),)), NodeAddresses("b")],
        "172.18.0.0/16",
        ["10.244.0.0/16", "fd00:10:244::/56"],
        [
            (("172.18.0.2",), ("10.244.0.0/24", "fd00:10:244::/64")),
            (("172.18.0.3",), ("10.244.1.0/24", "fd00:10:244:1::/64")),
        ],
        [],
    ),
    (
        [
            NodeAddresses("a", (ip_address("172.18.0.9"),)),
            NodeAddresses("b"),
            NodeAddresses("c", (ip_address("172.18.0.9"),)),
        ],
        "172.18.0.0/16",
        ["10.244.0.0/23"],
        # A pod subnet too small for every node gives none of them a podCIDR.
        [(("172.18.0.9",), ()), (("172.18.0.2",), ()), (("172.18.0.9",), ())],
        [
            AllocationProblem(2, "status.addresses", "172.18.0.9 is also the IP of node a"),
            AllocationProblem(
                None,
                "podSubnet",
                "pod subnet 10.244.0.0/23 holds 2 node CIDRs of /24; node c gets none"
                " (use a larger podSubnet or nodeCIDRMaskSize)",
            ),
        ],
    ),
]


@pytest.mark.parametrize("nodes,node_subnet,pod_subnets,expected,problems", NODE_CASES)
def test_address_nodes(nodes, node_subnet, pod_subnets, expected, problems) -> None:
    got, found = address_nodes(nodes, NET(node_subnet), [NET(s) for s in pod_subnets], masks)
    assert [n.name for n in got] == [n.name for n in nodes]
    assert [(tuple(map(str, n.ips)), tuple(map(str, n.pod_cidrs))) for n in got] == expected
    assert found == problems


def test_address_pods() -> None:
    nodes = [
        NodeAddresses("a", (ip_address("172.18.0.2"),), (NET("10.244.0.0/30"),)),
        NodeAddresses("b", (ip_address("172.18.0.3"),), (NET("10.244.1.0/24"),)),
    ]
    pods = [
        PodAddresses("x/given", "b", (ip_address("10.244.1.2"),)),
        PodAddresses("x/p1", "b"),
        PodAddresses("x/host", "a", host_network=True),
        PodAddresses("x/done", "a", finished=True),
        PodAddresses("x/nowhere", "z"),
        PodAddresses("x/p2", "a"),
        PodAddresses("x/p3", "a"),
        PodAddresses("x/p4", "a"),
        PodAddresses("x/outside", "a", (ip_address("10.9.9.9"),)),
    ]
    got, found, unaddressed = address_pods(pods, nodes)
    assert [(p.key, p.node_name, tuple(map(str, p.ips))) for p in got] == [
        ("x/given", "b", ("10.244.1.2",)),
        ("x/p1", "b", ("10.244.1.3",)),
        ("x/host", "a", ("172.18.0.2",)),
        ("x/done", "a", ()),
        ("x/nowhere", "", ()),
        ("x/p2", "a", ("10.244.0.2",)),
        ("x/p3", "a", ()),
        ("x/p4", "a", ()),
        ("x/outside", "a", ("10.9.9.9",)),
    ]
    assert found == [
        AllocationProblem(
            8, "status.podIPs", "10.9.9.9 is outside the podCIDRs of node a (10.244.0.0/30)"
        ),
    ]
    full = (
        "node a's podCIDR 10.244.0.0/30 is full: the CNI plugin finds no free address for the pod"
    )
    assert unaddressed == {6: full, 7: full}


def test_allocate_services() -> None:
    services = [
        ServiceRequest("default/kubernetes", built_in=True),
        ServiceRequest("kube-system/kube-dns", built_in=True),
        ServiceRequest(
            "x/web",
            type="LoadBalancer",
            ports=(PortRequest(80, name="http"), PortRequest(80, "UDP", "q")),
            external_traffic_policy="Local",
        ),
        ServiceRequest("x/fixed", cluster_ips=(ip_address("10.96.0.10"),)),
        ServiceRequest("x/name", type="ExternalName"),
    ]
    got, found = allocate_services(
        services, [NET("10.96.0.0/12")], (30000, 32767), [NET("203.0.113.0/30")]
    )
    assert [str(ip) for ip in got[0].cluster_ips or ()] == ["10.96.0.1"]
    assert [str(ip) for ip in got[1].cluster_ips or ()] == ["10.96.0.10"]
    assert got[2].cluster_ips and got[2].cluster_ips[0] in NET("10.96.0.0/12")
    web_ports = got[2].node_ports or ()
    # One number for a port and every protocol on it, as kube-apiserver gives them.
    assert len(web_ports) == 2 and web_ports[0] == web_ports[1]
    assert all(p is not None and 30000 <= p <= 32767 for p in web_ports)
    assert got[2].health_check_node_port not in (None, web_ports[0])
    assert str(got[2].load_balancer_ip) == "203.0.113.1"
    assert got[4] == type(got[4])()  # ExternalName: nothing to allocate
    assert found == [
        AllocationProblem(
            3,
            "spec.clusterIPs",
            'Invalid value: "10.96.0.10": provided IP is already allocated'
            " (to kube-system/kube-dns)",
        )
    ]
    again, _ = allocate_services(
        services, [NET("10.96.0.0/12")], (30000, 32767), [NET("203.0.113.0/30")]
    )
    assert again == got


def test_missing_node_is_not_found() -> None:
    cluster = load(node("node-1"))
    with pytest.raises(NotFound, match="no node 'node-9' in the cluster \\(nodes: node-1\\)"):
        cluster.node("node-9")
    assert cluster.node("node-1").name == "node-1"


def test_library_errors_are_podnet_errors() -> None:
    err = InvalidValue("maxPods", 0, "expected 1 or more")
    assert isinstance(err, PodnetError) and str(err) == "invalid maxPods 0: expected 1 or more"
    assert isinstance(NotFound("pod", "x/y"), (PodnetError, LookupError))
    assert str(NotFound("pod", "x/y")) == "no pod 'x/y' in the cluster"
