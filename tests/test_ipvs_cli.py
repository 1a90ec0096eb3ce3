"""`podnet proxy rules --mode ipvs` and `podnet proxy trace --mode ipvs` as a user runs them: the
three sections of kube-proxy's IPVS state, and a packet followed through it."""

from __future__ import annotations

import json

from tests.test_cli_cluster import run
from tests.test_proxy_cli import MANIFESTS

IPVS_CLUSTER = (
    MANIFESTS
    + """
---
apiVersion: podnet.io/v1alpha1
kind: ClusterNetwork
metadata: {name: lvs}
spec:
  kubeProxyMode: ipvs
  ipvs: {scheduler: lc}
"""
)


def _sections(out: str) -> list[str]:
    return [line for line in out.splitlines() if line in ("# ipvsadm", "# ipset", "# iptables")]


def test_rules_mode_ipvs(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        capsys, monkeypatch, "proxy", "rules", "-", "--node", "node-1", "--mode", "ipvs",
        stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0, err
    assert _sections(out) == ["# ipvsadm", "# ipset", "# iptables"]
    assert "-A -t 10.96.0.100:80 -s rr" in out


def test_rules_follow_the_cluster_mode_and_scheduler(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        capsys, monkeypatch, "proxy", "rules", "-", "--node", "node-1", stdin=IPVS_CLUSTER
    )
    assert code == 0, err
    assert _sections(out) == ["# ipvsadm", "# ipset", "# iptables"]
    assert "-A -t 10.96.0.100:80 -s lc" in out


def test_trace_mode_ipvs(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        capsys, monkeypatch, "proxy", "trace", "-", "--node", "node-1", "--src", "10.244.0.9",
        "--dst", "10.96.0.100", "--port", "80", "--mode", "ipvs", "-o", "json", stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0, err
    t = json.loads(out)
    assert t["node"] == "node-1" and t["verdict"] == "ACCEPT"
    assert len(t["endpoints"]) == 3 and all(e.endswith(":8080") for e in t["endpoints"])
    # a ClusterIP answers only on the ports it serves: another port is not proxied
    code, out, err = run(
        capsys, monkeypatch, "proxy", "trace", "-", "--node", "node-1", "--src", "10.244.0.9",
        "--dst", "10.96.0.100", "--port", "81", "--mode", "ipvs", "-o", "json", stdin=MANIFESTS,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["verdict"] != "ACCEPT"


def test_trace_text_names_the_mode(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        capsys, monkeypatch, "proxy", "trace", "-", "--node", "node-1", "--src", "10.244.0.9",
        "--dst", "10.96.0.100", "--port", "80", stdin=IPVS_CLUSTER,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("node-1 (ipvs): 10.244.0.9 -> 10.96.0.100:80 TCP")
