"""Lint of the admin tiers: each check with cases where it finds and where it must not."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from podnet.model.cluster import cluster_from_text
from podnet.policy.lint import lint
from tests.cli import run

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c, image: i}]}
---
"""


def np(name: str, selector: str, types: str = "[Ingress]") -> str:
    return (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: {name}, namespace: shop}}\n"
        f"spec:\n  podSelector: {selector}\n  policyTypes: {types}\n---\n"
    )


def cnp(name: str, tier: str, priority: int, body: str) -> str:
    return (
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"
        f"metadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n"
        f"  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: shop}}}}}}\n{body}\n---\n"
    )


DENY_ALL = "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]"
PASS_ALL = "  ingress:\n  - action: Pass\n    from: [{namespaces: {}}]"


@dataclass
class Case:
    name: str
    manifests: str
    present: tuple[tuple[str, str, str], ...]  # (code, policy, field)
    absent: tuple[str, ...] = ()


CASES = [
    Case(
        "baseline deny every subject escapes",
        cnp("base", "Baseline", 10, DENY_ALL) + np("all", "{}"),
        (("baseline-deny-escaped", "base", "spec.ingress[0]"),),
    ),
    Case(
        "baseline deny applies to a pod no NetworkPolicy selects",
        cnp("base", "Baseline", 10, DENY_ALL) + np("web", "{matchLabels: {app: web}}"),
        (),
        ("baseline-deny-escaped",),
    ),
    Case(
        "a NetworkPolicy for the other direction does not take the pod out",
        cnp("base", "Baseline", 10, DENY_ALL) + np("all", "{}", "[Egress]"),
        (),
        ("baseline-deny-escaped",),
    ),
    Case(
        "admin pass with nothing below",
        cnp("adm", "Admin", 10, PASS_ALL),
        (("pass-to-nothing", "adm", "spec.ingress[0]"),),
    ),
    Case(
        "admin pass to a NetworkPolicy",
        cnp("adm", "Admin", 10, PASS_ALL) + np("web", "{matchLabels: {app: web}}"),
        (),
        ("pass-to-nothing",),
    ),
    Case(
        "admin pass to a baseline deny",
        cnp("adm", "Admin", 10, PASS_ALL) + cnp("base", "Baseline", 10, DENY_ALL),
        (),
        ("pass-to-nothing",),
    ),
    Case(
        "baseline pass is accept",
        cnp("base", "Baseline", 10, PASS_ALL),
        (("pass-to-nothing", "base", "spec.ingress[0]"),),
    ),
    Case(
        "an admin deny is not a baseline",
        cnp("adm", "Admin", 10, DENY_ALL) + np("all", "{}"),
        (),
        ("baseline-deny-escaped",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lint_tiers(case: Case) -> None:
    findings = lint(cluster_from_text(PODS + case.manifests, "p.yaml"))
    found = {(f.code, f.policy, f.field) for f in findings}
    for want in case.present:
        assert want in found, found
    for code in case.absent:
        assert code not in {f.code for f in findings}, findings
    for f in findings:
        assert f.file == "p.yaml" and f.line


def test_cli_text_and_json(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stdin = PODS + cnp("base", "Baseline", 10, DENY_ALL) + np("all", "{}")
    code, out, err = run(capsys, monkeypatch, "lint", "-", stdin=stdin)
    assert code == 0, err
    assert "does not check" not in err
    line = (PODS + cnp("base", "Baseline", 10, DENY_ALL)).splitlines().index("  - action: Deny") + 1
    assert out.splitlines()[0].startswith(
        f"<stdin>:{line}: warning: ClusterNetworkPolicy base: spec.ingress[0]: never applies:"
    )
    assert out.splitlines()[0].endswith("[baseline-deny-escaped]")
    code, out, err = run(capsys, monkeypatch, "lint", "-", "-o", "json", stdin=stdin)
    (finding,) = json.loads(out)["findings"]
    assert finding["kind"] == "ClusterNetworkPolicy"
    assert (finding["code"], finding["policy"], finding["line"]) == (
        "baseline-deny-escaped",
        "base",
        line,
    )
