"""DNS answers per second: podnet's server beside Knot DNS serving the same names, with dnsperf.

The cluster is `bench/generate.py`'s (Namespaces, Deployments, StatefulSets) with a Service for
each workload: ClusterIP for Deployments, headless for StatefulSets (their serviceName), so the
names are Service A records, StatefulSet pod names, dashed-IP endpoint names, SRV records for the
named ports, PTR records, and the negative answers a pod's search list causes. Knot serves the
same records from zone files written from podnet's answers. Both listen on 127.0.0.1 ephemeral
ports at the same time; each is warmed up with one pass over the names, then they are measured
in turn for `--seconds`, `--rounds` times, so that other load on the machine hits both alike.

Needs the Debian packages dnsperf and knot; installs nothing.

    python bench/dns_qps.py --pods 1000 --seconds 10 --rounds 3 --workers 2 --markdown
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate import generate  # noqa: E402

from podnet.dns.records import ClusterZone  # noqa: E402
from podnet.model.cluster import Cluster, cluster_from_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PODNET = Path(sys.executable).with_name("podnet")


def cluster_yaml(pods: int, seed: int) -> str:
    """generate.py's cluster plus one Service per workload."""
    docs = list(yaml.safe_load_all(generate(pods, 0, seed)))
    services = []
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        meta, spec = d["metadata"], d["spec"]
        ports = [
            {"name": p["name"], "port": p["containerPort"], "protocol": p.get("protocol", "TCP")}
            for c in spec["template"]["spec"]["containers"]
            for p in c.get("ports", [])
            if p.get("name")
        ]
        svc_spec: dict[str, Any] = {"selector": spec["selector"]["matchLabels"], "ports": ports}
        name = meta["name"]
        if d["kind"] == "StatefulSet":
            svc_spec["clusterIP"] = "None"
            name = spec.get("serviceName") or name
        if not ports:
            continue
        services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": meta["namespace"]},
                "spec": svc_spec,
            }
        )
    return yaml.safe_dump_all(docs + services, sort_keys=False)


def query_names(zone: ClusterZone, cluster: Cluster) -> list[tuple[str, str]]:
    """Every name with records, plus what search lists add: for each Service, the miss a pod in
    another namespace sends first (`svc.ns.<its ns>.svc.<zone>`, NXDOMAIN) and the AAAA that
    getaddrinfo asks beside the A (NODATA in an IPv4 cluster)."""
    names = [(n, t.name) for n, t in zone.names()]
    z = zone.origin.to_text()
    for svc in cluster.services:
        other = "default" if svc.namespace != "default" else "kube-system"
        names.append((f"{svc.name}.{svc.namespace}.{other}.svc.{z}", "A"))
        names.append((f"{svc.name}.{svc.namespace}.svc.{z}", "AAAA"))
    return names


def zone_files(zone: ClusterZone, names: list[tuple[str, str]], directory: Path) -> list[str]:
    """Zone files holding what podnet answers for `names`; returns the zone names."""
    records: dict[str, dict[str, None]] = {}
    for z in zone.zones:
        soa = zone.soa(z)
        lines = records.setdefault(z.to_text(), {})
        lines[soa.to_text()] = None
        lines[f"{z} {zone.ttl} IN NS ns.dns.{zone.origin}"] = None
    for name, rdtype in names:
        a = zone.answer(name, rdtype)
        for rrset in (*a.answer, *a.additional):
            z = zone.zone_of(rrset.name)
            if z is not None:
                for line in rrset.to_text().splitlines():
                    records[z.to_text()][line] = None
    ns = zone.answer(f"ns.dns.{zone.origin}", "A")
    for line in (line for rrset in ns.answer for line in rrset.to_text().splitlines()):
        records[zone.origin.to_text()][line] = None
    used = []
    for z, lines in records.items():
        if len(lines) <= 2 and z != zone.origin.to_text():
            continue  # no records of its own (ip6.arpa in an IPv4 cluster)
        (directory / f"{z}zone").write_text("".join(line + "\n" for line in lines))
        used.append(z)
    return used


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", port))
        return port


def wait_ready(port: int, qname: str, proc: subprocess.Popen) -> None:
    q = dns.message.make_query(qname, "A")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(Exception):
            dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
            return
        time.sleep(0.1)
    raise RuntimeError("server did not answer within 30 s")


@contextlib.contextmanager
def podnet_server(manifest: Path, workers: int) -> Iterator[int]:
    port = free_port()
    cmd = [str(PODNET), "dns", "serve", str(manifest), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen([*cmd, "--workers", str(workers)], stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, "kube-dns.kube-system.svc.cluster.local.", proc)
        yield port
    finally:
        _stop(proc)


@contextlib.contextmanager
def knot_server(directory: Path, zones: list[str], workers: int) -> Iterator[int]:
    port = free_port()
    conf = directory / "knot.conf"
    (directory / "db").mkdir(exist_ok=True)
    conf.write_text(
        "server:\n"
        f'    rundir: "{directory}"\n'
        f"    listen: 127.0.0.1@{port}\n"
        f"    udp-workers: {workers}\n"
        "    tcp-workers: 1\n"
        "    background-workers: 1\n"
        "database:\n"
        f'    storage: "{directory}/db"\n'
        "log:\n"
        "  - target: stderr\n"
        "    any: warning\n"
        "template:\n"
        "  - id: default\n"
        f'    storage: "{directory}"\n'
        "    semantic-checks: off\n"
        "    journal-content: none\n"
        "zone:\n" + "".join(f"  - domain: {z}\n    file: {z}zone\n" for z in zones)
    )
    proc = subprocess.Popen([knotd(), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, "kube-dns.kube-system.svc.cluster.local.", proc)
        yield port
    finally:
        _stop(proc)


def knotd() -> str:
    return shutil.which("knotd") or "/usr/sbin/knotd"


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def dnsperf(port: int, data: Path, seconds: float, clients: int, once: bool = False) -> dict:
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(data), "-c", str(clients)]
    cmd += ["-n", "1"] if once else ["-l", str(seconds)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    return parse_dnsperf(out)


def parse_dnsperf(text: str) -> dict:
    def number(label: str) -> float:
        m = re.search(rf"{label}:\s+([\d.]+)", text)
        return float(m.group(1)) if m else float("nan")

    latency = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", text)
    codes = dict(re.findall(r"([A-Z]+) (\d+) \(", text.split("Response codes:")[-1].split("\n")[0]))
    return {
        "sent": int(number("Queries sent")),
        "completed": int(number("Queries completed")),
        "lost": int(number("Queries lost")),
        "codes": {k: int(v) for k, v in codes.items()},
        "qps": number("Queries per second"),
        "latency_avg_ms": float(latency.group(1)) * 1000 if latency else float("nan"),
        "latency_max_ms": float(latency.group(3)) * 1000 if latency else float("nan"),
        "stddev_ms": number(r"Latency StdDev \(s\)") * 1000,
        "response_size": number("response"),
    }


def compare(port_a: int, port_b: int, names: list[tuple[str, str]]) -> int:
    """Names whose answer sections differ between the two servers."""
    differ = 0
    for name, rdtype in names:
        answers = []
        for port in (port_a, port_b):
            q = dns.message.make_query(name, rdtype)
            r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=10)
            answers.append(
                (
                    r.rcode(),
                    sorted(line for rrset in r.answer for line in rrset.to_text().split("\n")),
                )
            )
        differ += answers[0] != answers[1]
    return differ


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    knot = subprocess.run([knotd(), "--version"], capture_output=True, text=True).stdout.strip()
    perf = subprocess.run(["dnsperf", "-h"], capture_output=True, text=True)
    version = re.search(r"Version ([\d.]+)", perf.stdout + perf.stderr)
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()},"
        f" {knot.splitlines()[0] if knot else 'knotd'}, dnsperf {version.group(1) if version else '?'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="podnet workers, knot udp-workers")
    parser.add_argument("--clients", type=int, default=8, help="dnsperf -c (source ports)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per server")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    missing = [tool for tool in ("dnsperf", "knotd") if shutil.which(tool) is None]
    if missing and not (missing == ["knotd"] and os.path.exists("/usr/sbin/knotd")):
        sys.exit(f"missing {', '.join(missing)}: apt-get install dnsperf knot")
    with tempfile.TemporaryDirectory(prefix="podnet-dns-bench-") as tmp:
        directory = Path(tmp)
        text = cluster_yaml(args.pods, args.seed)
        manifest = directory / "cluster.yaml"
        manifest.write_text(text)
        cluster = cluster_from_text(text, str(manifest))
        zone = ClusterZone(cluster)
        names = query_names(zone, cluster)
        data = directory / "queries.txt"
        data.write_text("".join(f"{n} {t}\n" for n, t in names))
        zones = zone_files(zone, names, directory)
        runs: dict[str, list[dict]] = {"podnet": [], "knot": []}
        with (
            podnet_server(manifest, args.workers) as podnet_port,
            knot_server(directory, zones, args.workers) as knot_port,
        ):
            differ = compare(podnet_port, knot_port, [n for n in names if n[1] != "SRV"][:300])
            ports = {"podnet": podnet_port, "knot": knot_port}
            for port in ports.values():
                dnsperf(port, data, args.seconds, args.clients, once=True)
            # Alternate the servers, so that a busy moment of the machine hits both alike.
            for _ in range(args.rounds):
                for server, port in ports.items():
                    runs[server].append(dnsperf(port, data, args.seconds, args.clients))
    report(args, runs, len(names), len(cluster.services), differ)


def report(
    args: argparse.Namespace, runs: dict[str, list[dict]], names: int, services: int, differ: int
) -> None:
    print(
        f"{args.pods} pods, {services} Services, {names} query names; {args.rounds} rounds of"
        f" {args.seconds:g} s per server, alternating; dnsperf -c {args.clients};"
        f" {args.workers} workers each"
    )
    print(f"machine: {machine()}")
    print(f"answer sections that differ between the two servers (first 300 names): {differ}")
    header = [
        "server",
        "queries/s (median)",
        "queries/s (best)",
        "completed",
        "lost",
        "errors",
        "NXDOMAIN",
        "avg latency ms",
        "max latency ms",
    ]
    rows = []
    medians = {}
    for server, results in runs.items():
        qps = sorted(r["qps"] for r in results)
        medians[server] = statistics.median(qps)
        errors = sum(
            n
            for r in results
            for code, n in r["codes"].items()
            if code not in ("NOERROR", "NXDOMAIN")
        )
        rows.append(
            [
                server,
                f"{medians[server]:,.0f}",
                f"{qps[-1]:,.0f}",
                f"{sum(r['completed'] for r in results):,}",
                f"{sum(r['lost'] for r in results):,}",
                f"{errors:,}",
                f"{sum(r['codes'].get('NXDOMAIN', 0) for r in results):,}",
                f"{statistics.median(r['latency_avg_ms'] for r in results):.2f}",
                f"{max(r['latency_max_ms'] for r in results):.1f}",
            ]
        )
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
        for row in rows:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print(f"knot / podnet (medians): {medians['knot'] / medians['podnet']:.2f}x")
    for server, results in runs.items():
        print(f"{server} rounds: " + ", ".join(f"{r['qps']:,.0f}" for r in results))


if __name__ == "__main__":
    main()
