"""What differs between IPv4 and IPv6, in one place: sizes, special addresses, and the family's
name in the vocabularies podnet writes (sockets, nftables, iptables, DNS, Kubernetes).

Code asks `family(address).loopback` instead of branching on `version == 4`. Every layer may
import this module, the CNI plugin included: it uses the standard library alone and defines no
dataclass (importing `dataclasses` would cost the plugin milliseconds at every start).
"""

from __future__ import annotations

import _socket
from collections import namedtuple
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

TYPE_CHECKING = False  # importing typing costs milliseconds at every CNI plugin start
if TYPE_CHECKING:
    from ipaddress import IPv4Interface, IPv6Interface

    Address = IPv4Address | IPv6Address
    Network = IPv4Network | IPv6Network
    Interface = IPv4Interface | IPv6Interface

_FIELDS = (
    "version",  # 4 or 6
    "bits",  # address width; also the prefix length of a single host (/32, /128)
    # Addresses a multi-host subnet keeps from its hosts: network and broadcast (IPv4), or the
    # Subnet-Router anycast address (IPv6).
    "reserved",
    "broadcast",  # a multi-host subnet's last address is its broadcast address (IPv4 only)
    # Bits per label in the reverse zone: octets under in-addr.arpa, nibbles under ip6.arpa.
    "reverse_label_bits",
    # Binary view: bits per group and the separator between groups.
    "group_bits",
    "group_sep",
    # kube-controller-manager refuses a node mask more than this many bits longer than the pod
    # subnet (IPv6 only: an IPv4 pod subnet is small enough to need no limit).
    "max_node_mask_bits",
    # IPv4 addresses are scarce, so sizing advice shrinks ranges to what is needed; IPv6 keeps
    # the configured node mask (/64) whenever it holds the pods.
    "scarce",
    "any_address",  # 0.0.0.0, ::
    "any_network",  # the default route: 0.0.0.0/0, ::/0
    "loopback",  # 127.0.0.0/8, ::1/128
    "multicast",  # 224.0.0.0/4, ff00::/8
    "af",  # AF_INET, AF_INET6
    "nft",  # nftables address family and match keyword: ip, ip6
    "nft_addr_type",  # nftables set element type: ipv4_addr, ipv6_addr
    "nfproto",  # `meta nfproto` value: ipv4, ipv6
    "iptables",  # the iptables command of the family: iptables, ip6tables
    # Loopback addresses may be routed off the host (net.ipv4.conf.*.route_localnet, which
    # kube-proxy's iptables mode sets for NodePorts on 127.0.0.1): IPv4 only.
    "route_localnet",
    "dns_type",  # the DNS record holding such an address: A, AAAA
)


class Family(namedtuple("Family", _FIELDS)):
    """One IP family (an immutable value; see the field comments above)."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """Kubernetes' word for the family (ipFamilies, EndpointSlice addressType)."""
        return f"IPv{self.version}"

    def is_point_to_point(self, prefixlen: int) -> bool:
        """/31 and /32 (IPv4), /127 and /128 (IPv6): no address is reserved."""
        return prefixlen >= self.bits - 1

    def has_broadcast(self, prefixlen: int) -> bool:
        """A subnet of this length keeps its last address for broadcast (IPv4 up to /30)."""
        return self.broadcast and not self.is_point_to_point(prefixlen)


IPV4 = Family(
    version=4,
    bits=32,
    reserved=2,
    broadcast=True,
    reverse_label_bits=8,
    group_bits=8,
    group_sep=".",
    max_node_mask_bits=None,
    scarce=True,
    any_address=IPv4Address("0.0.0.0"),
    any_network=IPv4Network("0.0.0.0/0"),
    loopback=IPv4Network("127.0.0.0/8"),
    multicast=IPv4Network("224.0.0.0/4"),
    af=_socket.AF_INET,
    nft="ip",
    nft_addr_type="ipv4_addr",
    nfproto="ipv4",
    iptables="iptables",
    route_localnet=True,
    dns_type="A",
)
IPV6 = Family(
    version=6,
    bits=128,
    reserved=1,
    broadcast=False,
    reverse_label_bits=4,
    group_bits=16,
    group_sep=":",
    max_node_mask_bits=16,
    scarce=False,
    any_address=IPv6Address("::"),
    any_network=IPv6Network("::/0"),
    loopback=IPv6Network("::1/128"),
    multicast=IPv6Network("ff00::/8"),
    af=_socket.AF_INET6,
    nft="ip6",
    nft_addr_type="ipv6_addr",
    nfproto="ipv6",
    iptables="ip6tables",
    route_localnet=False,
    dns_type="AAAA",
)
FAMILIES = {4: IPV4, 6: IPV6}


def family(value: Address | Network | Interface | int) -> Family:
    """The family of an address, network or interface, or of an IP version number."""
    return FAMILIES[value if isinstance(value, int) else value.version]
