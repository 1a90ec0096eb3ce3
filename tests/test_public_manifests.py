"""Public manifests as users have them: they load, nothing in them vanishes, and their policies
give the verdicts their authors document.

Each folder of tests/data holds one upstream set, unmodified, with a SOURCE.md naming its
repository, path, commit and licence. Everything runs through the `podnet` command, as a user
would run it: `reach -o json`, `lint`, `explain -o json`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from podnet.model.documents import read_documents
from tests.cli import run

DATA = Path(__file__).resolve().parent / "data"
SETS = (
    "argocd",
    "argocd-ha",
    "kube-prometheus",
    "calico-stars",
    "guestbook-go",
    "microservices-demo",
    "bookinfo",
)
NODES = 2  # podnet's default cluster: two workers, so a DaemonSet has two pods
DNS = "kube-system/coredns"  # the cluster DNS podnet adds, a workload like the others
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "DaemonSet")


def path(name: str) -> str:
    return str(DATA / name)


@functools.cache
def _workload_docs(paths: tuple[str, ...]) -> list[tuple[str, dict]]:
    out = []
    for doc in read_documents(paths):
        data = doc.data
        if isinstance(data, dict) and data.get("kind") in WORKLOAD_KINDS:
            meta = data["metadata"]
            out.append((f"{meta.get('namespace', 'default')}/{meta['name']}", data))
    return out


def workloads(*paths: str) -> dict[str, int]:
    """Every workload of the manifests as `namespace/name`, with the pods it asks for."""
    out = {DNS: 2}
    for key, data in _workload_docs(paths):
        out[key] = NODES if data["kind"] == "DaemonSet" else data["spec"].get("replicas", 1)
    return out


def host_network(*paths: str) -> set[str]:
    """The workloads whose pods use the node's network: their connections come from the node,
    which no NetworkPolicy of a pod on that node can refuse, so they are no policy question."""
    return {
        key
        for key, data in _workload_docs(paths)
        if data["spec"]["template"]["spec"].get("hostNetwork") is True
    }


def owner(pod: str, names: dict[str, int]) -> str:
    """The workload a pod belongs to: the longest workload name its name extends."""
    found = [w for w in names if pod.startswith(w + "-")]
    assert found, f"{pod} belongs to no workload of the manifests"
    return max(found, key=len)


def reach(capsys, monkeypatch, *paths: str) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "reach", *paths, "-o", "json")
    assert "Traceback" not in err
    assert code == 0, err
    return json.loads(out), err


@dataclass(frozen=True)
class Matrix:
    """`reach -o json` read by workload: a verdict holds for every pod of the source and of the
    destination, or the test says which pods disagree."""

    data: dict
    names: dict[str, int]

    def pods(self, workload: str) -> list[str]:
        pods = [p for p in self.data["pods"] if owner(p, self.names) == workload]
        assert pods, f"no pod of {workload} in {self.data['pods']}"
        return pods

    def allowed(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        probes = {(p["protocol"], p["port"]): p["allowed"] for p in self.data["probes"]}
        assert (protocol, port) in probes, f"no pod declares {port}/{protocol}"
        cells = {
            (a, b): probes[(protocol, port)][a][b]
            for a in self.pods(src)
            for b in self.pods(dst)
            if a != b
        }
        verdicts = set(cells.values())
        assert len(verdicts) == 1, f"{src} -> {dst}:{port}/{protocol} differs by pod: {cells}"
        return verdicts.pop()


EVERYONE = frozenset({"*"})


@dataclass(frozen=True)
class Rule:
    """What the authors allow into `dst` on a port it declares: from these workloads only
    (EVERYONE: from any pod)."""

    dst: str
    port: int
    sources: frozenset[str]
    protocol: str = "TCP"


def rules(dst: str, port: int, *sources: str, protocol: str = "TCP") -> Rule:
    return Rule(dst, port, frozenset(sources), protocol)


@dataclass(frozen=True)
class Egress:
    """Where the authors let `src` connect: (destination workload, port) pairs, a destination
    of None meaning any pod."""

    src: str
    to: frozenset[tuple[str | None, int]]

    def allows(self, dst: str, port: int) -> bool:
        return (dst, port) in self.to or (None, port) in self.to


# Argo CD's own NetworkPolicies (manifests/base/*/*-network-policy.yaml): Redis only from the
# API server, the repo server and the application controller; the repo server's API only from
# the four components that call it, its metrics from anywhere; Dex's API only from the API
# server; the API server from anywhere.
ARGOCD = "default/argocd-"
REDIS_CLIENTS = [ARGOCD + w for w in ("server", "repo-server", "application-controller")]
REPO_CLIENTS = [
    ARGOCD + w
    for w in (
        "server",
        "application-controller",
        "notifications-controller",
        "applicationset-controller",
    )
]
ARGOCD_RULES = [
    rules(ARGOCD + "redis", 6379, *REDIS_CLIENTS),
    rules(ARGOCD + "repo-server", 8081, *REPO_CLIENTS),
    Rule(ARGOCD + "repo-server", 8084, EVERYONE),
    rules(ARGOCD + "dex-server", 5556, ARGOCD + "server"),
    rules(ARGOCD + "dex-server", 5557, ARGOCD + "server"),
    Rule(ARGOCD + "dex-server", 5558, EVERYONE),
    Rule(ARGOCD + "application-controller", 8082, EVERYONE),
    Rule(ARGOCD + "applicationset-controller", 7000, EVERYONE),
    Rule(ARGOCD + "applicationset-controller", 8080, EVERYONE),
    Rule(ARGOCD + "server", 8080, EVERYONE),
    Rule(ARGOCD + "server", 8083, EVERYONE),
]

# The HA install puts HAProxy in front of Redis: clients reach HAProxy; the Redis servers take
# connections only from HAProxy and from each other, and may connect only to each other (and DNS).
ARGOCD_HA_RULES = [
    *(r for r in ARGOCD_RULES if r.dst != ARGOCD + "redis"),
    rules(ARGOCD + "redis-ha-haproxy", 6379, *REDIS_CLIENTS),
    Rule(ARGOCD + "redis-ha-haproxy", 9101, EVERYONE),
    rules(
        ARGOCD + "redis-ha-server", 6379, ARGOCD + "redis-ha-haproxy", ARGOCD + "redis-ha-server"
    ),
    rules(
        ARGOCD + "redis-ha-server", 26379, ARGOCD + "redis-ha-haproxy", ARGOCD + "redis-ha-server"
    ),
]

ARGOCD_HA_EGRESS = (
    Egress(
        ARGOCD + "redis-ha-server",
        frozenset(
            {
                (ARGOCD + "redis-ha-server", 6379),
                (ARGOCD + "redis-ha-server", 26379),
                (None, 53),
            }
        ),
    ),
)

# kube-prometheus' NetworkPolicies (manifests/*-networkPolicy.yaml): Prometheus scrapes every
# component; Prometheus itself is queried by Grafana and the adapter on 9090; Grafana's UI only
# from Prometheus; the adapter from anywhere. Prometheus and Alertmanager pods are made by the
# operator (see OPERATOR below).
MON = "monitoring/"
PROMETHEUS = MON + "prometheus-k8s"
ALERTMANAGER = MON + "alertmanager-main"
KUBE_PROMETHEUS_RULES = [
    rules(PROMETHEUS, 9090, PROMETHEUS, MON + "grafana", MON + "prometheus-adapter"),
    rules(PROMETHEUS, 8080, PROMETHEUS),
    rules(MON + "grafana", 3000, PROMETHEUS),
    rules(MON + "blackbox-exporter", 9115, PROMETHEUS),
    rules(MON + "blackbox-exporter", 19115, PROMETHEUS),
    rules(MON + "kube-state-metrics", 8443, PROMETHEUS),
    rules(MON + "kube-state-metrics", 9443, PROMETHEUS),
    rules(MON + "prometheus-operator", 8443, PROMETHEUS),
    Rule(MON + "prometheus-adapter", 6443, EVERYONE),
    rules(ALERTMANAGER, 9093, PROMETHEUS),
    rules(ALERTMANAGER, 8080, PROMETHEUS),
    rules(ALERTMANAGER, 9094, ALERTMANAGER),
    rules(ALERTMANAGER, 9094, ALERTMANAGER, protocol="UDP"),
]

# What prometheus-operator makes of the `Prometheus` and `Alertmanager` resources of the set: a
# StatefulSet each, its pods labelled with the resource's podMetadata labels and the operator's
# own, listening on the ports the operator gives them.
OPERATOR = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: prometheus-k8s, namespace: monitoring}
spec:
  replicas: 2
  serviceName: prometheus-operated
  selector:
    matchLabels: {app.kubernetes.io/name: prometheus, prometheus: k8s}
  template:
    metadata:
      labels:
        app.kubernetes.io/component: prometheus
        app.kubernetes.io/instance: k8s
        app.kubernetes.io/managed-by: prometheus-operator
        app.kubernetes.io/name: prometheus
        app.kubernetes.io/part-of: kube-prometheus
        operator.prometheus.io/name: k8s
        prometheus: k8s
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: prometheus
        ports: [{name: web, containerPort: 9090}]
      - name: config-reloader
        ports: [{name: reloader-web, containerPort: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: alertmanager-main, namespace: monitoring}
spec:
  replicas: 3
  serviceName: alertmanager-operated
  selector:
    matchLabels: {app.kubernetes.io/name: alertmanager, alertmanager: main}
  template:
    metadata:
      labels:
        alertmanager: main
        app.kubernetes.io/component: alert-router
        app.kubernetes.io/instance: main
        app.kubernetes.io/managed-by: prometheus-operator
        app.kubernetes.io/name: alertmanager
        app.kubernetes.io/part-of: kube-prometheus
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: alertmanager
        ports:
        - {name: web, containerPort: 9093}
        - {name: mesh-tcp, containerPort: 9094}
        - {name: mesh-udp, containerPort: 9094, protocol: UDP}
      - name: config-reloader
        ports: [{name: reloader-web, containerPort: 8080}]
"""


def _check_rules(matrix: Matrix, table: list[Rule], egress: list[Egress], skip: set[str]) -> None:
    limits = {e.src: e for e in egress}
    wrong = []
    for rule in table:
        for src in matrix.names:
            if src in skip or (src == rule.dst and len(matrix.pods(src)) == 1):
                continue  # the node's own traffic, or a pod to itself: not a policy question
            want = rule.sources == EVERYONE or src in rule.sources
            if src in limits:
                want = want and limits[src].allows(rule.dst, rule.port)
            got = matrix.allowed(src, rule.dst, rule.port, rule.protocol)
            if got != want:
                wrong.append(f"{src} -> {rule.dst}:{rule.port}/{rule.protocol}: {got}")
    assert not wrong, wrong


@dataclass(frozen=True)
class PublicSet:
    name: str
    rules: list[Rule]
    extra: str = ""  # manifests the set's operators would add, as text
    egress: tuple[Egress, ...] = ()

    def paths(self, tmp: Path) -> list[str]:
        if not self.extra:
            return [path(self.name)]
        extra = tmp / "operator.yaml"
        extra.write_text(self.extra)
        return [path(self.name), str(extra)]


# The stars demo as published, after the tutorial's last step (calico-stars/SOURCE.md): the
# management UI reaches every service and every pod reaches it; the frontend reaches the backend
# on 6379, the client the frontend on 80; nothing else. Its default-deny, which the tutorial
# applies with `-n stars` and `-n client`, lands in `default` here: the allow policies isolate
# the same pods, so the verdicts are the same (test_stars_tutorial applies it as the tutorial).
STARS_UI = "management-ui/management-ui"
STARS_RULES = [
    Rule(STARS_UI, 9001, EVERYONE),
    rules("stars/backend", 6379, STARS_UI, "stars/frontend"),
    rules("stars/frontend", 80, STARS_UI, "client/client"),
    rules("client/client", 9000, STARS_UI),
]


# guestbook-go, microservices-demo and bookinfo have no NetworkPolicy: every workload reaches
# every port another declares.
def _open(*ports: tuple[str, int]) -> list[Rule]:
    return [Rule(dst, port, EVERYONE) for dst, port in ports]


PUBLIC = [
    PublicSet("argocd", ARGOCD_RULES),
    PublicSet("argocd-ha", ARGOCD_HA_RULES, egress=ARGOCD_HA_EGRESS),
    PublicSet("kube-prometheus", KUBE_PROMETHEUS_RULES, OPERATOR),
    PublicSet("calico-stars", STARS_RULES),
    PublicSet("guestbook-go", _open(("default/redis-master", 6379), ("default/guestbook", 3000))),
    PublicSet(
        "microservices-demo",
        _open(
            ("default/frontend", 8080),
            ("default/cartservice", 7070),
            ("default/redis-cart", 6379),
            ("default/productcatalogservice", 3550),
            ("default/checkoutservice", 5050),
        ),
    ),
    PublicSet("bookinfo", _open(("default/productpage-v1", 9080), ("default/ratings-v1", 9080))),
]


@pytest.mark.parametrize("public", PUBLIC, ids=lambda s: s.name)
def test_public_set(public: PublicSet, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The set loads with exit 0; no pod vanishes (each workload's replicas are in the matrix or
    listed as pending, and named on stderr); the policies give the authors' verdicts."""
    paths = public.paths(tmp_path)
    data, err = reach(capsys, monkeypatch, *paths)
    names = workloads(*paths)
    pending = data.get("pending", {})
    counted = dict.fromkeys(names, 0)
    for pod in [*data["pods"], *pending]:
        counted[owner(pod, names)] += 1
    assert counted == names
    for pod, reason in pending.items():
        assert reason and pod in err, f"{pod} pending without a word on stderr"
    matrix = Matrix(data, names)
    _check_rules(matrix, public.rules, list(public.egress), host_network(*paths))


@pytest.mark.parametrize("name", SETS)
def test_lint_loads_every_set(name: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "lint", path(name), "-o", "json")
    assert "Traceback" not in err
    assert code == 0, err
    assert isinstance(json.loads(out)["findings"], list)


def test_kube_prometheus_crd_and_custom_resources_are_skipped_and_named(
    capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The CRD with a bare `=` loads; its schema is never read, and it is counted as skipped,
    as are the operator's resources that podnet does not expand."""
    _, err = reach(capsys, monkeypatch, path("kube-prometheus"))
    for kind in ("CustomResourceDefinition (1)", "Prometheus (1)", "Alertmanager (1)"):
        assert kind in err


def test_kube_prometheus_policies_select_no_pod_without_the_operator(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Without the operator's StatefulSets, the Prometheus and Alertmanager policies select no
    pod, and lint says so rather than passing in silence."""
    code, out, err = run(capsys, monkeypatch, "lint", path("kube-prometheus"), "-o", "json")
    assert code == 0, err
    findings = json.loads(out)["findings"]
    subjects = {f["policy"] for f in findings if f["code"] == "no-subjects"}
    assert {"monitoring/prometheus-k8s", "monitoring/alertmanager-main"} <= subjects


# The stars tutorial (calico-stars/SOURCE.md), step by step, with what it says the UI shows.
STARS = "calico-stars"
UI = STARS_UI
FRONTEND, BACKEND, CLIENT = "stars/frontend", "stars/backend", "client/client"
PORTS = {UI: 9001, FRONTEND: 80, BACKEND: 6379, CLIENT: 9000}


def _stars_step(tmp: Path, step: int) -> list[str]:
    """The files the tutorial has applied after `step`, default-deny in both namespaces as
    `kubectl create -n stars` and `-n client` put it."""
    files = [path(f"{STARS}/manifests")]
    if step >= 2:
        deny = yaml.safe_load((DATA / STARS / "policies/default-deny.yaml").read_text())
        for ns in ("stars", "client"):
            deny["metadata"]["namespace"] = ns
            (tmp / f"default-deny-{ns}.yaml").write_text(yaml.safe_dump(deny))
            files.append(str(tmp / f"default-deny-{ns}.yaml"))
    later = {3: ("allow-ui.yaml", "allow-ui-client.yaml"), 4: ("backend-policy.yaml",)}
    later[5] = ("frontend-policy.yaml",)
    for at, names in later.items():
        if step >= at:
            files += [path(f"{STARS}/policies/{n}") for n in names]
    return files


ALL_PAIRS = {(a, b) for a in PORTS for b in PORTS if a != b}
TO_UI = {(a, UI) for a in PORTS if a != UI}
FROM_UI = {(UI, b) for b in PORTS if b != UI}
STEPS = [
    (1, ALL_PAIRS),  # "they should have full connectivity"
    (2, TO_UI),  # isolation: "the UI can no longer access the pods"
    (3, TO_UI | FROM_UI),  # the UI sees every service, "not able to access each other"
    (4, TO_UI | FROM_UI | {(FRONTEND, BACKEND)}),  # "the frontend can now access the backend"
    (5, TO_UI | FROM_UI | {(FRONTEND, BACKEND), (CLIENT, FRONTEND)}),  # "client ... frontend"
]


@pytest.mark.parametrize(("step", "allowed"), STEPS, ids=[f"step {s}" for s, _ in STEPS])
def test_stars_tutorial(step: int, allowed: set, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    paths = _stars_step(tmp_path, step)
    data, _ = reach(capsys, monkeypatch, *paths)
    matrix = Matrix(data, workloads(*paths))
    got = {(a, b) for a, b in ALL_PAIRS if matrix.allowed(a, b, PORTS[b])}
    assert got == allowed


def test_stars_explain_names_the_policies(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The client may not reach the backend: explain names the backend's policies, none of
    which allows it."""
    data, _ = reach(capsys, monkeypatch, path(STARS))
    matrix = Matrix(data, workloads(path(STARS)))
    client, backend = matrix.pods(CLIENT)[0], matrix.pods(BACKEND)[0]
    code, out, err = run(
        capsys,
        monkeypatch,
        "explain",
        path(STARS),
        "--from",
        client,
        "--to",
        backend,
        "--port",
        "6379",
        "-o",
        "json",
    )
    assert code == 0, err
    got = json.loads(out)
    assert got["allowed"] is False
    assert got["ingress"]["policies"] == ["stars/allow-ui", "stars/backend-policy"]
    assert got["ingress"]["allowed_by"] == []
