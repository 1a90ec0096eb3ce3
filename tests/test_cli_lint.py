"""`podnet lint` as a user runs it: findings at the line of their field, and pending pods."""

from __future__ import annotations

import json

from tests.cli import run

DEPLOY = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: web}}
spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: gpu, namespace: x, labels: {app: gpu}}
spec:
  nodeSelector: {accelerator: a100}
  containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]
"""
POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: gpu-only, namespace: x}
spec:
  podSelector: {matchLabels: {app: gpu}}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: nosuch}}
"""
WHY = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


def test_text_names_file_and_line_of_each_field_in_a_directory(
    capsys, monkeypatch, tmp_path
) -> None:
    (tmp_path / "deploy.yaml").write_text(DEPLOY)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "all.yaml").write_text(POLICIES)
    code, out, err = run(capsys, monkeypatch, "lint", str(tmp_path))
    assert code == 0, err
    where = tmp_path / "policies" / "all.yaml"
    assert out.splitlines() == [
        f"{where}:5: info: NetworkPolicy x/gpu-only: spec.podSelector: selects no pod in"
        f" namespace x (app=gpu); it matches only pending pods: x/gpu ({WHY}) [no-subjects]",
        f"{where}:15: warning: NetworkPolicy x/web: spec.ingress[0].from[0]: podSelector"
        " app=nosuch matches no pod [peer-matches-nothing]",
        "2 finding(s): 1 info, 1 warning",
    ]
    assert "1 pod(s) pending" in err


def test_json_is_an_object_of_findings_and_pending_pods(capsys, monkeypatch) -> None:
    code, out, err = run(
        capsys, monkeypatch, "lint", "-", "-o", "json", stdin=DEPLOY + "---\n" + POLICIES
    )
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"findings", "pending"}
    assert doc["pending"] == {"x/gpu": WHY}
    first, second = doc["findings"]
    assert first == {
        "severity": "info",
        "code": "no-subjects",
        "policy": "x/gpu-only",
        "field": "spec.podSelector",
        "message": "selects no pod in namespace x (app=gpu); it matches only pending pods:"
        f" x/gpu ({WHY})",
        "file": "<stdin>",  # as input errors name stdin
        "line": 17,
        "pending_pods": ["x/gpu"],
        "kind": "NetworkPolicy",
    }
    assert (second["code"], second["line"], second["pending_pods"]) == (
        "peer-matches-nothing",
        27,
        [],
    )


def test_json_without_pending_pods_or_findings(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "lint", "-", "-o", "json", stdin=DEPLOY.split("---")[0])
    assert code == 0
    assert json.loads(out) == {"findings": []}


def test_stdin_findings_say_stdin_in_text(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "lint", "-", stdin=POLICIES)
    assert code == 0
    assert out.startswith("<stdin>:5: warning: NetworkPolicy x/gpu-only: spec.podSelector:")
