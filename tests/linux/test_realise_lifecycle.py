"""`podnet up`, `status`, `probe`, `exec` and `down` as a user runs them, and `down` after a
killed `up`: nothing of the cluster is left in either case."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .conftest import assert_no_leftovers

PODNET = [sys.executable, "-m", "podnet"]


def podnet(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([*PODNET, *args], capture_output=True, text=True, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"podnet {' '.join(args)}: {result.returncode}\n{result.stderr}")
    return result


def manifests(name: str, replicas: int, nodes: int = 2) -> str:
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "podnet.io/v1alpha1",
                "kind": "ClusterNetwork",
                "metadata": {"name": name},
                "spec": {"nodes": [{"name": f"n{i + 1}"} for i in range(nodes)]},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": "nginx",
                                    "ports": [
                                        {"containerPort": 80},
                                        {"containerPort": 53, "protocol": "UDP"},
                                    ],
                                }
                            ]
                        },
                    },
                },
            },
        ]
    )


@pytest.fixture
def small(tmp_path: Path, kernel_ready: None) -> Iterator[tuple[str, Path]]:
    name = "pnlife"
    path = tmp_path / "cluster.yaml"
    path.write_text(manifests(name, 4))
    podnet("down", "--name", name)
    try:
        yield name, path
    finally:
        podnet("down", "--name", name, check=False)
        assert_no_leftovers(name)


def test_up_status_probe_exec_down(small: tuple[str, Path]) -> None:
    name, path = small
    out = podnet("up", str(path), "--backend", "vxlan", "--cni-exec").stdout
    assert f"cluster {name} is up: 2 node(s)" in out
    assert f"{name}: up, backend vxlan, 2 node(s)" in podnet("status", "--name", name).stdout
    again = podnet("up", str(path), check=False)
    assert again.returncode == 2 and "already up" in again.stderr
    probe = json.loads(podnet("probe", "--name", name, "-o", "json").stdout)
    assert [(p["port"], p["protocol"]) for p in probe["probes"]] == [
        (53, "TCP"),
        (80, "TCP"),
        (9153, "TCP"),
        (53, "UDP"),
    ]
    for entry in probe["probes"]:
        assert all(all(row.values()) for row in entry["allowed"].values())
    web = next(k for k in probe["pods"] if k.startswith("default/web-"))
    resolv = podnet("exec", web, "--name", name, "--", "cat", "/etc/resolv.conf").stdout
    assert resolv.startswith("search default.svc.cluster.local")
    addr = podnet(
        "exec", web, "--name", name, "--", "ip", "-4", "-o", "addr", "show", "eth0"
    ).stdout
    assert probe["ips"][web] in addr
    assert "no difference" in podnet("verify", "--name", name).stdout
    replaced = podnet("up", str(path), "--replace").stdout
    assert "backend host-gw" in replaced
    down = podnet("down", "--name", name).stdout
    assert "removed" in down
    assert_no_leftovers(name)
    assert "removed 0 namespace(s)" in podnet("down", "--name", name).stdout  # idempotent


def test_down_after_a_killed_up(tmp_path: Path, kernel_ready: None) -> None:
    name = "pnkill"
    path = tmp_path / "cluster.yaml"
    path.write_text(manifests(name, 60, nodes=3))
    podnet("down", "--name", name)
    proc = subprocess.Popen(
        [*PODNET, "up", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        # Kill it once pods are being attached: namespaces, links and some veths exist.
        ipam = Path(f"/run/podnet/{name}/ipam")
        while time.monotonic() < deadline and proc.poll() is None:
            if ipam.exists() and sum(len(files) for _, _, files in os.walk(ipam)) > 10:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "up finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert any(n.startswith(f"pn-{name}-") for n in os.listdir("/run/netns"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        status = podnet("status", "--name", name, check=False).stdout
        podnet("down", "--name", name)
    assert "incomplete" in status
    assert_no_leftovers(name)
