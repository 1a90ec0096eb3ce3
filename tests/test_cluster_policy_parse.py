"""Loading ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy and BaselineAdminNetworkPolicy
(v1alpha1): the one model both versions convert to, the evaluation order, and every check of the
CRD schema and CEL rules (network-policy-api), each as the API server would reject it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podnet.errors import ManifestError
from podnet.model.cluster import cluster_from_text
from podnet.model.cluster_policy import Action, Tier
from tests.cli import run

GROUP = "policy.networking.k8s.io"


def cnp(name: str = "p", **spec: Any) -> dict:
    body = {"tier": "Admin", "priority": 10, "subject": {"namespaces": {}}}
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": body,
    }


def anp(name: str = "p", **spec: Any) -> dict:
    body = {"priority": 10, "subject": {"namespaces": {}}}
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": body,
    }


def banp(name: str = "default", **spec: Any) -> dict:
    body = {"subject": {"namespaces": {}}}
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": body,
    }


def load(*objects: dict):  # type: ignore[no-untyped-def]
    return cluster_from_text("\n---\n".join(json.dumps(o) for o in objects), "m.yaml")


def problems(*objects: dict) -> list[str]:
    with pytest.raises(ManifestError) as err:
        load(*objects)
    return [f"{p.field}: {p.message}" for p in err.value.problems]


EVERYONE = {"namespaces": {}}


def egress(action: str = "Deny", *to: Any, **rest: Any) -> dict:
    return {"action": action, "to": list(to) or [EVERYONE], **rest}


def ingress(action: str = "Deny", *from_: Any, **rest: Any) -> dict:
    return {"action": action, "from": list(from_) or [EVERYONE], **rest}


# The model ---------------------------------------------------------------------------------------


def test_v1alpha1_converts_to_the_v1alpha2_model() -> None:
    c = load(
        anp(
            "a",
            egress=[
                egress(
                    "Allow",
                    {"networks": ["10.0.0.0/8"]},
                    ports=[
                        {"portNumber": {"port": 53, "protocol": "UDP"}},
                        {"portRange": {"start": 80, "end": 90}},
                    ],
                ),
                egress(
                    "Pass",
                    {"pods": {"namespaceSelector": {}, "podSelector": {}}},
                    ports=[{"namedPort": "http"}],
                ),
            ],
        ),
        banp(ingress=[ingress("Allow")]),
    )
    a, b = c.cluster_policies
    assert (a.kind, a.tier, a.priority, a.api_version) == (
        "AdminNetworkPolicy",
        Tier.Admin,
        10,
        f"{GROUP}/v1alpha1",
    )
    first, second = a.egress
    assert first.action is Action.Accept
    assert [str(p) for p in first.protocols] == ["UDP/53", "TCP/80-90"]
    assert second.action is Action.Pass and second.protocols[0].named_port == "http"
    assert (b.kind, b.tier, b.ingress[0].action) == (
        "BaselineAdminNetworkPolicy",
        Tier.Baseline,
        Action.Accept,
    )
    assert a.title == "AdminNetworkPolicy a (priority 10)"
    assert b.title == "BaselineAdminNetworkPolicy default"
    assert a.ports_field == "ports"


def test_v1alpha2_protocols() -> None:
    c = load(
        cnp(
            ingress=[
                ingress(
                    "Accept",
                    protocols=[
                        {"tcp": {"destinationPort": {"number": 443}}},
                        {"sctp": {"destinationPort": {"range": {"start": 1, "end": 9}}}},
                        {"destinationNamedPort": "metrics"},
                    ],
                )
            ]
        )
    )
    (p,) = c.cluster_policies
    assert [str(e) for e in p.ingress[0].protocols] == ["TCP/443", "SCTP/1-9", "named port metrics"]
    assert p.ports_field == "protocols"


def test_evaluation_order_tier_priority_then_name() -> None:
    c = load(
        cnp("z-base", tier="Baseline", priority=0),
        cnp("b", priority=5),
        banp(),
        cnp("a", priority=5),
        anp("c", priority=1),
        cnp("base-last", tier="Baseline", priority=1000),
    )
    assert [p.name for p in c.cluster_policies] == ["c", "a", "b", "z-base", "base-last", "default"]


def test_unknown_peer_fails_closed_instead_of_erroring() -> None:
    c = load(cnp(egress=[egress("Deny", {"futurePeer": {"x": 1}})]))
    rule = c.cluster_policies[0].egress[0]
    assert rule.fails_closed and rule.peers[0].unknown == ("futurePeer",)


def test_cluster_policies_are_not_reported_as_not_applied(capsys, monkeypatch) -> None:
    text = "\n---\n".join(json.dumps(o) for o in (cnp(), banp()))
    code, _, err = run(capsys, monkeypatch, "get", "nodes", "-", stdin=text)
    assert code == 0
    assert "NOT APPLIED" not in err


# Validation --------------------------------------------------------------------------------------

CASES = [
    ("priority above 1000", cnp(priority=1001),
     "spec.priority: Invalid value: 1001: should be less than or equal to 1000"),
    ("priority below 0", anp(priority=-1),
     "spec.priority: Invalid value: -1: should be greater than or equal to 0"),
    ("priority required", anp(priority=None), "spec.priority: Required value"),
    ("unknown tier", cnp(tier="Middle"),
     'spec.tier: Unsupported value: "Middle": supported values: "Admin", "Baseline"'),
    ("tier required", cnp(tier=None), "spec.tier: Required value"),
    ("subject with two fields", cnp(subject={"namespaces": {}, "pods": {"podSelector": {}}}),
     "spec.subject: Invalid value: a subject must set exactly one of namespaces, pods"),
    ("subject with none", cnp(subject={}),
     "spec.subject: Required value: a subject must set exactly one of namespaces, pods"),
    ("pods without podSelector", cnp(subject={"pods": {"namespaceSelector": {}}}),
     "spec.subject.pods.podSelector: Required value"),
    ("rule name too long", cnp(egress=[egress(name="x" * 101)]),
     "spec.egress[0].name: Too long: may not be more than 100 bytes"),
    ("Allow in v1alpha2", cnp(egress=[egress("Allow")]),
     'spec.egress[0].action: Unsupported value: "Allow": supported values: "Accept", "Deny",'
     ' "Pass"'),
    ("Accept in v1alpha1", anp(egress=[egress("Accept")]),
     'spec.egress[0].action: Unsupported value: "Accept": supported values: "Allow", "Deny",'
     ' "Pass"'),
    ("Pass in a BANP", banp(egress=[egress("Pass")]),
     'spec.egress[0].action: Unsupported value: "Pass": supported values: "Allow", "Deny"'),
    ("BANP not named default", banp("mine"),
     'metadata.name: Invalid value: "mine": Only one baseline admin network policy with'
     ' metadata.name="default" can be created in the cluster'),
    ("empty to", cnp(egress=[{"action": "Deny", "to": []}]),
     "spec.egress[0].to: Invalid value: must have at least 1 item"),
    ("missing from", cnp(ingress=[{"action": "Deny"}]), "spec.ingress[0].from: Required value"),
    ("peer with two fields", cnp(egress=[egress("Deny", {"namespaces": {}, "networks": ["::/0"]})]),
     "spec.egress[0].to[0]: Invalid value: a peer must set exactly one of"),
    ("empty peer", cnp(egress=[egress("Deny", {})]),
     "spec.egress[0].to[0]: Invalid value: a peer must set exactly one of"),
    ("nodes in ingress", cnp(ingress=[ingress("Deny", {"nodes": {}})]),
     "spec.ingress[0].from[0].nodes: unknown field: nodes is not an ingress peer"),
    ("domainNames in a BANP", banp(egress=[egress("Deny", {"domainNames": ["a.io"]})]),
     "spec.egress[0].to[0].domainNames: unknown field: domainNames is not a"
     " BaselineAdminNetworkPolicy egress peer"),
    ("too many rules v1alpha2", cnp(egress=[egress()] * 26),
     "spec.egress: Too many: 26: must have at most 25 items"),
    ("too many rules v1alpha1", anp(ingress=[ingress()] * 101),
     "spec.ingress: Too many: 101: must have at most 100 items"),
    ("too many peers v1alpha2", cnp(egress=[egress("Deny", *[EVERYONE] * 26)]),
     "spec.egress[0].to: Too many: 26: must have at most 25 items"),
    ("too many ports v1alpha1",
     anp(egress=[egress(ports=[{"portNumber": {"port": 80}}] * 101)]),
     "spec.egress[0].ports: Too many: 101: must have at most 100 items"),
    ("too many networks", cnp(egress=[egress("Deny", {"networks": [f"10.0.{i}.0/24"
                                                                      for i in range(26)]})]),
     "spec.egress[0].to[0].networks: Too many: 26: must have at most 25 items"),
    ("invalid CIDR", cnp(egress=[egress("Deny", {"networks": ["10.0.0.0/33"]})]),
     'spec.egress[0].to[0].networks[0]: Invalid value: "10.0.0.0/33": Invalid CIDR format'
     " provided"),
    ("address without prefix", cnp(egress=[egress("Deny", {"networks": ["10.0.0.1"]})]),
     'spec.egress[0].to[0].networks[0]: Invalid value: "10.0.0.1": Invalid CIDR format'),
    ("duplicate network", cnp(egress=[egress("Deny", {"networks": ["::/0", "::/0"]})]),
     'spec.egress[0].to[0].networks[1]: Duplicate value: "::/0"'),
    ("bad domain name", cnp(egress=[egress("Accept", {"domainNames": ["*"]})]),
     'spec.egress[0].to[0].domainNames[0]: Invalid value: "*": not a domain name'),
    ("wildcard inside", cnp(egress=[egress("Accept", {"domainNames": ["a.*.io"]})]),
     'spec.egress[0].to[0].domainNames[0]: Invalid value: "a.*.io": not a domain name'),
    ("tcp without destinationPort", cnp(egress=[egress(protocols=[{"tcp": {}}])]),
     "spec.egress[0].protocols[0].tcp: Invalid value: tcp: {} sets no destinationPort: the CRD"
     " schema requires one (minProperties 1)"),
    ("protocol entry with two fields",
     cnp(egress=[egress(protocols=[{"tcp": {"destinationPort": {"number": 1}},
                                    "destinationNamedPort": "x"}])]),
     "spec.egress[0].protocols[0]: Invalid value: a protocols entry must set exactly one of"),
    ("number and range",
     cnp(egress=[egress(protocols=[{"udp": {"destinationPort": {
         "number": 1, "range": {"start": 1, "end": 2}}}}])]),
     "spec.egress[0].protocols[0].udp.destinationPort: Invalid value: a destinationPort must set"
     " exactly one of number, range"),
    ("port 0", cnp(egress=[egress(protocols=[{"tcp": {"destinationPort": {"number": 0}}}])]),
     "spec.egress[0].protocols[0].tcp.destinationPort.number: Invalid value: 0: must be between"
     " 1 and 65535, inclusive"),
    ("start equal to end v1alpha2",
     cnp(egress=[egress(protocols=[{"tcp": {"destinationPort": {"range": {"start": 8,
                                                                          "end": 8}}}}])]),
     "spec.egress[0].protocols[0].tcp.destinationPort.range: Invalid value: 8-8: Start port must"
     " be less than End port"),
    ("start above end v1alpha1",
     anp(egress=[egress(ports=[{"portRange": {"start": 9, "end": 8}}])]),
     "spec.egress[0].ports[0].portRange: Invalid value: 9-8: Start port must be less than End"
     " port"),
    ("empty ports list", anp(egress=[egress(ports=[])]),
     "spec.egress[0].ports: Invalid value: must have at least 1 item"),
    ("unknown protocol", anp(egress=[egress(ports=[{"portNumber": {"port": 1,
                                                                    "protocol": "ICMP"}}])]),
     'spec.egress[0].ports[0].portNumber.protocol: Unsupported value: "ICMP"'),
    ("named port with networks",
     cnp(egress=[egress("Deny", {"networks": ["10.0.0.0/8"]},
                        protocols=[{"destinationNamedPort": "http"}])]),
     "spec.egress[0]: Invalid value: networks/nodes/domainNames peer cannot be set with"
     " namedPorts"),
    ("named port with nodes v1alpha1",
     anp(egress=[egress("Deny", {"nodes": {}}, ports=[{"namedPort": "http"}])]),
     "spec.egress[0]: Invalid value: networks/nodes/domainNames peer cannot be set with"
     " namedPorts"),
    ("named port with nodes in a BANP",
     banp(egress=[egress("Deny", {"nodes": {}}, ports=[{"namedPort": "http"}])]),
     "spec.egress[0]: Invalid value: networks/nodes peer cannot be set with namedPorts"),
    ("old namespaces peer shape",
     anp(ingress=[ingress("Deny", {"namespaces": {"sameLabels": ["tenant"]}})]),
     "spec.ingress[0].from[0].namespaces.sameLabels: unknown field: this is the peer shape of"
     " network-policy-api v0.1.1 and earlier"),
    ("old pods peer shape",
     anp(ingress=[ingress("Deny", {"pods": {"namespaces": {"namespaceSelector": {}},
                                            "podSelector": {}}})]),
     "spec.ingress[0].from[0].pods.namespaces: unknown field: this is the peer shape of"
     " network-policy-api v0.1.1 and earlier"),
    ("misspelt spec field", cnp(egres=[]), "spec.egres: unknown field (did you mean egress?)"),
    ("priority in a BANP", banp(priority=3), "spec.priority: unknown field"),
    ("missing spec", {"apiVersion": f"{GROUP}/v1alpha2", "kind": "ClusterNetworkPolicy",
                      "metadata": {"name": "x"}}, "spec: Required value"),
    ("wrong version", {**cnp(), "apiVersion": f"{GROUP}/v1alpha1"},
     'apiVersion: Unsupported value: "policy.networking.k8s.io/v1alpha1": supported values:'
     ' "policy.networking.k8s.io/v1alpha2"'),
]  # fmt: skip


@pytest.mark.parametrize(("obj", "wanted"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validation(obj: dict, wanted: str) -> None:
    found = problems(obj)
    assert any(p.startswith(wanted) for p in found), found


def test_every_problem_at_once_with_exit_2(capsys, monkeypatch) -> None:
    text = "\n---\n".join(
        json.dumps(o) for o in (cnp(priority=2000, egress=[egress("Allow")]), banp("x"))
    )
    code, _, err = run(capsys, monkeypatch, "reach", "-", stdin=text)
    assert code == 2
    assert "Traceback" not in err
    assert "ClusterNetworkPolicy p: spec.priority" in err
    assert "ClusterNetworkPolicy p: spec.egress[0].action" in err
    assert "BaselineAdminNetworkPolicy x: metadata.name" in err


def test_valid_edge_values_load() -> None:
    c = load(
        cnp(
            priority=0,
            egress=[
                egress(
                    "Accept",
                    {"domainNames": ["*.k8s.io", "example.com.", "a_b.example.org"]},
                    name="x" * 100,
                ),
                egress("Deny", {"networks": ["10.0.0.1/8", "fd00::/8"]}),
            ],
        ),
        cnp("top", priority=1000),
    )
    assert [p.priority for p in c.cluster_policies] == [0, 1000]
