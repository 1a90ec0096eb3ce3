"""Public manifests whose scheduling rests on required pod anti-affinity: Argo CD's HA install.

`argocd-redis-ha-server` (a StatefulSet of 3) and `argocd-redis-ha-haproxy` (a Deployment of 3)
require anti-affinity on `kubernetes.io/hostname`; `argocd-server` and `argocd-repo-server` (2
each) too. On podnet's two default nodes one pod of each set of three cannot be placed, as on a
two-node cluster; on three nodes every pod is placed, each on its own node.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from podnet.model.cluster import load_cluster
from tests.cli import run
from tests.test_public_manifests import Matrix, owner, path, reach, workloads

HA = "argocd-ha"
REDIS = "default/argocd-redis-ha-server"
HAPROXY = "default/argocd-redis-ha-haproxy"
SPREAD = (REDIS, HAPROXY, "default/argocd-server", "default/argocd-repo-server")

THREE_NODES = """\
apiVersion: podnet.io/v1alpha1
kind: ClusterNetwork
metadata: {name: ha}
spec:
  nodes: [{name: node-1}, {name: node-2}, {name: node-3}]
"""


def test_ha_on_two_nodes_leaves_one_redis_and_one_haproxy_pending(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data, err = reach(capsys, monkeypatch, path(HA))
    names = workloads(path(HA))
    pending = data.get("pending", {})
    assert Counter(owner(p, names) for p in pending) == {REDIS: 1, HAPROXY: 1}
    # a StatefulSet's pods are created in order: the last ordinal is the one left over
    assert f"{REDIS}-2" in pending
    for pod, reason in pending.items():
        assert reason == (
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
        ), reason
        assert pod in err
    # the placed pods still give Argo CD's verdicts
    matrix = Matrix(data, names)
    assert matrix.allowed("default/argocd-server", HAPROXY, 6379)
    assert matrix.allowed(HAPROXY, REDIS, 6379)
    assert not matrix.allowed("default/argocd-server", REDIS, 6379)


def test_ha_on_two_nodes_lint_names_the_pending_pods(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "lint", path(HA), "-o", "json")
    assert code == 0, err
    assert f"{REDIS}-2" in err
    assert f"{REDIS}-2" in json.loads(out)["pending"]


def test_ha_on_three_nodes_places_every_pod_on_its_own_node(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text(THREE_NODES)
    cluster = load_cluster([path(HA), str(config)])
    assert not cluster.pending
    names = workloads(path(HA))
    for workload in SPREAD:
        nodes = [p.node_name for p in cluster.pods if owner(p.key, names) == workload]
        assert len(nodes) == names[workload] and len(set(nodes)) == len(nodes), (workload, nodes)


def test_ha_on_three_nodes_through_the_cli(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "cluster.yaml"
    config.write_text(THREE_NODES)
    code, out, err = run(capsys, monkeypatch, "reach", path(HA), str(config), "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert "pending" not in data or not data["pending"]
    assert sum(1 for p in data["pods"] if p.startswith(REDIS + "-")) == 3
