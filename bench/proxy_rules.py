"""Benchmark of the kube-proxy renderers: the whole ruleset of one node, nftables and iptables.

Clusters of 1,000 and 10,000 Services with 5 endpoints each are built directly as objects
(`build`), so that loading manifests is not measured: 50 nodes with a /24 podCIDR each, endpoints
spread over them; ports named `http` (TCP 80 to 8080), every 10th Service a NodePort, every 20th
a LoadBalancer with externalTrafficPolicy Local, every 25th with ClientIP affinity, every 50th
with an ExternalIP and every 100th with a second port (UDP 53).

For each size, in this process:
- nftables: `render_nftables(cluster, "node-1")` (endpoint selection included);
- iptables: `render_iptables(cluster, "node-1")`;
- the size of each text; with `--check`, `nft -c -f` and `iptables-restore --test` on it (root).

Times are the best of `--repeat` runs, wall-clock and CPU time of the process (the second is
steadier on a shared machine).

    python bench/proxy_rules.py [--sizes 1000,10000] [--repeat 3] [--markdown] [--check]
    python bench/proxy_rules.py --profile 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from podnet.model.cluster import Cluster  # noqa: E402
from podnet.model.config import ClusterConfig  # noqa: E402
from podnet.model.objects import (  # noqa: E402
    Endpoint,
    EndpointPort,
    EndpointSlice,
    LoadBalancerIngress,
    Namespace,
    Node,
    Service,
    ServicePort,
)
from podnet.proxy.iptables import render_iptables  # noqa: E402
from podnet.proxy.nftables import render_nftables  # noqa: E402

NODES = 50
ENDPOINTS = 5


def build(services: int, endpoints: int = ENDPOINTS, nodes: int = NODES) -> Cluster:
    config = ClusterConfig(
        pod_subnets=(IPv4Network("10.0.0.0/8"),), service_subnets=(IPv4Network("172.16.0.0/12"),)
    )
    node_objs = tuple(
        Node(
            f"node-{i + 1}",
            {"topology.kubernetes.io/zone": "abc"[i % 3]},
            (IPv4Address(f"192.168.{i // 250}.{i % 250 + 2}"),),
            (IPv4Network(f"10.{i // 256}.{i % 256}.0/24"),),
        )
        for i in range(nodes)
    )
    svcs, slices = [], []
    base_ip = int(IPv4Address("172.16.0.0"))
    pod = 0
    for s in range(services):
        ns = f"ns-{s // 100}"
        name = f"svc-{s}"
        ports = [ServicePort(80, "TCP", "http", 8080)]
        if s % 100 == 0:
            ports.append(ServicePort(53, "UDP", "dns", 53))
        kind = "LoadBalancer" if s % 20 == 0 else "NodePort" if s % 10 == 0 else "ClusterIP"
        if kind != "ClusterIP":
            ports = [
                ServicePort(p.port, p.protocol, p.name, p.target_port, 30000 + (s * 2 + i) % 2768)
                for i, p in enumerate(ports)
            ]
        svcs.append(
            Service(
                name=name,
                namespace=ns,
                labels={},
                selector={"app": name},
                ports=tuple(ports),
                type=kind,
                cluster_ips=(IPv4Address(base_ip + s + 1),),
                external_ips=(IPv4Address(f"198.18.{s // 250 % 256}.{s % 250 + 1}"),)
                if s % 50 == 0
                else (),
                load_balancer=(LoadBalancerIngress(IPv4Address(int(IPv4Address("203.0.0.0")) + s)),)
                if kind == "LoadBalancer"
                else (),
                external_traffic_policy="Local" if kind == "LoadBalancer" else "Cluster",
                session_affinity="ClientIP" if s % 25 == 0 else "None",
            )
        )
        eps = []
        for _ in range(endpoints):
            n = pod % nodes
            host = pod // nodes
            eps.append(
                Endpoint(
                    (f"10.{n // 256}.{n % 256}.{host % 250 + 2}",),
                    node_name=f"node-{n + 1}",
                    target=f"{ns}/{name}-{pod}",
                )
            )
            pod += 1
        slices.append(
            EndpointSlice(
                f"{name}-abcde",
                ns,
                {"kubernetes.io/service-name": name},
                "IPv4",
                tuple(eps),
                tuple(EndpointPort(p.target_port, p.protocol, p.name) for p in ports),  # type: ignore[arg-type]
            )
        )
    names = sorted({s.namespace for s in svcs})
    return Cluster(
        config=config,
        namespaces={n: Namespace(n, {}) for n in names},
        nodes=node_objs,
        pods=(),
        services=tuple(svcs),
        endpoint_slices=tuple(slices),
    )


def _best(runs: int, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best wall-clock seconds, best CPU seconds of this process, last result)."""
    wall = cpu = float("inf")
    out = None
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu, out


def _check(command: list[str], text: str) -> tuple[bool, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".rules", delete=False) as f:
        f.write(text)
    try:
        t = time.perf_counter()
        with open(f.name) as stdin:
            done = subprocess.run(
                [c.replace("{}", f.name) for c in command],
                stdin=stdin,
                capture_output=True,
                text=True,
            )
        return done.returncode == 0, time.perf_counter() - t
    finally:
        os.unlink(f.name)


def measure(services: int, runs: int, check: bool) -> dict:
    build_s, _, cluster = _best(1, lambda: build(services))
    nft_s, nft_cpu, nft = _best(runs, lambda: render_nftables(cluster, "node-1"))
    ipt_s, ipt_cpu, ipt = _best(runs, lambda: render_iptables(cluster, "node-1"))
    row = {
        "services": services,
        "endpoints": services * ENDPOINTS,
        "build_s": build_s,
        "nft_s": nft_s,
        "nft_cpu_s": nft_cpu,
        "nft_lines": nft.count("\n"),
        "nft_mb": len(nft) / 1e6,
        "ipt_s": ipt_s,
        "ipt_cpu_s": ipt_cpu,
        "ipt_lines": ipt.count("\n"),
        "ipt_mb": len(ipt) / 1e6,
        "runs": runs,
    }
    if check:
        row["nft_ok"], row["nft_check_s"] = _check(["nft", "-c", "-f", "{}"], nft)
        row["ipt_ok"], row["ipt_check_s"] = _check(["iptables-restore", "--test"], ipt)
    return row


def machine() -> str:
    import numpy

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs (`nproc`), {model or platform.processor()},"
        f" Python {platform.python_version()}, NumPy {numpy.__version__}"
    )


def markdown(rows: list[dict]) -> str:
    head = (
        "| services | endpoints | nftables s | nftables CPU s | nft lines | nft MB"
        " | iptables s | iptables CPU s | iptables lines | iptables MB |"
    )
    out = [head, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(
            f"| {r['services']:,} | {r['endpoints']:,} | {r['nft_s']:.3f} | {r['nft_cpu_s']:.3f}"
            f" | {r['nft_lines']:,} | {r['nft_mb']:.1f} | {r['ipt_s']:.3f} | {r['ipt_cpu_s']:.3f}"
            f" | {r['ipt_lines']:,} | {r['ipt_mb']:.1f} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--check", action="store_true", help="nft -c and iptables-restore --test")
    ap.add_argument("--profile", type=int, metavar="SERVICES")
    args = ap.parse_args()
    if args.profile:
        import cProfile
        import pstats

        cluster = build(args.profile)
        cProfile.runctx(
            "render_nftables(cluster, 'node-1')", globals(), {"cluster": cluster}, "/tmp/proxy.prof"
        )
        pstats.Stats("/tmp/proxy.prof").sort_stats("cumulative").print_stats(15)
        return
    rows = [measure(int(s), args.repeat, args.check) for s in args.sizes.split(",")]
    if args.markdown:
        print(machine())
        print()
        print(markdown(rows))
    else:
        for r in rows:
            print(
                " ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()
                )
            )


if __name__ == "__main__":
    main()
