"""`explain` and `trace` in a cluster with admin tiers: which tier decided and why, in text and
JSON, on examples/platform-guardrails and on small clusters for the remaining cases."""

from __future__ import annotations

import json
from pathlib import Path

from podnet.model.cluster import cluster_from_text
from podnet.policy.explain import explain
from podnet.policy.semantics import pod_peer
from podnet.report.explain import to_json, to_text
from tests.cli import run

GUARDRAILS = str(Path(__file__).resolve().parents[1] / "examples" / "platform-guardrails")
LEDGER = "payments/deploy/ledger"


def explain_text(capsys, monkeypatch, src: str, dst: str, *more: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "explain", GUARDRAILS, "--from", src, "--to", dst,
                         *more)  # fmt: skip
    assert "NOT APPLIED" not in err
    return code, out


def test_admin_deny(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, out = explain_text(capsys, monkeypatch, "shop/deploy/frontend", f"{LEDGER}:8443")
    assert ": DENIED" in out.splitlines()[0]
    assert (
        "    admin tier: denied by ClusterNetworkPolicy protect-payments (priority 20)"
        ' spec.ingress[1] "everyone-else": from[0] namespaces {}; every port\n'
    ) in out


def test_admin_accept_before_a_lower_priority_deny(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, out = explain_text(capsys, monkeypatch, "monitoring/deploy/prometheus", f"{LEDGER}:9090")
    assert ": ALLOWED" in out.splitlines()[0]
    assert (
        "admin tier: allowed by ClusterNetworkPolicy monitoring-always (priority 10)"
        ' spec.ingress[0] "scrape": from[0] namespaces kubernetes.io/metadata.name=monitoring;'
        " protocols[0] named port metrics"
    ) in out


def test_admin_pass_to_network_policy(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, out = explain_text(capsys, monkeypatch, "shop/deploy/checkout", f"{LEDGER}:8443")
    assert ": ALLOWED" in out.splitlines()[0]
    assert (
        "admin tier: passed by ClusterNetworkPolicy protect-payments (priority 20) spec.ingress[0]"
        ' "checkout-to-namespace-policy" to NetworkPolicy: from[0] pods'
    ) in out
    assert "NetworkPolicy tier: isolated by payments/ledger; the baseline is not consulted" in out
    assert "allowed by payments/ledger spec.ingress[0]" in out


def test_admin_pass_where_the_network_policy_denies(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, out = explain_text(capsys, monkeypatch, "shop/deploy/checkout", f"{LEDGER}:9091")
    assert ": DENIED" in out.splitlines()[0]
    assert "to NetworkPolicy" in out
    assert "denied: no ingress rule of these policies allows it" in out


def test_baseline_deny_and_network_policy_escape(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, out = explain_text(capsys, monkeypatch, "dev/deploy/sandbox", "shop/deploy/checkout:8080")
    assert ": DENIED" in out.splitlines()[0]
    assert "    no admin rule matched\n" in out
    assert "    NetworkPolicy tier: no NetworkPolicy selects it for Ingress\n" in out
    assert (
        "    baseline tier: denied by ClusterNetworkPolicy default-deny (priority 100)"
        ' spec.ingress[0] "deny-all": from[0] namespaces {}; every port\n'
    ) in out
    _, out = explain_text(capsys, monkeypatch, "dev/deploy/sandbox", "shop/deploy/frontend:8080")
    assert ": ALLOWED" in out.splitlines()[0]
    assert "NetworkPolicy tier: isolated by shop/frontend; the baseline is not consulted" in out
    assert "baseline tier:" not in out.split("ingress at")[1]


def test_no_rule_in_any_tier(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, out = explain_text(
        capsys, monkeypatch, "payments/deploy/ledger", "shop/deploy/frontend:8080"
    )
    egress = out.split("  ingress at")[0]
    assert "egress at payments/ledger" in egress
    assert "no admin rule matched" in egress
    assert "baseline tier: no rule matched; allowed by default" in egress


def test_json_tiers(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out = explain_text(
        capsys, monkeypatch, "shop/deploy/frontend", f"{LEDGER}:8443", "-o", "json"
    )
    assert code == 0
    data = json.loads(out)["explanations"][0] if "explanations" in out else json.loads(out)
    assert data["allowed"] is False
    assert data["egress"]["tiers"] == {"decided_by": "default", "admin": None, "baseline": None}
    tiers = data["ingress"]["tiers"]
    assert tiers["decided_by"] == "admin" and tiers["baseline"] is None
    admin = tiers["admin"]
    assert {k: admin[k] for k in ("action", "kind", "policy", "priority", "rule", "name")} == {
        "action": "Deny",
        "kind": "ClusterNetworkPolicy",
        "policy": "protect-payments",
        "priority": 20,
        "rule": "spec.ingress[1]",
        "name": "everyone-else",
    }
    assert admin["file"].endswith("guardrails.yaml") and isinstance(admin["line"], int)


def test_json_without_cluster_policies_has_no_tiers(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shop = str(Path(GUARDRAILS).parent / "shop")
    code, out, _ = run(capsys, monkeypatch, "explain", shop, "--from",
                       "shop/deploy/frontend", "--to", "shop/deploy/catalog:50051", "-o", "json")  # fmt: skip
    assert code == 0
    for item in json.loads(out).get("explanations", [json.loads(out)]):
        assert "tiers" not in item["egress"] and "tiers" not in item["ingress"]


def test_trace_says_which_tier_dropped(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, monkeypatch, "trace", GUARDRAILS, "--from", "dev/deploy/sandbox",
                       "--to", "shop/deploy/checkout:8080")  # fmt: skip
    assert "DENIED by the baseline tier: ClusterNetworkPolicy default-deny (priority 100)" in out
    assert "denied by ClusterNetworkPolicy default-deny (priority 100)" in out


BASE = """
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, labels: {app: b}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: h, namespace: y}
spec: {nodeName: n1, hostNetwork: true, containers: [{name: c, image: i}]}
---
"""


def explained(policies: str, src: str = "x/a", dst: str = "y/b"):  # type: ignore[no-untyped-def]
    cluster = cluster_from_text(BASE + policies, "t.yaml")
    a, b = (pod_peer(cluster.pod(k)) for k in (src, dst))  # type: ignore[arg-type]
    return explain(cluster, a, b, 80, "TCP")


def test_baseline_pass_to_default_allow() -> None:
    e = explained("""
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: base}
spec:
  tier: Baseline
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Pass, to: [{namespaces: {}}]}, {action: Deny, to: [{namespaces: {}}]}]
""")
    assert e.allowed
    text = to_text(e)
    assert (
        "    baseline tier: passed by ClusterNetworkPolicy base (priority 1) spec.egress[0] to"
        " the default: allowed: to[0] namespaces {}; every port"
    ) in text
    assert to_json(e)["egress"]["tiers"]["decided_by"] == "default"


def test_fail_closed_is_explained_and_v1alpha1_words() -> None:
    e = explained("""
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: future}
spec:
  priority: 3
  subject: {namespaces: {}}
  ingress:
  - {action: Pass, from: [{sameNamespaceAs: {}}], ports: [{portNumber: {port: 80}}]}
""")
    assert not e.allowed
    admin = to_json(e)["ingress"]["tiers"]["admin"]
    assert admin["action"] == "Deny" and admin["kind"] == "AdminNetworkPolicy"
    assert admin["peer"] == (
        "from[0] sets only fields podnet does not know (sameNamespaceAs): a Pass rule with such a"
        " peer fails closed and denies everything"
    )
    assert admin["port"] == "every port"


def test_host_network_subject_is_not_judged() -> None:
    e = explained("""
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{namespaces: {}}], ports: [{portNumber: {port: 80}}]}]
""", src="y/h", dst="x/a")  # fmt: skip
    assert e.tiers.get("Egress") is None
    assert "egress at y/h: not subject to NetworkPolicy or admin policies (host network)" in (
        to_text(e)
    )
    j = to_json(e)
    assert j["egress"]["tiers"] is None
    e = explained(
        BASE.split("---")[0]
        and """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{namespaces: {}}], ports: [{portNumber: {port: 80}}]}]
"""
    )
    assert not e.allowed
    assert to_json(e)["egress"]["tiers"]["baseline"]["priority"] is None
    assert "baseline tier: denied by BaselineAdminNetworkPolicy default spec.egress[0]" in to_text(
        e
    )


def reach_cell(capsys, monkeypatch, src: str, dst: str, port: int) -> bool:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "reach", GUARDRAILS, "--from", src, "--to", dst,
                         "--port", str(port), "-o", "json")  # fmt: skip
    assert code == 0, err
    (row,) = json.loads(out)["probes"][0]["allowed"].values()
    (cell,) = row.values()
    return cell


def test_reach_applies_the_tiers(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert reach_cell(capsys, monkeypatch, "shop/deploy/checkout", LEDGER, 8443)  # Pass, then NP
    assert not reach_cell(capsys, monkeypatch, "shop/deploy/frontend", LEDGER, 8443)  # admin Deny
    assert reach_cell(capsys, monkeypatch, "monitoring/deploy/prometheus", LEDGER, 9090)
    assert not reach_cell(capsys, monkeypatch, "dev/deploy/sandbox", "shop/deploy/checkout", 8080)
    assert reach_cell(capsys, monkeypatch, "dev/deploy/sandbox", "shop/deploy/frontend", 8080)


def test_lint_checks_the_tiers_and_finds_the_guardrails_clean(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "lint", GUARDRAILS)
    assert code == 0
    assert "does not check" not in err
    assert out == "no findings\n"
