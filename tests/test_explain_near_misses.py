"""`explain` of a denied connection: what nearly matched, one kind of near miss per case, in the
model and on the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from podnet.model.cluster import cluster_from_text
from podnet.model.names import resolve
from podnet.policy.explain import NEAR_MISS_KINDS, endpoint_peers, explain
from tests.cli import run

CLUSTER = """\
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: dev}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: node-1, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other-a, namespace: y, labels: {app: a}}
spec: {nodeName: node-1, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: host, namespace: x, labels: {app: a}}
spec: {nodeName: node-1, hostNetwork: true, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec:
  nodeName: node-2
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: x, labels: {app: client}}
spec: {nodeName: node-1, containers: [{name: c, image: i}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-b, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: a}}
    ports:
    - port: http
    - port: 9000
      endPort: 9100
    - port: 8080
      protocol: UDP
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {app: a}}
    - namespaceSelector: {matchLabels: {team: dev}}
      podSelector: {matchLabels: {app: c}}
    - ipBlock:
        cidr: 10.244.0.0/16
        except: [10.244.0.0/24]
    ports: [{port: 8080}]
  - from: [{namespaceSelector: {matchLabels: {team: ops}}}, {podSelector: {matchLabels: {app: c}}}]
    ports: [{port: 7000}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-a, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: https}, {port: 443}]
"""


@dataclass
class Case:
    name: str
    src: str
    dst: str
    port: int
    protocol: str
    expected: tuple[tuple[str, str, int, str], ...]  # (kind, field, line, message part)


CASES = [
    Case(
        "podSelector alone matches a pod of another namespace",
        "y/other-a",
        "x/b",
        8080,
        "TCP",
        (
            (
                "policy-namespace",
                "spec.ingress[0].from[0]",
                39,
                "podSelector app=a matches y/other-a, but without a namespaceSelector in the same"
                " item it selects only pods of the policy's namespace x, and y/other-a is in y",
            ),
            (
                "namespace-selector",
                "spec.ingress[1].from[0]",
                47,
                "podSelector app=a matches y/other-a, but namespaceSelector team=ops does not"
                " match its namespace y (labels kubernetes.io/metadata.name=y,team=dev)",
            ),
            (
                "pod-selector",
                "spec.ingress[1].from[1]",
                49,
                "namespaceSelector team=dev matches namespace y, but podSelector app=c does not"
                " match y/other-a (labels app=a)",
            ),
            (
                "ip-block-except",
                "spec.ingress[1].from[2]",
                51,
                "ipBlock 10.244.0.0/16 contains 10.244.0.4, but its except 10.244.0.0/24 leaves"
                " it out",
            ),
        ),
    ),
    Case(
        "the peers match, the ports differ",
        "x/a",
        "x/b",
        9200,
        "TCP",
        (
            ("named-port", "spec.ingress[0].ports[0]", 41, "TCP/http: x/b's port http is 8080"),
            ("port-range", "spec.ingress[0].ports[1]", 42, "TCP/9000-9100: 9200 is outside"),
            ("protocol", "spec.ingress[0].ports[2]", 44, "UDP/8080 is UDP"),
        ),
    ),
    Case(
        "a selected host-network pod",
        "x/host",
        "x/b",
        8080,
        "TCP",
        (
            (
                "host-network",
                "spec.ingress[0].from[0]",
                39,
                "podSelector app=a would match x/host, but it runs on the host network",
            ),
        ),
    ),
    Case(
        "egress: a named port to an address outside the cluster; another port",
        "x/client",
        "198.51.100.7",
        80,
        "TCP",
        (
            (
                "named-port",
                "spec.egress[0].ports[0]",
                65,
                "TCP/https: a named port is resolved on the destination pod's container ports,"
                " and 198.51.100.7 is not a pod",
            ),
            ("port", "spec.egress[0].ports[1]", 65, "TCP/443: the connection is to TCP/80"),
        ),
    ),
    Case(
        "egress: a named port the destination pod does not declare",
        "x/client",
        "x/b",
        80,
        "TCP",
        (
            (
                "named-port",
                "spec.egress[0].ports[0]",
                65,
                "TCP/https: x/b declares no TCP container port named https",
            ),
            ("port", "spec.egress[0].ports[1]", 65, "TCP/443: the connection is to TCP/80"),
        ),
    ),
    Case(
        "the ports match, a lone selector does not",
        "x/a",
        "x/b",
        7000,
        "TCP",
        (
            ("named-port", "spec.ingress[0].ports[0]", 41, "TCP/http: x/b's port http is 8080"),
            ("port-range", "spec.ingress[0].ports[1]", 42, "TCP/9000-9100: 7000 is outside"),
            ("protocol", "spec.ingress[0].ports[2]", 44, "UDP/8080 is UDP"),
            (
                "namespace-selector",
                "spec.ingress[2].from[0]",
                55,
                "namespaceSelector team=ops does not match the namespace x of x/a"
                " (labels kubernetes.io/metadata.name=x)",
            ),
            (
                "pod-selector",
                "spec.ingress[2].from[1]",
                55,
                "podSelector app=c does not match x/a (labels app=a)",
            ),
        ),
    ),
]


def peer(cluster, text: str):  # type: ignore[no-untyped-def]
    """The one end a name on the command line stands for."""
    (one,) = endpoint_peers(cluster, resolve(cluster, text))
    return one


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_near_misses(case: Case) -> None:
    cluster = cluster_from_text(CLUSTER, "p.yaml")
    src, dst = peer(cluster, case.src), peer(cluster, case.dst)
    e = explain(cluster, src, dst, case.port, case.protocol)
    assert not e.allowed
    got = [m for misses in e.near_misses.values() for m in misses]
    assert [(m.kind, m.field, m.line) for m in got] == [c[:3] for c in case.expected]
    for m, (*_, part) in zip(got, case.expected, strict=True):
        assert part in m.message and m.file == "p.yaml" and m.kind in NEAR_MISS_KINDS
        assert m.field.startswith(m.rule + ".")


def test_no_near_miss_when_allowed_or_when_two_things_differ() -> None:
    cluster = cluster_from_text(CLUSTER)
    a, b = peer(cluster, "x/a"), peer(cluster, "x/b")
    allowed = explain(cluster, a, b, 8080, "TCP")
    assert allowed.allowed and not any(allowed.near_misses.values())
    # From y/other-a on 9200: neither the peers nor the ports of any rule match.
    other = peer(cluster, "y/other-a")
    far = explain(cluster, other, b, 9200, "TCP")
    assert not far.allowed and not any(far.near_misses.values())


def test_cli_text_and_json(capsys, monkeypatch) -> None:
    args = ("explain", "-", "--from", "y/other-a", "--to", "x/b:8080")
    code, out, _ = run(capsys, monkeypatch, *args, stdin=CLUSTER)
    assert code == 0
    assert (
        "    denied: no ingress rule of these policies allows it\n"
        "    nearly matched: x/to-b spec.ingress[0].from[0] (<stdin>:39): podSelector app=a"
        " matches y/other-a, but without a namespaceSelector"
    ) in out
    assert out.count("nearly matched: ") == 4
    code, out, _ = run(capsys, monkeypatch, *args, "-o", "json", stdin=CLUSTER)
    doc = json.loads(out)
    assert doc["egress"]["nearly_matched"] == []
    near = doc["ingress"]["nearly_matched"]
    assert [m["kind"] for m in near] == [
        "policy-namespace",
        "namespace-selector",
        "pod-selector",
        "ip-block-except",
    ]
    assert near[1] == {
        "policy": "x/to-b",
        "rule": "spec.ingress[1]",
        "field": "spec.ingress[1].from[0]",
        "kind": "namespace-selector",
        "message": "podSelector app=a matches y/other-a, but namespaceSelector team=ops does not"
        " match its namespace y (labels kubernetes.io/metadata.name=y,team=dev)",
        "file": "<stdin>",
        "line": 47,
    }
