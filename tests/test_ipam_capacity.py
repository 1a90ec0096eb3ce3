"""podnet.ipam.capacity and `podnet ipam check`: capacity, conflicts, advice, host routes."""

from __future__ import annotations

import io
import json
import sys
from ipaddress import ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import podnet.cli
from podnet.errors import InvalidValue, ManifestError
from podnet.ipam import capacity as pl
from podnet.ipam import subnet as sn
from podnet.ipam.allocate import host_addresses
from podnet.model.address_plan import plan_from_cluster
from podnet.model.cluster import cluster_from_text
from podnet.report import ipam as ipam_report


def make_plan(
    pod="10.244.0.0/16",
    mask=24,
    service="10.96.0.0/12",
    node="172.18.0.0/16",
    pods=(0, 0),
    services=2,
    node_ports=0,
    mask6=64,
    pool=(),
) -> pl.AddressPlan:
    pod_subnets = tuple(ip_network(p) for p in pod.split(","))
    return pl.AddressPlan(
        name="test",
        pod_subnets=pod_subnets,
        node_masks={4: mask, 6: mask6},
        service_subnets=tuple(ip_network(s) for s in service.split(",")),
        node_subnet=ip_network(node),
        node_port_range=(30000, 32767),
        pods_by_node={f"node-{i + 1}": n for i, n in enumerate(pods)},
        services_by_family={4: services},
        node_ports=pl.NodePorts(needed=node_ports),
        load_balancer_pool=tuple(ip_network(p) for p in pool),
    )


def usage(report: pl.Report, what: str) -> pl.Usage:
    return next(u for u in report.usages if u.what.startswith(what))


# ---------------------------------------------------------------------------------------------
# Capacity

CAPACITY = [
    # pod subnet, node mask, maxPods, nodes, pods per node (IP-limited, maxPods-limited), services
    ("10.244.0.0/16", 24, 110, 256, 110, 1048574),  # kubeadm + Flannel defaults
    ("10.244.0.0/16", 24, 300, 256, 253, 1048574),  # .0, gateway .1 and .255 are not for pods
    ("10.244.0.0/16", 25, 110, 512, 110, 1048574),
    ("10.244.0.0/16", 26, 110, 1024, 61, 1048574),
    ("10.0.0.0/8", 24, 110, 65536, 110, 1048574),
    ("10.244.0.0/22", 24, 110, 4, 110, 1048574),
    ("10.244.0.0/24", 24, 110, 1, 110, 1048574),
    ("10.244.0.0/24", 30, 110, 64, 1, 1048574),
    ("10.244.0.0/24", 31, 110, 128, 0, 1048574),
]


@pytest.mark.parametrize("pod,mask,max_pods,nodes,per_node,services", CAPACITY)
def test_capacity(pod, mask, max_pods, nodes, per_node, services):
    report = pl.check(make_plan(pod=pod, mask=mask), max_pods=max_pods)
    assert usage(report, "nodes").capacity == nodes
    assert usage(report, "pods on the busiest node").capacity == per_node
    assert usage(report, "pods at full size").capacity == nodes * per_node
    assert usage(report, "Services").capacity == services
    assert usage(report, "NodePorts").capacity == 2768
    assert usage(report, "node IPs").capacity == 65533  # .1 is the gateway, nodes from .2


@pytest.mark.parametrize("mask", [20, 23, 24, 25, 26, 28, 29, 30, 31, 32])
def test_pods_per_node_matches_the_allocator(mask):
    cidr = next(ip_network("10.244.0.0/16").subnets(new_prefix=mask))
    assert pl.pods_per_node_cidr(sn.FAMILIES[4], mask) == len(list(host_addresses(cidr, 2, set())))


@pytest.mark.parametrize("mask", [112, 120, 126, 127, 128])
def test_pods_per_node_matches_the_allocator_ipv6(mask):
    cidr = next(ip_network("fd00:10:244::/56").subnets(new_prefix=mask))
    assert pl.pods_per_node_cidr(sn.FAMILIES[6], mask) == len(list(host_addresses(cidr, 2, set())))


STATES = [
    # pod subnet, mask, pods on each node, expected state of "nodes", of "pods on busiest"
    ("10.244.0.0/22", 24, (1, 1), "ok", "ok"),
    ("10.244.0.0/22", 24, (1, 1, 1), "ok", "ok"),  # 75%
    ("10.244.0.0/22", 24, (1, 1, 1, 1), "tight", "ok"),  # 100%: full but not over
    ("10.244.0.0/22", 24, (1, 1, 1, 1, 1), "full", "ok"),
    ("10.244.0.0/16", 24, (88, 0), "ok", "tight"),
    ("10.244.0.0/16", 24, (111, 0), "ok", "full"),
]


@pytest.mark.parametrize("pod,mask,pods,nodes_state,pods_state", STATES)
def test_states_and_status(pod, mask, pods, nodes_state, pods_state):
    report = pl.check(make_plan(pod=pod, mask=mask, pods=pods))
    assert usage(report, "nodes").state == nodes_state
    assert usage(report, "pods on the busiest node").state == pods_state
    states = {nodes_state, pods_state}
    expected = "broken" if "full" in states else "tight" if "tight" in states else "ok"
    assert report.status == expected
    if expected != "ok":
        assert report.advice  # advice comes when the plan is tight or broken


def test_a_small_node_range_is_noted_against_max_pods():
    report = pl.check(make_plan(mask=26))
    assert any(
        "a /26 node range holds 61 pods, fewer than maxPods 110" in n
        and "use a node mask of /25" in n
        for n in report.notes
    )
    assert not pl.check(make_plan(mask=25)).notes


def test_service_range_larger_than_the_apiserver_allows():
    report = pl.check(make_plan(service="10.96.0.0/11"))
    assert any(
        "larger than kube-apiserver allows (at most /12 for IPv4)" in p for p in report.problems
    )
    assert report.status == "broken"
    assert not pl.check(make_plan(service="10.96.0.0/12")).problems


def test_public_ranges_are_noted():
    report = pl.check(make_plan(pod="100.0.0.0/16"))
    assert any(n.startswith("pod subnet 100.0.0.0/16 is not private") for n in report.notes)


# ---------------------------------------------------------------------------------------------
# Conflicts

CONFLICTS = [
    # pod, service, node, existing, expected conflicts
    ("10.244.0.0/16", "10.96.0.0/12", "172.18.0.0/16", [], []),
    (
        "10.96.0.0/16",
        "10.96.0.0/12",
        "172.18.0.0/16",
        [],
        ["pod subnet 10.96.0.0/16 lies inside service subnet 10.96.0.0/12"],
    ),
    (
        "10.0.0.0/8",
        "10.96.0.0/12",
        "10.1.0.0/16",
        [],
        [
            "pod subnet 10.0.0.0/8 contains service subnet 10.96.0.0/12",
            "pod subnet 10.0.0.0/8 contains node subnet 10.1.0.0/16",
        ],
    ),
    (
        "10.244.0.0/16",
        "10.96.0.0/12",
        "172.18.0.0/16",
        ["vpc=10.0.0.0/8"],
        [
            "pod subnet 10.244.0.0/16 lies inside existing vpc 10.0.0.0/8",
            "service subnet 10.96.0.0/12 lies inside existing vpc 10.0.0.0/8",
        ],
    ),
    (
        "10.244.0.0/16",
        "10.96.0.0/12",
        "172.18.0.0/16",
        ["vpn=10.244.8.0/24"],
        ["pod subnet 10.244.0.0/16 contains existing vpn 10.244.8.0/24"],
    ),
    (
        "10.244.0.0/16",
        "10.96.0.0/12",
        "172.18.0.0/16",
        ["10.244.0.0/16"],
        ["pod subnet 10.244.0.0/16 is the same network as existing network 10.244.0.0/16"],
    ),
    # The nodes live in the VPC: the node subnet inside an existing network is expected...
    ("10.244.0.0/16", "10.96.0.0/12", "172.18.0.0/16", ["vpc=172.16.0.0/12"], []),
    ("10.244.0.0/16", "10.96.0.0/12", "172.18.0.0/16", ["172.18.0.0/16"], []),
    # ...but not an existing network inside the node subnet.
    (
        "10.244.0.0/16",
        "10.96.0.0/12",
        "172.18.0.0/16",
        ["office=172.18.5.0/24"],
        ["node subnet 172.18.0.0/16 contains existing office 172.18.5.0/24"],
    ),
    ("10.244.0.0/16", "10.96.0.0/12", "172.18.0.0/16", ["2001:db8::/32"], []),
]


@pytest.mark.parametrize("pod,service,node,existing,expected", CONFLICTS)
def test_conflicts(pod, service, node, existing, expected):
    report = pl.check(make_plan(pod=pod, service=service, node=node), pl.parse_existing(existing))
    assert [str(c) for c in report.conflicts] == expected
    assert (report.status == "broken") == bool(expected)


def test_load_balancer_pool_may_sit_in_the_node_subnet():
    plan = make_plan(pool=("172.18.255.200/29",))
    assert not pl.check(plan).conflicts
    plan = make_plan(pool=("10.244.5.0/29",))
    assert [str(c) for c in pl.check(plan).conflicts] == [
        "pod subnet 10.244.0.0/16 contains load balancer pool 10.244.5.0/29"
    ]


def test_existing_requires_networks():
    with pytest.raises(InvalidValue, match="'10.0.0.1/8': host bits set"):
        pl.parse_existing(["vpc=10.0.0.1/8"])


# ---------------------------------------------------------------------------------------------
# Advice

SIZING = [
    # nodes, pods per node -> node mask, pod subnet prefix (IPv4)
    (500, 110, 25, 16),
    (500, 60, 26, 17),
    (256, 253, 24, 16),
    (257, 253, 24, 15),
    (1, 254, 23, 23),
    (1, 1, 30, 30),
    (5000, 29, 27, 14),
    (5000, 30, 26, 13),
    (3, 110, 25, 23),
]


@pytest.mark.parametrize("nodes,pods,mask,prefix", SIZING)
def test_sizing(nodes, pods, mask, prefix):
    assert pl.smallest_node_mask(sn.FAMILIES[4], pods) == mask
    assert pl.pod_prefix_for(nodes, mask) == prefix


@given(nodes=st.integers(1, 100000), pods=st.integers(1, 5000))
@settings(max_examples=300, deadline=None)
def test_property_sizing_is_smallest_that_fits(nodes, pods):
    fam = sn.FAMILIES[4]
    mask = pl.smallest_node_mask(fam, pods)
    assert pl.pods_per_node_cidr(fam, mask) >= pods
    assert pl.pods_per_node_cidr(fam, mask + 1) < pods
    prefix = pl.pod_prefix_for(nodes, mask)
    assert 2 ** (mask - prefix) >= nodes
    assert 2 ** (mask - prefix - 1) < nodes or prefix == mask


def test_advice_for_growth_widens_the_pod_subnet_in_place():
    report = pl.check(make_plan(), growth=pl.Growth(nodes=500, pods_per_node=110))
    assert report.advice == (
        "node mask: /25 is the smallest range holding 110 pods (125 pod IPs); the current /24 "
        "holds 253",
        "growth: 10.244.0.0/16 at /24 holds 256 nodes of 253 pods; 500 nodes of 110 pods need "
        "a /16 at /25",
        "pod subnet: 10.244.0.0/16 with node mask /25 holds 512 nodes of 125 pods and is free",
    )
    assert report.status == "tight" and not report.growth_fits


def test_advice_chooses_free_space_around_existing_networks():
    existing = pl.parse_existing(["vpc=10.0.0.0/9", "dc=10.192.0.0/10"])
    report = pl.check(make_plan(), existing, growth=pl.Growth(nodes=1000, pods_per_node=50))
    # 10.128.0.0/10 is the only free space of 10/8; the service subnet avoids the pod subnet
    # just chosen.
    assert (
        "pod subnet: 10.128.0.0/16 with node mask /26 holds 1024 nodes of 61 pods and is "
        "free" in report.advice
    )
    assert (
        "service subnet: 10.144.0.0/12 is free and the same size as 10.96.0.0/12" in report.advice
    )


def test_advice_when_no_private_space_is_left():
    existing = pl.parse_existing(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
    report = pl.check(make_plan(), existing)
    assert "pod subnet: no free /24 in the private ranges" in report.advice
    assert "service subnet: no free /12 in the private ranges" in report.advice
    assert not any(c.first.name == "node subnet" for c in report.conflicts)


def test_growth_that_fits_gives_advice_but_ok():
    report = pl.check(make_plan(), growth=pl.Growth(nodes=100, pods_per_node=100))
    assert report.status == "ok" and report.growth_fits
    assert report.advice[0].startswith("node mask: /25")
    assert not any(a.startswith("growth:") for a in report.advice)


def test_no_advice_for_a_healthy_plan_without_growth():
    assert pl.check(make_plan()).advice == ()


def test_ipv6_sizing_keeps_the_configured_node_mask():
    plan = make_plan(pod="10.244.0.0/16,fd00:10:244::/56", service="10.96.0.0/12")
    report = pl.check(plan, growth=pl.Growth(nodes=300, pods_per_node=110))
    assert "node mask: the configured /64 holds 110 pods" in report.advice
    assert any(
        a.startswith("growth: fd00:10:244::/56 at /64 holds 256 nodes")
        and a.endswith("need a /55 at /64")
        for a in report.advice
    )


# ---------------------------------------------------------------------------------------------
# From a cluster

MANIFESTS = """\
apiVersion: podnet.io/v1alpha1
kind: ClusterNetwork
metadata: {name: tiny}
spec:
  podSubnet: 10.244.0.0/22
  nodeCIDRMaskSize: 24
  serviceSubnet: 10.96.0.0/28
  nodes: [{name: a}, {name: b}, {name: c}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 5
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, nodePort: 30080}, {name: https, port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
"""


def test_plan_from_cluster():
    plan = plan_from_cluster(cluster_from_text(MANIFESTS))
    assert plan.name == "tiny"
    assert plan.nodes == 3 and plan.pods == 7  # five declared, two CoreDNS
    assert sorted(plan.pods_by_node) == ["a", "b", "c"]
    # web, plus kubernetes and kube-dns; the headless db takes no ClusterIP
    assert plan.services_by_family == {4: 3}
    assert plan.node_ports == pl.NodePorts(needed=2)
    report = pl.check(plan)
    assert usage(report, "nodes").capacity == 4
    assert usage(report, "Services").capacity == 14


def test_bad_node_ports_and_cluster_ips_are_model_errors():
    extra = """\
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.1.5
  selector: {app: web}
  ports: [{name: a, port: 80, nodePort: 30080}, {name: b, port: 81, nodePort: 40000}]
"""
    with pytest.raises(ManifestError) as err:
        cluster_from_text(MANIFESTS + extra)
    messages = [p.message for p in err.value.problems]
    assert any("30080: provided port is already allocated" in m for m in messages)
    assert any("40000: provided port is not in the valid range" in m for m in messages)
    assert any('"10.96.1.5": provided IP is not in the valid range' in m for m in messages)


# ---------------------------------------------------------------------------------------------
# Host routes

IP_ROUTE_4 = json.dumps(
    [
        {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0", "flags": []},
        {"dst": "192.0.2.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link"},
        {"dst": "172.17.0.0/16", "dev": "docker0", "protocol": "kernel", "scope": "link"},
        {"dst": "10.8.0.0/16", "gateway": "10.8.0.1", "dev": "tun0", "table": "vpn"},
        {"type": "local", "dst": "127.0.0.0/8", "dev": "lo", "table": "local"},
        {"type": "local", "dst": "192.0.2.2", "dev": "eth0", "table": "local"},
        {"type": "broadcast", "dst": "192.0.2.255", "dev": "eth0", "table": "local"},
        {"type": "unreachable", "dst": "10.99.0.0/16", "flags": []},
        {"dst": "169.254.0.0/16", "dev": "eth0", "scope": "link"},
    ]
)
IP_ROUTE_6 = json.dumps(
    [
        {"dst": "fd00::/64", "dev": "eth0", "protocol": "kernel", "metric": 256},
        {"dst": "fe80::/64", "dev": "eth0", "protocol": "kernel", "metric": 256},
        {"dst": "default", "gateway": "fd00::1", "dev": "eth0"},
        {"type": "local", "dst": "::1", "dev": "lo", "table": "local"},
        {"type": "multicast", "dst": "ff00::/8", "dev": "eth0", "table": "local"},
    ]
)


def test_parse_ip_route_json():
    routes = pl.parse_ip_route_json(IP_ROUTE_4, 4) + pl.parse_ip_route_json(IP_ROUTE_6, 6)
    assert [str(r) for r in routes] == [
        "host route (dev eth0) 192.0.2.0/24",
        "host route (dev docker0) 172.17.0.0/16",
        "host route (dev tun0 table vpn) 10.8.0.0/16",
        "host route 10.99.0.0/16",
        "host route (dev eth0) fd00::/64",
    ]


def test_parse_ip_route_json_rejects_garbage():
    with pytest.raises(InvalidValue, match="printed no JSON"):
        pl.parse_ip_route_json("not json", 4)


PROC_NET_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""
PROC_IPV6_ROUTE = """\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 \
00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 \
00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0
"""


@pytest.mark.skipif(sys.byteorder != "little", reason="the sample is from a little-endian host")
def test_parse_proc_net_route():
    assert [str(r) for r in pl.parse_proc_net_route(PROC_NET_ROUTE)] == [
        "host route (dev eth0) 192.0.2.0/24",
        "host route (dev docker0) 172.17.0.0/16",
    ]
    assert [str(r) for r in pl.parse_proc_ipv6_route(PROC_IPV6_ROUTE)] == [
        "host route (dev eth0) fd00::/64",
    ]


def test_host_routes_conflict_like_existing_networks():
    routes = pl.parse_ip_route_json(IP_ROUTE_4, 4)
    report = pl.check(make_plan(pod="172.16.0.0/12", node="192.0.2.0/24"), routes)
    assert [str(c) for c in report.conflicts] == [
        "pod subnet 172.16.0.0/12 contains host route (dev docker0) 172.17.0.0/16",
        "service subnet 10.96.0.0/12 contains host route 10.99.0.0/16",
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux routes")
def test_read_host_routes_on_this_host():
    for route in pl.read_host_routes():
        assert route.name.startswith("host route")
        assert route.network.prefixlen > 0


def test_bar():
    assert ipam_report.bar(0.0) == "░" * 20
    assert ipam_report.bar(0.001) == "█" + "░" * 19
    assert ipam_report.bar(0.5) == "█" * 10 + "░" * 10
    assert ipam_report.bar(3.0) == "█" * 20


# ---------------------------------------------------------------------------------------------
# The command


def run(monkeypatch, capsys, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["podnet", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as ex:
        podnet.cli.main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return ex.value.code or 0, out, err


@pytest.fixture
def manifests(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(MANIFESTS)
    return str(path)


def test_cli_check_table(monkeypatch, capsys, manifests):
    code, out, _ = run(monkeypatch, capsys, "ipam", "check", manifests)
    assert code == 0
    assert "address plan of cluster tiny: ok" in out
    assert "nodes (node ranges of /24)" in out and "10.244.0.0/22" in out
    assert "█" in out


def test_cli_check_json_with_existing_conflict_exits_1(monkeypatch, capsys, manifests):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "ipam",
        "check",
        manifests,
        "--existing",
        "vpn=10.244.2.0/24",
        "-o",
        "json",
    )
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "broken"
    assert [c["message"] for c in data["conflicts"]] == [
        "pod subnet 10.244.0.0/22 contains existing vpn 10.244.2.0/24"
    ]
    assert any(a.startswith("pod subnet: ") for a in data["advice"])
    nodes = data["capacity"][0]
    assert (nodes["capacity"], nodes["used"], nodes["free"]) == (4, 3, 1)


def test_cli_check_growth(monkeypatch, capsys, manifests):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "ipam",
        "check",
        manifests,
        "--nodes",
        "20",
        "--pods-per-node",
        "30",
        "-o",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "tight"
    assert data["growth"] == {"nodes": 20, "pods_per_node": 30, "fits": False}
    assert (
        "growth: 10.244.0.0/22 at /24 holds 4 nodes of 253 pods; 20 nodes of 30 pods "
        "need a /21 at /26"
    ) in data["advice"]


def test_cli_check_reads_existing_from_file_and_manifests_from_stdin(monkeypatch, capsys, tmp_path):
    nets = tmp_path / "existing.txt"
    nets.write_text("# the office\n10.96.0.0/16\n")
    code, out, _ = run(
        monkeypatch,
        capsys,
        "ipam",
        "check",
        "-",
        "--existing",
        f"@{nets}",
        "-o",
        "json",
        stdin=MANIFESTS,
    )
    assert code == 1
    assert json.loads(out)["conflicts"][0]["with_network"] == "10.96.0.0/16"


def test_cli_check_without_manifests_checks_the_defaults(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "ipam", "check", "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert data["capacity"][0]["network"] == "10.244.0.0/16"


CLI_BAD = [
    (["ipam", "check", "--existing", "10.0.0.1/8"], "host bits set"),
    (["ipam", "check", "--existing", "10.0.0.0/33"], "/33"),
    (["ipam", "check", "--nodes", "0"], "bad growth"),
    (["ipam", "check", "--max-pods", "0"], "bad --max-pods 0"),
]


@pytest.mark.parametrize("args,needle", CLI_BAD, ids=[" ".join(a) for a, _ in CLI_BAD])
def test_cli_bad_input(monkeypatch, capsys, args, needle):
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err
