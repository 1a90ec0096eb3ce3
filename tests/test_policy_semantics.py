"""NetworkPolicy semantics on the upstream e2e model (x/y/z x a/b/c, ports 80 and 81 on TCP,
UDP and SCTP). Each case is checked through the per-connection semantics and the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from podnet.policy import semantics
from podnet.policy.engine import PolicyEngine
from tests.policy_model import Reachability, model_cluster


def policy(name: str, ns: str, spec: str) -> str:
    body = "\n".join("  " + line for line in spec.strip("\n").splitlines())
    return (
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: {name}, namespace: {ns}}}\nspec:\n{body}\n---\n"
    )


@dataclass
class Case:
    name: str
    policies: str | Callable[[dict[str, str]], str]  # a function gets the pods' IPs
    port: int
    protocol: str
    expect: Callable[[Reachability], Reachability]


DENY_INGRESS_X = policy("deny", "x", "podSelector: {}\npolicyTypes: [Ingress]")
DENY_ALL_X = policy("deny", "x", "podSelector: {}\npolicyTypes: [Ingress, Egress]")
INGRESS_XA = "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Ingress]\n"
EGRESS_XA = "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\n"

CASES = [
    Case("no policy: everything allowed", "", 80, "TCP", lambda r: r),
    Case("default deny ingress", DENY_INGRESS_X, 80, "TCP", lambda r: r.expect(to="x/").loopback()),
    Case(
        "default deny ingress, other protocols too",
        DENY_INGRESS_X,
        81,
        "SCTP",
        lambda r: r.expect(to="x/").loopback(),
    ),
    Case(
        "default deny both directions",
        DENY_ALL_X,
        80,
        "UDP",
        lambda r: r.expect(to="x/").expect(frm="x/").loopback(),
    ),
    Case(
        "policyTypes defaults to Ingress without an egress section",
        policy("deny", "x", "podSelector: {}"),
        80,
        "TCP",
        lambda r: r.expect(to="x/").loopback(),
    ),
    Case(
        "policyTypes defaults to Ingress and Egress with an egress section",
        policy("deny", "x", "podSelector: {}\negress: []"),
        80,
        "TCP",
        lambda r: r.expect(to="x/").loopback(),  # `egress: []` is present but empty: not a section
    ),
    Case(
        "egress section implies Egress",
        policy(
            "deny", "x", "podSelector: {}\negress:\n- to: [{podSelector: {matchLabels: {pod: b}}}]"
        ),
        80,
        "TCP",
        lambda r: r.expect(to="x/").expect(frm="x/").loopback(),
    ),
    Case(
        "allow all ingress with an empty rule",
        DENY_INGRESS_X + policy("all", "x", "podSelector: {}\ningress: [{}]"),
        80,
        "TCP",
        lambda r: r,
    ),
    Case(
        "allow all egress with an empty rule",
        DENY_ALL_X + policy("all", "x", "podSelector: {}\npolicyTypes: [Egress]\negress: [{}]"),
        80,
        "TCP",
        lambda r: r.expect(to="x/").loopback(),
    ),
    Case(
        "podSelector peer: same namespace only",
        policy("p", "x", INGRESS_XA + "ingress:\n- from: [{podSelector: {matchLabels: {pod: b}}}]"),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").expect(frm="x/b", to="x/a", allowed=True).loopback(),
    ),
    Case(
        "namespaceSelector peer",
        policy(
            "p", "x", INGRESS_XA + "ingress:\n- from: [{namespaceSelector: {matchLabels: {ns: y}}}]"
        ),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").expect(frm="y/", to="x/a", allowed=True).loopback(),
    ),
    Case(
        "namespaceSelector by kubernetes.io/metadata.name",
        policy(
            "p",
            "x",
            INGRESS_XA
            + "ingress:\n- from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}}]",
        ),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").expect(frm="z/", to="x/a", allowed=True).loopback(),
    ),
    Case(
        "namespaceSelector NotIn",
        policy(
            "p",
            "x",
            INGRESS_XA
            + "ingress:\n- from:\n  - namespaceSelector:\n      matchExpressions: [{key: ns, operator: NotIn, values: [x]}]",
        ),
        80,
        "TCP",
        lambda r: (
            r.expect(to="x/a")
            .expect(frm="y/", to="x/a", allowed=True)
            .expect(frm="z/", to="x/a", allowed=True)
            .loopback()
        ),
    ),
    Case(
        "namespaceSelector and podSelector in one peer: AND",
        policy(
            "p",
            "x",
            INGRESS_XA
            + "ingress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: y}}\n    podSelector: {matchLabels: {pod: b}}",
        ),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").expect(frm="y/b", to="x/a", allowed=True).loopback(),
    ),
    Case(
        "namespaceSelector and podSelector as two peers: OR",
        policy(
            "p",
            "x",
            INGRESS_XA
            + "ingress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: y}}\n  - podSelector: {matchLabels: {pod: b}}",
        ),
        80,
        "TCP",
        lambda r: (
            r.expect(to="x/a")
            .expect(frm="y/", to="x/a", allowed=True)
            .expect(frm="x/b", to="x/a", allowed=True)
            .loopback()
        ),
    ),
    Case(
        "empty namespaceSelector with podSelector: that pod in every namespace",
        policy(
            "p",
            "x",
            INGRESS_XA
            + "ingress:\n- from:\n  - namespaceSelector: {}\n    podSelector: {matchLabels: {pod: c}}",
        ),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").expect(frm="/c", to="x/a", allowed=True).loopback(),
    ),
    Case(
        "podSelector matchExpressions In on the subject",
        policy(
            "p",
            "x",
            "podSelector:\n  matchExpressions: [{key: pod, operator: In, values: [a, b]}]\ningress: []",
        ),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").expect(to="x/b").loopback(),
    ),
    Case(
        "podSelector DoesNotExist matches pods without the label",
        policy("p", "x", "podSelector:\n  matchExpressions: [{key: pod, operator: DoesNotExist}]"),
        80,
        "TCP",
        lambda r: r,
    ),
    Case(
        "ingress on port 81 only: port 80 denied",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: 81}]"),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "ingress on port 81 only: port 81 allowed",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: 81}]"),
        81,
        "TCP",
        lambda r: r,
    ),
    Case(
        "ingress port defaults to TCP: UDP 81 denied",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: 81}]"),
        81,
        "UDP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "protocol without port: every port of that protocol",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{protocol: UDP}]"),
        80,
        "UDP",
        lambda r: r,
    ),
    Case(
        "protocol without port: other protocols denied",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{protocol: UDP}]"),
        80,
        "SCTP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "SCTP port allowed",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{protocol: SCTP, port: 80}]"),
        80,
        "SCTP",
        lambda r: r,
    ),
    Case(
        "named port resolves on the destination",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: serve-81-tcp}]"),
        81,
        "TCP",
        lambda r: r,
    ),
    Case(
        "named port: another number is denied",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: serve-81-tcp}]"),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "named port: its protocol must match the rule's (TCP by default)",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: serve-81-udp}]"),
        81,
        "UDP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "named UDP port with protocol UDP",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{protocol: UDP, port: serve-81-udp}]"),
        81,
        "UDP",
        lambda r: r,
    ),
    Case(
        "named port that no pod declares matches nothing",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: nosuchport}]"),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "endPort range includes its ends",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: 81, endPort: 90}]"),
        81,
        "TCP",
        lambda r: r,
    ),
    Case(
        "endPort range excludes ports below",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: 81, endPort: 90}]"),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "endPort equal to port",
        policy("p", "x", INGRESS_XA + "ingress:\n- ports: [{port: 80, endPort: 80}]"),
        80,
        "TCP",
        lambda r: r,
    ),
    Case(
        "ports and peers of one rule are ANDed",
        policy(
            "p",
            "x",
            INGRESS_XA
            + "ingress:\n- from: [{podSelector: {matchLabels: {pod: b}}}]\n  ports: [{port: 81}]",
        ),
        81,
        "TCP",
        lambda r: r.expect(to="x/a").expect(frm="x/b", to="x/a", allowed=True).loopback(),
    ),
    Case(
        "rules of one policy are ORed",
        policy(
            "p",
            "x",
            INGRESS_XA
            + "ingress:\n- from: [{podSelector: {matchLabels: {pod: b}}}]\n- from: [{namespaceSelector: {matchLabels: {ns: z}}}]",
        ),
        80,
        "TCP",
        lambda r: (
            r.expect(to="x/a")
            .expect(frm="x/b", to="x/a", allowed=True)
            .expect(frm="z/", to="x/a", allowed=True)
            .loopback()
        ),
    ),
    Case(
        "policies are additive",
        policy("p1", "x", INGRESS_XA + "ingress:\n- from: [{podSelector: {matchLabels: {pod: b}}}]")
        + policy(
            "p2",
            "x",
            INGRESS_XA + "ingress:\n- from: [{namespaceSelector: {matchLabels: {ns: y}}}]",
        ),
        80,
        "TCP",
        lambda r: (
            r.expect(to="x/a")
            .expect(frm="x/b", to="x/a", allowed=True)
            .expect(frm="y/", to="x/a", allowed=True)
            .loopback()
        ),
    ),
    Case(
        "an egress-only policy does not isolate ingress",
        policy("p", "x", EGRESS_XA + "egress: []"),
        80,
        "TCP",
        lambda r: r.expect(frm="x/a").loopback(),
    ),
    Case(
        "ingress rules are ignored when policyTypes says Egress only",
        policy("p", "x", EGRESS_XA + "ingress: []\negress: [{}]"),
        80,
        "TCP",
        lambda r: r,
    ),
    Case(
        "egress to a pod in another namespace",
        policy(
            "p",
            "x",
            EGRESS_XA
            + "egress:\n- to:\n  - namespaceSelector: {matchLabels: {ns: y}}\n    podSelector: {matchLabels: {pod: b}}",
        ),
        80,
        "TCP",
        lambda r: r.expect(frm="x/a").expect(frm="x/a", to="y/b", allowed=True).loopback(),
    ),
    Case(
        "egress named port resolves on the destination pod",
        policy("p", "x", EGRESS_XA + "egress:\n- ports: [{protocol: UDP, port: serve-80-udp}]"),
        80,
        "UDP",
        lambda r: r,
    ),
    Case(
        "egress port restriction",
        policy("p", "x", EGRESS_XA + "egress:\n- ports: [{protocol: UDP, port: 80}]"),
        81,
        "UDP",
        lambda r: r.expect(frm="x/a").loopback(),
    ),
    Case(
        "egress allowed but ingress denied: denied",
        policy("e", "x", EGRESS_XA + "egress: [{}]") + policy("i", "y", "podSelector: {}"),
        80,
        "TCP",
        lambda r: r.expect(to="y/").loopback(),
    ),
    Case(
        "egress ipBlock covering one pod's address",
        lambda ip: policy(
            "p", "x", EGRESS_XA + f"egress:\n- to: [{{ipBlock: {{cidr: {ip['y/b']}/32}}}}]"
        ),
        80,
        "TCP",
        lambda r: r.expect(frm="x/a").expect(frm="x/a", to="y/b", allowed=True).loopback(),
    ),
    Case(
        "ingress ipBlock with except",
        lambda ip: policy(
            "p",
            "x",
            INGRESS_XA
            + f"ingress:\n- from: [{{ipBlock: {{cidr: 10.244.0.0/16, except: [{ip['z/c']}/32]}}}}]",
        ),
        80,
        "TCP",
        lambda r: r.expect(frm="z/c", to="x/a").loopback(),
    ),
    Case(
        "ipBlock of the other family matches nothing",
        policy("p", "x", INGRESS_XA + "ingress:\n- from: [{ipBlock: {cidr: '::/0'}}]"),
        80,
        "TCP",
        lambda r: r.expect(to="x/a").loopback(),
    ),
    Case(
        "0.0.0.0/0 matches every pod",
        policy("p", "x", INGRESS_XA + "ingress:\n- from: [{ipBlock: {cidr: 0.0.0.0/0}}]"),
        80,
        "TCP",
        lambda r: r,
    ),
    Case(
        "a policy selects pods of its own namespace only",
        policy("p", "y", "podSelector: {matchLabels: {pod: a}}\ningress: []"),
        80,
        "TCP",
        lambda r: r.expect(to="y/a").loopback(),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_model(case: Case) -> None:
    text = case.policies
    if callable(text):
        ips = {p.key: str(p.ips[0]) for p in model_cluster().pods}
        text = text(ips)
    cluster = model_cluster(text)
    expected = case.expect(Reachability()).expected
    engine = PolicyEngine(cluster)
    matrix = engine.matrix(case.port, case.protocol)
    index = {p.key: i for i, p in enumerate(engine.pods)}
    wrong_engine, wrong_semantics = [], []
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
