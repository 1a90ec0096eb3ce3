"""Address allocation as the cluster's controllers do it. Pure and deterministic.

- node podCIDRs: carved from the cluster CIDR at the node mask, in node order, skipping CIDRs that
  nodes already hold (kube-controller-manager's range allocator);
- node IPs: from the underlay network, from .2, in node order (kind's docker network);
- pod IPs: from the node's podCIDR, the gateway (.1) first, then pods from .2 in a stable order
  (the host-local IPAM plugin).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from podnet.errors import PodnetError
from podnet.model.objects import IPAddress, IPNetwork


class AddressExhausted(PodnetError):
    """A range has no free address or block left."""


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
    last = network.num_addresses - (2 if network.version == 4 and network.prefixlen < 31 else 1)
    base = int(network.network_address)
    for offset in range(start, last + 1):
        addr = network.network_address.__class__(base + offset)
        if addr not in used:
            yield addr


def gateway(pod_cidr: IPNetwork) -> IPAddress:
    """The bridge's address on a node: the first address of its podCIDR."""
    return pod_cidr.network_address + 1
