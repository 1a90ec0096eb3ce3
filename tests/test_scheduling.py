"""Scheduling as kube-scheduler's filters decide it: required pod affinity and anti-affinity,
topology spread (DoNotSchedule), the order pods are placed in, and the pending reasons.

Cases follow k8s.io/kubernetes pkg/scheduler/framework/plugins/interpodaffinity and
podtopologyspread (filtering_test.go): one table of manifests and where each pod lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.cli import run
from tests.conftest import load, node, pod, problems_of, workload

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def term(labels: dict[str, str] | None, key: str = HOST, **extra: Any) -> dict:
    """A pod affinity term selecting pods by labels (None: no labelSelector)."""
    t: dict[str, Any] = {"topologyKey": key, **extra}
    if labels is not None:
        t["labelSelector"] = {"matchLabels": labels}
    return t


def affinity(*terms: dict, anti: bool = False) -> dict:
    kind = "podAntiAffinity" if anti else "podAffinity"
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def spread(labels: dict[str, str] | None, key: str = ZONE, skew: int = 1, **extra: Any) -> dict:
    c: dict[str, Any] = {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule"}
    if labels is not None:
        c["labelSelector"] = {"matchLabels": labels}
    return {**c, **extra}


def zoned(name: str, zone: str | None, **spec: Any) -> dict:
    labels = {ZONE: zone} if zone else {}
    return node(name, {**labels, **spec.pop("labels", {})}, **spec)


def replicas(name: str, n: int, ns: str = "default", **template_spec: Any) -> dict:
    """A StatefulSet: pods name-0 .. name-<n-1>, placed in that order, labelled app=<name>."""
    w = workload("StatefulSet", name, ns, n, serviceName=name)
    w["spec"]["template"]["spec"].update(template_spec)
    return w


def namespace(name: str, labels: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


GPU_TAINT = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
REDIS = {"app": "redis"}


@dataclass
class Case:
    id: str
    objects: list[dict[str, Any]]
    placed: dict[str, str | None]  # pod key -> node, None: pending
    pending: dict[str, str] = field(default_factory=dict)  # pod key -> the reason, when checked


def ss(name: str, i: int, ns: str = "default") -> str:
    return f"{ns}/{name}-{i}"


CASES = [
    Case(
        "hostname anti-affinity: 3 replicas on 2 nodes, 2 placed and the third pending",
        [replicas("redis", 3, affinity=affinity(term(REDIS), anti=True))],
        {ss("redis", 0): "node-1", ss("redis", 1): "node-2", ss("redis", 2): None},
        {
            ss("redis", 2): "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity"
            " rules."
        },
    ),
    Case(
        "zone anti-affinity: one pod per zone, the node sharing a zone is refused",
        [
            zoned("n1", "a"),
            zoned("n2", "a"),
            zoned("n3", "b"),
            replicas("redis", 3, affinity=affinity(term(REDIS, ZONE), anti=True)),
        ],
        {ss("redis", 0): "n1", ss("redis", 1): "n3", ss("redis", 2): None},
        {
            ss("redis", 2): "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity"
            " rules."
        },
    ),
    Case(
        "anti-affinity: a node without the topologyKey label is no domain, it takes every pod",
        [
            zoned("n1", "a"),
            zoned("n2", None),
            replicas("redis", 3, affinity=affinity(term(REDIS, ZONE), anti=True)),
        ],
        {ss("redis", 0): "n1", ss("redis", 1): "n2", ss("redis", 2): "n2"},
    ),
    Case(
        "anti-affinity does not select pods of other namespaces by default",
        [
            pod("other", "elsewhere", REDIS, nodeName="node-1"),
            pod("mine", "default", REDIS, nodeName="node-2"),
            pod("new", "default", {"app": "x"}, affinity=affinity(term(REDIS), anti=True)),
        ],
        {"default/new": "node-1"},
    ),
    Case(
        "affinity to an existing pod: onto its node, whatever the load",
        [
            pod("db", labels={"app": "db"}, nodeName="node-2"),
            pod("web", labels={"app": "web"}, affinity=affinity(term({"app": "db"}))),
        ],
        {"default/db": "node-2", "default/web": "node-2"},
    ),
    Case(
        "zone affinity: any node of the zone, the least loaded",
        [
            zoned("n1", "a"),
            zoned("n2", "b"),
            zoned("n3", "b"),
            pod("db", labels={"app": "db"}, nodeName="n2"),
            replicas("web", 2, affinity=affinity(term({"app": "db"}, ZONE))),
        ],
        {ss("web", 0): "n3", ss("web", 1): "n2"},
    ),
    Case(
        "affinity that no pod matches: pending on every node",
        [pod("web", labels={"app": "web"}, affinity=affinity(term({"app": "db"})))],
        {"default/web": None},
        {"default/web": "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."},
    ),
    Case(
        "affinity without a labelSelector selects no pod",
        [
            pod("db", labels={"app": "db"}, nodeName="node-1"),
            pod("web", labels={"app": "web"}, affinity=affinity(term(None))),
        ],
        {"default/web": None},
    ),
    Case(
        "first pod: affinity to its own kind while none exists places it, the rest follow it",
        [replicas("cache", 3, affinity=affinity(term({"app": "cache"})))],
        {ss("cache", 0): "node-1", ss("cache", 1): "node-1", ss("cache", 2): "node-1"},
    ),
    Case(
        "first pod: only where the topology label exists",
        [
            zoned("n1", None),
            zoned("n2", "a"),
            replicas("cache", 2, affinity=affinity(term({"app": "cache"}, ZONE))),
        ],
        {ss("cache", 0): "n2", ss("cache", 1): "n2"},
    ),
    Case(
        "first pod: not when the pod does not match its own term",
        [replicas("web", 1, affinity=affinity(term({"app": "db"})))],
        {ss("web", 0): None},
    ),
    Case(
        "a pod waiting for a later pod is retried once that pod is placed",
        [
            pod("a-web", labels={"app": "web"}, affinity=affinity(term({"app": "db"}))),
            pod("z-db", labels={"app": "db"}),
        ],
        {"default/z-db": "node-1", "default/a-web": "node-1"},
    ),
    Case(
        "symmetry: a placed pod's anti-affinity keeps matching pods off its node",
        [
            pod(
                "guard",
                labels={"app": "guard"},
                nodeName="node-1",
                affinity=affinity(term({"app": "web"}), anti=True),
            ),
            replicas("web", 2),
        ],  # fmt: skip
        {ss("web", 0): "node-2", ss("web", 1): "node-2"},
    ),
    Case(
        "symmetry: the only node refused, in the scheduler's words",
        [
            node("n1"),
            pod(
                "guard",
                labels={"app": "guard"},
                nodeName="n1",
                affinity=affinity(term({"app": "web"}), anti=True),
            ),
            pod("web", labels={"app": "web"}),
        ],  # fmt: skip
        {"default/web": None},
        {
            "default/web": "0/1 nodes are available: 1 node(s) didn't satisfy existing pods"
            " anti-affinity rules."
        },
    ),
    Case(
        "symmetry by zone: the whole zone is refused",
        [
            zoned("n1", "a"),
            zoned("n2", "a"),
            zoned("n3", "b"),
            pod(
                "guard",
                labels={"app": "guard"},
                nodeName="n1",
                affinity=affinity(term({"app": "web"}, ZONE), anti=True),
            ),
            replicas("web", 2),
        ],  # fmt: skip
        {ss("web", 0): "n3", ss("web", 1): "n3"},
    ),
    Case(
        "namespaceSelector: pods of the namespaces it selects",
        [
            namespace("data", {"tier": "data"}),
            pod("db", "data", {"app": "db"}, nodeName="node-2"),
            pod(
                "web",
                "shop",
                {"app": "web"},
                affinity=affinity(
                    term({"app": "db"}, namespaceSelector={"matchLabels": {"tier": "data"}})
                ),
            ),
        ],  # fmt: skip
        {"shop/web": "node-2"},
    ),
    Case(
        "namespaceSelector {}: every namespace",
        [
            pod("db", "data", {"app": "db"}, nodeName="node-2"),
            pod(
                "web",
                "shop",
                {"app": "web"},
                affinity=affinity(term({"app": "db"}, namespaceSelector={})),
            ),
        ],  # fmt: skip
        {"shop/web": "node-2"},
    ),
    Case(
        "namespaces: the named ones",
        [
            pod("db", "data", {"app": "db"}, nodeName="node-2"),
            pod(
                "web",
                "shop",
                {"app": "web"},
                affinity=affinity(term({"app": "db"}, namespaces=["data"])),
            ),
        ],  # fmt: skip
        {"shop/web": "node-2"},
    ),
    Case(
        "neither namespaces nor namespaceSelector: the pod's own namespace only",
        [
            pod("db", "data", {"app": "db"}, nodeName="node-2"),
            pod("web", "shop", {"app": "web"}, affinity=affinity(term({"app": "db"}))),
        ],
        {"shop/web": None},
    ),
    Case(
        "namespaceSelector that selects no namespace of the pod: existing anti-affinity",
        [
            node("n1"),
            namespace("shop", {"team": "shop"}),
            pod(
                "guard",
                "ops",
                {"app": "guard"},
                nodeName="n1",
                affinity=affinity(
                    term({"app": "web"}, namespaceSelector={"matchLabels": {"team": "other"}}),
                    anti=True,
                ),
            ),
            pod("web", "shop", {"app": "web"}),
        ],  # fmt: skip
        {"shop/web": "n1"},
    ),
    Case(
        "matchLabelKeys: only pods with the same value count",
        [
            node("n1"),
            pod("old", labels={"app": "web", "version": "1"}, nodeName="n1"),
            pod(
                "new",
                labels={"app": "web", "version": "2"},
                affinity=affinity(term({"app": "web"}, matchLabelKeys=["version"]), anti=True),
            ),
        ],  # fmt: skip
        {"default/new": "n1"},
    ),
    Case(
        "mismatchLabelKeys: only pods with another value count",
        [
            node("n1"),
            pod("old", labels={"app": "web", "version": "1"}, nodeName="n1"),
            pod(
                "new",
                labels={"app": "web", "version": "2"},
                affinity=affinity(term({"app": "web"}, mismatchLabelKeys=["version"]), anti=True),
            ),
        ],  # fmt: skip
        {"default/new": None},
    ),
    Case(
        "spread maxSkew 1 over zones: the zone with fewer pods first",
        [
            zoned("n1", "a"),
            zoned("n2", "a"),
            zoned("n3", "b"),
            replicas("web", 4, topologySpreadConstraints=[spread({"app": "web"})]),
        ],
        {ss("web", 0): "n1", ss("web", 1): "n3", ss("web", 2): "n2", ss("web", 3): "n3"},
    ),
    Case(
        "spread maxSkew 2 lets a zone run ahead by two",
        [
            zoned("n1", "a"),
            zoned("n2", "a"),
            zoned("n3", "b"),
            replicas("web", 4, topologySpreadConstraints=[spread({"app": "web"}, skew=2)]),
        ],
        {ss("web", 0): "n1", ss("web", 1): "n2", ss("web", 2): "n3", ss("web", 3): "n1"},
    ),
    Case(
        "spread counts only pods its selector matches, in the pod's namespace",
        [
            zoned("n1", "a"),
            zoned("n2", "b"),
            pod("x", "other", {"app": "web"}, nodeName="n2"),
            pod("y", "default", {"app": "db"}, nodeName="n2"),
            pod("z", "default", {"app": "web"}, nodeName="n1"),
            replicas("web", 1, topologySpreadConstraints=[spread({"app": "web"})]),
        ],
        {ss("web", 0): "n2"},
    ),
    Case(
        "spread minDomains: fewer zones than asked makes the minimum 0",
        [
            zoned("n1", "a"),
            zoned("n2", "b"),
            replicas("web", 3, topologySpreadConstraints=[spread({"app": "web"}, minDomains=3)]),
        ],
        {ss("web", 0): "n1", ss("web", 1): "n2", ss("web", 2): None},
        {
            ss("web", 2): "0/2 nodes are available: 2 node(s) didn't match pod topology spread"
            " constraints."
        },
    ),
    Case(
        "spread without minDomains places the third pod",
        [
            zoned("n1", "a"),
            zoned("n2", "b"),
            replicas("web", 3, topologySpreadConstraints=[spread({"app": "web"})]),
        ],
        {ss("web", 0): "n1", ss("web", 1): "n2", ss("web", 2): "n1"},
    ),
    Case(
        "spread: a node without the topologyKey label is refused",
        [
            zoned("n1", None),
            zoned("n2", "a"),
            replicas("web", 2, topologySpreadConstraints=[spread({"app": "web"})]),
        ],
        {ss("web", 0): "n2", ss("web", 1): "n2"},
    ),
    Case(
        "spread: no node has the label, in the scheduler's words",
        [node("n1"), replicas("web", 1, topologySpreadConstraints=[spread({"app": "web"})])],
        {ss("web", 0): None},
        {
            ss("web", 0): "0/1 nodes are available: 1 node(s) didn't match pod topology spread"
            " constraints (missing required label)."
        },
    ),
    Case(
        "spread ScheduleAnyway is a preference: ignored",
        [
            zoned("n1", None),
            zoned("n2", "a"),
            replicas(
                "web",
                2,
                topologySpreadConstraints=[
                    spread({"app": "web"}, whenUnsatisfiable="ScheduleAnyway")
                ],
            ),
        ],  # fmt: skip
        {ss("web", 0): "n1", ss("web", 1): "n2"},
    ),
    Case(
        "spread nodeAffinityPolicy Honor (default): nodes the pod may not use are no domain",
        [
            zoned("n1", "a", labels={"disk": "ssd"}),
            zoned("n2", "b"),
            replicas(
                "web",
                2,
                nodeSelector={"disk": "ssd"},
                topologySpreadConstraints=[spread({"app": "web"})],
            ),
        ],  # fmt: skip
        {ss("web", 0): "n1", ss("web", 1): "n1"},
    ),
    Case(
        "spread nodeAffinityPolicy Ignore: they are, and their empty zone holds the skew",
        [
            zoned("n1", "a", labels={"disk": "ssd"}),
            zoned("n2", "b"),
            replicas(
                "web",
                2,
                nodeSelector={"disk": "ssd"},
                topologySpreadConstraints=[spread({"app": "web"}, nodeAffinityPolicy="Ignore")],
            ),
        ],  # fmt: skip
        {ss("web", 0): "n1", ss("web", 1): None},
        {
            ss("web", 1): "0/2 nodes are available: 1 node(s) didn't match Pod's node"
            " affinity/selector, 1 node(s) didn't match pod topology spread constraints."
        },
    ),
    Case(
        "spread nodeTaintsPolicy Ignore (default): a tainted node's zone is a domain",
        [
            zoned("n1", "a"),
            zoned("n2", "b", taints=GPU_TAINT),
            replicas("web", 2, topologySpreadConstraints=[spread({"app": "web"})]),
        ],
        {ss("web", 0): "n1", ss("web", 1): None},
    ),
    Case(
        "spread nodeTaintsPolicy Honor: it is not",
        [
            zoned("n1", "a"),
            zoned("n2", "b", taints=GPU_TAINT),
            replicas(
                "web",
                2,
                topologySpreadConstraints=[spread({"app": "web"}, nodeTaintsPolicy="Honor")],
            ),
        ],  # fmt: skip
        {ss("web", 0): "n1", ss("web", 1): "n1"},
    ),
    Case(
        "spread matchLabelKeys: each version spreads on its own",
        [
            zoned("n1", "a"),
            zoned("n2", "b"),
            *(pod(f"old{i}", labels={"app": "web", "v": "1"}, nodeName="n1") for i in range(2)),
            *(pod(f"other{i}", labels={"app": "other"}, nodeName="n2") for i in range(3)),
            pod(
                "new",
                labels={"app": "web", "v": "2"},
                topologySpreadConstraints=[spread({"app": "web"}, matchLabelKeys=["v"])],
            ),
        ],  # fmt: skip
        {"default/new": "n1"},
    ),
    Case(
        "filters in kube-scheduler's order: each node counted once, under the first it fails",
        [
            node("n1", {"disk": "ssd"}, taints=GPU_TAINT),
            node("n2", {"disk": "ssd"}),
            node("n3"),
            pod("db", labels={"app": "db"}, nodeName="n2"),
            pod(
                "web",
                labels={"app": "web"},
                nodeSelector={"disk": "ssd"},
                affinity=affinity(term({"app": "db"}), anti=True),
            ),
        ],  # fmt: skip
        {"default/web": None},
        {
            "default/web": "0/3 nodes are available: 1 node(s) didn't match Pod's node"
            " affinity/selector, 1 node(s) didn't match pod anti-affinity rules, 1 node(s) had"
            " untolerated taint {dedicated: gpu}."
        },
    ),
    Case(
        "spread is checked before pod affinity, as the default profile orders its filters",
        [
            zoned("n1", "a"),
            pod("db", labels={"app": "db"}, nodeName="n1"),
            pod("web", labels={"app": "web"}, nodeName="n1"),
            pod(
                "web2",
                labels={"app": "web"},
                affinity=affinity(term({"app": "db"}), anti=True),
                topologySpreadConstraints=[spread({"app": "web"}, key=HOST, minDomains=2)],
            ),
        ],  # fmt: skip
        {"default/web2": None},
        {
            "default/web2": "0/1 nodes are available: 1 node(s) didn't match pod topology spread"
            " constraints."
        },
    ),
]


def required_nodes(*terms: dict) -> dict:
    """Required node affinity with these nodeSelectorTerms."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}  # fmt: skip


CASES += [
    Case(
        "node affinity matchFields metadata.name binds a pod to one node, as DaemonSet pods are",
        [node("n1"), node("n2"), pod("p", affinity=required_nodes(
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}))],
        {"default/p": "n2"},
    ),
    Case(
        "matchFields NotIn and matchExpressions are ANDed within a term",
        [node("n1", {"disk": "ssd"}), node("n2", {"disk": "ssd"}), node("n3"),
         pod("p", affinity=required_nodes({
             "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}],
             "matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}))],
        {"default/p": "n2"},
    ),
    Case(
        "an empty node selector term matches no node",
        [node("n1"), pod("p", affinity=required_nodes({}))],
        {"default/p": None},
        {"default/p": "0/1 nodes are available: 1 node(s) didn't match Pod's node"
                      " affinity/selector."},
    ),
    Case(
        "node selector terms are ORed: an empty term does not stop another from matching",
        [node("n1", {"zone": "a"}), pod("p", affinity=required_nodes(
            {}, {"matchExpressions": [{"key": "zone", "operator": "Gt", "values": ["0"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}))],
        {"default/p": "n1"},
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_placement(case: Case) -> None:
    cluster = load(*case.objects)
    placed = {key: cluster.pod(key).node_name or None for key in case.placed}  # type: ignore[union-attr]
    assert placed == case.placed
    for key, node_name in case.placed.items():
        assert (key in cluster.pending) == (node_name is None)
    for key, why in case.pending.items():
        assert cluster.pending[key] == why


def test_reasons_sorted_as_kube_scheduler_sorts_them() -> None:
    """FitError sorts the "<count> <reason>" strings whole, so "10 ..." comes before "2 ..."."""
    nodes = [node(f"t{i}", {"disk": "ssd"}, taints=GPU_TAINT) for i in range(10)]
    nodes += [node("a"), node("b")]
    cluster = load(*nodes, pod("web", nodeSelector={"disk": "ssd"}))
    assert cluster.pending["default/web"] == (
        "0/12 nodes are available: 10 node(s) had untolerated taint {dedicated: gpu},"
        " 2 node(s) didn't match Pod's node affinity/selector."
    )


def test_redis_ha_as_argo_cd_ships_it() -> None:
    """Argo CD's HA redis: a StatefulSet and a Deployment of 3, each with required hostname
    anti-affinity on its own pods, on a 2-node cluster: 2 of each placed, one of each pending."""
    name = {"app.kubernetes.io/name": "argocd-redis-ha"}
    proxy = {"app.kubernetes.io/name": "argocd-redis-ha-haproxy"}
    server = replicas(
        "argocd-redis-ha-server", 3, "argocd", affinity=affinity(term(name), anti=True)
    )
    server["spec"]["template"]["metadata"]["labels"] = name
    server["spec"]["selector"] = {"matchLabels": name}
    haproxy = workload("Deployment", "argocd-redis-ha-haproxy", "argocd", 3)
    haproxy["spec"]["template"]["metadata"]["labels"] = proxy
    haproxy["spec"]["selector"] = {"matchLabels": proxy}
    haproxy["spec"]["template"]["spec"]["affinity"] = affinity(term(proxy), anti=True)
    cluster = load(server, haproxy)
    for labels in (name, proxy):
        pods = [p for p in cluster.pods if p.labels.items() >= labels.items()]
        assert len(pods) == 3
        assert sorted(p.node_name for p in pods) == ["", "node-1", "node-2"]
    assert "argocd/argocd-redis-ha-server-2" in cluster.pending
    assert len(cluster.pending) == 2


def test_many_pods_without_pod_constraints_share_the_node_filters() -> None:
    """Pods without affinity or spread are placed by the node filters alone (least loaded)."""
    cluster = load(*(zoned(f"n{i}", "abc"[i % 3]) for i in range(6)), replicas("web", 60))
    per_node: dict[str, int] = {}
    for p in cluster.pods:
        per_node[p.node_name] = per_node.get(p.node_name, 0) + 1
    assert per_node == {f"n{i}": 10 for i in range(6)}


# Validation: (field path, message), as the API server words them.
PA = "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
PAA = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
TSC = "spec.topologySpreadConstraints[0]"


@pytest.mark.parametrize(
    ("spec", "errors"),
    [
        ({"affinity": affinity({"labelSelector": {}}, anti=True)},
         [(f"{PAA}.topologyKey", "Required value: can not be empty")]),
        ({"affinity": affinity(term({"a": "b"}, ""))},
         [(f"{PA}.topologyKey", "Required value: can not be empty")]),
        ({"affinity": affinity(term({"a": "b"}, "bad key!"))},
         [(f"{PA}.topologyKey", 'Invalid value: "bad key!": name part must consist of')]),
        ({"affinity": affinity(term(None, matchLabelKeys=["v"]))},
         [(f"{PA}.matchLabelKeys",
           "Forbidden: must not be specified when labelSelector is not set")]),
        ({"affinity": affinity(term({"a": "b"}, matchLabelKeys=["v"], mismatchLabelKeys=["v"]))},
         [(f"{PA}.matchLabelKeys[0]",
           'Invalid value: "v": exists in both matchLabelKeys and mismatchLabelKeys')]),
        ({"affinity": affinity(term({"a": "b"}, namespaces=["Not_A_Namespace"]))},
         [(f"{PA}.namespaces[0]", 'Invalid value: "Not_A_Namespace": a lowercase RFC 1123')]),
        ({"affinity": affinity({"topologyKey": HOST, "labelSelector": {"matchExpressions": [
            {"key": "a", "operator": "Has"}]}})},
         [(f"{PA}.labelSelector.matchExpressions[0].operator",
           'Invalid value: "Has": not a valid selector operator')]),
        ({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 0, "podAffinityTerm": term(REDIS)}]}}},
         [("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
           ".weight", "Invalid value: 0: must be in the range 1-100")]),
        ({"topologySpreadConstraints": [spread(REDIS, skew=0)]},
         [(f"{TSC}.maxSkew", "Invalid value: 0: must be greater than zero")]),
        ({"topologySpreadConstraints": [{"topologyKey": ZONE, "whenUnsatisfiable":
                                         "DoNotSchedule"}]},
         [(f"{TSC}.maxSkew", "Invalid value: 0: must be greater than zero")]),
        ({"topologySpreadConstraints": [spread(REDIS, key="")]},
         [(f"{TSC}.topologyKey", "Required value: can not be empty")]),
        ({"topologySpreadConstraints": [spread(REDIS, whenUnsatisfiable="Never")]},
         [(f"{TSC}.whenUnsatisfiable",
           'Unsupported value: "Never": supported values: "DoNotSchedule", "ScheduleAnyway"')]),
        ({"topologySpreadConstraints": [spread(REDIS), spread({"x": "y"})]},
         [(f"{TSC}.{{topologyKey, whenUnsatisfiable}}",
           f'Duplicate value: "{{{ZONE}, DoNotSchedule}}"')]),
        ({"topologySpreadConstraints": [spread(REDIS, minDomains=0)]},
         [(f"{TSC}.minDomains", "Invalid value: 0: must be greater than zero")]),
        ({"topologySpreadConstraints": [
            spread(REDIS, minDomains=2, whenUnsatisfiable="ScheduleAnyway")]},
         [(f"{TSC}.minDomains", "Invalid value: 2: can only use minDomains if"
           " whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway")]),
        ({"topologySpreadConstraints": [spread(REDIS, nodeTaintsPolicy="Always")]},
         [(f"{TSC}.nodeTaintsPolicy",
           'Unsupported value: "Always": supported values: "Honor", "Ignore"')]),
        ({"topologySpreadConstraints": [spread(None, matchLabelKeys=["v"])]},
         [(f"{TSC}.matchLabelKeys",
           "Forbidden: must not be specified when labelSelector is not set")]),
        ({"topologySpreadConstraints": [spread(REDIS, maxSkew="1")]},
         [(f"{TSC}.maxSkew", "must be an integer, not a string")]),
        ({"affinity": required_nodes()},
         [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", "Required value: must have at least one node selector term")]),
        ({"affinity": required_nodes({"matchFields": [
            {"key": "metadata.labels", "operator": "In", "values": ["a"]}]})},
         [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key", 'Invalid value: "metadata.labels": not a valid field')]),
        ({"affinity": required_nodes({"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]})},
         [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values", "Required value: must be only one value")]),
        ({"affinity": required_nodes({"matchExpressions": [
            {"key": "a", "operator": "Gt", "values": ["x"]}]})},
         [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
           "Required value: must be specified single integer value")]),
        ({"affinity": required_nodes({"matchExpressions": [{"key": "a", "operator": "In"}]})},
         [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", "Required value: must be specified when")]),
        ({"affinity": affinity(term(REDIS, namespaceSelector={})),
          "topologySpreadConstraints": [spread(REDIS, minDomains=3, matchLabelKeys=["v"])]}, []),
    ],
)  # fmt: skip
def test_validation(spec: dict, errors: list[tuple[str, str]]) -> None:
    """Pod affinity terms and topology spread constraints are checked as the API server checks
    them, in Pods and in workload templates alike."""
    for obj, prefix in ((pod("p", **spec), ""), (replicas("w", 1, **spec), "spec.template.")):
        if not errors:
            load(obj)
            continue
        got = [(p.field, p.message) for p in problems_of(obj)]
        assert len(got) == len(errors), got
        for (path, message), (want_path, want) in zip(got, errors, strict=True):
            assert path == prefix + want_path and message.startswith(want), got


PENDING_REDIS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis, namespace: x}
spec:
  replicas: 3
  serviceName: redis
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: redis}}
            topologyKey: kubernetes.io/hostname
      containers: [{name: redis, image: redis, ports: [{containerPort: 6379}]}]
"""


def test_cli_names_the_pod_anti_affinity_leaves_pending(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "reach", "-", "-o", "json", stdin=PENDING_REDIS)
    why = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
    assert code == 0 and f"1 pod(s) pending:\n  x/redis-2: {why}" in err
    assert '"x/redis-2"' in out and '"x/redis-0"' in out
