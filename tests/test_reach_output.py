"""`podnet reach` as it reads at every terminal width: pod by pod, by namespace, namespace pairs
ranked; "denied" apart from "declares no port"; Service target ports counted as declared."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from podnet.policy.matrix import Probe, Reach
from podnet.report import reach as reach_report
from podnet.report import service_reach as service_report
from podnet.report.console import terminal_width
from tests.cli import SHOP, run


def deployment(namespace: str, name: str, replicas: int, ports: list[int]) -> dict:
    container = {"name": "c", "image": "i", "ports": [{"containerPort": p} for p in ports]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }


def deny_all(namespace: str) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def manifests(*objects: dict) -> str:
    return yaml.safe_dump_all(objects)


# 3 namespaces of 20 pods: too many pods for any ordinary width, few namespaces.
MANY_PODS = manifests(
    *(deployment(ns, "web", 20, [80]) for ns in ("alpha", "beta", "gamma")), deny_all("gamma")
)
# 30 namespaces: too many to draw side by side in 40 or 80 columns.
MANY_NAMESPACES = manifests(*(deployment(f"team-{i:02}", "web", 2, [80]) for i in range(30)))


def widest_line(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def reach_table(capsys, monkeypatch, columns: int, *args: str, stdin: str) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run(capsys, monkeypatch, "reach", "-", *args, stdin=stdin)
    assert code == 0, err
    assert widest_line(out) <= columns, out
    return out


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_many_pods_are_summarised_by_namespace(capsys, monkeypatch, columns) -> None:
    out = reach_table(capsys, monkeypatch, columns, stdin=MANY_PODS)
    assert "by namespace" in out
    assert "alpha/web-" not in out  # no pod by pod
    # Rows and columns: alpha, beta, gamma, kube-system. Nothing isolates alpha; gamma denies
    # every ingress but each pod's to itself (20 of 400 pairs).
    rows = numbered_rows(out)
    assert rows[1] == ["✓", "✓", "·", "✓"]
    assert rows[3] == ["✓", "✓", "5%", "✓"]
    assert "✓ every pair allowed, · none, N% that share of the pairs" in " ".join(out.split())


def numbered_rows(out: str) -> dict[int, list[str]]:
    """The cells of each numbered row of a grid (after its number and name)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0].isdigit():
            rows[int(cells[0])] = cells[2:]
    return rows


@pytest.mark.parametrize("columns", [40, 80])
def test_many_namespaces_are_ranked_as_pairs(capsys, monkeypatch, columns) -> None:
    out = reach_table(capsys, monkeypatch, columns, stdin=MANY_NAMESPACES)
    flat = " ".join(out.split())
    assert f"31 namespaces are too many for {columns} columns" in flat
    assert "namespace pairs, most allowed first" in flat
    # Every pair is open: the largest blocks (kube-system's pods are 2, as every team's) come
    # first by allowed pod pairs, then by name; a page of them, the rest counted.
    assert "✓ 4/4 kube-system → kube-system" in flat
    assert "... and 941 more pairs with some allowed" in flat
    assert "share: of the pod pairs (-o json lists every cell)" in flat


def test_namespace_whose_pods_declare_no_port(capsys, monkeypatch) -> None:
    quiet = MANY_PODS + "---\n" + manifests(deployment("quiet", "job", 20, []))
    out = reach_table(capsys, monkeypatch, 80, "--protocol", "TCP", stdin=quiet)
    rows = numbered_rows(out)  # alpha, beta, gamma, kube-system, quiet
    assert rows[1] == ["✓", "✓", "·", "✓", "-"]
    assert rows[5] == ["✓", "✓", "·", "✓", "-"]
    flat = " ".join(out.split())
    assert "- no pod there declares a port; pairs toward pods that declare no port are not" in flat
    # With --port every pair counts: quiet's pods are asked too (nothing isolates them).
    asked = reach_table(capsys, monkeypatch, 80, "--port", "80", stdin=quiet)
    assert numbered_rows(asked)[1] == ["✓", "✓", "·", "✓", "✓"]
    assert "not counted" not in asked


def test_wide_terminal_draws_pods_when_they_fit(capsys, monkeypatch) -> None:
    out = reach_table(capsys, monkeypatch, 300, stdin=SMALL)
    assert "x/a (10.244.0.2)" in out and "by namespace" not in out


SMALL = manifests(
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a", "namespace": "x", "labels": {"app": "a"}},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "b", "namespace": "x", "labels": {"app": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
    },
    {  # declares no port at all
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "c", "namespace": "x", "labels": {"app": "c"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    },
    {  # b and c: ingress from a only
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "from-a", "namespace": "x"},
        "spec": {
            "podSelector": {
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["b", "c"]}]
            },
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}],
        },
    },
)


def row_cells(out: str, pod: str) -> list[str]:
    line = next(line for line in out.splitlines() if f"{pod} (" in line)
    return [c.strip() for c in line.split("│")[3:-1]]


def test_no_port_is_not_denied(capsys, monkeypatch) -> None:
    """Columns: the two CoreDNS pods, x/a, x/b, x/c. x/c declares no port: '-', not '·'."""
    out = reach_table(capsys, monkeypatch, 200, "--protocol", "TCP", stdin=SMALL)
    assert row_cells(out, "x/b") == ["53 9153", "53 9153", "80", "80", "-"]
    assert row_cells(out, "x/a") == ["53 9153", "53 9153", "80", "80", "-"]
    flat = " ".join(out.split())
    assert "· denied on every port it declares, - the destination declares no such port" in flat


def test_port_asks_destinations_that_declare_none(capsys, monkeypatch) -> None:
    out = reach_table(capsys, monkeypatch, 200, "--port", "80", stdin=SMALL)
    # x/a may reach x/c on 80 (from-a), x/b may not: verdicts, not '-'.
    assert row_cells(out, "x/a")[2:] == ["✓", "✓", "✓"]
    assert row_cells(out, "x/b")[2:] == ["✓", "✓", "·"]
    assert "declares no such port" not in out
    assert "TCP/80: " in out


def test_single_declared_port_marks_undeclared_destinations() -> None:
    allowed = np.array([[True, True, True], [False, True, False], [True, False, True]])
    r = Reach(
        pods=["x/a", "x/b", "x/c"],
        ips={"x/a": "10.0.0.1", "x/b": "10.0.0.2", "x/c": "10.0.0.3"},
        probes=[Probe(80, "TCP", allowed)],
        declared={"x/a": {(80, "TCP")}, "x/b": {(80, "TCP")}, "x/c": set()},
    )
    out = reach_report.render_table(r, 100)
    assert row_cells(out, "x/a") == ["✓", "✓", "-"]
    assert row_cells(out, "x/b") == ["·", "✓", "-"]
    assert "TCP/80: 4 of 6 connections allowed to the 2 pod(s) that declare it" in out
    assert "✓ allowed, · denied, - the destination declares no such port" in " ".join(out.split())
    asked = reach_report.render_table(
        Reach(r.pods, r.ips, r.probes, r.declared, requested=True), 100
    )
    assert row_cells(asked, "x/a") == ["✓", "✓", "✓"]
    assert "TCP/80: 6 of 9 connections allowed" in asked
    assert reach_report.to_json(r)["probes"][0]["undeclared"] == ["x/c"]


def test_no_declared_port_at_all_says_how_to_ask() -> None:
    r = Reach(pods=["x/a"], ips={"x/a": "10.0.0.1"}, probes=[])
    assert reach_report.render_table(r, 80) == "no pod declares a port: ask for one with --port N\n"


SERVICE_TARGET = manifests(
    {  # the container lists no port: the Service's targetPort makes 8080 declared
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "api", "namespace": "x", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client", "namespace": "x", "labels": {"app": "client"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "x"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]},
    },
)


def test_a_service_target_port_counts_as_declared(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "reach", "-", "-o", "json", stdin=SERVICE_TARGET)
    assert code == 0, err
    doc = json.loads(out)
    probe = next(p for p in doc["probes"] if (p["port"], p["protocol"]) == (8080, "TCP"))
    assert "x/api" not in probe["undeclared"] and "x/client" in probe["undeclared"]
    assert probe["allowed"]["x/client"]["x/api"] is True
    # explain without --port takes the port the pod declares, the Service's target included
    code, out, err = run(
        capsys, monkeypatch, "explain", "-", "--from", "x/client", "--to", "x/api",
        stdin=SERVICE_TARGET,
    )  # fmt: skip
    assert code == 0, err
    assert "TCP/8080: ALLOWED" in out


def test_terminal_width_follows_columns(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "123")
    assert terminal_width() == 123
    monkeypatch.setenv("COLUMNS", "wide")
    assert terminal_width() == 80  # not a number, and the test's streams are no terminal


def test_services_fit_the_width(capsys, monkeypatch) -> None:
    for columns in (200, 100, 50):
        monkeypatch.setenv("COLUMNS", str(columns))
        code, out, err = run(capsys, monkeypatch, "reach", SHOP, "--services")
        assert code == 0, err
        assert widest_line(out) <= columns, out
        flat = " ".join(out.split())
        if columns == 200:
            assert "shop/frontend-785449bd56-j89n2" in out
            assert "kube-dns" in out and ":53/UDP" in out
        elif columns == 100:
            assert (
                "pods to Service ports: 52 of 120 pod to Service port pairs allowed, by namespace"
                in flat
            )
            assert "shop (8 pods)" in out
        else:
            assert "namespace pairs, most allowed first" in flat
            assert "67% 16/24 shop → kube-system" in flat


def test_services_summary_counts_by_namespace() -> None:
    from podnet.path.service_reach import ServiceCell, ServiceReach

    def cell(ok: bool) -> ServiceCell:
        return ServiceCell("ACCEPT", {object(): ok})  # type: ignore[dict-item]

    pods = [f"x/pod-number-{i:02}" for i in range(30)]
    services = ["y/s:80/TCP", "z/t:80/TCP"]
    r = ServiceReach(
        pods,
        services,
        {p: {"y/s:80/TCP": cell(True), "z/t:80/TCP": cell(i < 3)} for i, p in enumerate(pods)},
    )
    out = service_report.model_table(r, 34)
    assert widest_line(out) <= 34
    assert "by namespace" in out
    row = next(line for line in out.splitlines() if "x (30 pods)" in line)
    assert [c.strip() for c in row.split("│")[2:-1]] == ["✓", "10%"]


def test_namespace_summary_counts_blocks_whatever_the_pod_order() -> None:
    """`a-b/...` sorts before `a/...` although `a` sorts before `a-b`: the blocks still count."""
    pods = [f"a-b/p{i}" for i in range(10)] + [f"a/p{i}" for i in range(10)]
    allowed = np.eye(20, dtype=bool)
    allowed[:10, 10:] = True  # a-b may reach all of a
    r = Reach(pods, {p: "10.0.0.1" for p in pods}, [Probe(80, "TCP", allowed)], requested=True)
    out = reach_report.render_table(r, 40)
    assert widest_line(out) <= 40
    assert "TCP/80: 120 of 400 pod pairs allowed, by namespace" in " ".join(out.split())
    assert numbered_rows(out) == {1: ["10%", "·"], 2: ["✓", "10%"]}


@pytest.mark.parametrize("where", ["shop", "trace"])
def test_services_cells_shared_by_alike_pods_are_walked_alone_the_same(where) -> None:
    """Each cell equals the walk of that very pod, hairpin endpoints included."""
    from podnet.model.cluster import cluster_from_text, load_cluster
    from podnet.path.service_reach import service_cell, service_reach, targets
    from tests.test_trace import CLUSTER

    cluster = load_cluster([SHOP]) if where == "shop" else cluster_from_text(CLUSTER, "t.yaml")
    family = cluster.config.families[0]
    r = service_reach(cluster)
    for pod in cluster.running_pods:
        for t in targets(cluster, family):
            assert r.cells[pod.key][t.name] == service_cell(cluster, pod, family, t), (pod.key, t)
