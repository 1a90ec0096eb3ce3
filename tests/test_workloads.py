"""Workloads expanded into the pods their controllers would create: names, labels, placement."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import load, node, pod, policy, problems_of, workload

A = "[bcdfghjklmnpqrstvwxz2456789]"  # k8s.io/apimachinery/pkg/util/rand alphabet
HASH = f"{A}{{1,10}}"


@dataclass
class Case:
    id: str
    objects: list[dict[str, Any]]
    # one entry per expected pod, in (namespace, name) order: name pattern, node ("" = any)
    pods: list[tuple[str, str]]
    labels: dict[str, str] = field(default_factory=dict)  # labels every pod carries ("*" = any)


def rc(name: str, replicas: int, **spec: Any) -> dict:
    """A v1 ReplicationController whose template has the labels app=<name>."""
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "template": template, **spec},
    }


def taint(effect: str, key: str = "dedicated") -> dict:
    return {"key": key, "value": "x", "effect": effect}


def tolerating(w: dict, **toleration: str) -> dict:
    w["spec"]["template"]["spec"]["tolerations"] = [toleration]
    return w


def selecting(w: dict, **node_selector: str) -> dict:
    w["spec"]["template"]["spec"]["nodeSelector"] = node_selector
    return w


NODES = [node("n1", {"disk": "ssd"}), node("n2"), node("n3", {"disk": "ssd"})]

CASES = [
    Case(
        "Deployment: name-<hash>-<5 chars>, pod-template-hash label",
        [workload("Deployment", "web", replicas=3)],
        [(rf"web-({HASH})-{A}{{5}}", "")] * 3,
        {"app": "web", "pod-template-hash": "*"},
    ),
    Case(
        "Deployment: replicas default 1",
        [workload("Deployment", "web")],
        [(rf"web-{HASH}-{A}{{5}}", "")],
    ),
    Case("Deployment: replicas 0", [workload("Deployment", "web", replicas=0)], []),
    Case(
        "ReplicaSet: name-<5 chars>",
        [workload("ReplicaSet", "rs", replicas=2)],
        [(rf"rs-{A}{{5}}", "")] * 2,
        {"app": "rs"},
    ),
    Case(
        "StatefulSet: name-0..N-1 with the pod-name label",
        [workload("StatefulSet", "db", replicas=3, serviceName="db")],
        [("db-0", ""), ("db-1", ""), ("db-2", "")],
        {"app": "db", "statefulset.kubernetes.io/pod-name": "*", "controller-revision-hash": "*"},
    ),
    Case("StatefulSet: replicas 0", [workload("StatefulSet", "db", replicas=0)], []),
    Case(
        "StatefulSet: 12 replicas sort by name (db-10 before db-2)",
        [workload("StatefulSet", "db", replicas=12)],
        [(f"db-{i}", "") for i in sorted(range(12), key=str)],
    ),
    Case(
        "DaemonSet: one pod per node",
        [*NODES, workload("DaemonSet", "agent")],
        [(rf"agent-{A}{{5}}", "*")] * 3,
        {"app": "agent", "controller-revision-hash": "*", "pod-template-generation": "1"},
    ),
    Case(
        "DaemonSet: nodeSelector",
        [*NODES, selecting(workload("DaemonSet", "agent"), disk="ssd")],
        [(rf"agent-{A}{{5}}", "*")] * 2,
    ),
    Case(
        "DaemonSet: nodeSelector on the hostname label",
        [*NODES, selecting(workload("DaemonSet", "agent"), **{"kubernetes.io/hostname": "n2"})],
        [(rf"agent-{A}{{5}}", "n2")],
    ),
    Case(
        "DaemonSet: NoSchedule taint keeps it off, PreferNoSchedule does not",
        [
            node("n1", taints=[taint("NoSchedule")]),
            node("n2", taints=[taint("PreferNoSchedule")]),
            node("n3", taints=[taint("NoExecute")]),
            workload("DaemonSet", "agent"),
        ],
        [(rf"agent-{A}{{5}}", "n2")],
    ),
    Case(
        "DaemonSet: a toleration lets it on",
        [
            node("n1", taints=[taint("NoSchedule")]),
            node("n2"),
            tolerating(workload("DaemonSet", "agent"), key="dedicated", operator="Exists"),
        ],
        [(rf"agent-{A}{{5}}", "*")] * 2,
    ),
    Case(
        "DaemonSet: taints the controller tolerates",
        [
            node("n1", taints=[taint("NoSchedule", "node.kubernetes.io/unschedulable")]),
            workload("DaemonSet", "agent"),
        ],
        [(rf"agent-{A}{{5}}", "n1")],
    ),
    Case(
        "ReplicationController: its selector defaults to the template's labels",
        [rc("legacy", replicas=3)],
        [(rf"legacy-{A}{{5}}", "*")] * 3,
        {"app": "legacy"},
    ),
    Case(
        "ReplicationController: a selector as a plain label map",
        [rc("legacy", replicas=2, selector={"app": "legacy"})],
        [(rf"legacy-{A}{{5}}", "*")] * 2,
    ),
    Case(
        "DaemonSet: default nodes",
        [workload("DaemonSet", "agent")],
        [(rf"agent-{A}{{5}}", "*")] * 2,
    ),
    Case(
        "Job: parallelism pods with job-name labels",
        [workload("Job", "backup", replicas=2)],
        [(rf"backup-{A}{{5}}", "")] * 2,
        {"app": "backup", "job-name": "backup", "batch.kubernetes.io/job-name": "backup"},
    ),
    Case(
        "Job: completions below parallelism",
        [workload("Job", "backup", replicas=3, completions=1)],
        [(rf"backup-{A}{{5}}", "")],
    ),
    Case("Job: parallelism 0", [workload("Job", "backup", replicas=0)], []),
    Case(
        "CronJob: the pods of one Job",
        [workload("CronJob", "report")],
        [(rf"report-\d{{8}}-{A}{{5}}", "")],
        {"app": "report", "job-name": "*", "controller-uid": "*"},
    ),
    Case(
        "workloads in several namespaces, sorted by namespace then name",
        [workload("Deployment", "web", ns="b"), workload("StatefulSet", "db", ns="a")],
        [("db-0", ""), (rf"web-{HASH}-{A}{{5}}", "")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_expansion(case: Case) -> None:
    cluster = load(*case.objects)
    pods = cluster.pods
    assert len(pods) == len(case.pods), [p.key for p in pods]
    for p, (pattern, node_name) in zip(pods, case.pods, strict=True):
        assert re.fullmatch(pattern, p.name), p.name
        if node_name == "*":
            assert p.node_name
        elif node_name:
            assert p.node_name == node_name
        for k, v in case.labels.items():
            assert k in p.labels and (v == "*" or p.labels[k] == v), (p.name, p.labels)
    assert len({p.key for p in pods}) == len(pods)
    if case.id.startswith("DaemonSet"):
        assert len({p.node_name for p in pods}) == len(pods)  # one per node


def test_deployment_hash_label_is_the_name_segment() -> None:
    for p in load(workload("Deployment", "web", replicas=2)).pods:
        assert p.name.split("-")[1] == p.labels["pod-template-hash"]
        assert p.owner == f"ReplicaSet/web-{p.labels['pod-template-hash']}"


def test_statefulset_pod_identity() -> None:
    pods = load(workload("StatefulSet", "db", replicas=2, serviceName="db-headless")).pods
    assert [(p.name, p.hostname, p.subdomain) for p in pods] == [
        ("db-0", "db-0", "db-headless"),
        ("db-1", "db-1", "db-headless"),
    ]
    assert [p.labels["statefulset.kubernetes.io/pod-name"] for p in pods] == ["db-0", "db-1"]
    assert [p.labels["apps.kubernetes.io/pod-index"] for p in pods] == ["0", "1"]


def _names(*objects: dict) -> list[str]:
    return [p.key for p in load(*objects).pods]


APP = [
    workload("Deployment", "web", replicas=3),
    workload("DaemonSet", "agent"),
    workload("CronJob", "report"),
    workload("ReplicaSet", "rs", replicas=2),
    workload("Job", "once"),
]


@pytest.mark.parametrize(
    ("id", "extra"),
    [
        ("a NetworkPolicy", [policy({"podSelector": {}, "ingress": [{}]}, ns="default")]),
        (
            "a Service and a ConfigMap",
            [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "web"},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
                },
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "cfg"},
                    "data": {"a": "b"},
                },
            ],
        ),
        ("a pod in another namespace", [pod("other", ns="zzz")]),
    ],
)
def test_names_stable(id: str, extra: list[dict]) -> None:
    """The same manifests give the same names on every load, whatever else is added."""
    first = _names(*APP)
    assert _names(*APP) == first
    with_extra = [k for k in _names(*APP, *extra) if k in first]
    assert with_extra == first


def test_template_change_changes_the_hash_only_for_deployments() -> None:
    changed = workload("Deployment", "web", replicas=3)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    before, after = _names(APP[0]), _names(changed)
    assert before != after
    assert {k.rsplit("-", 2)[0] for k in after} == {"default/web"}


def _owner(kind: str, name: str, controller: bool = True) -> list[dict]:
    ref = {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u-" + name}
    return [{**ref, "controller": controller}]


def kubectl_dump() -> list[dict]:
    """A Deployment, its ReplicaSet and two Pods, as `kubectl get deploy,rs,pods -o yaml`."""
    deploy = workload("Deployment", "web", replicas=2)
    rs = workload("ReplicaSet", "web-5d4c8f9b7", replicas=2)
    rs["metadata"]["ownerReferences"] = _owner("Deployment", "web")
    pods = []
    for i, suffix in enumerate(("x7k2p", "m9q4z")):
        p = pod(
            f"web-5d4c8f9b7-{suffix}",
            labels={"app": "web", "pod-template-hash": "5d4c8f9b7"},
            nodeName=f"node-{i + 1}",
        )
        p["metadata"]["ownerReferences"] = _owner("ReplicaSet", "web-5d4c8f9b7")
        p["status"] = {
            "phase": "Running",
            "podIP": f"10.244.{i}.7",
            "podIPs": [{"ip": f"10.244.{i}.7"}],
        }
        pods.append(p)
    return [deploy, rs, *pods]


def test_kubectl_dump_gives_just_its_pods() -> None:
    cluster = load({"apiVersion": "v1", "kind": "List", "items": kubectl_dump()})
    assert [(p.name, p.node_name, str(p.ips[0]), p.owner) for p in cluster.pods] == [
        ("web-5d4c8f9b7-m9q4z", "node-2", "10.244.1.7", "ReplicaSet/web-5d4c8f9b7"),
        ("web-5d4c8f9b7-x7k2p", "node-1", "10.244.0.7", "ReplicaSet/web-5d4c8f9b7"),
    ]


def test_dump_with_a_replicaset_but_no_pods_expands_the_replicaset() -> None:
    deploy, rs, *_ = kubectl_dump()
    names = [p.name for p in load(deploy, rs).pods]
    assert len(names) == 2 and all(re.fullmatch(rf"web-5d4c8f9b7-{A}{{5}}", n) for n in names)


def test_replication_controller_selector_must_match_the_template() -> None:
    problems = problems_of(rc("legacy", replicas=1, selector={"app": "other"}))
    assert [(p.field, p.message) for p in problems] == [
        (
            "spec.template.metadata.labels",
            "Invalid value: `selector` does not match template `labels`",
        )
    ]
