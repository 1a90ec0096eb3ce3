"""The cluster's address plan: capacity, head-room, conflicts and sizing advice.

`check(plan, ...)` is pure: it takes plain values (an `AddressPlan`: networks and counts, and the
networks around the cluster) and returns a `Report`. It never imports the model:
`model.address_plan.plan_from_cluster` reads those values from a resolved `Cluster`;
`parse_ip_route_json` and `parse_proc_net_route` read the host's routing
table from text, and `read_host_routes` is the one function here that looks at the host.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path

from podnet.errors import InvalidValue, PodnetError
from podnet.family import FAMILIES, Family, family
from podnet.ipam import subnet as sn

# kubelet's default --max-pods.
DEFAULT_MAX_PODS = 110
# A range whose use reaches this share of its capacity is tight.
TIGHT = 0.8
# kube-apiserver's bitmap allocator refuses a service range of more than 2^20 addresses
# (/12 for IPv4, /108 for IPv6).
MAX_SERVICE_BITS = 20
# Where a replacement range is looked for: the private ranges, most common first.
POOLS = {
    4: tuple(ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    6: (ip_network("fd00::/8"),),
}


@dataclass(frozen=True, slots=True)
class Named:
    """A network and what it is, for messages: "pod subnet", "existing vpc", "host route"."""

    name: str
    network: sn.Network

    def __str__(self) -> str:
        return f"{self.name} {self.network}"


@dataclass(frozen=True, slots=True)
class NodePorts:
    """NodePort use: ports the Services need, and the explicit ones that cannot be had."""

    needed: int = 0
    outside: tuple[str, ...] = ()  # "ns/name:port", explicit and outside the range
    duplicates: tuple[str, ...] = ()  # "port: ns/a, ns/b"


@dataclass(frozen=True, slots=True)
class AddressPlan:
    """The plain values the address plan is checked on."""

    name: str
    pod_subnets: tuple[sn.Network, ...]
    node_masks: Mapping[int, int]  # IP version -> node CIDR mask
    service_subnets: tuple[sn.Network, ...]
    node_subnet: sn.Network
    node_port_range: tuple[int, int]
    pods_by_node: Mapping[str, int]  # every node, with the pods it holds on the pod network
    services_by_family: Mapping[int, int] = field(default_factory=dict)  # ClusterIPs in use
    node_ports: NodePorts = NodePorts()
    load_balancer_pool: tuple[sn.Network, ...] = ()
    load_balancers: int = 0
    cluster_ips_outside: tuple[str, ...] = ()  # "ns/name: ip", explicit and outside the range

    @property
    def nodes(self) -> int:
        return len(self.pods_by_node)

    @property
    def pods(self) -> int:
        return sum(self.pods_by_node.values())

    def ranges(self) -> list[Named]:
        out = [Named("pod subnet", n) for n in self.pod_subnets]
        out += [Named("service subnet", n) for n in self.service_subnets]
        out.append(Named("node subnet", self.node_subnet))
        out += [Named("load balancer pool", n) for n in self.load_balancer_pool]
        return out


@dataclass(frozen=True, slots=True)
class Growth:
    """The size the plan must reach: nodes, and pods on each node."""

    nodes: int
    pods_per_node: int


@dataclass(frozen=True, slots=True)
class Usage:
    """One capacity: how much a range holds and how much of it is used."""

    what: str
    network: str
    capacity: int
    used: int

    @property
    def free(self) -> int:
        return self.capacity - self.used

    @property
    def share(self) -> float:
        return self.used / self.capacity if self.capacity else 1.0

    @property
    def state(self) -> str:
        if self.used > self.capacity:
            return "full"
        return "tight" if self.share >= TIGHT else "ok"


@dataclass(frozen=True, slots=True)
class Conflict:
    first: Named
    second: Named

    def __str__(self) -> str:
        a, b = self.first.network, self.second.network
        if a == b:
            how = "is the same network as"
        elif a.subnet_of(b):  # type: ignore[arg-type]
            how = "lies inside"
        elif b.subnet_of(a):  # type: ignore[arg-type]
            how = "contains"
        else:  # CIDR blocks overlap only by nesting
            how = "overlaps"
        return f"{self.first} {how} {self.second}"


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    usages: tuple[Usage, ...]
    conflicts: tuple[Conflict, ...]
    problems: tuple[str, ...]  # what breaks the plan besides overlaps
    notes: tuple[str, ...]  # worth knowing, not broken
    advice: tuple[str, ...]
    growth: Growth | None = None
    growth_fits: bool = True

    @property
    def status(self) -> str:
        if self.conflicts or self.problems or any(u.state == "full" for u in self.usages):
            return "broken"
        if any(u.state == "tight" for u in self.usages) or not self.growth_fits:
            return "tight"
        return "ok"


# ---------------------------------------------------------------------------------------------
# Capacity


def pods_per_node_cidr(fam: Family, mask: int) -> int:
    """Pod IPs a node range of length `mask` gives: its usable hosts less the bridge gateway
    (the first usable address), as podnet's host-local IPAM allocates them; a point-to-point
    range (/31, /32, /127, /128) has no room for pods beside the gateway."""
    if fam.is_point_to_point(mask):
        return 0
    return sn.hosts_in_prefix(fam, mask) - 1


def node_ranges(pod_subnet: sn.Network, mask: int) -> int:
    return 2 ** (mask - pod_subnet.prefixlen) if mask >= pod_subnet.prefixlen else 0


def service_capacity(net: sn.Network) -> int:
    return sn.usable_hosts(net)


def _usages(plan: AddressPlan, max_pods: int) -> list[Usage]:
    out = []
    busiest = max(plan.pods_by_node.values(), default=0)
    for pod_subnet in plan.pod_subnets:
        fam = family(pod_subnet)
        mask = plan.node_masks[pod_subnet.version]
        per_node = min(pods_per_node_cidr(fam, mask), max_pods)
        v = f"{fam.name} " if len(plan.pod_subnets) > 1 else ""
        out.append(
            Usage(
                f"{v}nodes (node ranges of /{mask})",
                str(pod_subnet),
                node_ranges(pod_subnet, mask),
                plan.nodes,
            )
        )
        out.append(Usage(f"{v}pods on the busiest node", f"/{mask}", per_node, busiest))
        out.append(
            Usage(
                f"{v}pods on the nodes there are", str(pod_subnet), per_node * plan.nodes, plan.pods
            )
        )
        out.append(
            Usage(
                f"{v}pods at full size",
                str(pod_subnet),
                per_node * node_ranges(pod_subnet, mask),
                plan.pods,
            )
        )
    for net in plan.service_subnets:
        v = f"{family(net).name} " if len(plan.service_subnets) > 1 else ""
        out.append(
            Usage(
                f"{v}Services (ClusterIPs)",
                str(net),
                service_capacity(net),
                plan.services_by_family.get(net.version, 0),
            )
        )
    low, high = plan.node_port_range
    out.append(Usage("NodePorts", f"{low}-{high}", high - low + 1, plan.node_ports.needed))
    # Nodes take underlay addresses from .2: the first usable one is the network's gateway.
    out.append(
        Usage(
            "node IPs",
            str(plan.node_subnet),
            max(sn.usable_hosts(plan.node_subnet) - 1, 0),
            plan.nodes,
        )
    )
    if plan.load_balancer_pool:
        pool = sum(n.num_addresses for n in plan.load_balancer_pool)
        out.append(
            Usage(
                "LoadBalancer IPs",
                ", ".join(map(str, plan.load_balancer_pool)),
                pool,
                plan.load_balancers,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Conflicts


def _expected(inner: Named, outer: Named) -> bool:
    """Nesting that is how a cluster is built, not a conflict: the nodes (and the load balancer
    addresses) live in a network around them, a VPC subnet or the host's bridge, and a load
    balancer pool is commonly carved from the node subnet (MetalLB on kind)."""
    if not inner.network.subnet_of(outer.network):  # type: ignore[arg-type]
        return False
    if outer.name == "node subnet":
        return inner.name == "load balancer pool"
    return inner.name in ("node subnet", "load balancer pool") and outer.name not in (
        "pod subnet",
        "service subnet",
    )


def _overlap(a: Named, b: Named) -> bool:
    return a.network.version == b.network.version and a.network.overlaps(b.network)  # type: ignore[arg-type]


def conflicts(ranges: Sequence[Named], around: Sequence[Named]) -> list[Conflict]:
    """Overlaps among the cluster's own ranges, and between them and the networks around it."""
    out = []
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            if _overlap(a, b) and not _expected(a, b) and not _expected(b, a):
                out.append(Conflict(a, b))
    for a in ranges:
        for b in around:
            if _overlap(a, b) and not _expected(a, b):
                out.append(Conflict(a, b))
    return out


# ---------------------------------------------------------------------------------------------
# Advice


def smallest_node_mask(fam: Family, pods_per_node: int) -> int:
    """The longest node mask whose range holds `pods_per_node` pods."""
    for mask in range(fam.bits, -1, -1):
        if pods_per_node_cidr(fam, mask) >= pods_per_node:
            return mask
    raise InvalidValue("podsPerNode", pods_per_node, f"more than {fam.name} holds")


def pod_prefix_for(nodes: int, node_mask: int) -> int:
    """The longest pod subnet prefix holding `nodes` node ranges of `node_mask`."""
    # (nodes - 1).bit_length() is ceil(log2(nodes)), exact for any count (no float rounding).
    return node_mask - (nodes - 1).bit_length() if nodes > 0 else node_mask


def choose_free(
    prefixlen: int, version: int, avoid: Iterable[sn.Network], prefer: sn.Network | None = None
) -> sn.Network | None:
    """A free network of /prefixlen: `prefer` widened or narrowed in place when that is free,
    else the first fit in the private pools, avoiding every network of `avoid`."""
    avoid = [n for n in avoid if n.version == version]
    if prefer is not None and prefer.version == version and prefixlen <= FAMILIES[version].bits:
        if prefixlen <= prefer.prefixlen:
            candidate = prefer.supernet(new_prefix=prefixlen)
        else:
            candidate = next(prefer.subnets(new_prefix=prefixlen))
        if not any(candidate.overlaps(n) for n in avoid):  # type: ignore[arg-type]
            return candidate
    for pool in POOLS[version]:
        if prefixlen < pool.prefixlen:
            continue
        fit = sn.first_fit(sn.free(pool, avoid), prefixlen)
        if fit is not None:
            return fit
    return None


@dataclass(frozen=True, slots=True)
class Advice:
    lines: tuple[str, ...]
    growth_fits: bool  # the current plan already holds the growth


def _sizing(fam: Family, current_mask: int, growth: Growth) -> tuple[int, int]:
    """The node mask and pod subnet prefix length the growth needs."""
    mask = smallest_node_mask(fam, growth.pods_per_node)
    if not fam.scarce and pods_per_node_cidr(fam, current_mask) >= growth.pods_per_node:
        mask = current_mask  # keep the configured mask (/64) where addresses are plenty
    prefix = pod_prefix_for(growth.nodes, mask)
    if fam.max_node_mask_bits is not None:
        prefix = max(prefix, mask - fam.max_node_mask_bits)
    return mask, prefix


def _advice(
    plan: AddressPlan, growth: Growth, around: Sequence[Named], found: Sequence[Conflict]
) -> Advice:
    out: list[str] = []
    fits = True
    # Suggestions avoid the networks around, the cluster's other ranges and each other.
    claimed = [n.network for n in around]

    def suggest(net: sn.Network, prefixlen: int, prefer: sn.Network | None) -> sn.Network | None:
        others = [r.network for r in plan.ranges() if r.network != net]
        choice = choose_free(prefixlen, net.version, [*claimed, *others], prefer=prefer)
        if choice is not None:
            claimed.append(choice)
        return choice

    for pod_subnet in plan.pod_subnets:
        fam = family(pod_subnet)
        current_mask = plan.node_masks[pod_subnet.version]
        current_pods = pods_per_node_cidr(fam, current_mask)
        current_nodes = node_ranges(pod_subnet, current_mask)
        mask, prefix = _sizing(fam, current_mask, growth)
        if prefix < 0:
            fits = False
            out.append(
                f"{growth.nodes} nodes of {growth.pods_per_node} pods are more than "
                f"{fam.name} can address"
            )
            continue
        if not fam.scarce and mask == current_mask:
            out.append(f"node mask: the configured /{mask} holds {growth.pods_per_node} pods")
        else:
            out.append(
                f"node mask: /{mask} is the smallest range holding {growth.pods_per_node} pods "
                f"({pods_per_node_cidr(fam, mask)} pod IPs); the current /{current_mask} holds "
                f"{current_pods}"
            )
        grows = current_nodes >= growth.nodes and current_pods >= growth.pods_per_node
        if not grows:
            fits = False
            out.append(
                f"growth: {pod_subnet} at /{current_mask} holds {current_nodes} nodes of "
                f"{current_pods} pods; {growth.nodes} nodes of {growth.pods_per_node} pods "
                f"need a /{prefix} at /{mask}"
            )
        if grows and not any(c.first.network == pod_subnet for c in found):
            continue
        choice = suggest(pod_subnet, prefix, prefer=pod_subnet)
        if choice is None:
            out.append(f"pod subnet: no free /{prefix} in the private ranges")
        else:
            out.append(
                f"pod subnet: {choice} with node mask /{mask} holds "
                f"{node_ranges(choice, mask)} nodes of {pods_per_node_cidr(fam, mask)} "
                "pods and is free"
            )
    for conflict in found:
        r = conflict.first
        if r.name == "pod subnet" or any(line.startswith(f"{r.name}: ") for line in out):
            continue
        choice = suggest(r.network, r.network.prefixlen, prefer=None)
        if choice is None:
            out.append(f"{r.name}: no free /{r.network.prefixlen} in the private ranges")
        else:
            out.append(f"{r.name}: {choice} is free and the same size as {r.network}")
    return Advice(lines=tuple(out), growth_fits=fits)


# ---------------------------------------------------------------------------------------------
# The check


def check(
    plan: AddressPlan,
    around: Sequence[Named] = (),
    max_pods: int = DEFAULT_MAX_PODS,
    growth: Growth | None = None,
) -> Report:
    """Capacity, conflicts and advice for `plan` among the networks `around` it."""
    if max_pods < 1:
        raise InvalidValue("maxPods", max_pods, "expected 1 or more")
    if growth is not None and (growth.nodes < 1 or growth.pods_per_node < 1):
        raise InvalidValue(
            "growth",
            f"{growth.nodes} nodes of {growth.pods_per_node} pods",
            "expected 1 or more of each",
        )
    usages = _usages(plan, max_pods)
    found = conflicts(plan.ranges(), around)
    problems = [
        f"NodePort {p} is outside the range {plan.node_port_range[0]}-{plan.node_port_range[1]}"
        for p in plan.node_ports.outside
    ]
    problems += [f"NodePort {d}" for d in plan.node_ports.duplicates]
    problems += [f"ClusterIP {c}" for c in plan.cluster_ips_outside]
    notes = []
    for pod_subnet in plan.pod_subnets:
        mask = plan.node_masks[pod_subnet.version]
        ips = pods_per_node_cidr(family(pod_subnet), mask)
        if ips < max_pods:
            notes.append(
                f"a /{mask} node range holds {ips} pods, fewer than maxPods {max_pods}: "
                f"nodes run out of pod IPs before kubelet stops scheduling (set maxPods to "
                f"{ips} or use a node mask of /{smallest_node_mask(family(pod_subnet), max_pods)})"
            )
        limit = family(pod_subnet).max_node_mask_bits
        if limit is not None and mask - pod_subnet.prefixlen > limit:
            problems.append(
                f"node mask /{mask} is more than {limit} bits longer than the pod subnet {pod_subnet}"
            )
    for net in plan.service_subnets:
        fam = family(net)
        if fam.bits - net.prefixlen > MAX_SERVICE_BITS:
            problems.append(
                f"service subnet {net} is larger than kube-apiserver allows (at most /"
                f"{fam.bits - MAX_SERVICE_BITS} for {fam.name})"
            )
    for r in plan.ranges():
        name, _ = sn.scope(r.network)
        if name in ("global", "documentation", "mixed") and r.name != "load balancer pool":
            notes.append(
                f"{r} is not private address space: hosts out there with those "
                "addresses become unreachable from the cluster"
            )
    for u in usages:
        if u.state == "full":
            problems.append(f"{u.what}: {u.used} in use, {u.network} holds {u.capacity}")
    stated = growth is not None
    target = growth or Growth(nodes=max(plan.nodes, 1), pods_per_node=max_pods)
    broken_or_tight = found or problems or any(u.state != "ok" for u in usages)
    advice = _advice(plan, target, around, found)
    return Report(
        name=plan.name,
        usages=tuple(usages),
        conflicts=tuple(found),
        problems=tuple(problems),
        notes=tuple(notes),
        advice=advice.lines if stated or broken_or_tight else (),
        growth=growth,
        growth_fits=advice.growth_fits,
    )


# ---------------------------------------------------------------------------------------------
# The networks around the cluster


def parse_existing(tokens: Iterable[str]) -> list[Named]:
    """Networks already in use, as `CIDR` or `NAME=CIDR` (a VPC, an on-premises range, a VPN)."""
    out = []
    for token in tokens:
        name, eq, cidr = token.rpartition("=")
        label = f"existing {name}" if eq and name else "existing network"
        out.append(Named(label, sn.parse_network(cidr)))
    return out


# Routes that claim no address space a cluster could use; `local` routes are the host's own
# addresses, already inside the routes of their subnets (a kind host's bridge address lies in
# the node subnet, as it should).
_IGNORED_ROUTE_TYPES = {"local", "broadcast", "multicast", "anycast", "throw", "nat"}
_IGNORED_SCOPES = {"loopback", "link-local", "multicast"}


def _host_route(dst: str, dev: str, table: str, version: int) -> Named | None:
    if dst == "default":
        return None
    text = dst if "/" in dst else f"{dst}/{FAMILIES[version].bits}"
    try:
        net = ip_network(text, strict=False)
    except ValueError:
        return None
    if net.prefixlen == 0 or sn.scope(net)[0] in _IGNORED_SCOPES:
        return None
    where = [f"dev {dev}"] if dev else []
    where += [f"table {table}"] if table and table != "main" else []
    return Named(f"host route ({' '.join(where)})" if where else "host route", net)


def parse_ip_route_json(text: str, version: int) -> list[Named]:
    """Routes from `ip -j -4|-6 route show table all`."""
    try:
        routes = json.loads(text or "[]")
    except json.JSONDecodeError:
        why = "`ip -j route` printed no JSON"
        message = f"cannot read the host's routes: {why}"
        raise InvalidValue("routes", text, why, message=message) from None
    out = []
    for r in routes:
        if r.get("type", "unicast") in _IGNORED_ROUTE_TYPES:
            continue
        named = _host_route(
            str(r.get("dst", "")), str(r.get("dev", "")), str(r.get("table", "main")), version
        )
        if named is not None:
            out.append(named)
    return _unique(out)


def parse_proc_net_route(text: str) -> list[Named]:
    """IPv4 routes from /proc/net/route (addresses in hex, in the host's byte order)."""
    out = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        dev, dst, mask = cols[0], cols[1], cols[7]
        try:
            addr = IPv4Address(int.from_bytes(bytes.fromhex(dst), sys.byteorder))
            netmask = IPv4Address(int.from_bytes(bytes.fromhex(mask), sys.byteorder))
        except ValueError:
            continue
        named = _host_route(f"{addr}/{netmask}", dev, "main", 4)
        if named is not None:
            out.append(named)
    return _unique(out)


def parse_proc_ipv6_route(text: str) -> list[Named]:
    """IPv6 routes from /proc/net/ipv6_route."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 10:
            continue
        try:
            addr = IPv6Address(bytes.fromhex(cols[0]))
        except ValueError:
            continue
        named = _host_route(f"{addr}/{int(cols[1], 16)}", cols[9], "", 6)
        if named is not None:
            out.append(named)
    return _unique(out)


def _unique(routes: list[Named]) -> list[Named]:
    seen: dict[sn.Network, Named] = {}
    for r in routes:
        seen.setdefault(r.network, r)
    return list(seen.values())


class NoHostRoutes(PodnetError):
    """This host has no way to show its routing table (not Linux)."""


def read_host_routes() -> list[Named]:
    """The host's routes, every table: `ip -j route` when iproute2 is there, else /proc."""
    ip = shutil.which("ip")
    if ip is not None:
        out = []
        for version in (4, 6):
            result = subprocess.run(
                [ip, "-j", f"-{version}", "route", "show", "table", "all"],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0:
                out += parse_ip_route_json(result.stdout, version)
        return out
    proc4, proc6 = Path("/proc/net/route"), Path("/proc/net/ipv6_route")
    if not proc4.exists():
        raise NoHostRoutes("neither `ip` nor /proc/net/route is here")
    out = parse_proc_net_route(proc4.read_text())
    if proc6.exists():
        out += parse_proc_ipv6_route(proc6.read_text())
    return out
