"""The realiser's plan, without root: namespaces and names, the underlay, node addresses and
routes (host-gw and VXLAN), CNI invocations, rulesets, files and processes."""

from __future__ import annotations

import json
from ipaddress import ip_address

import pytest

from podnet.errors import InvalidValue
from podnet.kernel.ipvs import IPVSSupport
from podnet.linux import plan as p
from podnet.model.cluster import Cluster, cluster_from_text, load_cluster
from podnet.path.trace import trace

from .conftest import manifests

SHOP = "examples/shop"


def pod(name: str, namespace: str = "x", node: str = "", host: bool = False, **extra) -> dict:
    spec: dict = {
        "containers": [
            {
                "name": "c",
                "image": "i",
                "ports": extra.pop("ports", [{"containerPort": 80}]),
            }
        ]
    }
    if node:
        spec["nodeName"] = node
    if host:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"pod": name}},
        "spec": spec,
    }


def cluster(*objects: dict, nodes: int = 2, name: str = "demo") -> Cluster:
    config = {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": name},
        "spec": {"nodes": [{"name": f"node-{i + 1}"} for i in range(nodes)]},
    }
    return cluster_from_text(manifests(config, *objects), "test.yaml")


@pytest.fixture(scope="module")
def shop() -> Cluster:
    return load_cluster([SHOP])


def test_namespaces_in_creation_order(shop: Cluster) -> None:
    plan = p.make_plan(shop, "shop")
    names = plan.namespace_names
    assert names[:4] == ("pn-shop-underlay", "pn-shop-external", "pn-shop-node-1", "pn-shop-node-2")
    pods = [x for x in shop.running_pods if not x.host_network]
    assert len(names) == 4 + len(pods)
    assert all(n.startswith("pn-shop-") and len(n) <= p.MAX_NETNS_NAME for n in names)
    assert len(set(names)) == len(names)
    roles = [n.role for n in plan.namespaces]
    assert roles[:4] == ["underlay", "external", "node", "node"]
    assert set(roles[4:]) == {"pod"}


def test_pod_namespace_names() -> None:
    c = cluster(pod("web", "shop", "node-1"), pod("x" * 63, "n" * 63, "node-2"))
    plan = p.make_plan(c)
    web = plan.pod("shop/web")
    assert web is not None and web.netns == "pn-demo-shop_web"
    long = plan.pod(f"{'n' * 63}/{'x' * 63}")
    assert long is not None
    assert len(long.netns) == p.MAX_NETNS_NAME and long.netns.startswith("pn-demo-" + "n" * 20)
    assert long.netns != p.netns_name("demo", f"{'n' * 63}_{'x' * 62}y")


def test_host_network_pods_live_in_their_node() -> None:
    c = cluster(pod("agent", "mon", "node-2", host=True), pod("web", "x", "node-2"))
    plan = p.make_plan(c)
    agent = plan.pod("mon/agent")
    assert agent is not None
    assert agent.netns == "pn-demo-node-2" and agent.host_network and agent.cni is None
    assert agent.ips == ("172.18.0.3",)
    assert "pn-demo-mon_agent" not in plan.namespace_names
    assert not any("mon_agent" in path for path, _ in plan.files)


@pytest.mark.parametrize(
    "name",
    ["", "Shop", "-a", "a-", "a_b", "x" * 21, "a.b"],
)
def test_bad_cluster_names(name: str) -> None:
    with pytest.raises(InvalidValue):
        p.check_cluster_name(name)


@pytest.mark.parametrize("node", ["underlay", "external"])
def test_reserved_node_names(node: str) -> None:
    c = cluster_from_text(
        manifests({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}), "t.yaml"
    )
    with pytest.raises(InvalidValue, match="taken by podnet"):
        p.make_plan(c)


def test_ipv6_is_refused() -> None:
    config = {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "v6"},
        "spec": {"podSubnet": "10.244.0.0/16,fd00:10:244::/56", "serviceSubnet": "10.96.0.0/12"},
    }
    with pytest.raises(InvalidValue, match="IPv4"):
        p.make_plan(cluster_from_text(manifests(config), "t.yaml"))


def _ipvs_cluster(mode: str = "ipvs") -> Cluster:
    config = {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "lvs"},
        "spec": {"kubeProxyMode": mode},
    }
    return cluster_from_text(manifests(config), "t.yaml")


# What the kernel has of IPVS, and what the refusal says of it.
IPVS_KERNELS = [
    (None, "builds kube-proxy's rules in nftables only;"),
    (IPVSSupport.absent, "this kernel has no IPVS (no /proc/net/ip_vs, no ip_vs module)"),
    (IPVSSupport.module, "does not drive IPVS, although this kernel has the ip_vs module"),
    (IPVSSupport.loaded, "does not drive IPVS, although this kernel has it (/proc/net/ip_vs)"),
]


@pytest.mark.parametrize(("kernel", "says"), IPVS_KERNELS, ids=[str(k) for k, _ in IPVS_KERNELS])
def test_ipvs_mode_is_refused(kernel: IPVSSupport | None, says: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        p.make_plan(_ipvs_cluster(), ipvs=kernel)
    message = str(refused.value)
    assert message.startswith("kubeProxyMode ipvs: podnet up builds kube-proxy's rules in nftables")
    assert says in message
    assert "nothing was built" in message
    assert "Use kubeProxyMode: nftables" in message
    assert "`podnet proxy rules --mode ipvs`" in message


@pytest.mark.parametrize("mode", ["nftables", "iptables"])
def test_other_modes_are_planned(mode: str) -> None:
    plan = p.make_plan(_ipvs_cluster(mode), ipvs=IPVSSupport.absent)
    assert plan.cluster == "lvs"


def test_underlay_and_external(shop: Cluster) -> None:
    plan = p.make_plan(shop, "shop")
    underlay = plan.netns("pn-shop-underlay")
    prefix = p.link_prefix("shop")
    bridge, *ports = underlay.links
    assert (bridge.name, bridge.kind) == (f"{prefix}br", "bridge")
    assert [(x.name, x.peer, x.peer_netns, x.master) for x in ports] == [
        (f"{prefix}n0", "eth0", "pn-shop-node-1", f"{prefix}br"),
        (f"{prefix}n1", "eth0", "pn-shop-node-2", f"{prefix}br"),
        (f"{prefix}ext", "eth0", "pn-shop-external", f"{prefix}br"),
    ]
    assert all(len(x.name) <= 15 for x in underlay.links)
    assert not underlay.addresses
    external = plan.netns("pn-shop-external")
    # The external client of path.trace first (the source of its connections), then the
    # nodes' default gateway.
    assert external.addresses == (("eth0", "172.18.255.254/16"), ("eth0", "172.18.0.1/16"))
    assert plan.external_ip == "172.18.255.254"


def test_nodes_host_gw(shop: Cluster) -> None:
    plan = p.make_plan(shop, "shop", "host-gw")
    node1 = plan.netns("pn-shop-node-1")
    assert node1.addresses == (("eth0", "172.18.0.2/16"),)
    assert node1.routes == (
        p.Route("0.0.0.0/0", "172.18.0.1", "eth0"),
        p.Route("10.244.1.0/24", "172.18.0.3", "eth0"),
    )
    (bridge,) = node1.links
    assert (bridge.name, bridge.kind, bridge.mac) == ("cni0", "bridge", "0a:58:0a:f4:00:01")
    local = [x for x in shop.running_pods if x.node_name == "node-1" and not x.host_network]
    assert {n.ip for n in node1.neighbours} == {str(x.ips[0]) for x in local}
    assert all(n.dev == "cni0" and n.mac == p.pod_mac(ip_address(n.ip)) for n in node1.neighbours)
    assert not node1.fdb
    assert ("net/ipv4/ip_forward", "1") in node1.sysctls
    assert ("net/bridge/bridge-nf-call-iptables", "1") in node1.sysctls
    config = json.loads(plan.pods[0].cni.config)  # type: ignore[union-attr]
    assert config["mtu"] == 1500


def test_nodes_vxlan(shop: Cluster) -> None:
    plan = p.make_plan(shop, "shop", "vxlan")
    node1 = plan.netns("pn-shop-node-1")
    vx, _ = node1.links
    assert (vx.name, vx.kind, vx.vxlan_id, vx.vxlan_port, vx.mtu) == (
        "flannel.1",
        "vxlan",
        1,
        8472,
        1450,
    )
    assert (vx.vxlan_local, vx.mac) == ("172.18.0.2", "0e:00:ac:12:00:02")
    assert ("flannel.1", "10.244.0.0/32") in node1.addresses
    assert node1.neighbours[0] == p.Neighbour("flannel.1", "10.244.1.0", "0e:00:ac:12:00:03")
    assert node1.fdb == (p.FdbEntry("flannel.1", "0e:00:ac:12:00:03", "172.18.0.3"),)
    assert node1.routes[1] == p.Route(
        "10.244.1.0/24", "10.244.1.0", "flannel.1", True, "172.18.0.2"
    )
    for pp in plan.pods:
        if pp.cni is not None:
            assert json.loads(pp.cni.config)["mtu"] == 1450


def test_backend_defaults_to_the_configuration() -> None:
    c = cluster(pod("a", node="node-1"))
    assert p.make_plan(c).backend == "host-gw"
    with pytest.raises(InvalidValue):
        p.make_plan(c, backend="wireguard")


def test_cni_invocation_carries_the_model_address() -> None:
    c = cluster(pod("a", node="node-1"), pod("b", node="node-2"))
    plan = p.make_plan(c)
    for key in ("x/a", "x/b"):
        pp = plan.pod(key)
        assert pp is not None and pp.cni is not None
        env = dict(pp.cni.env)
        model = c.pod(key)
        assert model is not None
        assert env["CNI_COMMAND"] == "ADD"
        assert env["CNI_NETNS"] == f"/run/netns/{pp.netns}"
        assert env["CNI_IFNAME"] == "eth0"
        assert env["CNI_PATH"] == "/run/podnet/demo/bin"
        assert env["CNI_CONTAINERID"] == p.container_id("demo", key)
        args = dict(kv.split("=", 1) for kv in env["CNI_ARGS"].split(";"))
        assert args["IP"] == str(model.ips[0])
        assert args["MAC"] == p.pod_mac(model.ips[0])  # type: ignore[arg-type]
        gateway = c.node(model.node_name).pod_cidrs[0].network_address + 1
        assert plan.netns(pp.netns).neighbours == (
            p.Neighbour("eth0", str(gateway), p.pod_mac(gateway)),
        )  # type: ignore[arg-type]
        assert args["K8S_POD_NAMESPACE"] == "x" and args["K8S_POD_NAME"] == key[2:]
        config = json.loads(pp.cni.config)
        node = c.node(model.node_name)
        assert config["type"] == "bridge" and config["bridge"] == "cni0"
        assert config["isDefaultGateway"] and config["hairpinMode"] and not config["ipMasq"]
        assert config["ipam"]["ranges"] == [[{"subnet": str(node.pod_cidrs[0])}]]
        assert config["ipam"]["dataDir"] == f"/run/podnet/demo/ipam/{node.name}"
        assert pp.cni.node_netns == f"pn-demo-{node.name}"


def test_resolv_conf_files(shop: Cluster) -> None:
    plan = p.make_plan(shop, "shop")
    files = dict(plan.files)
    front = next(x for x in plan.pods if x.key.startswith("shop/frontend"))
    text = files[f"/etc/netns/{front.netns}/resolv.conf"]
    assert text == front.resolv_conf
    assert text.splitlines()[0] == "search shop.svc.cluster.local svc.cluster.local cluster.local"
    assert "nameserver 10.96.0.10" in text


def test_rulesets(shop: Cluster) -> None:
    plan = p.make_plan(shop, "shop")
    rules = plan.netns("pn-shop-node-1").ruleset
    assert 'add table ip kube-proxy { comment "rules for kube-proxy" ; }' in rules
    assert "table inet podnet-policy {" in rules
    assert "table ip podnet-masq {" in rules
    assert (
        "ip saddr { 10.244.0.0/16 } ip daddr != { 10.244.0.0/16 } ip daddr != @node-ips masquerade"
        in rules
    )
    assert "elements = { 172.18.0.2, 172.18.0.3 }" in rules
    assert plan.netns("pn-shop-underlay").ruleset == ""


def test_agents_and_dns_servers(shop: Cluster) -> None:
    plan = p.make_plan(shop, "shop", python="/py")
    names = [x.name for x in plan.processes]
    assert names[:2] == ["agent node-1", "agent node-2"]
    dns = [x for x in plan.processes if x.name.startswith("dns ")]
    assert len(dns) == 2
    for proc in dns:
        podp = plan.pod(proc.name[4:])
        assert podp is not None and proc.netns == podp.netns
        assert proc.argv == (
            "/py", "-m", "podnet", "dns", "serve", "/run/podnet/shop/manifests",
            "--listen", f"{podp.ips[0]}:53",
        )  # fmt: skip
    files = dict(plan.files)
    listeners = json.loads(files["/run/podnet/shop/agents/node-1.json"])
    served = {(x["identity"], x["port"], x["protocol"]) for x in listeners}
    coredns = [x for x in served if x[0].startswith("kube-system/coredns")]
    assert coredns and all(port != 53 for _, port, _ in coredns)  # the DNS server has 53
    exporter = [x for x in listeners if x["identity"].startswith("monitoring/node-exporter")]
    assert exporter == [
        {"netns": "/run/netns/pn-shop-node-1", "port": 9100, "protocol": "TCP",
         "identity": exporter[0]["identity"]}
    ]  # fmt: skip


def test_sctp_ports_are_not_served() -> None:
    c = cluster(
        pod(
            "a",
            node="node-1",
            ports=[{"containerPort": 80, "protocol": "SCTP"}, {"containerPort": 81}],
        )
    )
    files = dict(p.make_plan(c).files)
    listeners = json.loads(files["/run/podnet/demo/agents/node-1.json"])
    assert [(x["port"], x["protocol"]) for x in listeners if x["identity"] == "x/a"] == [
        (81, "TCP")
    ]


def test_load_balancer_ips_routed_to_the_traced_node() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "x"},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "selector": {"pod": "b"},
            "ports": [{"port": 80}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}},
    }
    c = cluster(pod("a", node="node-1"), pod("b", node="node-2"), svc)
    plan = p.make_plan(c)
    external = plan.netns("pn-demo-external")
    assert p.Route("203.0.113.7/32", "172.18.0.3", "eth0") in external.routes
    t = trace(c, "external", "203.0.113.7", 80)
    hop = next(h for h in t.hops if h.step == "kube-proxy")
    assert hop.summary.startswith("on node-2") and ip_address("172.18.0.3") in c.node("node-2").ips


def test_plan_is_deterministic(shop: Cluster) -> None:
    assert p.make_plan(shop, "shop") == p.make_plan(shop, "shop")
    assert json.loads(json.dumps(p.make_plan(shop, "shop").to_json()))["cluster"] == "shop"
