"""Bring a cluster up on the kernel and take it down, and probe a pod matrix (root).

    sudo .venv/bin/python bench/linux_up.py                 # 100 pods / 4 nodes, 1000 / 10
    sudo .venv/bin/python bench/linux_up.py --pods 1000 --nodes 10 --backend vxlan

Each run: `up` (namespaces, links, routes, rulesets, one CNI ADD per pod, agents, readiness),
the pod-to-pod matrix on one TCP port for clusters of at most --probe-max pods, `down`, and a
check that nothing is left (namespaces, /run/podnet, /etc/netns).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from podnet.linux import apply, teardown  # noqa: E402
from podnet.linux import verify as v  # noqa: E402
from podnet.linux.plan import make_plan, netns_prefix  # noqa: E402
from podnet.model.cluster import cluster_from_text  # noqa: E402


def manifests(name: str, pods: int, nodes: int) -> str:
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "podnet.io/v1alpha1",
                "kind": "ClusterNetwork",
                "metadata": {"name": name},
                "spec": {"nodes": [{"name": f"node-{i + 1}"} for i in range(nodes)]},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "bench"},
                "spec": {
                    "replicas": pods,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}
                            ]
                        },
                    },
                },
            },
        ]
    )


def leftovers(name: str) -> int:
    prefix = netns_prefix(name)
    n = (
        sum(1 for x in os.listdir("/run/netns") if x.startswith(prefix))
        if os.path.isdir("/run/netns")
        else 0
    )
    n += os.path.exists(f"/run/podnet/{name}")
    if os.path.isdir("/etc/netns"):
        n += sum(1 for x in os.listdir("/etc/netns") if x.startswith(prefix))
    return n


def run(pods: int, nodes: int, backend: str, probe_max: int) -> dict:
    name = f"bench{pods}"
    text = manifests(name, pods, nodes)
    cluster = cluster_from_text(text, "bench.yaml")
    plan = make_plan(cluster, name, backend)
    teardown.down(name)
    phases: dict[str, float] = {}
    last = [time.monotonic()]

    def progress(phase: str, done: int, total: int) -> None:
        if done == total:
            now = time.monotonic()
            phases[phase] = phases.get(phase, 0) + now - last[0]
            last[0] = now

    start = time.monotonic()
    last[0] = start
    apply.up(plan, [("bench.yaml", text)], progress)
    up_s = time.monotonic() - start
    result = {
        "pods": len(plan.pods),
        "nodes": nodes,
        "backend": backend,
        "up_s": up_s,
        "pods_per_s": len(plan.pods) / up_s,
        "phases": phases,
    }
    if len(plan.pods) <= probe_max:
        netns_of = {p.key: p.netns for p in plan.pods}
        t = time.monotonic()
        measured = v.measure(cluster, netns_of, [(80, "TCP")], timeout=1.0)
        result["probe_s"] = time.monotonic() - t
        result["probe_cells"] = int(measured.reach.probes[0].allowed.size)
        result["probe_allowed"] = int(measured.reach.probes[0].allowed.sum())
    t = time.monotonic()
    teardown.down(name)
    result["down_s"] = time.monotonic() - t
    result["leftovers"] = leftovers(name)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--nodes", type=int, nargs="*", default=[4, 10])
    parser.add_argument("--backend", default="host-gw", choices=["host-gw", "vxlan"])
    parser.add_argument("--probe-max", type=int, default=150)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
    for pods, nodes in zip(args.pods, args.nodes, strict=True):
        r = run(pods, nodes, args.backend, args.probe_max)
        phases = ", ".join(f"{k} {s:.2f}" for k, s in r["phases"].items())
        line = (
            f"{r['pods']} pods / {r['nodes']} nodes ({r['backend']}): up {r['up_s']:.2f} s"
            f" ({r['pods_per_s']:.0f} pods/s; {phases}), down {r['down_s']:.2f} s,"
            f" leftovers {r['leftovers']}"
        )
        if "probe_s" in r:
            line += f"; probe {r['probe_cells']} cells in {r['probe_s']:.2f} s"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
