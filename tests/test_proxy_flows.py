"""Packet-flow tables, as upstream's runPacketFlowTests: each case runs through the verdict
(`podnet.proxy.verdict`) and through the tracer over the nftables rules rendered for the node
(and, for the iptables-mode tables, over the iptables-restore rules); all must agree with the
expected output: the possible endpoints ("IP:port, ..."), DROP, REJECT or NONE, and masquerade.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from ipaddress import ip_address, ip_network
from typing import NamedTuple

import pytest

from podnet.model.cluster import Cluster
from podnet.model.objects import EndpointPort, Node
from podnet.proxy.verdict import decide
from tests.test_proxy_helpers import NODES, ZONE, cluster, ep, port, service, slice_


class Flow(NamedTuple):
    name: str
    src: str
    dst: str
    port: int
    output: str  # "IP:port, ..." | DROP | REJECT | NONE
    masq: bool
    protocol: str = "TCP"
    node: str = "node-1"


def base_services() -> list:
    return [
        service("ns1", "svc1", "172.30.0.41"),
        service(
            "ns2",
            "svc2",
            "172.30.0.42",
            (port(node_port=3001),),
            type="LoadBalancer",
            external_ips=("192.168.99.22",),
            lb=("1.2.3.4",),
            external_traffic_policy="Local",
            health_check_node_port=30000,
        ),
        service(
            "ns3",
            "svc3",
            "172.30.0.43",
            (port(node_port=3003),),
            type="NodePort",
            external_traffic_policy="Local",
        ),
        service("ns4", "svc4", "172.30.0.44", external_ips=("192.168.99.33",)),
        service(
            "ns5",
            "svc5",
            "172.30.0.45",
            (port(node_port=3002),),
            type="LoadBalancer",
            lb=("5.6.7.8",),
            ranges=(" 203.0.113.0/25",),
            session_affinity="ClientIP",
            session_affinity_timeout=10800,
        ),
        service(
            "ns6",
            "svc6",
            "172.30.0.46",
            (port(node_port=3006),),
            type="LoadBalancer",
            lb=("9.10.11.12",),
            external_ips=("192.168.99.66",),
        ),
        service("ns7", "svc7", "172.30.0.47", internal_traffic_policy="Local"),
        service("ns8", "svc8", "172.30.0.48", internal_traffic_policy="Local"),
        service("ns9", "svc9", "172.30.0.49"),
        service(
            "ns10",
            "svc10",
            "172.30.0.50",
            (port(node_port=3010),),
            type="NodePort",
            external_traffic_policy="Local",
        ),
        service("ns11", "svc11", "172.30.0.51", traffic_distribution="PreferClose"),
        service("ns12", "svc12", "172.30.0.52"),
        service("ns13", "svc13", "172.30.0.53", traffic_distribution="PreferSameNode"),
        service(
            "ns14",
            "svc14",
            "172.30.0.54",
            (port(node_port=3014),),
            type="LoadBalancer",
            lb=(("1.2.3.14", "Proxy"),),
        ),
        service(
            "ns15",
            "svc15",
            "172.30.0.55",
            labels={"service.kubernetes.io/service-proxy-name": "other-proxy"},
        ),
        service("ns16", "svc16", None),
        service("ns17", "svc17", None, type="ExternalName", external_name="example.com"),
        service(
            "kube-system",
            "kube-dns",
            "172.30.0.10",
            (
                port(53, "UDP", "dns"),
                port(53, "TCP", "dns-tcp"),
                port(9153, "TCP", "metrics"),
            ),
        ),
        service("ns19", "sctp", "172.30.0.59", (port(9999, "SCTP", ""),)),
        service(
            "ns20",
            "svc20",
            "172.30.0.60",
            (port(node_port=3020),),
            type="LoadBalancer",
            lb=("5.6.7.20",),
            ranges=("192.168.0.0/24",),
        ),
        service(
            "ns21",
            "svc21",
            "172.30.0.61",
            (port(80, "TCP", "http", "http"), port(443, "TCP", "https", 8443)),
        ),
        service("ns23", "svc23", "172.30.0.63", traffic_distribution="PreferSameNode"),
    ]


def base_slices() -> list:
    dns_ports = (
        EndpointPort(53, "UDP", "dns"),
        EndpointPort(53, "TCP", "dns-tcp"),
        EndpointPort(9153, "TCP", "metrics"),
    )
    return [
        slice_("ns1", "svc1", ep("10.180.0.1"), ep("10.180.1.1", "node-2")),
        slice_("ns2", "svc2", ep("10.180.1.2", "node-2")),
        slice_("ns3", "svc3", ep("10.180.0.3"), ep("10.180.1.3", "node-2")),
        slice_("ns4", "svc4", ep("10.180.0.4"), ep("10.180.0.5")),
        slice_("ns5", "svc5", ep("10.180.2.1", "node-3"), ep("10.180.1.5", "node-2")),
        slice_("ns6", "svc6"),
        slice_("ns7", "svc7", ep("10.180.1.7", "node-2")),
        slice_("ns8", "svc8", ep("10.180.0.8"), ep("10.180.1.8", "node-2")),
        slice_(
            "ns9",
            "svc9",
            ep("10.180.0.9", ready=False, serving=True, terminating=True),
            ep("10.180.1.9", "node-2", ready=False, serving=False, terminating=True),
        ),
        slice_(
            "ns10",
            "svc10",
            ep("10.180.1.10", "node-2"),
            ep("10.180.0.10", ready=False, serving=True, terminating=True),
        ),
        slice_(
            "ns11",
            "svc11",
            ep("10.180.0.11", hints_zones=("a",)),
            ep("10.180.1.11", "node-2", hints_zones=("b",)),
            ep("10.180.2.11", "node-3", hints_zones=("a",)),
        ),
        slice_(
            "ns12",
            "svc12",
            ep("10.180.0.12", hints_zones=("a",)),
            ep("10.180.1.12", "node-2"),
        ),
        slice_(
            "ns13",
            "svc13",
            ep("10.180.0.13", hints_zones=("a",), hints_nodes=("node-1",)),
            ep("10.180.1.13", "node-2", hints_zones=("b",), hints_nodes=("node-2",)),
            ep("10.180.2.13", "node-3", hints_zones=("a",), hints_nodes=("node-3",)),
        ),
        slice_("ns14", "svc14", ep("10.180.0.14")),
        slice_("ns15", "svc15", ep("10.180.0.15")),
        slice_("ns16", "svc16", ep("10.180.0.16")),
        slice_(
            "kube-system",
            "kube-dns",
            ep("10.180.0.18"),
            ep("10.180.1.18", "node-2"),
            ports=dns_ports,
        ),
        slice_(
            "ns19", "sctp", ep("10.180.2.19", "node-3"), ports=(EndpointPort(9999, "SCTP", ""),)
        ),
        slice_("ns20", "svc20", ep("10.180.1.20", "node-2")),
        slice_(
            "ns21",
            "svc21",
            ep("10.180.0.21"),
            ep("10.180.1.21", "node-2"),
            ports=(EndpointPort(8080, "TCP", "http"), EndpointPort(8443, "TCP", "https")),
        ),
        slice_(
            "ns23",
            "svc23",
            ep("10.180.1.23", "node-2", hints_zones=("b",), hints_nodes=("node-2",)),
            ep("10.180.2.23", "node-3", hints_zones=("a",), hints_nodes=("node-2",)),
        ),
    ]


POD = "10.180.0.2"  # a pod on node-1
REMOTE_POD = "10.180.1.200"  # a pod on node-2
NODE = "192.168.0.2"  # node-1
EXTERNAL = "203.0.113.2"
BLOCKED = "203.0.113.130"
SVC1 = "10.180.0.1:80, 10.180.1.1:80"

BASE = [
    # ClusterIP [TestClusterIPGeneral]
    Flow("pod to cluster IP", POD, "172.30.0.41", 80, SVC1, False),
    Flow("remote pod to cluster IP", REMOTE_POD, "172.30.0.41", 80, SVC1, False),
    Flow("node to cluster IP", NODE, "172.30.0.41", 80, SVC1, True),
    Flow("external to cluster IP", EXTERNAL, "172.30.0.41", 80, SVC1, True),
    Flow("hairpin to cluster IP", "10.180.0.1", "172.30.0.41", 80, SVC1, True),
    Flow("cluster IP, wrong port", POD, "172.30.0.41", 443, "REJECT", False),
    Flow("cluster IP, wrong protocol", POD, "172.30.0.41", 80, "REJECT", False, "UDP"),
    Flow("unallocated cluster IP", POD, "172.30.0.99", 80, "DROP", False),
    Flow("not a service", POD, "10.180.1.1", 80, "NONE", False),
    Flow("service-proxy-name: ignored", POD, "172.30.0.55", 80, "DROP", False),
    Flow("headless: endpoint reached directly", POD, "10.180.0.16", 80, "NONE", False),
    Flow("UDP cluster IP", POD, "172.30.0.10", 53, "10.180.0.18:53, 10.180.1.18:53", False, "UDP"),
    Flow("TCP on the same port", POD, "172.30.0.10", 53, "10.180.0.18:53, 10.180.1.18:53", False),
    Flow("second port", POD, "172.30.0.10", 9153, "10.180.0.18:9153, 10.180.1.18:9153", False),
    Flow("DNS over SCTP: not a port", POD, "172.30.0.10", 53, "REJECT", False, "SCTP"),
    Flow("SCTP cluster IP", POD, "172.30.0.59", 9999, "10.180.2.19:9999", False, "SCTP"),
    Flow("SCTP port over TCP", POD, "172.30.0.59", 9999, "REJECT", False),
    Flow("named target port", POD, "172.30.0.61", 80, "10.180.0.21:8080, 10.180.1.21:8080", False),
    Flow(
        "numbered target port", POD, "172.30.0.61", 443, "10.180.0.21:8443, 10.180.1.21:8443", False
    ),
    # externalTrafficPolicy Local, no local endpoint on node-1 [TestInternalExternalMasquerade]
    Flow("pod to eTP Local cluster IP", POD, "172.30.0.42", 80, "10.180.1.2:80", False),
    Flow("external to eTP Local NodePort, none local", EXTERNAL, NODE, 3001, "DROP", False),
    Flow(
        "external to eTP Local external IP, none local",
        EXTERNAL,
        "192.168.99.22",
        80,
        "DROP",
        False,
    ),
    Flow("external to eTP Local LB, none local", EXTERNAL, "1.2.3.4", 80, "DROP", False),
    Flow("pod to eTP Local LB: short-circuit", POD, "1.2.3.4", 80, "10.180.1.2:80", False),
    Flow(
        "remote pod to eTP Local LB: short-circuit",
        REMOTE_POD,
        "1.2.3.4",
        80,
        "10.180.1.2:80",
        False,
    ),
    Flow("pod to eTP Local NodePort: short-circuit", POD, NODE, 3001, "10.180.1.2:80", False),
    Flow("node to eTP Local LB", NODE, "1.2.3.4", 80, "10.180.1.2:80", True),
    Flow("node to eTP Local NodePort", NODE, NODE, 3001, "10.180.1.2:80", True),
    Flow(
        "external to eTP Local LB on node-2",
        EXTERNAL,
        "1.2.3.4",
        80,
        "10.180.1.2:80",
        False,
        node="node-2",
    ),
    Flow(
        "external to eTP Local NodePort on node-2",
        EXTERNAL,
        "192.168.0.3",
        3001,
        "10.180.1.2:80",
        False,
        node="node-2",
    ),
    Flow("NodePort on another node's IP", EXTERNAL, "192.168.0.3", 3001, "NONE", False),
    # externalTrafficPolicy Local with a local endpoint
    Flow("external to eTP Local NodePort", EXTERNAL, NODE, 3003, "10.180.0.3:80", False),
    Flow("pod to eTP Local NodePort", POD, NODE, 3003, "10.180.0.3:80, 10.180.1.3:80", False),
    Flow("node to eTP Local NodePort", NODE, NODE, 3003, "10.180.0.3:80, 10.180.1.3:80", True),
    Flow(
        "external to eTP Local cluster IP: eTP ignored",
        EXTERNAL,
        "172.30.0.43",
        80,
        "10.180.0.3:80, 10.180.1.3:80",
        True,
    ),
    Flow("NodePort on localhost", NODE, "127.0.0.1", 3003, "NONE", False),
    # ExternalIPs, externalTrafficPolicy Cluster
    Flow(
        "external to external IP",
        EXTERNAL,
        "192.168.99.33",
        80,
        "10.180.0.4:80, 10.180.0.5:80",
        True,
    ),
    Flow("pod to external IP", POD, "192.168.99.33", 80, "10.180.0.4:80, 10.180.0.5:80", True),
    Flow(
        "hairpin via external IP",
        "10.180.0.4",
        "192.168.99.33",
        80,
        "10.180.0.4:80, 10.180.0.5:80",
        True,
    ),
    Flow(
        "hairpin to cluster IP, two endpoints",
        "10.180.0.4",
        "172.30.0.44",
        80,
        "10.180.0.4:80, 10.180.0.5:80",
        True,
    ),
    Flow("external IP, wrong port", EXTERNAL, "192.168.99.33", 81, "NONE", False),
    # LoadBalancer with source ranges and affinity [TestLoadBalancer]
    Flow("allowed client to LB", EXTERNAL, "5.6.7.8", 80, "10.180.1.5:80, 10.180.2.1:80", True),
    Flow("blocked client to LB", BLOCKED, "5.6.7.8", 80, "DROP", False),
    Flow(
        "blocked client to NodePort: ranges bypassed",
        BLOCKED,
        NODE,
        3002,
        "10.180.1.5:80, 10.180.2.1:80",
        True,
    ),
    Flow(
        "blocked client to cluster IP",
        BLOCKED,
        "172.30.0.45",
        80,
        "10.180.1.5:80, 10.180.2.1:80",
        True,
    ),
    Flow("pod outside ranges to LB", POD, "5.6.7.8", 80, "DROP", False),
    Flow("node outside ranges to LB", NODE, "5.6.7.8", 80, "DROP", False),
    Flow("VIP-sourced, node outside ranges", "5.6.7.8", "5.6.7.8", 80, "DROP", False),
    Flow("LB, other port", EXTERNAL, "5.6.7.8", 81, "NONE", False),
    Flow("node inside ranges to LB", NODE, "5.6.7.20", 80, "10.180.1.20:80", True),
    Flow("VIP-sourced, node inside ranges", "5.6.7.20", "5.6.7.20", 80, "10.180.1.20:80", True),
    Flow("external outside ranges", EXTERNAL, "5.6.7.20", 80, "DROP", False),
    Flow("LB ipMode Proxy: no VIP rules", EXTERNAL, "1.2.3.14", 80, "NONE", False),
    Flow("LB ipMode Proxy: NodePort kept", EXTERNAL, NODE, 3014, "10.180.0.14:80", True),
    # No endpoints [TestNoEndpointsReject]
    Flow("no endpoints: cluster IP", POD, "172.30.0.46", 80, "REJECT", False),
    Flow("no endpoints: node to cluster IP", NODE, "172.30.0.46", 80, "REJECT", False),
    Flow("no endpoints: NodePort", EXTERNAL, NODE, 3006, "REJECT", False),
    Flow("no endpoints: LB", EXTERNAL, "9.10.11.12", 80, "REJECT", False),
    Flow("no endpoints: external IP", EXTERNAL, "192.168.99.66", 80, "REJECT", False),
    Flow("no endpoints: node to LB", NODE, "9.10.11.12", 80, "REJECT", False),
    # internalTrafficPolicy Local
    Flow("iTP Local, none local", POD, "172.30.0.47", 80, "DROP", False),
    Flow("iTP Local, node, none local", NODE, "172.30.0.47", 80, "DROP", False),
    Flow(
        "iTP Local on node-2",
        "10.180.1.50",
        "172.30.0.47",
        80,
        "10.180.1.7:80",
        False,
        node="node-2",
    ),
    Flow(
        "iTP Local, node-2 itself",
        "192.168.0.3",
        "172.30.0.47",
        80,
        "10.180.1.7:80",
        True,
        node="node-2",
    ),
    Flow("pod to iTP Local", POD, "172.30.0.48", 80, "10.180.0.8:80", False),
    Flow("node to iTP Local", NODE, "172.30.0.48", 80, "10.180.0.8:80", True),
    Flow("external to iTP Local", EXTERNAL, "172.30.0.48", 80, "10.180.0.8:80", True),
    # Terminating endpoints [TestEndpointCommonTerminating...]
    Flow("only terminating: serving ones", POD, "172.30.0.49", 80, "10.180.0.9:80", False),
    Flow(
        "ready remote preferred to local terminating",
        POD,
        "172.30.0.50",
        80,
        "10.180.1.10:80",
        False,
    ),
    Flow("eTP Local: local terminating used", EXTERNAL, NODE, 3010, "10.180.0.10:80", False),
    Flow("eTP Local: nothing local", EXTERNAL, "192.168.0.4", 3010, "DROP", False, node="node-3"),
    Flow(
        "eTP Local: ready local on node-2",
        EXTERNAL,
        "192.168.0.3",
        3010,
        "10.180.1.10:80",
        False,
        node="node-2",
    ),
    # Topology
    Flow("zone hints, zone a", POD, "172.30.0.51", 80, "10.180.0.11:80, 10.180.2.11:80", False),
    Flow(
        "zone hints, zone b", REMOTE_POD, "172.30.0.51", 80, "10.180.1.11:80", False, node="node-2"
    ),
    Flow(
        "one endpoint without hints: all",
        POD,
        "172.30.0.52",
        80,
        "10.180.0.12:80, 10.180.1.12:80",
        False,
    ),
    Flow("node hints", POD, "172.30.0.53", 80, "10.180.0.13:80", False),
    Flow(
        "node hints, node-3",
        "10.180.2.2",
        "172.30.0.53",
        80,
        "10.180.2.13:80",
        False,
        node="node-3",
    ),
    Flow(
        "node hints name other nodes: zone hints", POD, "172.30.0.63", 80, "10.180.2.23:80", False
    ),
    Flow(
        "node hints for this node",
        REMOTE_POD,
        "172.30.0.63",
        80,
        "10.180.1.23:80, 10.180.2.23:80",
        False,
        node="node-2",
    ),
]


@cache
def base_cluster(**config) -> Cluster:
    return cluster(base_services(), base_slices(), **config)


MASQUERADE_ALL = [
    Flow("pod to cluster IP", POD, "172.30.0.41", 80, SVC1, True),
    Flow("pod to iTP Local", POD, "172.30.0.48", 80, "10.180.0.8:80", True),
    Flow(
        "pod to eTP Local NodePort: short-circuit",
        POD,
        NODE,
        3003,
        "10.180.0.3:80, 10.180.1.3:80",
        False,
    ),
    Flow("external to eTP Local NodePort", EXTERNAL, NODE, 3003, "10.180.0.3:80", False),
    Flow("node to cluster IP", NODE, "172.30.0.41", 80, SVC1, True),
]

NO_DETECTOR = [
    Flow("pod to cluster IP", POD, "172.30.0.41", 80, SVC1, False),
    Flow("node to cluster IP", NODE, "172.30.0.41", 80, SVC1, False),
    Flow("external to cluster IP", EXTERNAL, "172.30.0.41", 80, SVC1, False),
    Flow("hairpin to cluster IP", "10.180.0.1", "172.30.0.41", 80, SVC1, True),
    Flow("pod to eTP Local NodePort: local only", POD, NODE, 3003, "10.180.0.3:80", False),
    Flow("pod to eTP Local LB, none local", POD, "1.2.3.4", 80, "DROP", False),
    Flow("node to eTP Local LB", NODE, "1.2.3.4", 80, "10.180.1.2:80", True),
    Flow(
        "external to eTP Cluster NodePort",
        EXTERNAL,
        NODE,
        3002,
        "10.180.1.5:80, 10.180.2.1:80",
        True,
    ),
]

NODE_CIDR = [
    Flow("local pod to cluster IP", POD, "172.30.0.41", 80, SVC1, False),
    Flow("remote pod to cluster IP", REMOTE_POD, "172.30.0.41", 80, SVC1, True),
    Flow(
        "remote pod to eTP Local NodePort: local only",
        REMOTE_POD,
        NODE,
        3003,
        "10.180.0.3:80",
        False,
    ),
    Flow("local pod to eTP Local NodePort", POD, NODE, 3003, "10.180.0.3:80, 10.180.1.3:80", False),
]

TWO_IPS = (
    replace(NODES[0], ips=(ip_address("192.168.0.2"), ip_address("192.168.1.2"))),
    *NODES[1:],
)

NODE_PORT_ADDRESSES: list[tuple[tuple[str, ...], list[Flow]]] = [
    (
        (),  # nftables default: the primary IP
        [
            Flow("primary IP", EXTERNAL, NODE, 3003, "10.180.0.3:80", False),
            Flow("second IP", EXTERNAL, "192.168.1.2", 3003, "NONE", False),
            Flow("second IP, no endpoints", EXTERNAL, "192.168.1.2", 3006, "NONE", False),
        ],
    ),
    (
        ("192.168.1.0/24",),
        [
            Flow("outside the CIDRs", EXTERNAL, NODE, 3003, "NONE", False),
            Flow("inside the CIDRs", EXTERNAL, "192.168.1.2", 3003, "10.180.0.3:80", False),
            Flow("no endpoints", EXTERNAL, "192.168.1.2", 3006, "REJECT", False),
        ],
    ),
    (
        ("0.0.0.0/0",),
        [
            Flow("primary IP", EXTERNAL, NODE, 3003, "10.180.0.3:80", False),
            Flow("second IP", EXTERNAL, "192.168.1.2", 3003, "10.180.0.3:80", False),
            Flow("no endpoints", EXTERNAL, "192.168.1.2", 3006, "REJECT", False),
            Flow("localhost", NODE, "127.0.0.1", 3003, "NONE", False),
        ],
    ),
    (
        ("fd00::/64",),  # no IPv4 CIDR: every local IPv4 address
        [
            Flow("second IP", EXTERNAL, "192.168.1.2", 3003, "10.180.0.3:80", False),
        ],
    ),
]

IPTABLES_MODE = [
    Flow("unallocated cluster IP: routed", POD, "172.30.0.99", 80, "NONE", False),
    Flow("cluster IP, wrong port: routed", POD, "172.30.0.41", 443, "NONE", False),
    Flow("pod to cluster IP", POD, "172.30.0.41", 80, SVC1, False),
    Flow("no endpoints: cluster IP", POD, "172.30.0.46", 80, "REJECT", False),
    Flow("eTP Local, none local", EXTERNAL, NODE, 3001, "DROP", False),
    Flow("blocked client to LB", BLOCKED, "5.6.7.8", 80, "DROP", False),
    Flow("second IP accepts NodePorts", EXTERNAL, "192.168.1.2", 3003, "10.180.0.3:80", False),
    Flow("no endpoints: node to LB, not filtered on output", NODE, "9.10.11.12", 80, "NONE", False),
]


def dual_stack_cluster() -> Cluster:
    v6_nodes = tuple(
        replace(
            n,
            ips=(*n.ips, ip_address(f"fd00:192:168::{i + 2}")),
            pod_cidrs=(*n.pod_cidrs, ip_network(f"fd00:10:180:{i}::/64")),
        )
        for i, n in enumerate(NODES)
    )
    svc = service(
        "ns1",
        "svc1",
        ("172.30.0.41", "fd00:172:30::41"),
        (port(node_port=3001),),
        type="NodePort",
        external_ips=("192.168.99.11", "2001:db8:99::11"),
    )
    v4only = service("ns2", "svc2", "172.30.0.42")
    return cluster(
        [svc, v4only],
        [
            slice_("ns1", "svc1", ep("10.180.0.1"), ep("10.180.1.1", "node-2"), name="svc1-v4"),
            slice_(
                "ns1",
                "svc1",
                ep("fd00:10:180::1"),
                ep("fd00:10:180:1::1", "node-2"),
                name="svc1-v6",
                address_type="IPv6",
            ),
            slice_("ns2", "svc2", ep("10.180.0.2")),
        ],
        nodes=v6_nodes,
        pod_subnets=(ip_network("10.0.0.0/8"), ip_network("fd00:10::/32")),
        service_subnets=(ip_network("172.30.0.0/16"), ip_network("fd00:172:30::/112")),
    )


V6 = "[fd00:10:180:1::1]:80, [fd00:10:180::1]:80"  # sorted as strings, as upstream
DUAL_STACK = [
    Flow("IPv4 cluster IP", POD, "172.30.0.41", 80, SVC1, False),
    Flow("IPv6 cluster IP", "fd00:10:180::5", "fd00:172:30::41", 80, V6, False),
    Flow("IPv6 external", "2001:db8::2", "fd00:172:30::41", 80, V6, True),
    Flow("IPv6 hairpin", "fd00:10:180::1", "fd00:172:30::41", 80, V6, True),
    Flow("IPv6 NodePort", "2001:db8::2", "fd00:192:168::2", 3001, V6, True),
    Flow("IPv6 external IP", "2001:db8::2", "2001:db8:99::11", 80, V6, True),
    Flow("IPv6 unallocated", "fd00:10:180::5", "fd00:172:30::99", 80, "DROP", False),
    Flow("IPv6 wrong port", "fd00:10:180::5", "fd00:172:30::41", 81, "REJECT", False),
    Flow("IPv4-only service in IPv6", "fd00:10:180::5", "fd00:172:30::42", 80, "DROP", False),
]


def output_of(verdict: str, endpoints: tuple[str, ...]) -> str:
    return ", ".join(endpoints) if verdict == "ACCEPT" else verdict


TABLES: list[tuple[str, Cluster, list[Flow]]] = [
    ("base", base_cluster(), BASE),
    ("masquerade-all", base_cluster(masquerade_all=True), MASQUERADE_ALL),
    ("no detector", base_cluster(detect_local_mode="None"), NO_DETECTOR),
    ("NodeCIDR detector", base_cluster(detect_local_mode="NodeCIDR"), NODE_CIDR),
    *(
        (
            f"nodePortAddresses {list(cidrs)}",
            cluster(
                base_services(),
                base_slices(),
                nodes=TWO_IPS,
                node_port_addresses=tuple(ip_network(c) for c in cidrs),
            ),
            flows,
        )
        for cidrs, flows in NODE_PORT_ADDRESSES
    ),
    ("dual-stack", dual_stack_cluster(), DUAL_STACK),
]

CASES = [pytest.param(c, f, id=f"{table}: {f.name}") for table, c, flows in TABLES for f in flows]
IPTABLES_CLUSTER = cluster(
    base_services(), base_slices(), nodes=TWO_IPS, kube_proxy_mode="iptables"
)
IPTABLES_CASES = [pytest.param(IPTABLES_CLUSTER, f, id=f.name) for f in IPTABLES_MODE]


@pytest.mark.parametrize(("c", "flow"), CASES)
def test_verdict(c: Cluster, flow: Flow) -> None:
    v = decide(c, flow.node, ip_address(flow.src), ip_address(flow.dst), flow.port, flow.protocol)
    assert (output_of(v.verdict, v.endpoints), v.masquerade) == (flow.output, flow.masq), v.reason


@pytest.mark.parametrize(("c", "flow"), IPTABLES_CASES)
def test_verdict_iptables_mode(c: Cluster, flow: Flow) -> None:
    v = decide(c, flow.node, ip_address(flow.src), ip_address(flow.dst), flow.port, flow.protocol)
    assert (output_of(v.verdict, v.endpoints), v.masquerade) == (flow.output, flow.masq), v.reason


def test_every_node_known() -> None:
    assert {f.node for f in BASE} <= {n.name for n in NODES}
    assert all(isinstance(n, Node) for n in TWO_IPS)
    assert ZONE in NODES[0].labels


_RENDERED: dict[tuple[int, str, str], str] = {}


def rendered(c: Cluster, node: str, mode: str = "nftables") -> str:
    from podnet.proxy.nftables import render_nftables

    key = (id(c), node, mode)
    if key not in _RENDERED:
        _RENDERED[key] = render_nftables(c, node)
    return _RENDERED[key]


@pytest.mark.parametrize(("c", "flow"), CASES)
def test_trace_nftables(c: Cluster, flow: Flow) -> None:
    from podnet.proxy.trace_nftables import trace_nftables as trace

    node = next(n for n in c.nodes if n.name == flow.node)
    t = trace(
        rendered(c, flow.node),
        node.ips,
        ip_address(flow.src),
        ip_address(flow.dst),
        flow.port,
        flow.protocol,
    )
    assert (output_of(t.verdict, t.endpoints), t.masquerade) == (flow.output, flow.masq), "\n".join(
        t.rules
    )


IPTABLES_ONLY = [
    Flow("NodePort on localhost", NODE, "127.0.0.1", 3003, "10.180.0.3:80, 10.180.1.3:80", True),
    Flow(
        "no endpoints: NodePort outside nodePortAddresses",
        EXTERNAL,
        "192.168.1.2",
        3006,
        "REJECT",
        False,
    ),
]
IPTABLES_RESTRICTED = cluster(
    base_services(),
    base_slices(),
    nodes=TWO_IPS,
    kube_proxy_mode="iptables",
    node_port_addresses=(ip_network("192.168.0.0/24"),),
)


def iptables_trace(c: Cluster, flow: Flow):
    from podnet.proxy.iptables import render_iptables
    from podnet.proxy.trace_iptables import trace_iptables

    key = (id(c), flow.node, "iptables")
    if key not in _RENDERED:
        _RENDERED[key] = render_iptables(c, flow.node)
    node = next(n for n in c.nodes if n.name == flow.node)
    return trace_iptables(
        _RENDERED[key],
        node.ips,
        ip_address(flow.src),
        ip_address(flow.dst),
        flow.port,
        flow.protocol,
    )


@pytest.mark.parametrize(
    ("c", "flow"),
    [
        *IPTABLES_CASES,
        *(pytest.param(IPTABLES_CLUSTER, f, id=f.name) for f in IPTABLES_ONLY[:1]),
        *(pytest.param(IPTABLES_RESTRICTED, f, id=f.name) for f in IPTABLES_ONLY[1:]),
    ],
)
def test_trace_iptables(c: Cluster, flow: Flow) -> None:
    v = decide(c, flow.node, ip_address(flow.src), ip_address(flow.dst), flow.port, flow.protocol)
    assert (output_of(v.verdict, v.endpoints), v.masquerade) == (flow.output, flow.masq), v.reason
    t = iptables_trace(c, flow)
    assert (output_of(t.verdict, t.endpoints), t.masquerade) == (flow.output, flow.masq), "\n".join(
        t.rules
    )


def _iptables_variant(c: Cluster) -> Cluster:
    return replace(c, config=replace(c.config, kube_proxy_mode="iptables"))


AGREEMENT = [
    pytest.param(_iptables_variant(c), f, id=f"{table}: {f.name}")
    for table, c, flows in TABLES
    for f in flows
]


@pytest.mark.parametrize(("c", "flow"), AGREEMENT)
def test_iptables_rules_agree_with_the_verdicts(c: Cluster, flow: Flow) -> None:
    """Every flow of the nftables tables, in iptables mode: the traced iptables rules give what
    the verdict says for that mode (which differs from nftables in a few documented places)."""
    v = decide(c, flow.node, ip_address(flow.src), ip_address(flow.dst), flow.port, flow.protocol)
    t = iptables_trace(c, flow)
    assert (t.verdict, t.endpoints, t.masquerade) == (v.verdict, v.endpoints, v.masquerade), (
        v.reason + "\n" + "\n".join(t.rules)
    )
