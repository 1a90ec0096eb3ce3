"""The resolved cluster: namespaces, node addresses and podCIDRs, scheduling, pod IPs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from podnet.model.objects import NAMESPACE_NAME_LABEL
from tests.conftest import load, node, pod, policy, problems_of, workload


def cluster_network(**spec: Any) -> dict:
    return {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "demo"},
        "spec": spec,
    }


def kind_cluster(*roles: str, **body: Any) -> dict:
    return {
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "kind": "Cluster",
        "nodes": [{"role": r} for r in roles],
        **body,
    }


def with_ip(p: dict, *ips: str, phase: str = "Running") -> dict:
    p["status"] = {"phase": phase, "podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]}
    return p


def with_address(n: dict, ip: str) -> dict:
    n["status"] = {"addresses": [{"type": "InternalIP", "address": ip}]}
    return n


@dataclass
class Case:
    id: str
    objects: list[dict[str, Any]]
    nodes: list[tuple[str, str, str]] | None = None  # (name, ips, podCIDRs), comma-separated
    pods: list[tuple[str, str, str]] | None = None  # (namespace/name, node, ips)


CASES = [
    Case(
        "default nodes: node-1, node-2, IPs from 172.18.0.2, podCIDRs in node order",
        [],
        nodes=[
            ("node-1", "172.18.0.2", "10.244.0.0/24"),
            ("node-2", "172.18.0.3", "10.244.1.0/24"),
        ],
        pods=[],
    ),
    Case(
        "Node objects in the order given, not sorted",
        [node("zeta"), node("alpha"), node("mid")],
        nodes=[
            ("zeta", "172.18.0.2", "10.244.0.0/24"),
            ("alpha", "172.18.0.3", "10.244.1.0/24"),
            ("mid", "172.18.0.4", "10.244.2.0/24"),
        ],
    ),
    Case(
        "given podCIDRs kept, other nodes skip them",
        [
            node("n1"),
            node("n2", podCIDR="10.244.0.0/24"),
            node("n3", podCIDRs=["10.244.2.0/24"]),
            node("n4"),
        ],
        nodes=[
            ("n1", "172.18.0.2", "10.244.1.0/24"),
            ("n2", "172.18.0.3", "10.244.0.0/24"),
            ("n3", "172.18.0.4", "10.244.2.0/24"),
            ("n4", "172.18.0.5", "10.244.3.0/24"),
        ],
    ),
    Case(
        "given InternalIP kept, other nodes skip it",
        [node("n1"), with_address(node("n2"), "172.18.0.2"), node("n3")],
        nodes=[
            ("n1", "172.18.0.3", "10.244.0.0/24"),
            ("n2", "172.18.0.2", "10.244.1.0/24"),
            ("n3", "172.18.0.4", "10.244.2.0/24"),
        ],
    ),
    Case(
        "pod IPs from .2 in (namespace, name) order, whatever the document order",
        [
            pod("z", ns="b", nodeName="node-1"),
            pod("y", ns="a", nodeName="node-1"),
            pod("x", ns="a", nodeName="node-1"),
        ],
        pods=[
            ("a/x", "node-1", "10.244.0.2"),
            ("a/y", "node-1", "10.244.0.3"),
            ("b/z", "node-1", "10.244.0.4"),
        ],
    ),
    Case(
        "spread: least loaded node, ties in node order",
        [pod(n) for n in "abcde"],
        pods=[
            ("default/a", "node-1", "10.244.0.2"),
            ("default/b", "node-2", "10.244.1.2"),
            ("default/c", "node-1", "10.244.0.3"),
            ("default/d", "node-2", "10.244.1.3"),
            ("default/e", "node-1", "10.244.0.4"),
        ],
    ),
    Case(
        "spread counts pods pinned by nodeName",
        [pod("a", nodeName="node-1"), pod("b", nodeName="node-1"), pod("c"), pod("d")],
        pods=[
            ("default/a", "node-1", "10.244.0.2"),
            ("default/b", "node-1", "10.244.0.3"),
            ("default/c", "node-2", "10.244.1.2"),
            ("default/d", "node-2", "10.244.1.3"),
        ],
    ),
    Case(
        "nodeSelector against node labels; no match: unscheduled, no IP",
        [
            node("n1"),
            node("n2", {"disk": "ssd"}),
            node("n3", {"disk": "ssd"}),
            pod("a", nodeSelector={"disk": "ssd"}),
            pod("b", nodeSelector={"disk": "ssd"}),
            pod("c", nodeSelector={"disk": "nvme"}),
            pod("d", nodeSelector={"kubernetes.io/hostname": "n3"}),
        ],
        pods=[
            ("default/a", "n2", "10.244.1.2"),
            ("default/b", "n3", "10.244.2.2"),
            ("default/c", "", ""),
            ("default/d", "n3", "10.244.2.3"),
        ],
    ),
    Case(
        "required node affinity",
        [
            node("n1", {"zone": "a"}),
            node("n2", {"zone": "b"}),
            pod(
                "a",
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "zone", "operator": "In", "values": ["b"]}
                                    ]
                                }
                            ]
                        }
                    }
                },
            ),
        ],
        pods=[("default/a", "n2", "10.244.1.2")],
    ),
    Case(
        "taints: pods avoid a NoSchedule node unless they tolerate it",
        [
            node("n1", taints=[{"key": "gpu", "effect": "NoSchedule"}]),
            node("n2"),
            pod("a"),
            pod("b"),
            pod("c", tolerations=[{"key": "gpu", "operator": "Exists"}]),
        ],
        pods=[
            ("default/a", "n2", "10.244.1.2"),
            ("default/b", "n2", "10.244.1.3"),
            ("default/c", "n1", "10.244.0.2"),
        ],
    ),
    Case(
        "hostNetwork pods get their node's IP and take no pod IP",
        [pod("a", nodeName="node-1", hostNetwork=True), pod("b", nodeName="node-1")],
        pods=[("default/a", "node-1", "172.18.0.2"), ("default/b", "node-1", "10.244.0.2")],
    ),
    Case(
        "status.podIP kept, other pods skip it",
        [
            with_ip(pod("a", nodeName="node-1"), "10.244.0.2"),
            with_ip(pod("b", nodeName="node-1"), "10.244.0.9"),
            pod("c", nodeName="node-1"),
        ],
        pods=[
            ("default/a", "node-1", "10.244.0.2"),
            ("default/b", "node-1", "10.244.0.9"),
            ("default/c", "node-1", "10.244.0.3"),
        ],
    ),
    Case(
        "status.podIP with a given node podCIDR",
        [node("n1", podCIDR="10.244.7.0/24"), with_ip(pod("a", nodeName="n1"), "10.244.7.42")],
        pods=[("default/a", "n1", "10.244.7.42")],
    ),
    Case(
        "finished pods get no IP and free their address",
        [
            with_ip(pod("a", nodeName="node-1"), "10.244.0.2", phase="Succeeded"),
            pod("b", nodeName="node-1"),
        ],
        pods=[("default/a", "", ""), ("default/b", "node-1", "10.244.0.2")],
    ),
    Case(
        "spec.nodeName of an undeclared node creates it when no Node objects are given",
        [pod("a", nodeName="edge-1")],
        nodes=[
            ("node-1", "172.18.0.2", "10.244.0.0/24"),
            ("node-2", "172.18.0.3", "10.244.1.0/24"),
            ("edge-1", "172.18.0.4", "10.244.2.0/24"),
        ],
        pods=[("default/a", "edge-1", "10.244.2.2")],
    ),
    Case(
        "spec.nodeName of an unknown node when Node objects are given: not running",
        [node("n1"), pod("a", nodeName="ghost")],
        nodes=[("n1", "172.18.0.2", "10.244.0.0/24")],
        pods=[("default/a", "", "")],
    ),
    Case(
        "dual-stack ClusterNetwork: both families to nodes and pods",
        [
            cluster_network(podSubnet="10.244.0.0/16,fd00:10:244::/56"),
            pod("a", nodeName="node-1"),
            pod("b", nodeName="node-2"),
        ],
        nodes=[
            ("node-1", "172.18.0.2", "10.244.0.0/24,fd00:10:244::/64"),
            ("node-2", "172.18.0.3", "10.244.1.0/24,fd00:10:244:1::/64"),
        ],
        pods=[
            ("default/a", "node-1", "10.244.0.2,fd00:10:244::2"),
            ("default/b", "node-2", "10.244.1.2,fd00:10:244:1::2"),
        ],
    ),
    Case(
        "dual-stack with a given IPv6 podIP",
        [
            cluster_network(podSubnet="10.244.0.0/16,fd00:10:244::/56"),
            with_ip(pod("a", nodeName="node-1"), "10.244.0.5", "fd00:10:244::5"),
        ],
        pods=[("default/a", "node-1", "10.244.0.5,fd00:10:244::5")],
    ),
    Case(
        "ClusterNetwork subnets, mask and nodes",
        [
            cluster_network(
                podSubnet="10.100.0.0/16",
                nodeCIDRMaskSize=25,
                nodeSubnet="192.168.50.0/24",
                nodes=[{"name": "a"}, {"name": "b", "ip": "192.168.50.10"}, {"name": "c"}],
            ),
            pod("p", nodeName="c"),
        ],
        nodes=[
            ("a", "192.168.50.2", "10.100.0.0/25"),
            ("b", "192.168.50.10", "10.100.0.128/25"),
            ("c", "192.168.50.3", "10.100.1.0/25"),
        ],
        pods=[("default/p", "c", "10.100.1.2")],
    ),
    Case(
        "kind Cluster: control-plane tainted when workers exist",
        [kind_cluster("control-plane", "worker", "worker"), pod("a"), pod("b"), pod("c")],
        nodes=[
            ("kind-control-plane", "172.18.0.2", "10.244.0.0/24"),
            ("kind-worker", "172.18.0.3", "10.244.1.0/24"),
            ("kind-worker2", "172.18.0.4", "10.244.2.0/24"),
        ],
        pods=[
            ("default/a", "kind-worker", "10.244.1.2"),
            ("default/b", "kind-worker2", "10.244.2.2"),
            ("default/c", "kind-worker", "10.244.1.3"),
        ],
    ),
    Case(
        "kind Cluster: a lone control-plane takes pods",
        [kind_cluster("control-plane", name="dev"), pod("a")],
        nodes=[("dev-control-plane", "172.18.0.2", "10.244.0.0/24")],
        pods=[("default/a", "dev-control-plane", "10.244.0.2")],
    ),
    Case(
        "kind Cluster without nodes: one control-plane",
        [kind_cluster()],
        nodes=[("kind-control-plane", "172.18.0.2", "10.244.0.0/24")],
    ),
    Case(
        "kind Cluster dual-stack",
        [kind_cluster("control-plane", networking={"ipFamily": "dual"}), pod("a")],
        nodes=[("kind-control-plane", "172.18.0.2", "10.244.0.0/24,fd00:10:244::/64")],
        pods=[("default/a", "kind-control-plane", "10.244.0.2,fd00:10:244::2")],
    ),
    Case(
        "DaemonSet pods on every kind worker but not the tainted control-plane",
        [kind_cluster("control-plane", "worker", "worker"), workload("DaemonSet", "agent")],
        nodes=None,
        pods=None,
    ),
]


def _join(values: Any) -> str:
    return ",".join(str(v) for v in values)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_resolve(case: Case) -> None:
    cluster = load(*case.objects)
    if case.nodes is not None:
        assert [(n.name, _join(n.ips), _join(n.pod_cidrs)) for n in cluster.nodes] == case.nodes
    if case.pods is not None:
        assert [(p.key, p.node_name, _join(p.ips)) for p in cluster.pods] == case.pods
    for n in cluster.nodes:
        assert n.labels["kubernetes.io/hostname"] == n.name


def test_kind_control_plane_labels_and_taints() -> None:
    with_workers = load(
        kind_cluster("control-plane", "worker", "worker"), workload("DaemonSet", "agent")
    )
    cp = with_workers.node("kind-control-plane")
    assert "node-role.kubernetes.io/control-plane" in cp.labels
    assert [(t.key, t.effect) for t in cp.taints] == [
        ("node-role.kubernetes.io/control-plane", "NoSchedule")
    ]
    assert sorted(p.node_name for p in with_workers.pods) == ["kind-worker", "kind-worker2"]
    alone = load(kind_cluster("control-plane"))
    assert alone.nodes[0].taints == ()


def _on_linux(kind: str, name: str) -> dict:
    w = workload(kind, name, replicas=2) if kind != "DaemonSet" else workload(kind, name)
    w["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    return w


def test_nodes_carry_the_labels_the_kubelet_sets() -> None:
    """Charts select `kubernetes.io/os: linux`; the default and implicit nodes have it, and a
    Node object's own labels win."""
    default = load(_on_linux("Deployment", "web"), _on_linux("DaemonSet", "agent"))
    assert {n.name: (n.labels["kubernetes.io/os"], n.labels["kubernetes.io/arch"]) for n in
            default.nodes} == {"node-1": ("linux", "amd64"), "node-2": ("linux", "amd64")}  # fmt: skip
    assert all(p.node_name for p in default.pods) and len(default.pods) == 4
    declared = load(
        node("win", {"kubernetes.io/os": "windows"}), node("lin"), _on_linux("DaemonSet", "agent")
    )
    assert declared.node("win").labels["kubernetes.io/hostname"] == "win"
    assert [p.node_name for p in declared.pods] == ["lin"]


GPU_TAINT = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]


@pytest.mark.parametrize(
    ("objects", "pending"),
    [
        ([pod("a", nodeSelector={"disk": "ssd"})], {
            "default/a": "0/2 nodes are available: 2 node(s) didn't match Pod's node"
            " affinity/selector."}),
        ([node("n1", {"disk": "ssd"}, taints=GPU_TAINT), node("n2"),
          pod("a", nodeSelector={"disk": "ssd"})], {
            "default/a": "0/2 nodes are available: 1 node(s) didn't match Pod's node"
            " affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}."}),
        ([node("n1", taints=GPU_TAINT), pod("a"), pod("b", nodeName="ghost")], {
            "default/a": "0/1 nodes are available: 1 node(s) had untolerated taint"
            " {dedicated: gpu}.",
            "default/b": "node ghost (spec.nodeName) does not exist"}),
        ([node("n1", taints=GPU_TAINT), pod("a", tolerations=[{"operator": "Exists"}])], {}),
    ],
)  # fmt: skip
def test_pending_pods_and_why(objects: list[dict], pending: dict[str, str]) -> None:
    """Pods no node takes are listed with kube-scheduler's reason (taints counted first)."""
    cluster = load(*objects)
    declared = {key: why for key, why in cluster.pending.items() if cluster.pod(key)}
    assert declared == pending  # the built-in CoreDNS pods meet the same taints
    assert all(not cluster.pod(key).ips for key in pending)


@pytest.mark.parametrize(
    ("objects", "names"),
    [
        ([], ["default", "kube-system"]),
        ([pod("a", ns="shop")], ["default", "kube-system", "shop"]),
        ([policy({"podSelector": {}}, ns="pol")], ["default", "kube-system", "pol"]),
        (
            [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "s", "namespace": "svc"},
                    "spec": {"ports": [{"port": 80}]},
                }
            ],
            ["default", "kube-system", "svc"],
        ),
        ([workload("Deployment", "web", ns="apps")], ["apps", "default", "kube-system"]),
        (
            [
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": "empty", "labels": {"team": "x"}},
                }
            ],
            ["default", "empty", "kube-system"],
        ),
    ],
)
def test_namespaces(objects: list[dict], names: list[str]) -> None:
    """Referenced namespaces exist implicitly; every one has kubernetes.io/metadata.name."""
    cluster = load(*objects)
    assert list(cluster.namespaces) == names
    for name, ns in cluster.namespaces.items():
        assert ns.labels[NAMESPACE_NAME_LABEL] == name


def test_declared_namespace_keeps_labels_and_the_name_label_wins() -> None:
    declared = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"team": "web", NAMESPACE_NAME_LABEL: "other"}},
    }
    ns = load(declared).namespaces["shop"]
    assert dict(ns.labels) == {"team": "web", NAMESPACE_NAME_LABEL: "shop"}


APP = [
    node("n1"),
    node("n2"),
    workload("Deployment", "web", ns="shop", replicas=3),
    workload("StatefulSet", "db", ns="shop", replicas=2),
    workload("DaemonSet", "agent", ns="kube-system"),
    pod("debug", ns="default"),
    pod("tools", ns="default", hostNetwork=True),
]
POLICIES = [
    policy({"podSelector": {}}, name="deny", ns="shop"),
    policy(
        {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 80}]}]},
        name="web",
        ns="shop",
    ),
    policy({"podSelector": {}, "policyTypes": ["Egress"]}, name="deny-egress", ns="default"),
]


def _addresses(*objects: dict) -> list[tuple[str, str, str]]:
    cluster = load(*objects)
    return [(p.key, p.node_name, _join(p.ips)) for p in cluster.pods] + [
        (n.name, _join(n.ips), _join(n.pod_cidrs)) for n in cluster.nodes
    ]


@pytest.mark.parametrize(
    "policies", [POLICIES[:1], POLICIES[1:], POLICIES], ids=["one", "two", "all"]
)
def test_addresses_do_not_depend_on_policies(policies: list[dict]) -> None:
    """Same manifests, same addresses, whatever policies are added or removed."""
    base = _addresses(*APP)
    assert _addresses(*APP) == base
    assert _addresses(*APP, *policies) == base
    assert _addresses(*policies, *APP) == base


@dataclass
class ErrorCase:
    id: str
    objects: list[dict[str, Any]]
    errors: list[tuple[str, str, str]]  # (object, field, text in message)


ERRORS = [
    ErrorCase(
        "ClusterNetwork fields the schema has not (misspelt) are refused, as strict validation does",
        [
            cluster_network(
                podSubnets="10.1.0.0/16",
                dns={"ttll": 3},
                nodes=[{"name": "a", "label": {"x": "y"}}],
            )
        ],
        [
            ("ClusterNetwork demo", "spec.podSubnets", "unknown field (did you mean podSubnet?)"),
            ("ClusterNetwork demo", "spec.dns.ttll", "unknown field (did you mean ttl?)"),
            ("ClusterNetwork demo", "spec.nodes[0].label", "unknown field (did you mean labels?)"),
        ],
    ),  # fmt: skip
    ErrorCase(
        "podIP outside its node's podCIDR",
        [with_ip(pod("a", nodeName="node-1"), "10.244.1.5")],
        [
            (
                "Pod default/a",
                "status.podIPs",
                "10.244.1.5 is outside the podCIDRs of node node-1 (10.244.0.0/24)",
            )
        ],
    ),
    ErrorCase(
        "duplicate pod IP",
        [
            with_ip(pod("a", nodeName="node-1"), "10.244.0.5"),
            with_ip(pod("b", nodeName="node-1"), "10.244.0.5"),
        ],
        [("Pod default/b", "status.podIPs", "10.244.0.5 is also the IP of default/a")],
    ),
    ErrorCase(
        "IPv6 podIP in an IPv4 cluster",
        [with_ip(pod("a", nodeName="node-1"), "fd00::5")],
        [("Pod default/a", "status.podIPs", "outside the podCIDRs")],
    ),
    ErrorCase(
        "node podCIDR outside the pod subnet",
        [node("n1", podCIDR="10.10.0.0/24")],
        [
            (
                "Node n1",
                "spec.podCIDRs",
                "10.10.0.0/24 is outside the cluster's pod subnet 10.244.0.0/16",
            )
        ],
    ),
    ErrorCase(
        "overlapping node podCIDRs",
        [node("n1", podCIDR="10.244.0.0/23"), node("n2", podCIDR="10.244.1.0/24")],
        [("Node n2", "spec.podCIDRs", "overlaps the podCIDR of node n1")],
    ),
    ErrorCase(
        "two podCIDRs of one family",
        [node("n1", podCIDRs=["10.244.0.0/24", "10.244.1.0/24"])],
        [("Node n1", "spec.podCIDRs", "no more than one CIDR for each IP family")],
    ),
    ErrorCase(
        "duplicate node InternalIP",
        [with_address(node("n1"), "172.18.0.9"), with_address(node("n2"), "172.18.0.9")],
        [("Node n2", "status.addresses", "172.18.0.9 is also the IP of node n1")],
    ),
    ErrorCase(
        "pod subnet too small for the nodes",
        [
            cluster_network(
                podSubnet="10.244.0.0/23", nodes=[{"name": "a"}, {"name": "b"}, {"name": "c"}]
            )
        ],
        [("ClusterNetwork demo", "spec.podSubnet", "node c gets none")],
    ),
    ErrorCase(
        "the same pod declared and expanded",
        [workload("StatefulSet", "db", replicas=1), pod("db-0")],
        [("Pod default/db-0", "metadata.name", "also comes from")],
    ),
    ErrorCase(
        "an object declared twice",
        [pod("a"), pod("a")],
        [("Pod default/a", "", "declared twice")],
    ),
    ErrorCase(
        "two ClusterNetwork documents",
        [cluster_network(), {**cluster_network(), "metadata": {"name": "other"}}],
        [("ClusterNetwork other", "", "only one ClusterNetwork or kind Cluster document")],
    ),
]


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c.id)
def test_errors(case: ErrorCase) -> None:
    got = problems_of(*case.objects)
    assert len(got) == len(case.errors), [str(p) for p in got]
    for p, (obj, fld, text) in zip(got, case.errors, strict=True):
        assert (p.obj, p.field) == (obj, fld), str(p)
        assert text in p.message, str(p)


def test_generated_names_never_collide() -> None:
    """Five random characters collide among a few thousand pods; names are drawn again."""
    cluster = load(
        cluster_network(nodeCIDRMaskSize=20),
        workload("Deployment", "web", replicas=3000),
        workload("ReplicaSet", "rs", replicas=2000),
    )
    names = [p.name for p in cluster.pods]
    assert len(set(names)) == len(names) == 5000
    assert len({p.ips[0] for p in cluster.pods}) == 5000


def test_pods_a_full_pod_cidr_leaves_without_address_are_pending() -> None:
    """The kubelet's CNI call fails for a pod its node's podCIDR has no address for: the pod stays
    Pending on that node (ContainerCreating), reported with the reason, never an input error."""
    cluster = load(
        cluster_network(nodeCIDRMaskSize=30, nodes=[{"name": "a"}]), pod("p1"), pod("p2"), pod("p3")
    )
    assert [p.key for p in cluster.running_pods] == ["default/p1"]  # a /30 has one pod address
    assert cluster.pod("default/p3").node_name == "a"
    full = (
        "node a's podCIDR 10.244.0.0/30 is full: the CNI plugin finds no free address for the pod"
    )
    assert {k: cluster.pending[k] for k in ("default/p2", "default/p3")} == {
        "default/p2": full,
        "default/p3": full,
    }
