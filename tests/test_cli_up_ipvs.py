"""`podnet up --dry-run` on a cluster in kube-proxy's ipvs mode: refused before any plan is
printed, with the same words `podnet up` uses (tests/linux/test_realise_ipvs.py runs `up` itself).
"""

from __future__ import annotations

from podnet.kernel.ipvs import IPVSSupport, ipvs_support
from tests.cli import run
from tests.conftest import manifests

CLUSTER = manifests(
    {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "lvs"},
        "spec": {"kubeProxyMode": "ipvs"},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    },
)

# What the refusal says of this machine's kernel.
KERNEL = {
    IPVSSupport.absent: "this kernel has no IPVS (no /proc/net/ip_vs, no ip_vs module)",
    IPVSSupport.module: "although this kernel has the ip_vs module (not loaded)",
    IPVSSupport.loaded: "although this kernel has it (/proc/net/ip_vs)",
}


def test_dry_run_refuses_the_ipvs_mode(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "up", "-", "--dry-run", stdin=CLUSTER)
    assert (code, out) == (2, "")
    assert err.startswith("error: kubeProxyMode ipvs: podnet up builds kube-proxy's rules in")
    assert KERNEL[ipvs_support()] in err
    assert "Use kubeProxyMode: nftables" in err
    assert "Traceback" not in err


def test_dry_run_plans_the_same_cluster_in_nftables_mode(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = CLUSTER.replace("kubeProxyMode: ipvs", "kubeProxyMode: nftables")
    code, out, err = run(capsys, monkeypatch, "up", "-", "--dry-run", stdin=text)
    assert code == 0, err
    assert '"cluster": "lvs"' in out
