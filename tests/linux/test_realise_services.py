"""Services and cluster DNS on the kernel, compared with `podnet trace` connection by connection:
ClusterIP (TCP and UDP, from pods and from a node), NodePort and LoadBalancer from the external
client, externalTrafficPolicy Local (source kept, drop without a local endpoint), ClientIP
affinity, the no-endpoint REJECT, policy behind Services; and names resolved inside a pod."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from podnet.linux import apply, service_probe, state, teardown
from podnet.linux.plan import make_plan
from podnet.linux.realised import Realised
from podnet.model.cluster import Cluster, cluster_from_text

from .conftest import assert_no_leftovers, require_binary

NAME = "pnsvc"
LB_IP = "203.0.113.10"


def deployment(name: str, replicas: int, labels: dict, node: str = "") -> dict:
    spec: dict = {
        "containers": [
            {
                "name": "c",
                "image": "agnhost",
                "ports": [
                    {"name": "http", "containerPort": 8080},
                    {"name": "dns-ish", "containerPort": 8081, "protocol": "UDP"},
                ],
            }
        ]
    }
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "svc"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def service(name: str, selector: dict, **spec) -> dict:
    ports = spec.pop("ports", [{"name": "http", "port": 80, "targetPort": "http"}])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "svc"},
        "spec": {"selector": selector, "ports": ports, **spec},
    }


def client(name: str, node: str, role: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "svc", "labels": {"role": role}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
    }


def manifests() -> str:
    web = {"app": "web"}
    docs = [
        {
            "apiVersion": "podnet.io/v1alpha1",
            "kind": "ClusterNetwork",
            "metadata": {"name": NAME},
            "spec": {"nodes": [{"name": "node-1"}, {"name": "node-2"}]},
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "svc"}},
        deployment("web", 2, web),
        deployment("solo", 1, {"app": "solo"}, node="node-2"),
        client("client", "node-1", "client"),
        client("other", "node-2", "other"),
        service(
            "web",
            web,
            ports=[
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "udp", "port": 81, "targetPort": 8081, "protocol": "UDP"},
            ],
        ),
        service(
            "web-np",
            web,
            type="NodePort",
            ports=[{"port": 80, "targetPort": 8080, "nodePort": 30080}],
        ),
        service("sticky", web, sessionAffinity="ClientIP"),
        service(
            "empty", {"app": "nothing"}, type="NodePort", ports=[{"port": 80, "nodePort": 30090}]
        ),
        {
            **service(
                "solo-lb", {"app": "solo"}, type="LoadBalancer", externalTrafficPolicy="Local"
            ),
            "status": {"loadBalancer": {"ingress": [{"ip": LB_IP}]}},
        },
        # Policy behind the Services: web accepts only clients (and its own node, as the model
        # says of masqueraded traffic to a pod of the node).
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web", "namespace": "svc"},
            "spec": {
                "podSelector": {"matchLabels": web},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}],
            },
        },
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


@pytest.fixture(scope="module", params=["host-gw", "vxlan"])
def live(request: pytest.FixtureRequest, kernel_ready: None) -> Iterator[tuple[Cluster, Realised]]:
    text = manifests()
    cluster = cluster_from_text(text, "svc.yaml")
    plan = make_plan(cluster, NAME, request.param)
    teardown.down(NAME)
    try:
        apply.up(plan, [("svc.yaml", text)])
        yield cluster, state.load(NAME)
    finally:
        teardown.down(NAME)
        assert_no_leftovers(NAME)


def svc_ip(cluster: Cluster, name: str) -> str:
    return str(next(s for s in cluster.services if s.key == f"svc/{name}").cluster_ips[0])


def node_ip(cluster: Cluster, node: str) -> str:
    return str(cluster.node(node).ips[0])


def solo_node_port(cluster: Cluster) -> int:
    port = next(s for s in cluster.services if s.key == "svc/solo-lb").ports[0].node_port
    assert port is not None
    return port


def test_every_pod_to_every_service_port(live: tuple[Cluster, Realised]) -> None:
    cluster, st = live
    matrix = service_probe.measure(cluster, st, timeout=0.8)
    problems = [p for c in matrix.checks.values() for p in c.problems]
    assert not problems, "\n".join(problems)
    verdicts = {(c.source, c.service): c.trace.verdict for c in matrix.checks.values()}
    # The table covers every kind of cell.
    assert {"delivered", "dropped", "rejected"} <= set(verdicts.values())
    assert verdicts[("svc/client", "svc/empty:80/TCP")] == "rejected"
    assert verdicts[("svc/other", "svc/web:80/TCP")] == "dropped"
    assert verdicts[("svc/client", "svc/web:81/UDP")] == "delivered"


def test_from_outside_and_from_a_node(live: tuple[Cluster, Realised]) -> None:
    cluster, st = live
    n1, n2 = node_ip(cluster, "node-1"), node_ip(cluster, "node-2")
    solo = solo_node_port(cluster)
    wanted = [
        ("external", n1, 30080, "TCP"),  # NodePort, eTP Cluster: masqueraded
        ("external", n2, 30080, "TCP"),
        ("external", LB_IP, 80, "TCP"),  # LoadBalancer, eTP Local: to node-2, source kept
        ("external", n2, solo, "TCP"),  # its NodePort where the endpoint is
        ("external", n1, solo, "TCP"),  # ... and where it is not: dropped
        ("external", n1, 30090, "TCP"),  # no endpoints: rejected
        ("node-1", svc_ip(cluster, "web"), 80, "TCP"),  # a node to a ClusterIP: masqueraded
        ("node-2", svc_ip(cluster, "solo-lb"), 80, "TCP"),
    ]
    checks = service_probe.check_connections(cluster, st, wanted, timeout=0.8)
    problems = [p for c in checks for p in c.problems]
    assert not problems, "\n".join(problems)
    verdict = {(c.source, c.target): c.trace.verdict for c in checks}
    assert verdict[("external", f"{n1}:{solo}/TCP")] == "dropped"
    assert verdict[("external", f"{n1}:30090/TCP")] == "rejected"
    # Both web pods are on node-1: masqueraded to pods of that node (always allowed), or sent
    # to node-1 from node-2 as node-2's address (which the policy does not allow).
    assert {p.node_name for p in cluster.pods if p.name.startswith("web-")} == {"node-1"}
    assert verdict[("external", f"{n1}:30080/TCP")] == "delivered"
    assert verdict[("external", f"{n2}:30080/TCP")] == "dropped"
    lb = next(c for c in checks if c.target == f"{LB_IP}:80/TCP")
    assert lb.trace.verdict == "delivered"
    assert {o.peer for o in lb.outcomes} == {st.external_ip}  # source IP kept
    assert {o.identity for o in lb.outcomes} == {
        next(k for k in st.pods if k.startswith("svc/solo-"))
    }
    rejected = next(c for c in checks if c.target == f"{n1}:30090/TCP")
    assert {o.status for o in rejected.outcomes} == {"refused"}


def test_hairpin_to_itself_through_its_service(live: tuple[Cluster, Realised]) -> None:
    cluster, st = live
    solo = next(k for k in st.pods if k.startswith("svc/solo-"))
    ip = svc_ip(cluster, "solo-lb")
    (check,) = service_probe.check_connections(cluster, st, [(solo, ip, 80, "TCP")], timeout=0.8)
    assert not check.problems, check.problems
    assert check.trace.verdict == "delivered"
    gateway = str(cluster.node("node-2").pod_cidrs[0].network_address + 1)
    assert {(o.identity, o.peer) for o in check.outcomes} == {(solo, gateway)}  # masqueraded


def test_session_affinity_pins_the_client(live: tuple[Cluster, Realised]) -> None:
    cluster, st = live
    ip = svc_ip(cluster, "sticky")
    checks = service_probe.check_connections(
        cluster, st, [("svc/client", ip, 80, "TCP")] * 8, timeout=0.8
    )
    assert not [p for c in checks for p in c.problems]
    reached = {o.identity for c in checks for o in c.outcomes}
    assert len(reached) == 1 and next(iter(reached)).startswith("svc/web-")
    plain = service_probe.check_connections(
        cluster, st, [("svc/client", svc_ip(cluster, "web"), 80, "TCP")] * 16, timeout=0.8
    )
    assert len({o.identity for c in plain for o in c.outcomes}) == 2  # without affinity: both


def test_dns_inside_a_pod(live: tuple[Cluster, Realised]) -> None:
    cluster, _ = live
    podnet = [sys.executable, "-m", "podnet", "exec", "svc/client", "--name", NAME, "--"]
    web = svc_ip(cluster, "web")
    out = subprocess.run([*podnet, "getent", "hosts", "web"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [web, "web.svc.svc.cluster.local"]
    dig = require_binary("dig")
    out = subprocess.run(
        [*podnet, dig, "+short", "+time=2", "+tries=2", "web.svc.svc.cluster.local"],
        capture_output=True,
        text=True,
    )
    assert out.stdout.split() == [web], out.stderr
    solo = next(p for p in cluster.pods if p.name.startswith("solo-"))
    out = subprocess.run(
        [*podnet, dig, "+short", "+tcp", "-x", str(solo.ips[0])], capture_output=True, text=True
    )
    dashed = str(solo.ips[0]).replace(".", "-")
    assert out.stdout.split() == [f"{dashed}.solo-lb.svc.svc.cluster.local."], out.stderr
