"""Every address of a node: several InternalIPs/ExternalIPs in a Node's status.addresses or `ips:`
in ClusterNetwork's nodes; kube-proxy serves NodePorts on the addresses nodePortAddresses selects
(upstream's NodePortAddresses: empty means every local address, or the primary IPs in nftables
mode; CIDRs select; `primary`), and the rules, the rule tracer and `podnet trace` follow it.
"""

from __future__ import annotations

import json
from ipaddress import ip_address
from typing import Any

import pytest

from podnet.proxy.iptables import render_iptables
from podnet.proxy.nftables import render_nftables
from podnet.proxy.node import node_proxy
from podnet.proxy.trace_iptables import trace_iptables
from podnet.proxy.trace_nftables import trace_nftables
from podnet.proxy.verdict import ProxyVerdict, decide
from tests.cli import run
from tests.conftest import load, manifests, problems_of

IP = ip_address


def cluster_network(**spec: Any) -> dict:
    return {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "multi"},
        "spec": spec,
    }


def node_object(name: str, *addresses: tuple[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]},
    }


WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
"""

# node-1: a primary, a second address on the node network and one outside it.
NODES = [
    {"name": "node-1", "ips": ["172.18.0.2", "172.18.1.2", "192.0.2.7"]},
    {"name": "node-2"},
]


def web_cluster(**spec: Any):  # type: ignore[no-untyped-def]
    return load(manifests(cluster_network(nodes=NODES, **spec)), WEB)


# the model -------------------------------------------------------------------------------------


def test_node_status_addresses_keep_every_address_primary_first() -> None:
    c = load(
        node_object(
            "a",
            ("Hostname", "a"),
            ("ExternalIP", "198.51.100.4"),
            ("InternalIP", "172.18.0.10"),
            ("InternalIP", "fd00::10"),
            ("InternalIP", "172.18.5.10"),
        ),
        node_object("b", ("ExternalIP", "172.18.0.20")),
    )
    a, b = c.node("a"), c.node("b")
    # InternalIPs first, then ExternalIPs; the first of each family is primary (GetNodeHostIPs).
    assert a.ips == (IP("172.18.0.10"), IP("fd00::10"), IP("172.18.5.10"), IP("198.51.100.4"))
    # Without an InternalIP, the ExternalIP is the node's IP: nothing is allocated.
    assert b.ips == (IP("172.18.0.20"),)


def test_host_network_pods_get_the_primary_ips_only() -> None:
    c = load(
        node_object("a", ("InternalIP", "172.18.0.10"), ("InternalIP", "172.18.5.10")),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "h", "namespace": "default"},
            "spec": {"nodeName": "a", "hostNetwork": True, "containers": [{"name": "c"}]},
        },
    )
    assert c.pod("default/h").ips == (IP("172.18.0.10"),)


def test_cluster_network_ips() -> None:
    c = web_cluster()
    assert c.node("node-1").ips == (IP("172.18.0.2"), IP("172.18.1.2"), IP("192.0.2.7"))
    # Allocation skips every address a node holds.
    assert c.node("node-2").ips == (IP("172.18.0.3"),)
    one = load(manifests(cluster_network(nodes=[{"name": "n", "ip": "172.18.0.9"}])))
    assert one.node("n").ips == (IP("172.18.0.9"),)


def test_a_second_address_of_another_node_is_refused() -> None:
    found = problems_of(
        manifests(
            cluster_network(
                nodes=[
                    {"name": "a", "ips": ["172.18.0.2", "172.18.0.9"]},
                    {"name": "b", "ip": "172.18.0.9"},
                ]
            )
        )
    )
    assert any("172.18.0.9 is also the IP of node a" in p.message for p in found)


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        (
            {"name": "a", "ips": ["172.18.0.2", "banana"]},
            "spec.nodes[0].ips[1]",
            "must be a valid IP",
        ),
        (
            {"name": "a", "ips": ["172.18.0.2", "172.18.0.2"]},
            "spec.nodes[0].ips[1]",
            "Duplicate value",
        ),
        ({"name": "a", "ips": "172.18.0.2"}, "spec.nodes[0].ips", "must be a list"),
        ({"name": "a", "ips": [7]}, "spec.nodes[0].ips[0]", "must be a string"),
        ({"name": "a", "ip": "172.18.0.2", "ips": ["172.18.0.3"]}, "spec.nodes[0].ips", "not both"),
        ({"name": "a", "ip": "nope"}, "spec.nodes[0].ip", "must be a valid IP"),
    ],
)
def test_bad_ips_entries(capsys, monkeypatch, entry: dict, field: str, message: str) -> None:  # type: ignore[no-untyped-def]
    text = manifests(cluster_network(nodes=[entry]))
    code, _, err = run(capsys, monkeypatch, "reach", "-", stdin=text)
    assert code == 2
    assert "Traceback" not in err
    assert "ClusterNetwork multi" in err and field in err and message in err


def test_bad_node_status_address(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = manifests(node_object("a", ("InternalIP", "172.18.0.2"), ("ExternalIP", "1.2.3")))
    code, _, err = run(capsys, monkeypatch, "reach", "-", stdin=text)
    assert code == 2
    assert "Node a" in err and "status.addresses[1].address" in err and "valid IP" in err


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (
            ["primary", "10.0.0.0/8"],
            "spec.nodePortAddresses[0]",
            "can't use both 'primary' and CIDRs",
        ),
        (["10.0.0.0/8", "primary"], "spec.nodePortAddresses[1]", "can't use both"),
        (["nonsense"], "spec.nodePortAddresses", "must be a valid CIDR"),
    ],
)
def test_bad_node_port_addresses(capsys, monkeypatch, value, field, message) -> None:  # type: ignore[no-untyped-def]
    text = manifests(cluster_network(nodePortAddresses=value))
    code, _, err = run(capsys, monkeypatch, "reach", "-", stdin=text)
    assert code == 2
    assert field in err and message in err


# nodePortAddresses -----------------------------------------------------------------------------

PRIMARY, SECOND, OUTSIDE = IP("172.18.0.2"), IP("172.18.1.2"), IP("192.0.2.7")
ALL = (PRIMARY, SECOND, OUTSIDE)
# (id, ClusterNetwork settings, the node-1 addresses NodePorts are served on; None: every local one)
SELECTION = [
    ("iptables, empty: every local address", {"kubeProxyMode": "iptables"}, None),
    ("ipvs, empty: every local address", {"kubeProxyMode": "ipvs"}, None),
    ("nftables, empty: the primary IP (KEP-3866)", {"kubeProxyMode": "nftables"}, (PRIMARY,)),
    ("default mode (nftables), empty", {}, (PRIMARY,)),
    ("nftables, explicit []", {"nodePortAddresses": []}, (PRIMARY,)),
    ("iptables, primary", {"kubeProxyMode": "iptables", "nodePortAddresses": ["primary"]}, (PRIMARY,)),
    ("nftables, node network CIDR", {"nodePortAddresses": ["172.18.0.0/16"]}, (PRIMARY, SECOND)),
    ("iptables, two CIDRs", {"kubeProxyMode": "iptables", "nodePortAddresses": ["172.18.1.0/24", "192.0.2.0/24"]}, (SECOND, OUTSIDE)),
    ("a CIDR selecting none", {"nodePortAddresses": ["10.9.0.0/16"]}, ()),
    ("0.0.0.0/0: match all", {"nodePortAddresses": ["0.0.0.0/0"]}, None),
    ("IPv6 CIDRs only: match all IPv4", {"nodePortAddresses": ["fd00::/8"]}, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "served"), [(s, w) for _, s, w in SELECTION], ids=[i for i, _, _ in SELECTION]
)
def test_node_port_addresses_selection(spec: dict, served: tuple | None) -> None:
    c = web_cluster(**spec)
    np = node_proxy(c, "node-1", 4)
    assert np.node_port_ips == served
    for ip in ALL:
        v = decide(c, "node-1", IP("203.0.113.9"), ip, 30080, "TCP")
        want = served is None or ip in served
        assert (v.verdict == ProxyVerdict.ACCEPT) == want, ip


@pytest.mark.parametrize(
    ("spec", "served"), [(s, w) for _, s, w in SELECTION], ids=[i for i, _, _ in SELECTION]
)
def test_rule_tracers_follow_the_selection(spec: dict, served: tuple | None) -> None:
    """The rendered rules, traced, agree with the model in both modes, and the configured mode
    serves exactly the selected addresses."""
    c = web_cluster(**spec)
    node_ips = c.node("node-1").ips
    configured = c.config.kube_proxy_mode
    src = IP("203.0.113.9")
    for mode, tracer, rules in (
        ("nftables", trace_nftables, render_nftables(c, "node-1")),
        ("iptables", trace_iptables, render_iptables(c, "node-1")),
    ):
        for ip in ALL:
            t = tracer(rules, node_ips, src, ip, 30080, "TCP")
            model = decide(c, "node-1", src, ip, 30080, "TCP", mode)
            assert t.verdict == model.verdict, (mode, ip)
            if mode == configured:
                want = served is None or ip in served
                assert (t.verdict == ProxyVerdict.ACCEPT) == want, (mode, ip)


def test_rules_list_every_selected_address() -> None:
    c = web_cluster(nodePortAddresses=["172.18.0.0/16"])
    nft = render_nftables(c, "node-1")
    assert "add element ip kube-proxy nodeport-ips { 172.18.0.2, 172.18.1.2 }" in nft
    ipt = render_iptables(
        c,
        "node-1",
    )
    assert "-d 172.18.1.2 -j KUBE-NODEPORTS" in ipt and "-d 192.0.2.7 -j" not in ipt


# the CLI ---------------------------------------------------------------------------------------


def _text(spec: dict) -> str:
    return manifests(cluster_network(nodes=NODES, **spec)) + "---\n" + WEB


def test_proxy_trace_on_a_second_address(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    args = ["--node", "node-1", "--src", "203.0.113.9", "--dst", "172.18.1.2", "--port", "30080"]
    code, out, _ = run(
        capsys, monkeypatch, "proxy", "trace", "-", *args, "-o", "json",
        stdin=_text({"kubeProxyMode": "iptables"}),
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["verdict"] == "ACCEPT" and len(data["endpoints"]) == 2
    code, out, _ = run(
        capsys, monkeypatch, "proxy", "trace", "-", *args, "-o", "json", stdin=_text({})
    )
    assert json.loads(out)["verdict"] == "NONE"


@pytest.mark.parametrize(
    ("spec", "target", "code", "verdict"),
    [
        ({"kubeProxyMode": "iptables"}, "172.18.1.2:30080", 0, "delivered"),
        ({"kubeProxyMode": "iptables"}, "192.0.2.7:30080", 0, "delivered"),
        ({"kubeProxyMode": "iptables"}, "node-1:30080", 0, "delivered"),
        ({}, "node-1:30080", 0, "delivered"),
        ({}, "172.18.1.2:30080", 1, "rejected"),
        ({"nodePortAddresses": ["172.18.0.0/16"]}, "172.18.1.2:30080", 0, "delivered"),
        ({"nodePortAddresses": ["172.18.0.0/16"]}, "192.0.2.7:30080", 1, "rejected"),
    ],
)
def test_trace_to_every_node_address(capsys, monkeypatch, spec, target, code, verdict) -> None:  # type: ignore[no-untyped-def]
    got, out, _ = run(
        capsys, monkeypatch, "trace", "-", "--from", "external", "--to", target, "-o", "json",
        stdin=_text(spec),
    )  # fmt: skip
    data = json.loads(out)
    assert (got, data["verdict"]) == (code, verdict)
    if verdict == "rejected":
        assert "serves NodePort 30080/TCP of shop/web on" in data["reason"]
        assert "nodePortAddresses" in data["reason"]


def test_trace_from_a_pod_to_another_nodes_node_port(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The packet leaves the client's node untranslated and meets kube-proxy on the node that
    owns the address."""
    c = web_cluster(kubeProxyMode="iptables")
    client = next(p for p in c.running_pods if p.node_name == "node-2")
    code, out, _ = run(
        capsys, monkeypatch, "trace", "-", "--from", client.key, "--to", "172.18.1.2:30080",
        "-o", "json", stdin=_text({"kubeProxyMode": "iptables"}),
    )  # fmt: skip
    data = json.loads(out)
    assert (code, data["verdict"]) == (0, "delivered")
    steps = [(h["step"], h["summary"]) for h in data["hops"]]
    assert steps[0][0] == "kube-proxy" and "on node-2: no Service rule" in steps[0][1]
    assert steps[1] == ("route", "node-2 -> node-1: host-gw via 172.18.0.2")
    assert steps[2][0] == "egress"
    assert steps[3][0] == "kube-proxy" and steps[3][1].startswith("on node-1: DNAT")


# the realisation's plan ------------------------------------------------------------------------


def test_plan_gives_a_node_its_other_addresses() -> None:
    from podnet.linux.plan import Route, make_plan

    plan = make_plan(web_cluster(), "multi")
    node1, node2 = plan.netns("pn-multi-node-1"), plan.netns("pn-multi-node-2")
    assert node1.addresses[:3] == (
        ("eth0", "172.18.0.2/16"),
        ("eth0", "172.18.1.2/16"),  # on the node network: its prefix
        ("eth0", "192.0.2.7/32"),  # outside it: routed via the primary IP
    )
    assert Route("192.0.2.7/32", "172.18.0.2", "eth0") in node2.routes
    assert Route("192.0.2.7/32", "172.18.0.2", "eth0") in plan.netns("pn-multi-external").routes
    assert not any(r.dst == "172.18.1.2/32" for r in node2.routes)
    assert "elements = { 172.18.0.2, 172.18.1.2, 192.0.2.7, 172.18.0.3 }" in node1.ruleset


@pytest.mark.parametrize(
    ("spec", "every_local"),
    [
        ({"kubeProxyMode": "iptables"}, True),
        ({"kubeProxyMode": "iptables", "nodePortAddresses": ["172.18.0.0/16"]}, False),
        ({"kubeProxyMode": "iptables", "nodePortAddresses": ["primary"]}, False),
        ({}, False),
    ],
)
def test_realised_rules_serve_node_ports_where_the_configured_mode_does(
    spec: dict, every_local: bool
) -> None:
    """The kernel always gets the nftables rules; in iptables mode without nodePortAddresses
    they serve NodePorts on every local address, as the model of that mode does."""
    from podnet.linux.plan import node_ruleset

    rules = node_ruleset(web_cluster(**spec), "node-1")
    match_all = "services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport"
    assert (match_all in rules) == every_local
    assert ("ip daddr @nodeport-ips meta l4proto" in rules) != every_local


def test_primary_ip_of_each_family_in_dual_stack() -> None:
    c = load(
        manifests(
            cluster_network(
                podSubnet="10.244.0.0/16,fd00:10:244::/56",
                serviceSubnet="10.96.0.0/16,fd00:10:96::/112",
                nodes=[{"name": "n", "ips": ["172.18.0.2", "172.18.0.9", "fd00::9", "fd00::2"]}],
            )
        ),
        WEB.replace("type: NodePort", "type: NodePort\n  ipFamilyPolicy: RequireDualStack"),
    )
    assert c.node("n").ips == (IP("172.18.0.2"), IP("fd00::9"), IP("172.18.0.9"), IP("fd00::2"))
    assert node_proxy(c, "n", 4).node_port_ips == (IP("172.18.0.2"),)
    assert node_proxy(c, "n", 6).node_port_ips == (IP("fd00::9"),)
    assert decide(c, "n", IP("fd00::77"), IP("fd00::9"), 30080, "TCP").verdict == "ACCEPT"
    assert decide(c, "n", IP("fd00::77"), IP("fd00::2"), 30080, "TCP").verdict == "NONE"


def test_plan_refuses_a_node_address_of_the_external_client() -> None:
    from podnet.errors import InvalidValue
    from podnet.linux.plan import make_plan

    nodes = [{"name": "node-1", "ips": ["172.18.0.2", "172.18.255.254"]}]
    c = load(manifests(cluster_network(nodes=nodes)))
    with pytest.raises(InvalidValue, match="172.18.255.254 is the address of podnet's external"):
        make_plan(c, "multi")


def test_plan_gateway_avoids_every_node_address() -> None:
    from podnet.linux.plan import make_plan

    nodes = [{"name": "node-1", "ips": ["172.18.0.2", "172.18.0.1"]}]
    plan = make_plan(load(manifests(cluster_network(nodes=nodes))), "multi")
    external = plan.netns("pn-multi-external")
    assert external.addresses == (("eth0", "172.18.255.254/16"),)
    assert plan.netns("pn-multi-node-1").routes[0].gateway == "172.18.255.254"
