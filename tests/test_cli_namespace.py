"""`-n/--namespace`: where objects whose manifests state no namespace land, as `kubectl apply -n`
puts them, on every command that reads manifests."""

from __future__ import annotations

import json

import pytest

from podnet.linux.realised import Realised
from podnet.model.cluster import cluster_from_text
from tests.cli import run

# `a`, the Service `web` and the policy state no namespace; `b` states `other`. The Namespace and
# the Node are cluster-scoped: -n does not touch them.
MANIFESTS = """
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: a}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: other, labels: {app: b}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: a}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress}
spec: {podSelector: {}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: payments}}
---
apiVersion: v1
kind: Node
metadata: {name: worker}
"""


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [(None, "default"), ("shop", "shop"), ("other", "other")],
)
def test_objects_without_a_namespace_land_in_the_one_given(namespace, expected) -> None:
    cluster = cluster_from_text(MANIFESTS, namespace=namespace or "default")
    assert cluster.default_namespace == expected
    assert {p.key for p in cluster.pods if p.namespace != "kube-system"} == {
        f"{expected}/a",
        "other/b",
    }
    assert f"{expected}/web" in {s.key for s in cluster.services}
    assert [p.key for p in cluster.policies] == [f"{expected}/deny-ingress"]
    # Cluster-scoped objects are what they were; a namespace exists once something is in it.
    assert [n.name for n in cluster.nodes] == ["worker"]
    assert cluster.namespaces["shop"].labels["team"] == "payments"
    assert expected in cluster.namespaces


def test_reach_follows_the_namespace_the_policy_lands_in(capsys, monkeypatch) -> None:
    """The isolating policy lands beside `a` in shop; `b`, which states `other`, keeps its
    namespace and stays open."""
    for side, verdict in (("--from", False), ("--to", True)):  # -n narrows the other side
        code, out, err = run(
            capsys, monkeypatch, "reach", "-", "-n", "shop", side, "other/b", "--port", "80",
            "-o", "json", stdin=MANIFESTS,
        )  # fmt: skip
        assert code == 0, err
        allowed = json.loads(out)["probes"][0]["allowed"]
        a_and_b = allowed["other/b"]["shop/a"] if side == "--from" else allowed["shop/a"]["other/b"]
        assert a_and_b is verdict
    code, out, _ = run(capsys, monkeypatch, "reach", "-", "-o", "json", stdin=MANIFESTS)
    assert "default/a" in json.loads(out)["pods"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["explain", "--from", "other/b", "--to", "shop/a"], "shop/deny-ingress"),
        (["trace", "--from", "other/b", "--to", "web.shop", "--port", "80"], "shop/a"),
        (["proxy", "rules", "--node", "worker"], "shop/web"),
        (["dns", "query", "web.shop.svc.cluster.local"], "web.shop.svc.cluster.local"),
        (["ipam", "check", "-o", "json"], '"status"'),
    ],
)
def test_every_command_that_reads_manifests_takes_it(capsys, monkeypatch, args, needle) -> None:
    command, rest = args[:1], args[1:]
    if command[0] in ("proxy", "dns", "ipam"):
        command, rest = args[:2], args[2:]
    code, out, err = run(capsys, monkeypatch, *command, "-", "-n", "shop", *rest, stdin=MANIFESTS)
    assert code in (0, 1), err  # trace exits 1 on a verdict, not on the input
    assert needle in out


def test_lint_judges_a_policy_in_the_namespace_it_lands_in(capsys, monkeypatch) -> None:
    """A policy for `app: b` finds b only where b is: in `other`, given by -n."""
    policy = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: for-b}
spec: {podSelector: {matchLabels: {app: b}}}
"""
    stdin = MANIFESTS + "---" + policy
    code, out, err = run(capsys, monkeypatch, "lint", "-", "-o", "json", stdin=stdin)
    assert code in (0, 1), err
    assert "default/for-b" in out
    code, out, err = run(capsys, monkeypatch, "lint", "-", "-n", "other", "-o", "json", stdin=stdin)
    assert code in (0, 1), err
    assert "for-b" not in out


def test_proxy_trace_takes_it(capsys, monkeypatch) -> None:
    code, out, err = run(
        capsys, monkeypatch, "proxy", "trace", "-", "-n", "shop", "--node", "worker",
        "--src", "10.244.0.9", "--dst", "10.96.0.1", "--port", "443", "-o", "json",
        stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["node"] == "worker"


def test_up_records_the_namespace_for_the_commands_that_follow(capsys, monkeypatch) -> None:
    """`up` keeps the manifests as given and -n beside them: the plan's record says it, and the
    DNS servers read the manifests with it."""
    code, out, err = run(capsys, monkeypatch, "up", "-", "-n", "shop", "--dry-run", stdin=MANIFESTS)
    assert code == 0, err
    plan = json.loads(out)
    assert plan["default_namespace"] == "shop"
    assert "shop/a" in plan["pods"] and "other/b" in plan["pods"]
    servers = [p["argv"] for p in plan["processes"] if p["name"].startswith("dns ")]
    assert servers and all(argv[-2:] == ["--namespace", "shop"] for argv in servers)
    record = Realised.from_json(plan)
    assert record.default_namespace == "shop" and record.to_json() == plan
    # Without -n nothing changes: no key, no option.
    code, out, _ = run(capsys, monkeypatch, "up", "-", "--dry-run", stdin=MANIFESTS)
    plan = json.loads(out)
    assert "default_namespace" not in plan
    assert Realised.from_json(plan).default_namespace == "default"
    assert not any("--namespace" in p["argv"] for p in plan["processes"])


@pytest.mark.parametrize(
    "command", [["reach"], ["up", "--dry-run"], ["proxy", "rules", "--node", "worker"]]
)
def test_a_namespace_that_cannot_be_a_name_is_refused(capsys, monkeypatch, command) -> None:
    code, out, err = run(capsys, monkeypatch, *command, "-", "-n", "Shop_1", stdin=MANIFESTS)
    assert code == 2 and out == ""
    assert "-n 'Shop_1': a lowercase RFC 1123 label" in err
    assert "Traceback" not in err


def test_verify_takes_it_only_with_manifests(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "verify", "-n", "shop")
    assert code == 2
    assert "-n applies to the manifests given" in err


def test_commands_after_up_read_the_kept_manifests_with_its_namespace(tmp_path, monkeypatch):
    """`probe` and `verify` rebuild the model from what `up` kept: the manifests and -n."""
    from podnet.cli import linux
    from podnet.linux import state

    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "0000-stdin.yaml").write_text(MANIFESTS)
    record = Realised("demo", "host-gw", (), {}, {}, "", "", (), str(tmp_path), "shop")
    monkeypatch.setattr(state, "load", lambda cluster: record)
    live, model = linux._live("demo")
    assert live is record
    assert {"shop/a", "other/b"} <= {p.key for p in model.pods}
    assert [p.key for p in model.policies] == ["shop/deny-ingress"]
