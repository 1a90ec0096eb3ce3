"""`podnet up` on a cluster in kube-proxy's ipvs mode, as root: refused before anything is
created, saying what this kernel has of IPVS, and nothing of the cluster (or anything else) is
left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from podnet.kernel.ipvs import IPVSSupport, ipvs_support

from .conftest import assert_no_leftovers

NAME = "pnipvs"
KERNEL = {
    IPVSSupport.absent: "this kernel has no IPVS (no /proc/net/ip_vs, no ip_vs module)",
    IPVSSupport.module: "although this kernel has the ip_vs module (not loaded)",
    IPVSSupport.loaded: "although this kernel has it (/proc/net/ip_vs)",
}


def _cluster() -> str:
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "podnet.io/v1alpha1",
                "kind": "ClusterNetwork",
                "metadata": {"name": NAME},
                "spec": {"kubeProxyMode": "ipvs", "ipvs": {"scheduler": "lc", "strictARP": True}},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
            },
        ]
    )  # fmt: skip


def _machine() -> dict[str, str]:
    """What the machine has that `up` could create: namespaces, links, nftables tables, state."""
    nft = shutil.which("nft")
    return {
        "netns": subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout,
        "links": subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout,
        "nft": subprocess.run([nft, "list", "tables"], capture_output=True, text=True).stdout
        if nft
        else "",
        "state": " ".join(sorted(os.listdir("/run/podnet")))
        if os.path.isdir("/run/podnet")
        else "",
        "etc": " ".join(sorted(os.listdir("/etc/netns"))) if os.path.isdir("/etc/netns") else "",
    }


def test_up_refuses_the_ipvs_mode_and_builds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(_cluster())
    before = _machine()
    for extra in ([], ["--dry-run"]):
        result = subprocess.run(
            [sys.executable, "-m", "podnet", "up", str(path), *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        err = result.stderr
        assert err.startswith("error: kubeProxyMode ipvs: podnet up builds kube-proxy's rules in")
        assert KERNEL[ipvs_support()] in err
        assert "nothing was built" in err and "Use kubeProxyMode: nftables" in err
        assert "Traceback" not in err
        assert_no_leftovers(NAME)
        assert not os.path.exists(f"/run/podnet/{NAME}")
        assert _machine() == before
