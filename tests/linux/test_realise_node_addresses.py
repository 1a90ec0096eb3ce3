"""Node addresses and load-balancer addresses on the kernel, compared with `podnet trace`:

- a node with three addresses (its primary, a second one on the node network, one outside it):
  NodePorts answer on the addresses nodePortAddresses selects and are refused on the others;
- LoadBalancer Services without status get an address of the default pool on the node network;
  the node that announces it answers ARP for it, so the external client, on the same network,
  reaches it (eTP Cluster and Local, source kept for Local).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from podnet.kernel.netns import NETNS_DIR
from podnet.linux import apply, service_probe, state, teardown
from podnet.linux.plan import NODE_IFNAME, make_plan
from podnet.linux.realised import Realised
from podnet.model.cluster import Cluster, cluster_from_text

from .conftest import assert_no_leftovers

NAME = "pnaddr"
Live = tuple[Cluster, Realised, tuple[str, ...]]
PRIMARY, SECOND, OUTSIDE = "172.18.0.2", "172.18.1.2", "192.0.2.7"


def deployment(name: str, replicas: int, node: str = "") -> dict:
    spec: dict = {
        "containers": [{"name": "c", "image": "agnhost", "ports": [{"containerPort": 8080}]}]
    }
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "lb"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def service(name: str, app: str, node_port: int = 0, **spec: object) -> dict:
    port: dict = {"port": 80, "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "lb"},
        "spec": {"selector": {"app": app}, "ports": [port], **spec},
    }


# The ClusterNetwork settings tried, and the node-1 addresses that answer NodePorts with them:
# a CIDR of the node network, and the iptables mode's default (every local address).
SETTINGS = {
    "cidr": ({"nodePortAddresses": ["172.18.0.0/16"]}, (PRIMARY, SECOND)),
    "iptables": ({"kubeProxyMode": "iptables"}, (PRIMARY, SECOND, OUTSIDE)),
}


def manifests(settings: dict) -> str:
    docs = [
        {
            "apiVersion": "podnet.io/v1alpha1",
            "kind": "ClusterNetwork",
            "metadata": {"name": NAME},
            "spec": {
                **settings,
                "nodes": [
                    {"name": "node-1", "ips": [PRIMARY, SECOND, OUTSIDE]},
                    {"name": "node-2"},
                ],
            },
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lb"}},
        deployment("web", 2),
        deployment("solo", 1, node="node-2"),
        service("web", "web", 30080, type="NodePort"),
        service("web-lb", "web", type="LoadBalancer"),
        service("solo-lb", "solo", type="LoadBalancer", externalTrafficPolicy="Local"),
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def live(request: pytest.FixtureRequest, kernel_ready: None) -> Iterator[Live]:
    settings, served = SETTINGS[request.param]
    text = manifests(settings)
    cluster = cluster_from_text(text, "lb.yaml")
    plan = make_plan(cluster, NAME, "host-gw")
    teardown.down(NAME)
    try:
        apply.up(plan, [("lb.yaml", text)])
        yield cluster, state.load(NAME), served
    finally:
        teardown.down(NAME)
        assert_no_leftovers(NAME)


def vip(cluster: Cluster, name: str) -> str:
    svc = next(s for s in cluster.services if s.key == f"lb/{name}")
    return str(svc.load_balancer[0].ip)


def test_node_ports_on_every_selected_address(live: Live) -> None:
    cluster, st, served = live
    wanted = [("external", ip, 30080, "TCP") for ip in (PRIMARY, SECOND, OUTSIDE)]
    checks = service_probe.check_connections(cluster, st, wanted, timeout=0.8)
    problems = [p for c in checks for p in c.problems]
    assert not problems, "\n".join(problems)
    verdict = {c.target: c.trace.verdict for c in checks}
    # Outside nodePortAddresses nothing listens: the node refuses the connection.
    assert verdict == {
        f"{ip}:30080/TCP": "delivered" if ip in served else "rejected"
        for ip in (PRIMARY, SECOND, OUTSIDE)
    }
    for c in checks:
        if c.trace.verdict == "rejected":
            assert {o.status for o in c.outcomes} == {"refused"}


def test_default_pool_addresses_answered_by_the_announcing_node(
    live: Live,
) -> None:
    cluster, st, _ = live
    web, solo = vip(cluster, "web-lb"), vip(cluster, "solo-lb")
    # Both on the node network, from its top (the external client holds .254).
    assert {web, solo} == {"172.18.255.253", "172.18.255.252"}
    wanted = [("external", web, 80, "TCP"), ("external", solo, 80, "TCP")]
    checks = service_probe.check_connections(cluster, st, wanted, timeout=0.8)
    problems = [p for c in checks for p in c.problems]
    assert not problems, "\n".join(problems)
    assert {c.trace.verdict for c in checks} == {"delivered"}
    local = next(c for c in checks if c.target == f"{solo}:80/TCP")
    assert {o.peer for o in local.outcomes} == {st.external_ip}  # eTP Local: source kept
    # The external client learnt the addresses by ARP: from the nodes the model sends them to.
    neighbours = _neighbours(f"{NETNS_DIR}/{st.external_netns}")
    assert neighbours[solo] == _mac(st.nodes["node-2"])
    assert neighbours[web] == _mac(st.nodes["node-1"])


def _neighbours(netns_path: str) -> dict[str, str]:
    name = netns_path.rsplit("/", 1)[1]
    out = subprocess.run(
        ["ip", "-n", name, "-j", "neigh", "show", "dev", NODE_IFNAME],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {n["dst"]: n.get("lladdr", "") for n in json.loads(out or "[]")}


def _mac(netns: str) -> str:
    out = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show", NODE_IFNAME],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)[0]["address"]
