"""Address allocation as the cluster's controllers do it. Pure and deterministic.

- node podCIDRs: carved from the cluster CIDR at the node mask, in node order, skipping CIDRs that
  nodes already hold (kube-controller-manager's range allocator);
- node IPs: from the underlay network, from .2, in node order (kind's docker network);
- pod IPs: from the node's podCIDR, the gateway (.1) first, then pods from .2 in a stable order
  (the host-local IPAM plugin).

The allocators work on addresses and the plain values they are given (`NodeAddresses`,
`PodAddresses`), never on model objects: the model calls down into this module, never the
reverse. What they cannot allocate comes back as `AllocationProblem`s, in the order found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from podnet.errors import PodnetError
from podnet.family import family
from podnet.ipam.addresses import IPAddress, IPNetwork


class AddressExhausted(PodnetError):
    """A range has no free address or block left."""


@dataclass(frozen=True, slots=True)
class AllocationProblem:
    """An address that cannot be had. `subject` is the index of the object in the sequence the
    allocator was given, or None when the range itself is at fault; `field` is the object's
    field path (or the setting's name for a range)."""

    subject: int | None
    field: str
    message: str


def free_blocks(
    parent: IPNetwork, prefixlen: int, used: Iterable[IPNetwork]
) -> Iterator[IPNetwork]:
    """Blocks of `parent` at `prefixlen`, in address order, overlapping none of `used`."""
    taken = [u for u in used if u.version == parent.version and u.overlaps(parent)]  # type: ignore[arg-type]
    for block in parent.subnets(new_prefix=prefixlen):
        if not any(block.overlaps(u) for u in taken):  # type: ignore[arg-type]
            yield block


def node_pod_cidrs(
    pod_subnet: IPNetwork, mask: int, nodes: list[tuple[str, IPNetwork | None]]
) -> dict[str, IPNetwork]:
    """A podCIDR of the family of `pod_subnet` for every node; given CIDRs are kept."""
    if mask < pod_subnet.prefixlen:
        raise PodnetError(
            f"node CIDR mask /{mask} is larger than the pod subnet {pod_subnet}: it cannot be carved"
        )
    given = {name: cidr for name, cidr in nodes if cidr is not None}
    blocks = free_blocks(pod_subnet, mask, given.values())
    out: dict[str, IPNetwork] = {}
    for name, cidr in nodes:
        if cidr is not None:
            out[name] = cidr
            continue
        block = next(blocks, None)
        if block is None:
            raise AddressExhausted(
                f"pod subnet {pod_subnet} holds {2 ** (mask - pod_subnet.prefixlen)} node CIDRs"
                f" of /{mask}; node {name} gets none (use a larger podSubnet or nodeCIDRMaskSize)"
            )
        out[name] = block
    return out


def host_addresses(network: IPNetwork, start: int, used: set[IPAddress]) -> Iterator[IPAddress]:
    """Addresses of `network` from offset `start`, skipping `used` and the IPv4 broadcast."""
    fam = family(network)
    has_broadcast = fam.has_broadcast(network.prefixlen)
    last = network.num_addresses - (2 if has_broadcast else 1)
    base = int(network.network_address)
    for offset in range(start, last + 1):
        addr = network.network_address.__class__(base + offset)
        if addr not in used:
            yield addr


def outside_address(node_subnet: IPNetwork) -> IPAddress:
    """Where podnet puts the client outside the cluster: the one-before-last address of the node
    network (below the IPv4 broadcast; the same place in IPv6). See `model.topology`."""
    return node_subnet[-2]


def node_network_gateway(node_subnet: IPNetwork) -> IPAddress:
    """The node network's gateway: its first address (the Docker network's, on kind)."""
    return node_subnet[1]


def gateway(pod_cidr: IPNetwork) -> IPAddress:
    """The bridge's address on a node: the first address of its podCIDR."""
    return pod_cidr.network_address + 1


# nodes --------------------------------------------------------------------------------------------


def primaries_first(ips: Iterable[IPAddress]) -> tuple[IPAddress, ...]:
    """A node's addresses, each once, with the primary of each family first: the first address
    is the primary, then the first of the other family (the kubelet's GetNodeHostIPs), then the
    rest in the order given."""
    unique = list(dict.fromkeys(ips))
    if not unique:
        return ()
    other = next((ip for ip in unique if ip.version != unique[0].version), None)
    head = [unique[0]] if other is None else [unique[0], other]
    return (*head, *(ip for ip in unique if ip not in head))


def primary_ips(ips: Sequence[IPAddress]) -> tuple[IPAddress, ...]:
    """The primary address of each family of addresses in `primaries_first` order: what a
    host-network pod gets as status.podIPs."""
    out: list[IPAddress] = []
    for ip in ips:
        if all(ip.version != o.version for o in out):
            out.append(ip)
    return tuple(out)


class NodeAddresses(NamedTuple):
    """A node's addresses: as given (possibly none), then as allocated."""

    name: str
    ips: tuple[IPAddress, ...] = ()  # every address, primaries first (`primaries_first`)
    pod_cidrs: tuple[IPNetwork, ...] = ()  # spec.podCIDRs


def address_nodes(
    nodes: Sequence[NodeAddresses],
    node_subnet: IPNetwork,
    pod_subnets: Sequence[IPNetwork],
    node_mask: Callable[[int], int],
) -> tuple[list[NodeAddresses], list[AllocationProblem]]:
    """Node IPs from the underlay, podCIDRs from the pod subnets (one per family), keeping the
    addresses given; `node_mask(version)` is the node CIDR mask of a family."""
    problems: list[AllocationProblem] = []
    out = _node_ips(nodes, node_subnet, problems)
    cidrs: dict[str, list[IPNetwork]] = {n.name: [] for n in out}
    for subnet in pod_subnets:
        for name, cidr in _node_pod_cidrs(out, subnet, node_mask(subnet.version), problems):
            cidrs[name].append(cidr)
    return [NodeAddresses(n.name, n.ips, tuple(cidrs[n.name])) for n in out], problems


def _node_ips(
    nodes: Sequence[NodeAddresses], node_subnet: IPNetwork, problems: list[AllocationProblem]
) -> list[NodeAddresses]:
    """An address of the underlay's family for every node that has none."""
    out = list(nodes)
    used: dict[IPAddress, str] = {}
    for i, n in enumerate(nodes):
        for ip in n.ips:
            if ip in used:
                problems.append(
                    AllocationProblem(
                        i, "status.addresses", f"{ip} is also the IP of node {used[ip]}"
                    )
                )
            used.setdefault(ip, n.name)
    free = host_addresses(node_subnet, 2, set(used))
    for i, n in enumerate(out):
        if not any(ip.version == node_subnet.version for ip in n.ips):
            ip = next(free, None)
            if ip is None:
                problems.append(AllocationProblem(i, "status.addresses", "the node subnet is full"))
                continue
            out[i] = NodeAddresses(n.name, (ip, *n.ips), n.pod_cidrs)
    return out


def _node_pod_cidrs(
    nodes: Sequence[NodeAddresses],
    subnet: IPNetwork,
    mask: int,
    problems: list[AllocationProblem],
) -> Iterable[tuple[str, IPNetwork]]:
    """The podCIDR of `subnet`'s family of every node: the given ones checked, the others
    carved; none at all when the subnet cannot hold them."""
    given: list[tuple[str, IPNetwork | None]] = []
    for i, n in enumerate(nodes):
        mine = [c for c in n.pod_cidrs if c.version == subnet.version]
        other = next((o for o, c in given if c and mine and c.overlaps(mine[0])), None)  # type: ignore[arg-type]
        if other is not None:
            problems.append(
                AllocationProblem(
                    i, "spec.podCIDRs", f"{mine[0]} overlaps the podCIDR of node {other}"
                )
            )
        if mine and not mine[0].subnet_of(subnet):  # type: ignore[arg-type]
            problems.append(
                AllocationProblem(
                    i,
                    "spec.podCIDRs",
                    f"{mine[0]} is outside the cluster's pod subnet {subnet}"
                    " (set spec.podSubnet in a ClusterNetwork document)",
                )
            )
        given.append((n.name, mine[0] if mine else None))
    try:
        return node_pod_cidrs(subnet, mask, given).items()
    except PodnetError as err:  # AddressExhausted, or a mask the subnet cannot hold
        problems.append(AllocationProblem(None, "podSubnet", str(err)))
        return ()


# pods ---------------------------------------------------------------------------------------------


class PodAddresses(NamedTuple):
    """A pod's addresses: as given (a dump of a live cluster) or none, then as allocated.

    A NamedTuple rather than a dataclass: one is made per pod on every resolution, and a tuple
    is made several times faster."""

    key: str  # namespace/name
    node_name: str  # the node it is scheduled on, or ""
    ips: tuple[IPAddress, ...] = ()  # status.podIPs
    host_network: bool = False
    finished: bool = False  # phase Succeeded or Failed: no longer on the pod network

    def with_ips(self, ips: tuple[IPAddress, ...], node_name: str | None = None) -> PodAddresses:
        node = self.node_name if node_name is None else node_name
        return PodAddresses(self.key, node, ips, self.host_network, self.finished)


def address_pods(
    pods: Sequence[PodAddresses], nodes: Sequence[NodeAddresses]
) -> tuple[list[PodAddresses], list[AllocationProblem], dict[int, str]]:
    """Pod IPs from their node's podCIDRs, in the order given, after the addresses pods already
    hold; host-network pods share their node's primary IPs. A pod on no known node gets no address.

    Also returns, by index, the pods left without an address because a podCIDR of their node
    is full: the CNI plugin fails their sandbox, so they stay pending on that node."""
    problems: list[AllocationProblem] = []
    by_node = {n.name: n for n in nodes}
    used = _given_pod_ips(pods, by_node, problems)
    free = {c: host_addresses(c, 2, used[c]) for c in used}
    unaddressed: dict[int, str] = {}
    out = []
    for i, p in enumerate(pods):
        node = by_node.get(p.node_name)
        if node is None or p.finished:
            out.append(p.with_ips((), p.node_name if node else ""))
        elif p.host_network:
            out.append(p.with_ips(primary_ips(node.ips)))
        elif p.ips:
            out.append(p)
        else:
            ips = []
            for cidr in node.pod_cidrs:
                ip = next(free[cidr], None)
                if ip is None:  # one family failing fails the sandbox: no address at all
                    unaddressed[i] = (
                        f"node {node.name}'s podCIDR {cidr} is full: the CNI plugin finds no"
                        " free address for the pod"
                    )
                    ips = []
                    break
                ips.append(ip)
            out.append(p.with_ips(tuple(ips)))
    return out, problems, unaddressed


def _given_pod_ips(
    pods: Sequence[PodAddresses],
    by_node: dict[str, NodeAddresses],
    problems: list[AllocationProblem],
) -> dict[IPNetwork, set[IPAddress]]:
    """The addresses pods already hold (a dump of a live cluster), by podCIDR, checked."""
    used: dict[IPNetwork, set[IPAddress]] = {
        c: set() for n in by_node.values() for c in n.pod_cidrs
    }
    owner: dict[IPAddress, str] = {}
    for i, p in enumerate(pods):
        node = by_node.get(p.node_name)
        if node is None or p.host_network or not p.ips:
            continue
        for ip in p.ips:
            cidr = next((c for c in node.pod_cidrs if ip in c), None)
            if cidr is None:
                problems.append(
                    AllocationProblem(
                        i,
                        "status.podIPs",
                        f"{ip} is outside the podCIDRs of node {node.name}"
                        f" ({', '.join(map(str, node.pod_cidrs))})",
                    )
                )
            elif ip in owner:
                problems.append(
                    AllocationProblem(i, "status.podIPs", f"{ip} is also the IP of {owner[ip]}")
                )
            else:
                used[cidr].add(ip)
                owner[ip] = p.key
    return used
