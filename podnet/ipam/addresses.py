"""Address values and what differs between IPv4 and IPv6, in one place.

Every layer may import this module: it depends on the standard library and the error tree only
(never on the model),
so the model, ipam, dns and the realiser share one answer to "which loopback, which host prefix,
which nftables family" instead of each branching on `version == 4`, and one way to write and read
"IP:port" (`HostPort`) instead of joining and splitting strings.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_network,
)

from podnet.errors import InvalidValue

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
IPInterface = IPv4Interface | IPv6Interface


@dataclass(frozen=True, slots=True)
class Family:
    """One IP family: its sizes, its special addresses and its names in other vocabularies."""

    version: int  # 4 or 6
    bits: int  # address width; also the prefix length of a single host (/32, /128)
    # Addresses a multi-host subnet keeps from its hosts: network and broadcast (IPv4), or the
    # Subnet-Router anycast address (IPv6).
    reserved: int
    broadcast: bool  # a multi-host subnet's last address is its broadcast address (IPv4 only)
    # Bits per label in the reverse zone: octets under in-addr.arpa, nibbles under ip6.arpa.
    reverse_label_bits: int
    # Binary view: bits per group and the separator between groups.
    group_bits: int
    group_sep: str
    # kube-controller-manager refuses a node mask more than this many bits longer than the pod
    # subnet (IPv6 only: an IPv4 pod subnet is small enough to need no limit).
    max_node_mask_bits: int | None
    # IPv4 addresses are scarce, so sizing advice shrinks ranges to what is needed; IPv6 keeps
    # the configured node mask (/64) whenever it holds the pods.
    scarce: bool
    any_address: IPAddress  # 0.0.0.0, ::
    any_network: IPNetwork  # the default route: 0.0.0.0/0, ::/0
    loopback: IPNetwork  # 127.0.0.0/8, ::1/128
    multicast: IPNetwork  # 224.0.0.0/4, ff00::/8
    af: int  # socket.AF_INET, socket.AF_INET6
    nft: str  # nftables address family and match keyword: ip, ip6
    nft_addr_type: str  # nftables set element type: ipv4_addr, ipv6_addr
    nfproto: str  # `meta nfproto` value: ipv4, ipv6
    iptables: str  # the iptables command of the family: iptables, ip6tables
    # Loopback addresses may be routed off the host (net.ipv4.conf.*.route_localnet, which
    # kube-proxy's iptables mode sets for NodePorts on 127.0.0.1): IPv4 only.
    route_localnet: bool
    dns_type: str  # the DNS record holding such an address: A, AAAA

    @property
    def name(self) -> str:
        """Kubernetes' word for the family (ipFamilies, EndpointSlice addressType)."""
        return f"IPv{self.version}"

    def is_point_to_point(self, prefixlen: int) -> bool:
        """/31 and /32 (IPv4), /127 and /128 (IPv6): no address is reserved."""
        return prefixlen >= self.bits - 1

    def host_network(self, address: IPAddress) -> IPNetwork:
        """The network of one address alone (/32, /128)."""
        return ip_network(address)


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
    af=socket.AF_INET,
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
    af=socket.AF_INET6,
    nft="ip6",
    nft_addr_type="ipv6_addr",
    nfproto="ipv6",
    iptables="ip6tables",
    route_localnet=False,
    dns_type="AAAA",
)
FAMILIES = {4: IPV4, 6: IPV6}


def family(value: IPAddress | IPNetwork | IPInterface | int) -> Family:
    """The family of an address, network or interface, or of an IP version number."""
    return FAMILIES[value if isinstance(value, int) else value.version]


PORT_MAX = 65535


def join_host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 address in brackets (`[fd00::5]:8080`), as Go's
    net.JoinHostPort writes it: the form of every "IP:port" podnet shows."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bad_address(text: str, why: str) -> InvalidValue:
    return InvalidValue("address", text, why, message=f"{text!r}: {why}")


def split_host_port(text: str, lowest_port: int = 1) -> tuple[str, int | None]:
    """`host`, `host:port` or `[host]:port` as (host, port or None). The host is not checked (a
    caller may take names); a host with several colons and no brackets is an IPv6 address
    without a port. Raises InvalidValue("address", text, why)."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise _bad_address(text, "expected IP, IP:port or [IPv6]:port")
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if port is None:
        return host, None
    if not port.isdigit() or not lowest_port <= int(port) <= PORT_MAX:
        raise _bad_address(text, f"the port must be a number from {lowest_port} to {PORT_MAX}")
    return host, int(port)


@dataclass(frozen=True, slots=True)
class HostPort:
    """An IP address and a port: one end of a connection, or where a server listens."""

    ip: IPAddress
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int | None = None, lowest_port: int = 1) -> HostPort:
        """`IP`, `IP:port` or `[IPv6]:port`; the port is `default_port` when not given (and
        required when that is None). Raises InvalidValue("address", text, why)."""
        host, port = split_host_port(text, lowest_port)
        try:
            ip = ip_address(host)
        except ValueError:
            raise _bad_address(text, f"{host!r} is not an IP address") from None
        if port is None:
            if default_port is None:
                raise _bad_address(text, "expected IP:port or [IPv6]:port")
            port = default_port
        return cls(ip, port)

    @property
    def family(self) -> Family:
        return FAMILIES[self.ip.version]

    def __str__(self) -> str:
        return join_host_port(str(self.ip), self.port)
