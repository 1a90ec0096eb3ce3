"""`podnet trace` end to end, and `reach --services`: DNS, Service, kube-proxy, route, policy."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from podnet.errors import PodnetError
from podnet.model.cluster import Cluster, cluster_from_text
from podnet.path.service_reach import service_reach
from podnet.path.trace import trace
from podnet.report import service_reach as service_reach_report
from podnet.report import trace as trace_report

CLUSTER = """
apiVersion: podnet.io/v1alpha1
kind: ClusterNetwork
metadata: {name: t}
spec:
  loadBalancerPool: [203.0.113.0/28]
  nodes: [{name: node-1}, {name: node-2}]
---
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {team: app}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: app, labels: {role: client}}
spec: {nodeName: node-1, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: app, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: app, labels: {app: web}}
spec: {nodeName: node-2, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: app, labels: {app: db}}
spec: {nodeName: node-2, hostname: db-0, subdomain: db, containers: [{name: c, image: i, ports: [{containerPort: 5432}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: locked, namespace: app, labels: {role: locked}}
spec: {nodeName: node-2, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: app}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local, namespace: app}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: app}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: app}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: app}
spec: {type: ExternalName, externalName: api.example.com}
---
# web-2 takes no traffic from the client; the locked pod may not talk at all (no DNS either).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-2, namespace: app}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: app}}, podSelector: {matchLabels: {role: client}}}]
    ports: [{port: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: locked, namespace: app}
spec:
  podSelector: {matchLabels: {role: locked}}
  policyTypes: [Egress]
"""


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return cluster_from_text(CLUSTER, "trace.yaml")


@dataclass
class Case:
    name: str
    src: str
    dst: str
    port: int | None
    verdict: str
    endpoints: dict[str, bool]  # pod (or target) -> delivered
    masquerade: bool | None = None
    dns: str = ""  # a substring of the DNS hop


CASES = [
    Case(
        "short name through ClusterIP, every endpoint allowed",
        "app/client",
        "web",
        None,
        "delivered",
        {"app/web-1": True, "app/web-2": True},
        False,
        "web.app.svc.cluster.local. answer",
    ),
    Case(
        "full name with a trailing dot",
        "app/client",
        "web.app.svc.cluster.local.",
        80,
        "delivered",
        {"app/web-1": True, "app/web-2": True},
        False,
        "web.app.svc.cluster.local. answer",
    ),
    Case(
        "policy on the target port after DNAT",
        "app/db-0",
        "web.app",
        None,
        "dropped",
        {"app/web-1": False, "app/web-2": False},
        False,
        "web.app.app.svc.cluster.local. NXDOMAIN",
    ),
    Case(
        "headless name resolves to the pod",
        "app/client",
        "db-0.db",
        5432,
        "delivered",
        {"app/db-0": True},
        None,
        "db-0.db.app.svc.cluster.local. answer",
    ),
    Case("no endpoints: rejected by kube-proxy", "app/client", "empty", None, "rejected", {}),
    Case(
        "NXDOMAIN inside the cluster domain",
        "app/client",
        "nosuch.app.svc.cluster.local.",
        80,
        "NXDOMAIN",
        {},
    ),
    Case("ExternalName goes upstream", "app/client", "ext", 443, "unresolved", {}),
    Case("egress default-deny blocks the DNS query itself", "app/locked", "web", 80, "dropped", {}),
    Case(
        "pod address directly, no kube-proxy",
        "app/client",
        "app/web-2",
        8080,
        "delivered",
        {"app/web-2": True},
        None,
    ),
    Case(
        "NodePort from outside: masqueraded, node-local delivery exempt",
        "external",
        "node-2:30080",
        None,
        "partly delivered",
        {"app/web-1": False, "app/web-2": True},
        True,
    ),
    Case(
        "NodePort from a node",
        "node-1",
        "node-1:30080",
        None,
        "partly delivered",
        {"app/web-1": True, "app/web-2": False},
        True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_trace(cluster: Cluster, case: Case) -> None:
    t = trace(cluster, case.src, case.dst, case.port)
    assert t.verdict == case.verdict, trace_report.to_text(t)
    assert {d.target: d.allowed for d in t.deliveries} == case.endpoints, trace_report.to_text(t)
    proxy = [h for h in t.hops if h.step == "kube-proxy"]
    if case.masquerade is not None and proxy and proxy[0].detail:
        assert proxy[0].detail["masquerade"] is case.masquerade
    if case.dns:
        assert any(case.dns in h.summary for h in t.hops if h.step == "dns"), trace_report.to_text(
            t
        )
    json.dumps(trace_report.to_json(t))  # always serialisable


def test_load_balancer_with_local_policy_keeps_the_source(cluster: Cluster) -> None:
    lb = next(s for s in cluster.services if s.name == "web-local").load_balancer[0].ip
    t = trace(cluster, "external", str(lb), 80)
    proxy = next(h for h in t.hops if h.step == "kube-proxy")
    # arrives at the first node with a local endpoint; only local endpoints; source kept
    assert "on node-1" in proxy.summary and proxy.detail["masquerade"] is False
    assert [d.target for d in t.deliveries] == ["app/web-1"]
    assert t.verdict == "dropped"  # web-1 admits only the client pod, and sees the real source


def test_hairpin_through_a_service_is_subject_to_egress(cluster: Cluster) -> None:
    t = trace(cluster, "app/web-1", "web", None)
    own = next(d for d in t.deliveries if d.target == "app/web-1")
    other = next(d for d in t.deliveries if d.target == "app/web-2")
    assert any(h.step == "snat" for h in own.hops)  # hairpin: masqueraded
    assert not any(h.step == "snat" for h in other.hops)  # only the client's own endpoint is
    direct = trace(cluster, "app/web-1", "app/web-1", 8080)
    assert direct.verdict == "delivered"  # its own address never leaves its namespace


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("app/nope", "web", "no pod"),
        ("nowhere", "web", "no node .nowhere., nor a pod or workload"),
        ("app/client", "app/web-1:99999", "port must be"),
        ("app/client", "198.51.100.7", "no port"),
    ],
)
def test_usage_errors(cluster: Cluster, src: str, dst: str, message: str) -> None:
    with pytest.raises(PodnetError, match=message):
        trace(cluster, src, dst)


def test_services_reach_matches_trace(cluster: Cluster) -> None:
    r = service_reach(cluster)
    assert "app/web:80/TCP" in r.services and "app/db:5432/TCP" not in r.services  # headless
    for pod in ("app/client", "app/db-0", "app/locked"):
        cell = r.cells[pod]["app/web:80/TCP"]
        t = trace(
            cluster,
            pod,
            str(next(s for s in cluster.services if s.name == "web").cluster_ips[0]),
            80,
        )
        assert cell.endpoints == {d.endpoint: d.allowed for d in t.deliveries}
    assert r.cells["app/client"]["app/empty:80/TCP"].verdict == "REJECT"
    doc = service_reach_report.model_json(r)
    assert doc["allowed"]["app/client"]["app/web:80/TCP"] is True
    assert doc["allowed"]["app/locked"]["app/web:80/TCP"] is False
