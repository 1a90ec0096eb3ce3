"""`podnet proxy rules` and `podnet proxy trace` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from podnet.model.cluster import cluster_from_text
from tests.test_cli_cluster import run

MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  clusterIP: 10.96.0.100
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: 10.96.0.101
  ports: [{port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints:
- {addresses: [192.0.2.10], conditions: {ready: true}}
ports: [{port: 5432, protocol: TCP, name: ""}]
"""


def web_endpoints() -> list[str]:
    c = cluster_from_text(MANIFESTS)
    ips = sorted(str(p.ips[0]) for p in c.running_pods if p.namespace == "shop")
    return sorted(f"{ip}:8080" for ip in ips)


def test_trace_json_contract(capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "proxy", "trace", "-", "--node", "node-1",
        "--src", "10.244.1.9", "--dst", "10.96.0.100", "--port", "80", "-o", "json",
        stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["node", "verdict", "endpoints", "masquerade", "rules"]
    assert data["node"] == "node-1"
    assert data["verdict"] == "ACCEPT"
    assert data["endpoints"] == web_endpoints()
    assert data["masquerade"] is False
    assert data["rules"][:2] == [
        "filter-prerouting-pre-dnat: ct state new jump firewall-check",
        "nat-prerouting: jump services",
    ]


@pytest.mark.parametrize(
    ("args", "verdict", "endpoints", "masq"),
    [
        (["--src", "203.0.113.5", "--dst", "172.18.0.2", "--port", "30080"], "ACCEPT", None, True),
        (
            ["--src", "10.244.1.9", "--dst", "10.96.0.101", "--port", "5432"],
            "ACCEPT",
            ["192.0.2.10:5432"],
            False,
        ),
        (["--src", "10.244.1.9", "--dst", "10.96.0.101", "--port", "5433"], "REJECT", [], False),
        (["--src", "10.244.1.9", "--dst", "10.96.0.222", "--port", "80"], "DROP", [], False),
        (["--src", "10.244.1.9", "--dst", "10.244.2.2", "--port", "80"], "NONE", [], False),
        (
            ["--src", "10.244.1.9", "--dst", "10.96.0.222", "--port", "80", "--mode", "iptables"],
            "NONE",
            [],
            False,
        ),
        (
            ["--src", "10.244.1.9", "--dst", "10.96.0.101", "--port", "5432", "--protocol", "udp"],
            "REJECT",
            [],
            False,
        ),
    ],
)
def test_trace_verdicts(capsys, monkeypatch, args, verdict, endpoints, masq) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "proxy", "trace", "-", "--node", "node-1", *args, "-o", "json",
        stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert (data["verdict"], data["masquerade"]) == (verdict, masq)
    assert data["endpoints"] == (web_endpoints() if endpoints is None else endpoints)


def test_trace_text(capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "proxy", "trace", "-", "--node", "node-2",
        "--src", "172.18.0.3", "--dst", "10.96.0.101", "--port", "5432",
        stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "node-2 (nftables): 172.18.0.3 -> 10.96.0.101:5432 TCP"
    assert "  nat-output: jump services" in lines
    assert "verdict: ACCEPT, DNAT to one of 192.0.2.10:5432; masqueraded" in lines
    assert lines[-1] == "why: shop/db: ClusterIP, internalTrafficPolicy Cluster"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--node", "node-9", "--src", "10.0.0.1", "--dst", "10.96.0.1", "--port", "80"],
            "no node 'node-9'",
        ),
        (
            ["--node", "node-1", "--src", "10.0.0", "--dst", "10.96.0.1", "--port", "80"],
            "--src '10.0.0': not an IP address",
        ),
        (
            ["--node", "node-1", "--src", "fd00::1", "--dst", "10.96.0.1", "--port", "80"],
            "different IP families",
        ),
    ],
)
def test_trace_usage_errors(capsys, monkeypatch, args, message) -> None:
    code, out, err = run(capsys, monkeypatch, "proxy", "trace", "-", *args, stdin=MANIFESTS)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bad_option_values(capsys, monkeypatch) -> None:
    code, _, _ = run(
        capsys, monkeypatch, "proxy", "rules", "-", "--node", "node-1", "--mode", "userspace",
        stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 2
    code, _, _ = run(
        capsys, monkeypatch, "proxy", "trace", "-", "--node", "node-1", "--src", "10.0.0.1",
        "--dst", "10.96.0.1", "--port", "0", stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 2


def test_rules_unknown_node(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "proxy", "rules", "-", "--node", "x", stdin=MANIFESTS)
    assert (code, out) == (2, "")
    assert "no node 'x'" in err


def test_rules_iptables(capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "proxy", "rules", "-", "--node", "node-1", "--mode", "iptables",
        stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0
    assert out.startswith("# iptables-restore\n*filter\n")
    assert "-A KUBE-NODEPORTS -m comment --comment shop/web:http -m tcp -p tcp --dport 30080" in out


@pytest.mark.skipif(
    (shutil.which("nft") is None or os.geteuid() != 0) and os.environ.get("CI") != "true",
    reason="needs nft and root (nft -c)",
)
def test_rules_nftables_are_valid(capsys, monkeypatch, tmp_path) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "proxy", "rules", "-", "--node", "node-1", stdin=MANIFESTS
    )
    assert code == 0
    assert out.startswith('add table ip kube-proxy { comment "rules for kube-proxy" ; }\n')
    path = tmp_path / "rules.nft"
    path.write_text(out)
    done = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


AGREEMENT = [
    (node, mode, src, dst, port, protocol)
    for node in ("node-1", "node-2")
    for mode in ("nftables", "iptables")
    for src, dst, port, protocol in [
        ("10.244.1.9", "10.96.0.100", 80, "TCP"),
        ("203.0.113.5", "172.18.0.2", 30080, "TCP"),
        ("172.18.0.3", "10.96.0.101", 5432, "TCP"),
        ("10.244.1.9", "10.96.0.101", 5432, "TCP"),
        ("10.244.1.9", "10.96.0.101", 5433, "TCP"),
        ("10.244.1.9", "10.96.0.101", 5432, "UDP"),
        ("10.244.1.9", "10.96.0.222", 80, "TCP"),
        ("10.244.1.9", "10.244.2.2", 80, "TCP"),
        ("127.0.0.1", "127.0.0.1", 30080, "TCP"),
    ]
]


@pytest.mark.parametrize(("node", "mode", "src", "dst", "port", "protocol"), AGREEMENT)
def test_traced_rules_agree_with_the_model(node, mode, src, dst, port, protocol) -> None:
    """What `podnet proxy trace` prints comes from the rules; the kube-proxy model must give the
    same verdict, endpoints and masquerade for the packets the command is asked about."""
    from ipaddress import ip_address

    from podnet.proxy.iptables import render_iptables
    from podnet.proxy.nftables import render_nftables
    from podnet.proxy.trace_iptables import trace_iptables
    from podnet.proxy.trace_nftables import trace_nftables as trace
    from podnet.proxy.verdict import decide

    c = cluster_from_text(MANIFESTS)
    ips = c.node(node).ips
    source, target = ip_address(src), ip_address(dst)
    if mode == "nftables":
        t = trace(render_nftables(c, node), ips, source, target, port, protocol)
    else:
        t = trace_iptables(render_iptables(c, node), ips, source, target, port, protocol)
    v = decide(c, node, source, target, port, protocol, mode)
    assert (t.verdict, t.endpoints, t.masquerade) == (v.verdict, v.endpoints, v.masquerade), (
        v.reason + "\n" + "\n".join(t.rules)
    )
