"""The admin tiers on the upstream e2e model (x/y/z x a/b/c, ports 80 and 81): every item of the
evaluation order, each with allowed and denied connections, through the per-connection semantics
and the engine's matrix, which compiles the tiers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from podnet.errors import InvalidValue
from podnet.model.cluster import cluster_from_text
from podnet.policy import semantics
from podnet.policy.engine import PolicyEngine
from podnet.policy.semantics import Peer
from tests.policy_model import Reachability, model_cluster

GROUP = "policy.networking.k8s.io"


def ns(name: str) -> dict:
    return {"matchLabels": {"ns": name}}


def pods(namespace: str, pod: str) -> dict:
    return {
        "pods": {"namespaceSelector": ns(namespace), "podSelector": {"matchLabels": {"pod": pod}}}
    }


def cnp(name: str, priority: int, subject: dict, tier: str = "Admin", **rules: list[dict]) -> dict:
    spec = {"tier": tier, "priority": priority, "subject": subject, **rules}
    return {
        "apiVersion": f"{GROUP}/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def anp(name: str, priority: int, subject: dict, **rules: list[dict]) -> dict:
    spec = {"priority": priority, "subject": subject, **rules}
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def banp(subject: dict, **rules: list[dict]) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": "default"},
        "spec": {"subject": subject, **rules},
    }


def np(name: str, namespace: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def rule(action: str, *peers: dict, protocols: list[dict] | None = None, key: str = "from") -> dict:
    out: dict[str, Any] = {"action": action, key: list(peers)}
    if protocols is not None:
        out["ports" if action == "Allow" or "portNumber" in str(protocols) else "protocols"] = (
            protocols
        )
    return out


def out(action: str, *peers: dict, protocols: list[dict] | None = None) -> dict:
    return rule(action, *peers, protocols=protocols, key="to")


X, Y, Z = ({"namespaces": ns(n)} for n in "xyz")
IN_X = {"namespaces": ns("x")}
ALL = {"namespaces": {}}
TCP80 = [{"tcp": {"destinationPort": {"number": 80}}}]
NP_DENY_X = np("deny", "x", {"podSelector": {}, "policyTypes": ["Ingress"]})
NP_ALLOW_X = np("allow", "x", {"podSelector": {}, "ingress": [{}]})


@dataclass
class Case:
    name: str
    objects: list[dict] | Callable[[dict[str, str]], list[dict]]  # a function gets the pod IPs
    expect: Callable[[Reachability], Reachability]
    port: int = 80
    protocol: str = "TCP"


CASES = [
    Case("admin deny", [cnp("d", 1, IN_X, ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/", to="x/")),
    Case("no implicit isolation: a subject no rule matches is unaffected",
         [cnp("d", 1, IN_X, ingress=[rule("Deny", {"namespaces": ns("nowhere")})])],
         lambda r: r),
    Case("admin Accept wins over a NetworkPolicy that isolates",
         [NP_DENY_X, cnp("a", 1, IN_X, ingress=[rule("Accept", Y)])],
         lambda r: r.expect(to="x/").expect(frm="y/", to="x/", allowed=True).loopback()),
    Case("admin Deny wins over a NetworkPolicy that allows",
         [NP_ALLOW_X, cnp("d", 1, IN_X, ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/", to="x/")),
    Case("admin Pass goes to the NetworkPolicy that selects the pod",
         [np("from-y", "x", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": ns("y")}]}]}),
          cnp("pass", 1, IN_X, ingress=[rule("Pass", Y), rule("Deny", ALL)])],
         lambda r: r.expect(to="x/").expect(frm="y/", to="x/", allowed=True).loopback()),
    Case("admin Pass where the NetworkPolicy denies",
         [NP_DENY_X, cnp("pass", 1, IN_X, ingress=[rule("Pass", Y)])],
         lambda r: r.expect(to="x/").loopback()),
    Case("admin Pass skips lower-priority admin policies, then baseline decides",
         [cnp("pass", 1, IN_X, ingress=[rule("Pass", Y)]),
          cnp("accept", 2, IN_X, ingress=[rule("Accept", Y), rule("Deny", Z)]),
          cnp("base", 1, IN_X, "Baseline", ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/", to="x/").expect(frm="z/", to="x/")),
    Case("admin Pass without NetworkPolicy or baseline: default allow",
         [cnp("pass", 1, IN_X, ingress=[rule("Pass", Y)]),
          cnp("deny", 2, IN_X, ingress=[rule("Deny", Y)])],
         lambda r: r),
    Case("baseline Deny applies to pods no NetworkPolicy selects",
         [cnp("base", 1, ALL, "Baseline", ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/").loopback()),
    Case("a NetworkPolicy overrides the baseline for the pods it selects",
         [NP_ALLOW_X, cnp("base", 1, ALL, "Baseline", ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/").expect(frm="y/", to="x/", allowed=True).loopback()),
    Case("a NetworkPolicy for the other direction leaves the baseline in charge",
         [np("eg", "x", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}),
          cnp("base", 1, ALL, "Baseline", ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/").loopback()),
    Case("baseline Pass goes to default allow",
         [cnp("pass", 1, ALL, "Baseline", ingress=[rule("Pass", Y)]),
          cnp("deny", 2, ALL, "Baseline", ingress=[rule("Deny", ALL)])],
         lambda r: r.expect().expect(frm="y/", allowed=True).loopback()),
    Case("baseline Accept over a later baseline Deny",
         [cnp("base", 1, IN_X, "Baseline", ingress=[rule("Accept", Y), rule("Deny", ALL)])],
         lambda r: r.expect(to="x/").expect(frm="y/", to="x/", allowed=True).loopback()),
    Case("rules in order: the first match wins",
         [cnp("o", 1, IN_X, ingress=[rule("Accept", pods("y", "a")), rule("Deny", Y)])],
         lambda r: r.expect(frm="y/", to="x/").expect(frm="y/a", to="x/", allowed=True)),
    Case("rules in order, reversed",
         [cnp("o", 1, IN_X, ingress=[rule("Deny", Y), rule("Accept", pods("y", "a"))])],
         lambda r: r.expect(frm="y/", to="x/")),
    Case("lower priority number first",
         [cnp("deny", 10, IN_X, ingress=[rule("Deny", Y)]),
          cnp("accept", 5, IN_X, ingress=[rule("Accept", Y)])],
         lambda r: r),
    Case("same priority: by name (a-accept before b-deny)",
         [cnp("b-deny", 5, IN_X, ingress=[rule("Deny", Y)]),
          cnp("a-accept", 5, IN_X, ingress=[rule("Accept", Y)])],
         lambda r: r),
    Case("same priority: by name (a-deny before b-accept)",
         [cnp("b-accept", 5, IN_X, ingress=[rule("Accept", Y)]),
          cnp("a-deny", 5, IN_X, ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/", to="x/")),
    Case("egress Deny at the source",
         [cnp("e", 1, IN_X, egress=[out("Deny", Z)])],
         lambda r: r.expect(frm="x/", to="z/")),
    Case("an egress Accept does not skip the destination's ingress",
         [np("deny", "y", {"podSelector": {}, "policyTypes": ["Ingress"]}),
          cnp("e", 1, IN_X, egress=[out("Accept", Y)])],
         lambda r: r.expect(to="y/").loopback()),
    Case("protocols: TCP 80 denied",
         [cnp("p", 1, IN_X, ingress=[rule("Deny", Y, protocols=TCP80)])],
         lambda r: r.expect(frm="y/", to="x/")),
    Case("protocols: TCP 80 only, UDP 80 untouched",
         [cnp("p", 1, IN_X, ingress=[rule("Deny", Y, protocols=TCP80)])],
         lambda r: r, 80, "UDP"),
    Case("protocols: a range",
         [cnp("p", 1, IN_X, ingress=[rule("Deny", Y, protocols=[
             {"sctp": {"destinationPort": {"range": {"start": 81, "end": 90}}}}])])],
         lambda r: r.expect(frm="y/", to="x/"), 81, "SCTP"),
    Case("ingress named port resolved on the subject",
         [cnp("n", 1, IN_X, ingress=[rule("Deny", Y, protocols=[
             {"destinationNamedPort": "serve-81-udp"}])])],
         lambda r: r.expect(frm="y/", to="x/"), 81, "UDP"),
    Case("a named port is its number and protocol only",
         [cnp("n", 1, IN_X, ingress=[rule("Deny", Y, protocols=[
             {"destinationNamedPort": "serve-81-udp"}])])],
         lambda r: r, 80, "UDP"),
    Case("egress named port resolved on the peer",
         [cnp("n", 1, IN_X, egress=[out("Deny", Y, protocols=[
             {"destinationNamedPort": "serve-80-tcp"}])])],
         lambda r: r.expect(frm="x/", to="y/")),
    Case("networks match pod IPs",
         lambda ips: [cnp("n", 1, IN_X, egress=[out("Deny", {"networks": [f"{ips['y/a']}/32"]})])],
         lambda r: r.expect(frm="x/", to="y/a")),
    Case("networks 0.0.0.0/0 denies pod-to-pod traffic too",
         [cnp("n", 1, IN_X, egress=[out("Deny", {"networks": ["0.0.0.0/0"]})])],
         lambda r: r.expect(frm="x/").loopback()),
    Case("a Pass for pods before a networks Deny",
         [cnp("n", 1, IN_X, egress=[out("Pass", ALL), out("Deny", {"networks": ["0.0.0.0/0"]})])],
         lambda r: r),
    Case("an unknown peer in a Deny rule denies everything",
         [cnp("u", 1, IN_X, ingress=[rule("Deny", {"futurePeer": {}})])],
         lambda r: r.expect(to="x/").loopback()),
    Case("an unknown peer in a Pass rule denies everything",
         [cnp("u", 1, IN_X, ingress=[rule("Pass", {"futurePeer": {}})])],
         lambda r: r.expect(to="x/").loopback()),
    Case("an unknown peer in an Accept rule matches nothing",
         [cnp("u", 1, IN_X, ingress=[rule("Accept", {"futurePeer": {}}), rule("Deny", Y)])],
         lambda r: r.expect(frm="y/", to="x/")),
    Case("domainNames match nothing in the model: the Deny below decides",
         [cnp("d", 1, IN_X, egress=[out("Accept", {"domainNames": ["*.y.svc.cluster.local"]}),
                                    out("Deny", Y)])],
         lambda r: r.expect(frm="x/", to="y/")),
    Case("a pod reaching its own IP is never subject",
         [cnp("d", 1, ALL, ingress=[rule("Deny", ALL)])],
         lambda r: r.expect().loopback()),
    Case("v1alpha1: ANP Allow over a NetworkPolicy, BANP Deny below it",
         [NP_DENY_X, anp("a", 1, IN_X, ingress=[rule("Allow", Y)]),
          banp(ALL, ingress=[rule("Deny", Z)])],
         lambda r: r.expect(to="x/").expect(frm="y/", to="x/", allowed=True)
         .expect(frm="z/").loopback()),
    Case("v1alpha1: ANP Pass to the BANP, ports by number",
         [anp("a", 1, IN_X, ingress=[rule("Pass", Y, protocols=[{"portNumber": {"port": 80}}])]),
          anp("b", 2, IN_X, ingress=[rule("Allow", Y)]),
          banp(ALL, ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/").loopback()),
    Case("ANP and CNP share the Admin tier by priority",
         [anp("a", 7, IN_X, ingress=[rule("Allow", Y)]),
          cnp("c", 3, IN_X, ingress=[rule("Deny", Y)])],
         lambda r: r.expect(frm="y/", to="x/")),
]  # fmt: skip


def text(objects: list[dict]) -> str:
    return "\n---\n".join(json.dumps(o) for o in objects)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tiers(case: Case) -> None:
    objects = case.objects
    if callable(objects):
        ips = {p.key: str(p.ips[0]) for p in model_cluster().pods}
        objects = objects(ips)
    cluster = model_cluster(text(objects))
    expected = case.expect(Reachability()).expected
    engine = PolicyEngine(cluster)
    matrix = engine.matrix(case.port, case.protocol)
    index = {p.key: i for i, p in enumerate(engine.pods)}
    wrong_semantics, wrong_engine = [], []
    for (src, dst), want in expected.items():
        a, b = cluster.pod(src), cluster.pod(dst)
        assert a is not None and b is not None
        got = semantics.allowed(
            cluster, semantics.pod_peer(a), semantics.pod_peer(b), case.port, case.protocol
        )
        if got != want:
            wrong_semantics.append((src, dst, want))
        if bool(matrix[index[src], index[dst]]) != want:
            wrong_engine.append((src, dst, want))
    assert not wrong_semantics, wrong_semantics
    assert not wrong_engine, wrong_engine


# Host network and nodes --------------------------------------------------------------------------

NODES = """
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {role: worker}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {role: infra}}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: app, labels: {app: db}}
spec: {nodeName: n2, containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: app, labels: {app: agent}}
spec: {nodeName: n2, hostNetwork: true, containers: [{name: c, image: x}]}
"""


def verdict(cluster, src: Peer, dst: Peer, port: int = 80) -> bool:  # type: ignore[no-untyped-def]
    return semantics.allowed(cluster, src, dst, port, "TCP")


def hosts(*objects: dict):  # type: ignore[no-untyped-def]
    cluster = cluster_from_text(NODES + "\n---\n" + text(list(objects)), "nodes.yaml")
    by = {p.name: semantics.pod_peer(p) for p in cluster.pods if p.namespace == "app"}
    return cluster, by


APP = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "app"}}}


def test_host_network_pods_are_never_subjects() -> None:
    cluster, by = hosts(cnp("d", 1, APP, egress=[out("Deny", {"networks": ["0.0.0.0/0"]})]))
    assert by["agent"].pod is not None and by["agent"].pod.host_network
    assert verdict(cluster, by["agent"], by["web"])  # its egress is not judged
    assert not verdict(cluster, by["web"], by["db"])


def test_pods_peers_never_match_host_network_pods() -> None:
    cluster, by = hosts(cnp("d", 1, APP, egress=[out("Deny", APP)]))
    assert not verdict(cluster, by["web"], by["db"])
    assert verdict(cluster, by["web"], by["agent"])


def test_nodes_peers_match_node_addresses_and_host_network_pods() -> None:
    worker = {"nodes": {"matchLabels": {"role": "infra"}}}
    cluster, by = hosts(cnp("d", 1, APP, egress=[out("Deny", worker)]))
    n1, n2 = (Peer(cluster.node(n).ips[0], None, n) for n in ("n1", "n2"))
    assert not verdict(cluster, by["web"], n2)
    assert not verdict(cluster, by["web"], by["agent"])  # on n2, with n2's address
    assert verdict(cluster, by["web"], n1)
    assert verdict(cluster, by["web"], by["db"])  # a pod on n2 is not the node


def test_networks_match_node_addresses() -> None:
    cluster, by = hosts()
    n1 = cluster.node("n1").ips[0]
    cluster, by = hosts(cnp("d", 1, APP, egress=[out("Deny", {"networks": [f"{n1}/32"]})]))
    assert not verdict(cluster, by["db"], Peer(n1, None, "n1"))
    assert verdict(cluster, by["db"], by["web"])


def test_without_cluster_policies_verdicts_carry_no_tiers() -> None:
    cluster = model_cluster(text([NP_DENY_X]))
    a, b = (semantics.pod_peer(cluster.pod(k)) for k in ("y/a", "x/a"))  # type: ignore[arg-type]
    v = semantics.direction_verdict(cluster, "Ingress", a, b, 80, "TCP")
    assert (v.admin, v.baseline, v.tier, v.allowed) == (None, None, "networkpolicy", False)


def test_the_realisation_refuses_admin_tiers_it_cannot_apply_yet() -> None:
    from podnet.policy.nftables import render_node

    cluster = model_cluster(text([cnp("d", 1, IN_X, ingress=[rule("Deny", Y)])]))
    with pytest.raises(InvalidValue, match="does not apply cluster-scoped admin policies yet"):
        render_node(cluster, cluster.nodes[0].name)
