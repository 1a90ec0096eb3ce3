"""Lint: each mistake of the semantics page found, and correct policies left alone."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from podnet.model.cluster import cluster_from_text
from podnet.policy.lint import lint

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c, image: i, ports: [{name: grpc, containerPort: 9000}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: ops, labels: {app: agent}}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {team: ops}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
"""

DNS_OK = """
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
"""


def policy(name: str, body: str, ns: str = "shop") -> str:
    return (
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\n"
        f"spec:\n{body}\n---\n"
    )


@dataclass
class Case:
    name: str
    policies: str
    present: tuple[tuple[str, str], ...]  # (code, field) expected
    absent: tuple[str, ...] = ()  # codes that must not appear


CASES = [
    Case(
        "OR where AND was meant",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n"
            "    - namespaceSelector: {matchLabels: {team: ops}}\n"
            "    - podSelector: {matchLabels: {app: agent}}",
        ),
        (
            ("or-not-and", "spec.ingress[0].from"),
            ("peer-matches-nothing", "spec.ingress[0].from[1]"),
        ),
    ),
    Case(
        "AND with a namespaceSelector of the own namespace",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n"
            "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}\n"
            "      podSelector: {matchLabels: {app: api}}",
        ),
        (("and-not-or", "spec.ingress[0].from[0]"),),
        ("or-not-and",),
    ),
    Case(
        "AND across namespaces is fine",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n"
            "    - namespaceSelector: {matchLabels: {team: ops}}\n"
            "      podSelector: {matchLabels: {app: agent}}",
        ),
        (),
        ("and-not-or", "or-not-and", "peer-matches-nothing"),
    ),
    Case(
        "podSelector that selects nothing",
        policy("p", "  podSelector: {matchLabels: {app: nosuch}}\n  ingress: [{}]"),
        (("no-subjects", "spec.podSelector"),),
    ),
    Case(
        "named port no selected pod declares",
        policy(
            "p", "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: grpc}]"
        ),
        (("unknown-named-port", "spec.ingress[0].ports[0].port"),),
    ),
    Case(
        "named port declared by the selected pod",
        policy(
            "p", "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: http}]"
        ),
        (),
        ("unknown-named-port",),
    ),
    Case(
        "egress named port checked against the destinations",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n"
            "  - to: [{podSelector: {matchLabels: {app: api}}}]\n    ports: [{port: http}, {port: grpc}]\n"
            + DNS_OK,
        ),
        (("unknown-named-port", "spec.egress[0].ports[0].port"),),
    ),
    Case(
        "Service port instead of the target port",
        policy(
            "p", "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: 80}]"
        ),
        (("service-port", "spec.ingress[0].ports[0].port"),),
    ),
    Case(
        "the target port is right",
        policy(
            "p", "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: 8080}]"
        ),
        (),
        ("service-port",),
    ),
    Case(
        "default-deny egress without DNS",
        policy("deny", "  podSelector: {}\n  policyTypes: [Egress]"),
        (("egress-without-dns", "spec.policyTypes"),),
    ),
    Case(
        "default-deny egress with a DNS allowance",
        policy("deny", "  podSelector: {}\n  policyTypes: [Egress]")
        + policy("dns", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:" + DNS_OK),
        (),
        ("egress-without-dns",),
    ),
    Case(
        "DNS allowed by port to any destination",
        policy(
            "p",
            "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "  - ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]",
        ),
        (),
        ("egress-without-dns",),
    ),
    Case(
        "ipBlock covering the pod network",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]",
        ),
        (("ipblock-covers-pod-cidr", "spec.ingress[0].from[0].ipBlock"),),
    ),
    Case(
        "ipBlock excepting the pod network",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]",
        ),
        (),
        ("ipblock-covers-pod-cidr", "ipblock-covers-service-cidr"),
    ),
    Case(
        "ipBlock inside the service network",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n"
            "  - to: [{ipBlock: {cidr: 10.96.0.0/16}}]\n" + DNS_OK,
        ),
        (("ipblock-covers-service-cidr", "spec.egress[0].to[0].ipBlock"),),
    ),
    Case(
        "a rule repeated",
        policy(
            "p",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "  - from: [{podSelector: {matchLabels: {app: api}}}]\n"
            "  - from: [{podSelector: {matchLabels: {app: api}}}]",
        ),
        (("redundant-rule", "spec.ingress[1]"),),
    ),
    Case(
        "a rule shadowed by a broader one of another policy",
        policy(
            "narrow",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "  - from: [{podSelector: {matchLabels: {app: api}}}]\n    ports: [{port: 8080}]",
        )
        + policy("broad", "  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}}]"),
        (("redundant-rule", "spec.ingress[0]"),),
    ),
    Case(
        "rules of different pods are not redundant",
        policy(
            "a",
            "  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {}}]",
        )
        + policy(
            "b",
            "  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - from: [{podSelector: {}}]",
        ),
        (),
        ("redundant-rule",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lint(case: Case) -> None:
    findings = lint(cluster_from_text(PODS + case.policies, "p.yaml"))
    found = {(f.code, f.field) for f in findings}
    for want in case.present:
        assert want in found, found
    for code in case.absent:
        assert code not in {f.code for f in findings}, findings
    assert all(f.file == "p.yaml" and f.line for f in findings)


# Lines: each finding points at the field it names, as input errors do. -------------------------

LINES = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: nosuch}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
    - podSelector: {matchLabels: {app: agent}}
  - ports:
    - port: 8080
    - port: grpc
  - from:
    - ipBlock:
        cidr: 10.0.0.0/8
"""


def test_findings_point_at_the_line_of_their_field() -> None:
    findings = lint(cluster_from_text(LINES, "p.yaml"))
    got = {(f.code, f.field, f.line) for f in findings}
    assert got >= {
        ("no-subjects", "spec.podSelector", 10),
        ("or-not-and", "spec.ingress[0].from", 20),
        ("peer-matches-nothing", "spec.ingress[0].from[1]", 22),
        ("unknown-named-port", "spec.ingress[1].ports[1].port", 25),
        ("ipblock-covers-pod-cidr", "spec.ingress[2].from[0].ipBlock", 27),
    }, got
    assert all(f.file == "p.yaml" for f in findings)
    # Sorted as a compiler prints: by file, then line.
    assert [f.line for f in findings] == sorted(f.line or 0 for f in findings)


def test_a_field_not_written_points_at_its_nearest_written_ancestor() -> None:
    text = PODS + policy("deny", "  podSelector: {}\n  egress: []\n  policyTypes:\n  - Egress")
    finding = next(f for f in lint(cluster_from_text(text)) if f.code == "egress-without-dns")
    assert finding.field == "spec.policyTypes"
    # written on the line after `egress: []`: the document starts after PODS
    assert finding.line == PODS.count("\n") + 7
    implied = PODS + policy(
        "deny", "  podSelector: {}\n  egress:\n  - to: [{ipBlock: {cidr: 192.0.2.0/24}}]"
    )
    finding = next(f for f in lint(cluster_from_text(implied)) if f.code == "egress-without-dns")
    assert finding.line == implied.count("\n") - 4  # `spec:`, policyTypes being implied


def test_items_of_a_list_keep_their_own_lines() -> None:
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: p, namespace: default}
  spec:
    podSelector:
      matchLabels: {app: nosuch}
"""
    (finding,) = [f for f in lint(cluster_from_text(text)) if f.code == "no-subjects"]
    assert finding.line == 8


# Pending pods: a finding that holds only because they have no node says so. -------------------

PENDING = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: gpu, namespace: shop, labels: {app: gpu}}
spec:
  nodeSelector: {accelerator: a100}
  containers: [{name: c, image: i, ports: [{name: cuda, containerPort: 7000}]}]
---
"""
WHY = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


@dataclass
class PendingCase:
    name: str
    body: str
    code: str
    field: str
    pending: tuple[str, ...]  # () : the finding holds whatever is pending


PENDING_CASES = [
    PendingCase(
        "podSelector of a pending pod only",
        "  podSelector: {matchLabels: {app: gpu}}\n  ingress: [{}]",
        "no-subjects",
        "spec.podSelector",
        ("shop/gpu",),
    ),
    PendingCase(
        "podSelector of nobody",
        "  podSelector: {matchLabels: {app: nosuch}}\n  ingress: [{}]",
        "no-subjects",
        "spec.podSelector",
        (),
    ),
    PendingCase(
        "peer of a pending pod only",
        "  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
        "  - from: [{podSelector: {matchLabels: {app: gpu}}}]",
        "peer-matches-nothing",
        "spec.ingress[0].from[0]",
        ("shop/gpu",),
    ),
    PendingCase(
        "named port declared by a pending destination only",
        "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n"
        "  - to: [{podSelector: {}}]\n    ports: [{port: cuda}]\n" + DNS_OK,
        "unknown-named-port",
        "spec.egress[0].ports[0].port",
        ("shop/gpu",),
    ),
    PendingCase(
        "named port declared by nobody",
        "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n"
        "  - to: [{podSelector: {}}]\n    ports: [{port: nosuch}]\n" + DNS_OK,
        "unknown-named-port",
        "spec.egress[0].ports[0].port",
        (),
    ),
    PendingCase(
        "a rule redundant only while its extra peer is pending",
        "  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n"
        "  - from: [{podSelector: {}}]\n    ports: [{port: 8080}]\n"
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 8080}]",
        "redundant-rule",
        "spec.ingress[1]",
        ("shop/gpu",),
    ),
]


@pytest.mark.parametrize("case", PENDING_CASES, ids=[c.name for c in PENDING_CASES])
def test_findings_that_rest_on_pending_pods_say_so(case: PendingCase) -> None:
    cluster = cluster_from_text(PENDING + policy("p", case.body))
    assert cluster.pending == {"shop/gpu": WHY}
    (finding,) = [f for f in lint(cluster) if (f.code, f.field) == (case.code, case.field)]
    assert finding.pending_pods == case.pending
    if case.pending:
        assert finding.severity == "info"
        assert finding.message.endswith(f"; it matches only pending pods: shop/gpu ({WHY})")
    else:
        assert "pending" not in finding.message and finding.severity in ("warning", "info")


def test_a_policy_keeps_the_lines_of_the_fields_findings_point_at() -> None:
    (pol,) = [p for p in cluster_from_text(LINES).policies if p.name == "b"]
    origin = pol.origin
    assert origin.line_of("spec.ingress[2].from[0].ipBlock") == 27
    # Deeper fields are not kept: they point at their nearest kept ancestor.
    assert origin.line_of("spec.ingress[2].from[0].ipBlock.cidr") == 27
    assert origin.line_of("spec.podSelector.matchLabels.app") == 18
    assert origin.line_of("metadata.name") == origin.line == 14  # the document's first line
    # The lines are where the policy was read, not what it is.
    assert pol == replace(pol, origin=replace(origin, lines=None))
