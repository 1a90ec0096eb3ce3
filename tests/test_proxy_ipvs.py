"""kube-proxy's IPVS mode: the proxier's state (virtual servers, real servers, ipsets) in tables
after upstream's `pkg/proxy/ipvs/proxier_test.go` (TestNodePort*, TestClusterIP*,
TestExternalIPs, TestLoadBalancerSourceRanges, TestOnlyLocal*, TestSessionAffinity,
TestMasqueradeAll, the terminating-endpoint tests), with upstream's addresses (ClusterIP
10.20.30.41, node 100.101.102.103, endpoints 10.180.0.0/16); the same cases as flows through the
IPVS tracer, which must agree with the verdicts; the rendering's three sections.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from podnet.model.config import IPVSConfig
from podnet.model.objects import EndpointPort, Node
from podnet.proxy.ipvs import ipset_name, ipvs_proxy, render_ipvs
from podnet.proxy.trace_ipvs import trace_ipvs
from podnet.proxy.tracer import RulesetError
from podnet.proxy.verdict import decide
from tests.test_proxy_flows import TABLES, output_of
from tests.test_proxy_helpers import cluster, ep, port, service, slice_
from tests.test_proxy_nftables import small_cluster

NODE_IP = "100.101.102.103"
NODES = (
    Node("node-1", {}, (ip_address(NODE_IP),), (ip_network("10.180.0.0/24"),)),
    Node("node-2", {}, (ip_address("100.101.102.104"),), (ip_network("10.180.1.0/24"),)),
)
CONFIG = {
    "pod_subnets": (ip_network("10.180.0.0/16"),),
    "service_subnets": (ip_network("10.20.30.0/24"),),
}


@dataclass(frozen=True)
class Case:
    name: str
    services: tuple
    slices: tuple
    # "PROTO VIP:PORT" -> real servers "IP:PORT/weight"
    virtual_servers: dict[str, tuple[str, ...]]
    ipsets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # only the sets named
    persistence: dict[str, int] = field(default_factory=dict)  # "PROTO VIP:PORT" -> timeout
    config: dict = field(default_factory=dict)


def np_svc(proto: str = "TCP", node_port: int = 3001, **kw) -> object:
    p = port(80, proto, "p80", node_port=node_port)
    return service("ns1", "svc1", "10.20.30.41", (p,), type="NodePort", **kw)


def eps(*endpoints, proto: str = "TCP") -> object:
    return slice_("ns1", "svc1", *endpoints, ports=(EndpointPort(80, proto, "p80"),))


CASES = [
    Case(
        "ClusterIP, two endpoints",
        (service("ns1", "svc1", "10.20.30.41"),),
        (eps(ep("10.180.0.1"), ep("10.180.1.1", "node-2")),),
        {"TCP 10.20.30.41:80": ("10.180.0.1:80/1", "10.180.1.1:80/1")},
        {
            "KUBE-CLUSTER-IP": ("10.20.30.41,tcp:80",),
            "KUBE-LOOP-BACK": ("10.180.0.1,tcp:80,10.180.0.1",),
            "KUBE-IPVS-IPS": ("10.20.30.41",),
        },
    ),
    Case(
        "ClusterIP, no endpoints: a virtual server without real servers",
        (service("ns1", "svc1", "10.20.30.41"),),
        (),
        {"TCP 10.20.30.41:80": ()},
        {"KUBE-CLUSTER-IP": ("10.20.30.41,tcp:80",), "KUBE-LOOP-BACK": ()},
    ),
    *(
        Case(
            f"NodePort {proto}",
            (np_svc(proto),),
            (eps(ep("10.180.0.1"), proto=proto),),
            {
                f"{proto} 10.20.30.41:80": ("10.180.0.1:80/1",),
                f"{proto} {NODE_IP}:3001": ("10.180.0.1:80/1",),
            },
            sets,
        )
        for proto, sets in (
            ("TCP", {"KUBE-NODE-PORT-TCP": ("3001",), "KUBE-NODE-PORT-UDP": ()}),
            ("UDP", {"KUBE-NODE-PORT-UDP": ("3001",), "KUBE-NODE-PORT-TCP": ()}),
            ("SCTP", {"KUBE-NODE-PORT-SCTP-HASH": (f"{NODE_IP},sctp:3001",)}),
        )
    ),
    Case(
        "NodePort on the addresses nodePortAddresses selects",
        (np_svc(),),
        (eps(ep("10.180.0.1")),),
        {
            "TCP 10.20.30.41:80": ("10.180.0.1:80/1",),
            "TCP 100.101.102.103:3001": ("10.180.0.1:80/1",),
        },
        {"KUBE-NODE-PORT-TCP": ("3001",)},
        config={"node_port_addresses": (ip_network("100.101.0.0/16"),)},
    ),
    Case(
        "NodePort, nodePortAddresses select no node address: no NodePort",
        (np_svc(),),
        (eps(ep("10.180.0.1")),),
        {"TCP 10.20.30.41:80": ("10.180.0.1:80/1",)},
        {"KUBE-NODE-PORT-TCP": ()},
        config={"node_port_addresses": (ip_network("192.0.2.0/24"),)},
    ),
    Case(
        "externalIPs",
        (service("ns1", "svc1", "10.20.30.41", external_ips=("50.60.70.81",)),),
        (eps(ep("10.180.0.1")),),
        {
            "TCP 10.20.30.41:80": ("10.180.0.1:80/1",),
            "TCP 50.60.70.81:80": ("10.180.0.1:80/1",),
        },
        {
            "KUBE-EXTERNAL-IP": ("50.60.70.81,tcp:80",),
            "KUBE-IPVS-IPS": ("10.20.30.41", "50.60.70.81"),
        },
    ),
    Case(
        "externalIPs, externalTrafficPolicy Local",
        (
            service(
                "ns1",
                "svc1",
                "10.20.30.41",
                (port(80, node_port=3001),),
                type="NodePort",
                external_ips=("50.60.70.81",),
                external_traffic_policy="Local",
            ),
        ),
        (eps(ep("10.180.0.1"), ep("10.180.1.1", "node-2")),),
        {
            "TCP 10.20.30.41:80": ("10.180.0.1:80/1", "10.180.1.1:80/1"),
            "TCP 50.60.70.81:80": ("10.180.0.1:80/1",),
            "TCP 100.101.102.103:3001": ("10.180.0.1:80/1",),
        },
        {
            "KUBE-EXTERNAL-IP-LOCAL": ("50.60.70.81,tcp:80",),
            "KUBE-EXTERNAL-IP": (),
            "KUBE-NODE-PORT-LOCAL-TCP": ("3001",),
            "KUBE-NODE-PORT-TCP": ("3001",),
        },
    ),
    Case(
        "externalTrafficPolicy Local, no local endpoint: the cluster's (kubernetes#97081)",
        (np_svc(external_traffic_policy="Local"),),
        (eps(ep("10.180.1.1", "node-2")),),
        {
            "TCP 10.20.30.41:80": ("10.180.1.1:80/1",),
            "TCP 100.101.102.103:3001": ("10.180.1.1:80/1",),
        },
    ),
    Case(
        "LoadBalancer with loadBalancerSourceRanges",
        (
            service(
                "ns1",
                "svc1",
                "10.20.30.41",
                (port(80, node_port=3001),),
                type="LoadBalancer",
                lb=("1.2.3.4",),
                ranges=("192.168.0.0/24",),
            ),
        ),
        (eps(ep("10.180.0.1")),),
        {
            "TCP 1.2.3.4:80": ("10.180.0.1:80/1",),
            "TCP 10.20.30.41:80": ("10.180.0.1:80/1",),
            "TCP 100.101.102.103:3001": ("10.180.0.1:80/1",),
        },
        {
            "KUBE-LOAD-BALANCER": ("1.2.3.4,tcp:80",),
            "KUBE-LOAD-BALANCER-FW": ("1.2.3.4,tcp:80",),
            "KUBE-LOAD-BALANCER-SOURCE-CIDR": ("1.2.3.4,tcp:80,192.168.0.0/24",),
            "KUBE-LOAD-BALANCER-SOURCE-IP": (),
            "KUBE-LOAD-BALANCER-LOCAL": (),
        },
    ),
    Case(
        "LoadBalancer, the node inside the ranges: its VIP-sourced traffic allowed",
        (
            service(
                "ns1",
                "svc1",
                "10.20.30.41",
                (port(80, node_port=3001),),
                type="LoadBalancer",
                lb=("1.2.3.4",),
                ranges=("100.101.0.0/16",),
                external_traffic_policy="Local",
                health_check_node_port=30000,
            ),
        ),
        (eps(ep("10.180.0.1")),),
        {
            "TCP 1.2.3.4:80": ("10.180.0.1:80/1",),
            "TCP 10.20.30.41:80": ("10.180.0.1:80/1",),
            "TCP 100.101.102.103:3001": ("10.180.0.1:80/1",),
        },
        {
            "KUBE-LOAD-BALANCER-SOURCE-IP": ("1.2.3.4,tcp:80,1.2.3.4",),
            "KUBE-LOAD-BALANCER-LOCAL": ("1.2.3.4,tcp:80",),
            "KUBE-HEALTH-CHECK-NODE-PORT": ("30000",),
        },
    ),
    Case(
        "ClientIP session affinity: persistence with its timeout",
        (
            service(
                "ns1",
                "svc1",
                "10.20.30.41",
                session_affinity="ClientIP",
                session_affinity_timeout=10800,
                external_ips=("50.60.70.81",),
            ),
        ),
        (eps(ep("10.180.0.1")),),
        {"TCP 10.20.30.41:80": ("10.180.0.1:80/1",), "TCP 50.60.70.81:80": ("10.180.0.1:80/1",)},
        persistence={"TCP 10.20.30.41:80": 10800, "TCP 50.60.70.81:80": 10800},
    ),
    Case(
        "terminating endpoints: weight 0 beside ready ones",
        (service("ns1", "svc1", "10.20.30.41"),),
        (
            eps(
                ep("10.180.0.1"),
                ep("10.180.0.2", ready=False, serving=True, terminating=True),
                ep("10.180.0.3", ready=False, serving=False, terminating=True),
            ),
        ),
        {"TCP 10.20.30.41:80": ("10.180.0.1:80/1", "10.180.0.2:80/0", "10.180.0.3:80/0")},
    ),
    Case(
        "only terminating endpoints: the serving ones, weight 1",
        (service("ns1", "svc1", "10.20.30.41"),),
        (
            eps(
                ep("10.180.0.2", ready=False, serving=True, terminating=True),
                ep("10.180.0.3", ready=False, serving=False, terminating=True),
            ),
        ),
        {"TCP 10.20.30.41:80": ("10.180.0.2:80/1", "10.180.0.3:80/0")},
    ),
    Case(
        "internalTrafficPolicy Local: the node's endpoints",
        (service("ns1", "svc1", "10.20.30.41", internal_traffic_policy="Local"),),
        (eps(ep("10.180.0.1"), ep("10.180.1.1", "node-2")),),
        {"TCP 10.20.30.41:80": ("10.180.0.1:80/1",)},
    ),
    Case(
        "scheduler from the IPVS settings",
        (service("ns1", "svc1", "10.20.30.41"),),
        (eps(ep("10.180.0.1")),),
        {"TCP 10.20.30.41:80": ("10.180.0.1:80/1",)},
        config={"ipvs": IPVSConfig(scheduler="lc")},
    ),
]


def build(case: Case):
    return cluster(case.services, case.slices, nodes=NODES, **{**CONFIG, **case.config})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_state(case: Case) -> None:
    c = build(case)
    state = ipvs_proxy(c, "node-1", 4)
    got = {
        f"{vs.protocol} {vs.key}": tuple(f"{r.key}/{r.weight}" for r in vs.real_servers)
        for vs in state.virtual_servers
    }
    assert got == case.virtual_servers
    sets = {s.name: s.entries for s in state.ipsets}
    for name, entries in case.ipsets.items():
        assert sets[name] == entries, name
    persistence = {f"{vs.protocol} {vs.key}": vs.timeout for vs in state.virtual_servers}
    for key, timeout in case.persistence.items():
        assert persistence[key] == timeout
    scheduler = c.config.ipvs.scheduler
    assert {vs.scheduler for vs in state.virtual_servers} == {scheduler}


def test_masquerade_all_marks_every_cluster_ip_packet() -> None:
    c = cluster(
        [service("ns1", "svc1", "10.20.30.41")],
        [eps(ep("10.180.0.1"))],
        nodes=NODES,
        masquerade_all=True,
        **CONFIG,
    )
    nat = ipvs_proxy(c, "node-1", 4).nat
    rule = (
        '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for'
        ' masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'
    )
    assert rule in nat
    v = decide(c, "node-1", ip_address("10.180.0.5"), ip_address("10.20.30.41"), 80, mode="ipvs")
    assert v.masquerade


def test_ipv6_set_names() -> None:
    assert ipset_name("KUBE-CLUSTER-IP", 6) == "KUBE-6-CLUSTER-IP"
    assert ipset_name("KUBE-NODE-PORT-LOCAL-SCTP-HASH", 6) == "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS"
    assert ipset_name("KUBE-CLUSTER-IP", 4) == "KUBE-CLUSTER-IP"


# the same cases as flows ----------------------------------------------------------------------

EXTERNAL, POD, REMOTE = "203.0.113.2", "10.180.0.5", "10.180.1.5"


@dataclass(frozen=True)
class Flow:
    case: str
    src: str
    dst: str
    port: int
    output: str  # endpoints, or DROP / REJECT / NONE
    masq: bool
    protocol: str = "TCP"


FLOWS = [
    Flow("ClusterIP, two endpoints", POD, "10.20.30.41", 80, "10.180.0.1:80, 10.180.1.1:80", False),
    Flow("ClusterIP, two endpoints", EXTERNAL, "10.20.30.41", 80, "10.180.0.1:80, 10.180.1.1:80", True),
    Flow("ClusterIP, two endpoints", "10.180.0.1", "10.20.30.41", 80, "10.180.0.1:80, 10.180.1.1:80", True),
    Flow("ClusterIP, two endpoints", POD, "10.20.30.41", 8080, "REJECT", False),
    Flow("ClusterIP, two endpoints", POD, "10.20.30.99", 80, "NONE", False),
    Flow("ClusterIP, no endpoints: a virtual server without real servers", POD, "10.20.30.41", 80, "REJECT", False),
    Flow("NodePort TCP", EXTERNAL, NODE_IP, 3001, "10.180.0.1:80", True),
    Flow("NodePort TCP", EXTERNAL, NODE_IP, 3002, "NONE", False),
    Flow("NodePort UDP", EXTERNAL, NODE_IP, 3001, "10.180.0.1:80", True, "UDP"),
    Flow("NodePort UDP", EXTERNAL, NODE_IP, 3001, "NONE", False),
    Flow("NodePort SCTP", EXTERNAL, NODE_IP, 3001, "10.180.0.1:80", True, "SCTP"),
    Flow("NodePort, nodePortAddresses select no node address: no NodePort", EXTERNAL, NODE_IP, 3001, "NONE", False),
    Flow("externalIPs", EXTERNAL, "50.60.70.81", 80, "10.180.0.1:80", True),
    Flow("externalIPs", EXTERNAL, "50.60.70.81", 443, "REJECT", False),
    Flow("externalIPs, externalTrafficPolicy Local", EXTERNAL, "50.60.70.81", 80, "10.180.0.1:80", False),
    Flow("externalIPs, externalTrafficPolicy Local", EXTERNAL, NODE_IP, 3001, "10.180.0.1:80", False),
    Flow("externalTrafficPolicy Local, no local endpoint: the cluster's (kubernetes#97081)", EXTERNAL, NODE_IP, 3001, "10.180.1.1:80", False),
    Flow("LoadBalancer with loadBalancerSourceRanges", "192.168.0.9", "1.2.3.4", 80, "10.180.0.1:80", True),
    Flow("LoadBalancer with loadBalancerSourceRanges", EXTERNAL, "1.2.3.4", 80, "DROP", False),
    Flow("LoadBalancer with loadBalancerSourceRanges", EXTERNAL, NODE_IP, 3001, "10.180.0.1:80", True),
    Flow("LoadBalancer with loadBalancerSourceRanges", "1.2.3.4", "1.2.3.4", 80, "DROP", False),
    Flow("LoadBalancer, the node inside the ranges: its VIP-sourced traffic allowed", "1.2.3.4", "1.2.3.4", 80, "10.180.0.1:80", False),
    Flow("LoadBalancer, the node inside the ranges: its VIP-sourced traffic allowed", EXTERNAL, "10.20.30.41", 30000, "NONE", False),
    Flow("ClientIP session affinity: persistence with its timeout", POD, "10.20.30.41", 80, "10.180.0.1:80", False),
    Flow("terminating endpoints: weight 0 beside ready ones", POD, "10.20.30.41", 80, "10.180.0.1:80", False),
    Flow("only terminating endpoints: the serving ones, weight 1", POD, "10.20.30.41", 80, "10.180.0.2:80", False),
    Flow("internalTrafficPolicy Local: the node's endpoints", POD, "10.20.30.41", 80, "10.180.0.1:80", False),
    Flow("scheduler from the IPVS settings", NODE_IP, "10.20.30.41", 80, "10.180.0.1:80", True),
]  # fmt: skip

BY_NAME = {c.name: c for c in CASES}


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f"{f.case}: {f.src}->{f.dst}:{f.port}")
def test_flows(flow: Flow) -> None:
    c = build(BY_NAME[flow.case])
    src, dst = ip_address(flow.src), ip_address(flow.dst)
    v = decide(c, "node-1", src, dst, flow.port, flow.protocol, mode="ipvs")
    assert (output_of(v.verdict, v.endpoints), v.masquerade) == (flow.output, flow.masq), v.reason
    t = trace_ipvs(render_ipvs(c, "node-1"), NODES[0].ips, src, dst, flow.port, flow.protocol)
    assert (output_of(t.verdict, t.endpoints), t.masquerade) == (flow.output, flow.masq), "\n".join(
        t.rules
    )


_RENDERED: dict[tuple[int, str], str] = {}

AGREEMENT = [
    pytest.param(c, f, id=f"{table}: {f.name}") for table, c, flows in TABLES for f in flows
]


@pytest.mark.parametrize(("c", "flow"), AGREEMENT)
def test_ipvs_rules_agree_with_the_verdicts(c, flow) -> None:
    """Every flow of the other modes' tables, in the IPVS mode: the traced rendering gives what
    the IPVS verdict says."""
    key = (id(c), flow.node)
    if key not in _RENDERED:
        _RENDERED[key] = render_ipvs(c, flow.node)
    node = next(n for n in c.nodes if n.name == flow.node)
    src, dst = ip_address(flow.src), ip_address(flow.dst)
    v = decide(c, flow.node, src, dst, flow.port, flow.protocol, mode="ipvs")
    t = trace_ipvs(_RENDERED[key], node.ips, src, dst, flow.port, flow.protocol)
    assert (t.verdict, t.endpoints, t.masquerade) == (v.verdict, v.endpoints, v.masquerade), (
        v.reason + "\n" + "\n".join(t.rules)
    )


# the rendering --------------------------------------------------------------------------------


def test_three_sections() -> None:
    case = BY_NAME["NodePort UDP"]
    text = render_ipvs(build(case), "node-1")
    heads = [line for line in text.splitlines() if line.startswith("# ")]
    assert heads == ["# ipvsadm", "# ipset", "# iptables"]
    assert "-A -u 10.20.30.41:80 -s rr\n" in text
    assert "-a -u 10.20.30.41:80 -r 10.180.0.1:80 -m -w 1\n" in text
    assert "create KUBE-NODE-PORT-UDP bitmap:port range 0-65535\n" in text
    assert "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n" in text
    assert "add KUBE-NODE-PORT-UDP 3001\n" in text
    assert "*nat\n:KUBE-SERVICES - [0:0]\n" in text


def test_rendering_options() -> None:
    sctp = render_ipvs(build(BY_NAME["NodePort SCTP"]), "node-1")
    assert f"-A --sctp-service {NODE_IP}:3001 -s rr\n" in sctp
    sticky = render_ipvs(
        build(BY_NAME["ClientIP session affinity: persistence with its timeout"]), "node-1"
    )
    assert "-A -t 10.20.30.41:80 -s rr -p 10800\n" in sticky
    timeouts = replace(BY_NAME["scheduler from the IPVS settings"], config={
        "ipvs": IPVSConfig(scheduler="wrr", tcp_timeout=900, tcp_fin_timeout=120, udp_timeout=300)
    })  # fmt: skip
    text = render_ipvs(build(timeouts), "node-1")
    assert text.startswith("# ipvsadm\n--set 900 120 300\n-A -t 10.20.30.41:80 -s wrr\n")


def test_dual_stack_sections() -> None:
    c = next(c for table, c, _ in TABLES if table == "dual-stack")
    text = render_ipvs(c, "node-1")
    heads = [line for line in text.splitlines() if line.startswith("# ")]
    assert heads == ["# ipvsadm", "# ipset", "# iptables", "# ip6tables"]
    assert "-A -t [fd00:172:30::41]:80 -s rr\n" in text
    assert (
        "create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536\n" in text
    )
    assert "-A KUBE-SERVICES -s ::1/128 -j RETURN\n" in text


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("-a -t 10.20.30.41:80 -r", "-a -t 10.20.30.41:80 -x", "not a real server"),
        ("add KUBE-CLUSTER-IP", "del KUBE-CLUSTER-IP", "not a line the renderer writes"),
        ("-m set --match-set KUBE-IPVS-IPS dst", "-m set --match-set NOPE dst", "undefined ipset"),
        ("# ipset\n", "", "no '# ipset' section"),
    ],
)
def test_tracer_refuses_what_the_renderer_does_not_write(old: str, new: str, message: str) -> None:
    text = render_ipvs(build(BY_NAME["ClusterIP, two endpoints"]), "node-1")
    assert old in text
    with pytest.raises(RulesetError, match=message):
        trace_ipvs(
            text.replace(old, new, 1),
            NODES[0].ips,
            ip_address(POD),
            ip_address("10.20.30.41"),
            8080,
        )


def test_bridged_sources_take_the_local_destination_accept() -> None:
    """`-m physdev ! --physdev-is-in`: a pod behind a bridge is not "off-machine" traffic; its
    packet to an external IP is accepted by the next rule (the address is local) instead."""
    c = build(BY_NAME["externalIPs"])
    text = render_ipvs(c, "node-1")
    args = (NODES[0].ips, ip_address(POD), ip_address("50.60.70.81"), 80)
    plain = trace_ipvs(text, *args)
    bridged = trace_ipvs(text, *args, bridged=lambda ip: ip in ip_network("10.180.0.0/24"))
    assert (plain.verdict, plain.endpoints) == (bridged.verdict, bridged.endpoints)
    assert any("--physdev-is-in" in r for r in plain.rules)
    assert not any("--physdev-is-in" in r for r in bridged.rules)
    assert any("--dst-type LOCAL -j ACCEPT" in r for r in bridged.rules)


GOLDEN = Path(__file__).parent / "golden" / "proxy"


@pytest.mark.parametrize("node", ["node-1", "node-2"])
def test_golden_ipvs(node: str) -> None:
    """The whole rendering of the proxy tests' small cluster, byte for byte (the rendering is
    deterministic: virtual servers by address, sets in upstream's order, rules in its order)."""
    path = GOLDEN / f"small-{node}.ipvs"
    text = render_ipvs(small_cluster(), node)
    if os.environ.get("PODNET_UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text)
    assert text == path.read_text()


# iptables chains, as upstream's checkIptables compares them -----------------------------------

UPSTREAM_LB = {
    # TestLoadBalancerSourceRanges
    "source ranges": service(
        "ns1",
        "svc1",
        "10.20.30.41",
        type="LoadBalancer",
        lb=("1.2.3.4",),
        ranges=("10.0.0.0/8",),
    ),
    # TestOnlyLocalLoadBalancing
    "only local": service(
        "ns1",
        "svc1",
        "10.20.30.41",
        (port(80, node_port=3001),),
        type="LoadBalancer",
        lb=("1.2.3.4",),
        external_traffic_policy="Local",
    ),
}

CHAINS = [
    (
        "source ranges",
        {
            "KUBE-SERVICES": [
                "RETURN -s 127.0.0.0/8",
                "KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER",
                "KUBE-MARK-MASQ KUBE-CLUSTER-IP",
                "KUBE-NODE-PORT",
                "ACCEPT KUBE-CLUSTER-IP",
                "ACCEPT KUBE-LOAD-BALANCER",
            ],
            "KUBE-PROXY-FIREWALL": ["KUBE-SOURCE-RANGES-FIREWALL KUBE-LOAD-BALANCER-FW"],
            "KUBE-SOURCE-RANGES-FIREWALL": ["RETURN KUBE-LOAD-BALANCER-SOURCE-CIDR", "DROP"],
        },
        {"TCP 1.2.3.4:80": ("10.180.0.1:80/1",), "TCP 10.20.30.41:80": ("10.180.0.1:80/1",)},
        {"KUBE-LOAD-BALANCER-SOURCE-CIDR": ("1.2.3.4,tcp:80,10.0.0.0/8",)},
    ),
    (
        "only local",
        {
            "KUBE-SERVICES": [
                "RETURN -s 127.0.0.0/8",
                "KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER",
                "KUBE-MARK-MASQ KUBE-CLUSTER-IP",
                "KUBE-NODE-PORT",
                "ACCEPT KUBE-CLUSTER-IP",
                "ACCEPT KUBE-LOAD-BALANCER",
            ],
            "KUBE-LOAD-BALANCER": ["RETURN KUBE-LOAD-BALANCER-LOCAL", "KUBE-MARK-MASQ"],
        },
        {
            "TCP 1.2.3.4:80": ("10.180.0.1:80/1",),
            "TCP 10.20.30.41:80": ("10.180.0.1:80/1", "10.180.1.1:80/1"),
            "TCP 100.101.102.103:3001": ("10.180.0.1:80/1",),
        },
        {"KUBE-LOAD-BALANCER-LOCAL": ("1.2.3.4,tcp:80",)},
    ),
]


def chain_summary(lines: tuple[str, ...]) -> dict[str, list[str]]:
    """Each rule as upstream's test states it: its target and the set it matches."""
    out: dict[str, list[str]] = {}
    for line in lines:
        words = line.split()
        target = words[words.index("-j") + 1]
        matched = words[words.index("--match-set") + 1] if "--match-set" in words else ""
        if not matched and "-s" in words:
            matched = f"-s {words[words.index('-s') + 1]}"
        out.setdefault(words[1], []).append(f"{target} {matched}".strip())
    return out


@pytest.mark.parametrize(("name", "chains", "servers", "sets"), CHAINS, ids=[c[0] for c in CHAINS])
def test_upstream_chains(name: str, chains: dict, servers: dict, sets: dict) -> None:
    c = cluster(
        [UPSTREAM_LB[name]],
        [
            eps(
                ep("10.180.0.1"),
                ep("10.180.1.1", "node-2") if name == "only local" else ep("10.180.0.1"),
            )
        ],
        nodes=NODES,
        **CONFIG,
    )
    state = ipvs_proxy(c, "node-1", 4)
    got = chain_summary(state.nat) | chain_summary(state.filter)
    for chain, rules in chains.items():
        assert got[chain] == rules, chain
    vs = {
        f"{v.protocol} {v.key}": tuple(f"{r.key}/{r.weight}" for r in v.real_servers)
        for v in state.virtual_servers
    }
    assert vs == servers
    for set_name, entries in sets.items():
        assert state.ipset(set_name).entries == entries


def test_end_to_end_trace_uses_the_ipvs_verdicts() -> None:
    """`podnet trace` on an ipvs cluster: kube-proxy's hop is the IPVS mode's (a ClusterIP on a
    port it does not serve is rejected by KUBE-IPVS-FILTER; the iptables mode routes it on)."""
    from podnet.model.cluster import load_cluster
    from podnet.path.trace import trace

    shop = load_cluster([str(Path(__file__).parents[1] / "examples" / "shop")])
    client = next(p.key for p in shop.pods if p.key.startswith("shop/frontend-"))
    ipvs = replace(shop, config=replace(shop.config, kube_proxy_mode="ipvs"))
    served = trace(ipvs, client, "shop/svc/cart", 80, "TCP")
    assert served.verdict == "delivered"
    assert "ClusterIP virtual server" in served.hops[1].summary
    unserved = trace(ipvs, client, "shop/svc/cart", 8080, "TCP")
    assert unserved.verdict == "rejected"
    assert "KUBE-IPVS-FILTER" in unserved.reason
