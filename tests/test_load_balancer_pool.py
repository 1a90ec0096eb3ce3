"""LoadBalancer Services without status.loadBalancer.ingress: an address from the configured
loadBalancerPool, else from the default pool on the node network (the top of its range, as
kind's cloud-provider or MetalLB-on-kind setups hand them out), so that a trace from outside
reaches an unmodified chart's LoadBalancer.
"""

from __future__ import annotations

import json
from ipaddress import ip_address, ip_network
from typing import Any

import pytest

from podnet.model.cluster import Cluster
from tests.cli import run
from tests.conftest import load, manifests

IP = ip_address


def cluster_network(**spec: Any) -> dict:
    return {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "lb"},
        "spec": spec,
    }


def lb(name: str, status_ip: str = "", **spec: Any) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            **spec,
        },
    }
    if status_ip:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": status_ip}]}}
    return obj


WEB = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 8080}]}]
            },
        },
    },
}


def vips(c: Cluster) -> dict[str, str | None]:
    return {
        s.name: (str(s.load_balancer[0].ip) if s.load_balancer else None)
        for s in c.services
        if s.type == "LoadBalancer"
    }


def test_default_pool_is_the_top_of_the_node_network_in_name_order() -> None:
    c = load(WEB, lb("b"), lb("a"), lb("c", status_ip="172.18.255.252"))
    # The external client holds .254 (below the broadcast); addresses Services already hold are
    # skipped; names decide the order, so adding a Service moves none that sort before it.
    assert vips(c) == {"a": "172.18.255.253", "b": "172.18.255.251", "c": "172.18.255.252"}
    again = load(lb("c", status_ip="172.18.255.252"), lb("a"), lb("b"), WEB)
    assert vips(again) == vips(c)


def test_default_pool_never_takes_a_node_address_nor_the_gateway() -> None:
    # A /29: .0 network, .1 gateway, .6 external client, .7 broadcast; nodes hold .2, .5 and .3.
    config = cluster_network(
        nodeSubnet="10.10.0.0/29",
        nodes=[{"name": "a", "ips": ["10.10.0.2", "10.10.0.5"]}, {"name": "b"}],
    )
    c = load(manifests(config), WEB, lb("one"), lb("two"))
    assert c.node("b").ips == (IP("10.10.0.3"),)
    # .4 is the only free address: the second Service stays pending, as without a provider.
    assert vips(c) == {"one": "10.10.0.4", "two": None}


def test_default_pool_skips_pod_and_service_subnets_inside_the_node_network() -> None:
    config = cluster_network(
        nodeSubnet="10.0.0.0/16", podSubnet="10.0.128.0/17", serviceSubnet="10.0.64.0/18"
    )
    c = load(manifests(config), WEB, lb("one"))
    assert vips(c) == {"one": "10.0.63.255"}
    for s in c.services:
        for i in s.load_balancer:
            assert i.ip not in {ip for n in c.nodes for ip in n.ips}


def test_a_configured_pool_wins() -> None:
    c = load(manifests(cluster_network(loadBalancerPool=["203.0.113.0/29"])), WEB, lb("one"))
    assert vips(c) == {"one": "203.0.113.1"}


def test_no_default_address_of_a_family_the_service_lacks() -> None:
    config = cluster_network(
        podSubnet="10.244.0.0/16,fd00:10:244::/56",
        serviceSubnet="10.96.0.0/16,fd00:10:96::/112",
    )
    c = load(manifests(config), WEB, lb("v6", ipFamilies=["IPv6"]), lb("v4"))
    assert vips(c) == {"v4": "172.18.255.253", "v6": None}


@pytest.mark.parametrize("policy", ["Cluster", "Local"])
def test_trace_from_outside_to_the_default_address(capsys, monkeypatch, policy: str) -> None:  # type: ignore[no-untyped-def]
    text = manifests(WEB, lb("web", externalTrafficPolicy=policy))
    code, out, _ = run(
        capsys, monkeypatch, "trace", "-", "--from", "external", "--to", "172.18.255.253",
        "-o", "json", stdin=text,
    )  # fmt: skip
    data = json.loads(out)
    assert (code, data["verdict"]) == (0, "delivered")
    assert data["hops"][0]["summary"] == "shop/web: LoadBalancer IP 172.18.255.253"
    assert data["endpoints"] and all(e["allowed"] for e in data["endpoints"])


def test_plan_puts_node_network_addresses_on_the_announcing_node() -> None:
    """The node that the trace enters answers ARP for the address: a /32 on its eth0; an
    address outside the node network is routed to it from the external client instead."""
    from podnet.linux.plan import Route, make_plan

    solo = {**WEB, "metadata": {"name": "solo", "namespace": "shop"}}
    solo["spec"] = {
        **WEB["spec"],
        "replicas": 1,
        "selector": {"matchLabels": {"app": "solo"}},
        "template": {
            "metadata": {"labels": {"app": "solo"}},
            "spec": {**WEB["spec"]["template"]["spec"], "nodeName": "node-2"},
        },
    }
    c = load(
        WEB,
        solo,
        lb("a"),
        lb("b", selector={"app": "solo"}, externalTrafficPolicy="Local"),
        lb("c", status_ip="203.0.113.7"),
    )
    assert vips(c) == {"a": "172.18.255.253", "b": "172.18.255.252", "c": "203.0.113.7"}
    plan = make_plan(c, "lb")
    node1, node2 = plan.netns("pn-lb-node-1"), plan.netns("pn-lb-node-2")
    assert ("eth0", "172.18.255.253/32") in node1.addresses
    assert ("eth0", "172.18.255.252/32") in node2.addresses  # eTP Local: where the endpoint is
    assert ("eth0", "172.18.255.252/32") not in node1.addresses
    external = plan.netns("pn-lb-external")
    assert Route("203.0.113.7/32", "172.18.0.2", "eth0") in external.routes
    assert not any(r.dst.startswith("172.18.255.") for r in external.routes)


def test_plan_puts_external_ips_on_the_node_network_on_their_node() -> None:
    from podnet.linux.plan import make_plan

    c = load(
        WEB,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ext", "namespace": "shop"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080}],
                # One free address of the node network, and node-2's own address.
                "externalIPs": ["172.18.200.1", "172.18.0.3"],
            },
        },
    )
    plan = make_plan(c, "lb")
    node1, node2 = plan.netns("pn-lb-node-1"), plan.netns("pn-lb-node-2")
    assert ("eth0", "172.18.200.1/32") in node1.addresses
    assert not any(a.startswith("172.18.0.3/") for _, a in node1.addresses[1:])
    assert node2.addresses[0] == ("eth0", "172.18.0.3/16")
    assert not any(a == "172.18.0.3/32" for _, a in node2.addresses)


def test_default_pool_steps_over_a_large_subnet_at_once() -> None:
    from podnet.ipam.service_allocation import DefaultPool

    pool = DefaultPool(
        ip_network("10.0.0.0/8"),
        frozenset({IP("10.255.255.254"), IP("10.127.255.255")}),
        (ip_network("10.128.0.0/9"), ip_network("10.64.0.0/10")),
    )
    got = pool.addresses()
    assert [str(next(got)) for _ in range(2)] == ["10.63.255.255", "10.63.255.254"]
    tiny = DefaultPool(ip_network("10.0.0.0/30"), frozenset({IP("10.0.0.2")}))
    assert [str(ip) for ip in tiny.addresses()] == ["10.0.0.1"]
