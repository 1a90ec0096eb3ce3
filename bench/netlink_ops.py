"""podnet's netlink client beside pyroute2: import time, and bulk routes and neighbours (root).

    sudo .venv/bin/python bench/netlink_ops.py                    # 1,000 of each, 5 runs
    sudo .venv/bin/python bench/netlink_ops.py --count 5000 --repeat 3 --markdown

Import: a fresh interpreter per run (`python -c 'import ...'`), the import alone timed inside it.
Bulk: per run and per stack, a fresh namespace `pn-bench-<pid>-<n>` with a veth pair up and an
address on it, then COUNT routes (`ip route add 20.x.y.0/24 via 10.0.0.2 dev v0`) and COUNT
permanent neighbours (`ip neigh add 10.0.x.y lladdr ... dev v0 nud permanent`), each one request,
from a socket opened inside the namespace, as `linux.apply` does. Every namespace is deleted
when its run ends, failed or not.

pyroute2 is not a dependency of podnet: its rows appear only when it is installed.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from podnet.kernel import netlink, netns  # noqa: E402

PREFIX = f"pn-bench-{os.getpid()}"
GATEWAY = "10.0.0.2"


def import_seconds(module: str, repeat: int) -> list[float]:
    """The time `import module` takes in a fresh interpreter, `repeat` times."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..")}
    out = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        out.append(float(done.stdout))
    return out


def routes(count: int) -> list[ipaddress.IPv4Network]:
    base = int(ipaddress.ip_address("20.0.0.0"))
    return [ipaddress.ip_network((base + (i << 8), 24)) for i in range(count)]


def neighbours(count: int) -> list[tuple[str, str]]:
    base = int(ipaddress.ip_address("10.0.1.0"))
    return [
        (
            str(ipaddress.ip_address(base + i)),
            "02:00:" + ":".join(f"{b:02x}" for b in i.to_bytes(4)),
        )
        for i in range(count)
    ]


def _veth(name: str) -> int:
    """A veth pair up in namespace `name`, 10.0.0.1/16 on `v0`; the index of `v0`."""
    with netns.inside(name), netlink.Rtnl() as rtnl:
        rtnl.veth_add("v0", "v1")
        v0, v1 = rtnl.index("v0"), rtnl.index("v1")
        rtnl.addr_add(v0, ipaddress.ip_interface("10.0.0.1/16"))
        rtnl.link_set(v1, up=True)
        rtnl.link_set(v0, up=True)
        return v0


def bulk_podnet(name: str, count: int) -> tuple[float, float]:
    index = _veth(name)
    with netns.inside(name):
        rtnl = netlink.Rtnl()
    try:
        start = time.perf_counter()
        for dst in routes(count):
            rtnl.route_add(dst, gw=GATEWAY, oif=index, protocol=netlink.RTPROT_STATIC)
        middle = time.perf_counter()
        for ip, mac in neighbours(count):
            rtnl.neigh_add(index, ip, mac)
        end = time.perf_counter()
    finally:
        rtnl.close()
    return middle - start, end - middle


def bulk_pyroute2(name: str, count: int) -> tuple[float, float]:
    from pyroute2 import IPRoute

    index = _veth(name)
    with netns.inside(name):
        ipr = IPRoute()
    try:
        start = time.perf_counter()
        for dst in routes(count):
            ipr.route("add", dst=str(dst), gateway=GATEWAY, oif=index)
        middle = time.perf_counter()
        for ip, mac in neighbours(count):
            ipr.neigh("add", dst=ip, lladdr=mac, ifindex=index, state=netlink.NUD_PERMANENT)
        end = time.perf_counter()
    finally:
        ipr.close()
    return middle - start, end - middle


def in_fresh_netns(run: int, fn: Callable[[str, int], tuple[float, float]], count: int):  # type: ignore[no-untyped-def]
    name = f"{PREFIX}-{run}"
    netns.create(name)
    try:
        return fn(name, count)
    finally:
        netns.delete(name)


def has_pyroute2() -> bool:
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="routes and neighbours per run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("netlink_ops.py needs root (it creates network namespaces)")
    netns.prepare(f"{PREFIX}-prepare")
    stacks: list[tuple[str, str, Callable]] = [
        ("podnet.kernel.netlink", "podnet.kernel.netlink", bulk_podnet)
    ]
    if has_pyroute2():
        stacks.append(("pyroute2", "pyroute2", bulk_pyroute2))
    rows = []
    run = 0
    for label, module, bulk in stacks:
        imports = import_seconds(module, args.repeat)
        route_s, neigh_s = [], []
        for _ in range(args.repeat):
            run += 1
            r, n = in_fresh_netns(run, bulk, args.count)
            route_s.append(r)
            neigh_s.append(n)
        rows.append(
            (
                label,
                statistics.median(imports) * 1000,
                statistics.median(route_s) * 1000,
                statistics.median(neigh_s) * 1000,
            )
        )
    left = [n for n in netns.listed() if n.startswith(PREFIX)]
    if args.markdown:
        print(f"| stack | import (ms) | {args.count} routes (ms) | {args.count} neighbours (ms) |")
        print("|---|---:|---:|---:|")
        for label, imp, r, n in rows:
            print(f"| {label} | {imp:.1f} | {r:.1f} | {n:.1f} |")
    else:
        for label, imp, r, n in rows:
            print(
                f"{label:24} import {imp:7.1f} ms   {args.count} routes {r:8.1f} ms"
                f"   {args.count} neighbours {n:8.1f} ms"
            )
    if not has_pyroute2():
        print("(pyroute2 is not installed: only podnet's client was measured)")
    if left:
        sys.exit(f"namespaces left behind: {left}")


if __name__ == "__main__":
    main()
