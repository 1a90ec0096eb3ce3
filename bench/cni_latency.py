"""ADD and DEL latency of podnet-cni against the reference plugins, in the same run (root).

Each iteration makes a fresh pod namespace, then times, from fork to exit, the ADD and then the
DEL of `bridge` + `host-local` (isGateway, a default route) for each implementation in turn:

- `reference`: /usr/lib/cni/bridge delegating to /usr/lib/cni/host-local (Go);
- `podnet`: launchers written by `python -m podnet.cni.install` (`python -IS`), host-local
  delegated in-process because it is podnet-cni itself;
- `podnet (console script)`: the pip-generated `podnet-cni` entry point, with `site` and the
  installed packages' start-up, delegating to the same host-local launcher;
- `podnet bridge + reference host-local`: delegation by executing the Go host-local.

The benchmark process enters a node namespace `pncni-bench-node` (created and removed here),
so the plugins it starts touch nothing outside namespaces it created.

    sudo .venv/bin/python bench/cni_latency.py [--iterations 200] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from podnet.cni import install  # noqa: E402
from podnet.kernel import netns  # noqa: E402

REF = "/usr/lib/cni"


def conf(data_dir: str, bridge: str) -> bytes:
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "pncni-bench",
            "type": "bridge",
            "bridge": bridge,
            "isGateway": True,
            "ipam": {
                "type": "host-local",
                "dataDir": data_dir,
                "ranges": [[{"subnet": "10.252.0.0/16"}]],
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        }
    ).encode()


def run(plugin: str, command: str, stdin: bytes, netns: str, cid: str, path: str) -> float:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": path,
        "PATH": os.environ.get("PATH", ""),
    }
    start = time.perf_counter()
    proc = subprocess.run([plugin], input=stdin, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"{plugin} {command} failed: {proc.stdout.decode()} {proc.stderr.decode()}"
        )
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description="podnet-cni ADD/DEL latency against the reference plugins"
    )
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")

    work = tempfile.mkdtemp(prefix="pncni-bench-")
    bindir = os.path.join(work, "bin")
    install.install(bindir)
    console = os.path.join(work, "console")
    os.makedirs(console)
    os.symlink(
        os.path.join(os.path.dirname(sys.executable), "podnet-cni"), os.path.join(console, "bridge")
    )
    variants = {
        "reference": (os.path.join(REF, "bridge"), REF),
        "podnet": (os.path.join(bindir, "bridge"), bindir),
        "podnet (console script)": (os.path.join(console, "bridge"), bindir),
        "podnet bridge + reference host-local": (os.path.join(bindir, "bridge"), f"{REF}:{bindir}"),
    }
    node = "pncni-bench-node"
    subprocess.run(["ip", "netns", "add", node], check=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    node_fd = os.open(f"/run/netns/{node}", os.O_RDONLY)
    times = {name: {"ADD": [], "DEL": []} for name in variants}
    try:
        netns.setns(node_fd)
        for i in range(args.iterations):
            for k, (name, (plugin, path)) in enumerate(variants.items()):
                pod = f"pncni-bench-{k}-{i}"
                subprocess.run(["ip", "netns", "add", pod], check=True)
                try:
                    stdin = conf(os.path.join(work, f"data{k}"), f"pncnibr{k}")
                    times[name]["ADD"].append(
                        run(plugin, "ADD", stdin, f"/run/netns/{pod}", f"c{i}", path)
                    )
                    times[name]["DEL"].append(
                        run(plugin, "DEL", stdin, f"/run/netns/{pod}", f"c{i}", path)
                    )
                finally:
                    subprocess.run(["ip", "netns", "del", pod], check=True)
    finally:
        netns.setns(home)
        subprocess.run(["ip", "netns", "del", node], check=False)
        shutil.rmtree(work, ignore_errors=True)

    ref_add = statistics.median(times["reference"]["ADD"])
    rows = []
    for name, t in times.items():
        add, dele = t["ADD"], t["DEL"]
        rows.append(
            (
                name,
                statistics.median(add) * 1e3,
                percentile(add, 0.99) * 1e3,
                statistics.median(dele) * 1e3,
                percentile(dele, 0.99) * 1e3,
                statistics.median(add) / ref_add,
            )
        )
    if args.markdown:
        print(
            "| plugin | ADD median (ms) | ADD p99 (ms) | DEL median (ms) | DEL p99 (ms) | ADD vs reference |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f}x |")
    else:
        print(
            f"{'plugin':40} {'ADD med':>8} {'ADD p99':>8} {'DEL med':>8} {'DEL p99':>8} {'vs ref':>7}"
        )
        for r in rows:
            print(f"{r[0]:40} {r[1]:8.1f} {r[2]:8.1f} {r[3]:8.1f} {r[4]:8.1f} {r[5]:6.2f}x")
    print(f"\n{args.iterations} iterations; times in ms from fork to exit", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
