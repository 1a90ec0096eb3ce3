"""`podnet reach`, `explain`, `lint` and `demo` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli import SHOP, run

MODEL = """
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec:
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec:
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: x}
"""


def test_reach_json_contract(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "reach", "-", "-o", "json", stdin=MODEL)
    assert code == 0, err
    doc = json.loads(out)
    dns = [p for p in doc["pods"] if p.startswith("kube-system/coredns-")]
    assert len(dns) == 2  # the cluster's own DNS pods are pods like any other
    assert doc["pods"] == sorted(doc["pods"]) == [*dns, "x/a", "x/b"]
    assert {k: doc["ips"][k] for k in ("x/a", "x/b")} == {"x/a": "10.244.0.2", "x/b": "10.244.1.2"}
    # Without --port: every declared (port, protocol), sorted by protocol then port.
    probes = {(p["port"], p["protocol"]): p["allowed"] for p in doc["probes"]}
    assert list(probes) == [(53, "TCP"), (80, "TCP"), (9153, "TCP"), (53, "UDP")]
    tcp = probes[(80, "TCP")]
    assert set(tcp) == set(doc["pods"]) and all(
        set(row) == set(doc["pods"]) for row in tcp.values()
    )
    assert tcp["x/a"]["x/b"] and tcp["x/b"]["x/a"] and not tcp[dns[0]]["x/b"]
    udp = probes[(53, "UDP")]
    assert udp["x/a"]["x/b"] is False and udp["x/b"]["x/a"] is True
    assert "skipped 1 object(s) of kinds podnet does not model: ConfigMap (1)" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "80"], [(80, "TCP")]),
        (["--port", "80", "--protocol", "udp"], [(80, "UDP")]),
        (["--protocol", "UDP"], [(53, "UDP")]),
        (["--protocol", "TCP"], [(53, "TCP"), (80, "TCP"), (9153, "TCP")]),
    ],
)
def test_reach_port_selection(capsys, monkeypatch, args, expected) -> None:
    code, out, _ = run(capsys, monkeypatch, "reach", "-", "-o", "json", *args, stdin=MODEL)
    assert code == 0
    assert [(p["port"], p["protocol"]) for p in json.loads(out)["probes"]] == expected


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [
        ("table", "x/a (10.244.0.2)"),
        ("csv", "x/a,x/b,53,UDP,false"),
        ("md", "| x/a | ✓ | ✓ | ✓ | ✗ |"),
        ("dot", '"x/a" -> "x/b" [label="TCP/80"]'),
    ],
)
def test_reach_formats(capsys, monkeypatch, fmt, needle) -> None:
    code, out, _ = run(capsys, monkeypatch, "reach", "-", "-o", fmt, stdin=MODEL)
    assert code == 0
    assert needle in out


def test_explain_text_and_json(capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "explain", "-", "--from", "x/a", "--to", "x/b", stdin=MODEL
    )
    assert code == 0
    assert "x/a (10.244.0.2) -> x/b (10.244.1.2) TCP/80: ALLOWED" in out
    assert (
        "allowed by x/only-a spec.ingress[0]: from[0] podSelector pod=a; ports[0] TCP/http" in out
    )
    code, out, _ = run(
        capsys,
        monkeypatch,
        "explain",
        "-",
        "--from",
        "x/a",
        "--to",
        "x/b",
        "--port",
        "81",
        "-o",
        "json",
        stdin=MODEL,
    )
    doc = json.loads(out)
    assert doc["allowed"] is False
    assert doc["ingress"]["policies"] == ["x/only-a"] and doc["ingress"]["allowed_by"] == []
    assert doc["egress"]["isolated"] is False


@pytest.mark.parametrize(
    ("src", "dst", "allowed"),
    [
        ("203.0.113.9", "x/b:80", False),  # outside the cluster: ingress from an ipBlock only
        ("203.0.113.9", "x/a", True),  # x/a is not isolated
        ("x/b", "198.51.100.1:443", True),  # egress not isolated
        ("node-2", "x/b", True),  # a node reaches its own pods
        ("node-1", "x/b", False),  # but not another node's isolated pods
    ],
)
def test_explain_addresses_and_nodes(capsys, monkeypatch, src, dst, allowed) -> None:
    code, out, err = run(
        capsys,
        monkeypatch,
        "explain",
        "-",
        "--from",
        src,
        "--to",
        dst,
        "--port",
        "80",
        "-o",
        "json",
        stdin=MODEL,
    )
    assert code == 0, err
    assert json.loads(out)["allowed"] is allowed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "x/nope", "--to", "x/b"],
            "error: --from 'x/nope': no pod or workload 'nope' in namespace x (pods: a, b;"
            " workloads: none)",
        ),
        (
            ["--from", "x/a", "--to", "not-an-address"],
            "error: --to 'not-an-address': no node 'not-an-address', nor a pod or workload of that"
            " name in namespace default (pods: none; workloads: none; nodes: node-1, node-2)",
        ),
        (["--from", "x/a", "--to", "10.0.0.1:99999"], "port must be a number"),
        (["--from", "x/a", "--to", "10.0.0.1"], "give --port"),
    ],
)
def test_explain_usage_errors(capsys, monkeypatch, args, message) -> None:
    code, _, err = run(capsys, monkeypatch, "explain", "-", *args, stdin=MODEL)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_lint_exit_status(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "lint", SHOP)
    assert code == 0  # warnings only; --fail-on error is the default
    assert "[or-not-and]" in out
    code, out, _ = run(capsys, monkeypatch, "lint", SHOP, "--fail-on", "warning", "-o", "json")
    assert code == 1
    codes = {f["code"] for f in json.loads(out)["findings"]}
    assert {"or-not-and", "peer-matches-nothing", "egress-without-dns"} <= codes


def test_invalid_manifest_exits_2_without_traceback(tmp_path) -> None:
    bad = tmp_path / "policies.yaml"
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-web, namespace: x}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: 80\n      endPort: 70\n"
        "    - protocol: ICMP\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "podnet", "reach", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert (
        f"{bad}:9: NetworkPolicy x/allow-web: spec.ingress[0].ports[0].endPort: Invalid value: 70: must be >= port (80)"
        in proc.stderr
    )
    assert "spec.ingress[0].ports[1].protocol" in proc.stderr  # every error, not only the first


def test_demo_runs_on_the_example(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "demo")
    assert code == 0, err
    for needle in ("node-1", "shop/db-0", "reachability", "or-not-and", "DENIED"):
        assert needle in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reach", SHOP, "-o", "xml"], "Invalid value for '-o'"),
        (["reach"], "Missing argument"),
        (["reach", SHOP, "--bogus"], "No such option"),
        (["lint", SHOP, "--fail-on", "info"], "--fail-on 'info'"),
        (["reach", "/no/such/dir"], "no such file or directory"),
    ],
)
def test_usage_errors_exit_2(capsys, monkeypatch, args, message) -> None:
    code, _, err = run(capsys, monkeypatch, *args)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_trace_command(capsys, monkeypatch) -> None:
    code, out, err = run(
        capsys, monkeypatch, "trace", SHOP, "--from", "shop/db-0", "--to", "catalog", "-o", "json"
    )
    assert code == 1, err  # not delivered
    doc = json.loads(out)
    assert doc["verdict"] == "dropped" and doc["port"] == 50051
    assert [h["step"] for h in doc["hops"]] == ["dns", "service", "kube-proxy"]
    code, out, _ = run(
        capsys, monkeypatch, "trace", SHOP, "--from", "external", "--to", "node-1:30080"
    )
    assert code == 0 and "verdict    DELIVERED" in out


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "nowhere",
            "error: --from 'nowhere': no node 'nowhere', nor a pod or workload of that name in"
            " namespace default (pods: none; workloads: none; nodes: node-1, node-2)",
        ),
        (
            "shop/nope",
            "error: --from 'shop/nope': no pod or workload 'nope' in namespace shop (pods: cart-",
        ),
        ("node-1:80", "error: --from 'node-1:80': the source takes no port"),
    ],
)
def test_trace_source_errors_name_the_option(capsys, monkeypatch, source, message) -> None:
    code, _, err = run(capsys, monkeypatch, "trace", SHOP, "--from", source, "--to", "catalog")
    assert code == 2 and err.startswith(message), err


PENDING = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: web}}
spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: gpu, namespace: x}
spec:
  nodeSelector: {accelerator: a100}
  containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]
"""


def test_pending_pods_are_named_on_stderr_and_in_reach_json(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "reach", "-", "-o", "json", stdin=PENDING)
    why = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    assert code == 0 and f"1 pod(s) pending:\n  x/gpu: {why}" in err
    doc = json.loads(out)
    assert doc["pending"] == {"x/gpu": why} and "x/gpu" not in doc["pods"]
    code, _, err = run(capsys, monkeypatch, "lint", "-", stdin=PENDING)
    assert "1 pod(s) pending" in err


UNMODELLED_POLICIES = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny, namespace: x}
spec: {endpointSelector: {}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow, namespace: x}
spec: {selector: all()}
---
apiVersion: crd.projectcalico.org/v1
kind: GlobalNetworkSet
metadata: {name: office}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: x}
"""


def test_policies_of_unmodelled_kinds_get_their_own_warning(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "reach", "-", stdin=UNMODELLED_POLICIES)
    assert code == 0
    assert (
        "NOT APPLIED: 3 network policy object(s) of kinds podnet does not model yet, so no answer"
        " includes them: CiliumNetworkPolicy (1), GlobalNetworkSet (1),"
        " NetworkPolicy (projectcalico.org/v3) (1)"
    ) in err
    assert "skipped 1 object(s) of kinds podnet does not model: ConfigMap (1)" in err


def test_reach_services_command(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "reach", SHOP, "--services", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert "shop/cart:80/TCP" in doc["services"]
    code, out, _ = run(capsys, monkeypatch, "reach", SHOP, "--services")
    assert code == 0 and "pods to Service ports" in out


DUAL = """
apiVersion: kind.x-k8s.io/v1alpha4
kind: Cluster
networking: {ipFamily: dual}
nodes: [{role: control-plane}, {role: worker}]
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: v6-only, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress: [{from: [{ipBlock: {cidr: "fd00:10:244::/56"}}]}]
"""


@pytest.mark.parametrize(
    ("family", "allowed"),
    [([], False), (["--ip-family", "4"], False), (["--ip-family", "6"], True)],
)
def test_dual_stack_family(capsys, monkeypatch, family, allowed) -> None:
    code, out, err = run(
        capsys, monkeypatch, "reach", "-", "--port", "80", "-o", "json", *family, stdin=DUAL
    )
    assert code == 0, err
    assert json.loads(out)["probes"][0]["allowed"]["x/a"]["x/b"] is allowed
    code, out, err = run(
        capsys,
        monkeypatch,
        "explain",
        "-",
        "--from",
        "x/a",
        "--to",
        "x/b:80",
        "-o",
        "json",
        *family,
        stdin=DUAL,
    )
    assert code == 0, err
    assert json.loads(out)["allowed"] is allowed


def test_explain_takes_the_family_of_a_literal_address(capsys, monkeypatch) -> None:
    code, out, err = run(
        capsys,
        monkeypatch,
        "explain",
        "-",
        "--from",
        "x/a",
        "--to",
        "[fd00:10:244:1::2]:80",
        "-o",
        "json",
        stdin=DUAL,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["from"]["ip"].startswith("fd00:") and doc["allowed"] is True


def test_help_does_not_load_numpy() -> None:
    """Every command registered (what `podnet --help` needs) without the engine's NumPy."""
    code = "import sys, podnet.cli as c; c._register(); print('numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
