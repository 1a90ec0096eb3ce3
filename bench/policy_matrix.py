"""Benchmark of the NetworkPolicy matrix: every pod pair on every declared port.

For each size (pods; policies are half as many), the cluster from `bench/generate.py` is written
to a file and measured in a fresh Python process, so that peak memory figures do not mix:

- load: `load_cluster` (YAML, validation, workloads, scheduling, addresses);
- compile: `PolicyEngine(cluster)`;
- keys: `engine.key_matrix(port, protocol)` for every declared (port, protocol);
- full: `engine.matrix(port, protocol)` (the (N, N) pod matrix) for every declared port;
- total: compile + full, the figure the targets are about;
- peak RSS of the measuring process (`ru_maxrss`).

Times are the best of `--repeat` runs (3 up to 1,000 pods, 1 above unless told otherwise).

    python bench/policy_matrix.py [--sizes 100,1000,10000] [--markdown]
    python bench/policy_matrix.py --profile 10000      # cProfile, top 15 by cumulative time
    python bench/policy_matrix.py --check 100          # engine against policy.semantics
    python bench/policy_matrix.py --sizes 10000 --cluster-policies 200   # without, then with

With `--cluster-policies N`, each size is measured twice: without admin-tier policies, then with
N of them (`generate._cluster_policies`) on the same pods and NetworkPolicies.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from generate import generate  # noqa: E402


def _best(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """(best seconds, last result) over `runs` calls of fn."""
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def measure(path: str, runs: int) -> dict:
    """Everything for one generated cluster, in this process."""
    from podnet.model.cluster import load_cluster
    from podnet.policy.engine import PolicyEngine, declared_ports

    load_s, cluster = _best(runs, lambda: load_cluster([path]))
    compile_s, engine = _best(runs, lambda: PolicyEngine(cluster))
    ports = declared_ports(cluster.running_pods)

    def keys() -> None:
        for port, proto in ports:
            engine.key_matrix(port, proto)

    keys_s, _ = _best(runs, keys)

    full_s = float("inf")
    allowed = 0
    for _ in range(runs):
        spent, allowed = 0.0, 0
        for port, proto in ports:
            t = time.perf_counter()
            m = engine.matrix(port, proto)
            spent += time.perf_counter() - t
            allowed += int(m.sum())  # outside the timing; the matrix is dropped after
            del m
        full_s = min(full_s, spent)
    n = len(engine.pods)
    return {
        "pods": n,
        "policies": len(cluster.policies),
        "cluster_policies": len(cluster.cluster_policies),
        "namespaces": len(cluster.namespaces),
        "nodes": len(cluster.nodes),
        "keys": engine.keys,
        "ports": len(ports),
        "runs": runs,
        "load_s": load_s,
        "compile_s": compile_s,
        "keys_s": keys_s,
        "full_s": full_s,
        "total_s": compile_s + full_s,
        "allowed_share": allowed / (len(ports) * n * n) if ports and n else 0.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_size(pods: int, policies: int, runs: int, seed: int, cluster_policies: int = 0) -> dict:
    """Generate the cluster, then measure it in a fresh interpreter."""
    t = time.perf_counter()
    text = generate(pods, policies, seed, cluster_policies)
    gen_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="podnet-bench-") as tmp:
        path = os.path.join(tmp, f"cluster-{pods}.yaml")
        Path(path).write_text(text)
        out = subprocess.run(
            [sys.executable, __file__, "--measure", path, "--repeat", str(runs)],
            check=True,
            capture_output=True,
            text=True,
        )
    row = json.loads(out.stdout)
    row["generate_s"] = gen_s
    row["yaml_mb"] = len(text.encode()) / 1e6
    return row


COLUMNS = (
    ("pods", "pods", "{:,}"),
    ("policies", "policies", "{:,}"),
    ("cluster_policies", "cluster policies", "{:,}"),
    ("keys", "keys", "{:,}"),
    ("ports", "ports", "{}"),
    ("load_s", "load s", "{:.3f}"),
    ("compile_s", "compile s", "{:.3f}"),
    ("keys_s", "key matrices s", "{:.3f}"),
    ("full_s", "pod matrices s", "{:.3f}"),
    ("total_s", "compile + pod matrices s", "{:.3f}"),
    ("peak_rss_mb", "peak RSS MB", "{:,.0f}"),
    ("runs", "runs", "{}"),
)


def table(rows: list[dict], markdown: bool) -> str:
    head = [h for _, h, _ in COLUMNS]
    body = [[fmt.format(r[k]) for k, _, fmt in COLUMNS] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def profile(pods: int, policies: int, seed: int, top: int = 15) -> None:
    """cProfile of compile + every pod matrix, top functions by cumulative time."""
    import cProfile
    import pstats

    from podnet.model.cluster import cluster_from_text
    from podnet.policy.engine import PolicyEngine, declared_ports

    cluster = cluster_from_text(generate(pods, policies, seed))
    ports = declared_ports(cluster.running_pods)

    def work() -> None:
        engine = PolicyEngine(cluster)
        for port, proto in ports:
            engine.matrix(port, proto)

    prof = cProfile.Profile()
    prof.runcall(work)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


def check(pods: int, policies: int, seed: int, cluster_policies: int = 0) -> int:
    """Compare the engine with `policy.semantics` on every pair and port; print disagreements."""
    from podnet.model.cluster import cluster_from_text
    from podnet.policy.engine import PolicyEngine, declared_ports
    from podnet.policy.semantics import allowed, pod_peer

    cluster = cluster_from_text(generate(pods, policies, seed, cluster_policies))
    engine = PolicyEngine(cluster)
    eps = [pod_peer(p, engine.version) for p in engine.pods]
    bad = 0
    ports = declared_ports(cluster.running_pods)
    for port, proto in ports:
        m = engine.matrix(port, proto)
        for i, a in enumerate(eps):
            for j, b in enumerate(eps):
                want = allowed(cluster, a, b, port, proto)
                if bool(m[i, j]) != want:
                    bad += 1
                    if bad <= 20:
                        print(
                            f"{a} -> {b} {proto}/{port}: engine {bool(m[i, j])}, semantics {want}"
                        )
    n = len(eps)
    print(f"{n} pods, {len(ports)} ports, {n * n * len(ports):,} verdicts, {bad} disagreements")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="NetworkPolicy matrix benchmark")
    parser.add_argument("--sizes", default="100,1000,10000", help="pod counts, comma-separated")
    parser.add_argument("--ratio", type=float, default=0.5, help="policies per pod")
    parser.add_argument("--repeat", type=int, default=None, help="runs per size (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--profile", type=int, metavar="PODS", help="profile one size")
    parser.add_argument("--check", type=int, metavar="PODS", help="check one size")
    parser.add_argument(
        "--cluster-policies", type=int, default=0, metavar="N",
        help="also measure each size with N admin-tier policies",
    )  # fmt: skip
    parser.add_argument("--measure", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat or 1)))
        return 0
    if args.profile:
        profile(args.profile, round(args.profile * args.ratio), args.seed)
        return 0
    if args.check:
        n = args.cluster_policies
        return check(args.check, round(args.check * args.ratio), args.seed, n)

    rows = []
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        runs = args.repeat or (3 if size <= 1000 else 1)
        for n in sorted({0, args.cluster_policies}):
            rows.append(run_size(size, round(size * args.ratio), runs, args.seed, n))
            r = rows[-1]
            print(
                f"{size:,} pods, {n} cluster policies: {r['total_s']:.3f} s,"
                f" {r['peak_rss_mb']:,.0f} MB",
                file=sys.stderr,
            )
        if args.cluster_policies:
            ratio = rows[-1]["total_s"] / rows[-2]["total_s"]
            print(f"{size:,} pods: {ratio:.2f}x with the cluster policies", file=sys.stderr)
    print(json.dumps(rows, indent=2) if args.json else table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
