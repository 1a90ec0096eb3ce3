"""A small rtnetlink client: links (bridge, veth, VXLAN), addresses, routes, neighbours and
FDB entries, in the namespace a socket was opened in.

Standard library only. The CNI plugin's whole run must fit in a few tens of milliseconds, and
importing pyroute2 alone takes longer than the reference plugin's complete ADD; the realiser uses
the same client, so podnet has one netlink stack (measurements: docs/performance.md). The
encoders and parsers are pure (`encode_*`, `parse_*`, `parse_messages`) and testable without
root; `Rtnl` is the socket. The verbs are shaped like ip(8) and pyroute2's IPRoute: `link_add`,
`addr_add`, `route_add`, `neigh_add`, `fdb_add`, ... This module never decides what to create.
"""

from __future__ import annotations

import _socket as socket  # `socket` pulls in enum and selectors; the C module is all we need
import ipaddress
import os
import struct
from collections import namedtuple
from collections.abc import Iterator

from podnet.family import family as ip_family

NETLINK_ROUTE = 0

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLA_F_NESTED = 0x8000

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_PROTINFO, IFLA_TXQLEN, IFLA_LINKINFO, IFLA_NET_NS_FD = 12, 13, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin
IFLA_VXLAN_ID, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PORT = 1, 4, 7, 15
IFF_UP, IFF_PROMISC = 0x1, 0x100

IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
RTNH_F_ONLINK = 4
RTA_METRICS = 8
RTAX_MTU, RTAX_ADVMSS = 2, 8
RT_TABLE_MAIN = 254
RTPROT_BOOT, RTPROT_STATIC = 3, 4
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
RTN_UNICAST = 1

NDA_DST, NDA_LLADDR = 1, 2
NUD_NOARP, NUD_PERMANENT = 0x40, 0x80
NTF_SELF = 0x02

AF_BRIDGE = 7

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_NLATTR = struct.Struct("=HH")


class NetlinkError(OSError):
    """A request the kernel refused; `errno` as in OSError."""


# --------------------------------------------------------------------------- codec (pure)


def attr(kind: int, payload: bytes) -> bytes:
    length = _NLATTR.size + len(payload)
    return _NLATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def attr_str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_u8(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=B", value))


def attrs_of(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """The attributes of a message body from `offset` (the last one of a kind wins)."""
    out: dict[int, bytes] = {}
    while offset + _NLATTR.size <= len(data):
        length, kind = _NLATTR.unpack_from(data, offset)
        if length < _NLATTR.size:
            break
        out[kind & 0x3FFF] = data[offset + _NLATTR.size : offset + length]
        offset += (length + 3) & ~3
    return out


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def parse_messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, body) of each message in a datagram."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        yield kind, flags, seq, data[offset + _NLMSGHDR.size : offset + length]
        offset += (length + 3) & ~3


def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0, family: int = 0) -> bytes:
    return _IFINFOMSG.pack(family, 0, index, flags, change)


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def mac_bytes(text: str) -> bytes:
    return bytes(int(p, 16) for p in text.split(":"))


class Link(namedtuple("Link", "index name flags mac mtu master kind")):
    # index: int; name: str; flags: int; mac: str; mtu: int; master: int; kind: str
    __slots__ = ()

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


class Addr(namedtuple("Addr", "index interface")):
    # index: int; interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    __slots__ = ()


class RouteEntry(
    namedtuple(
        "RouteEntry",
        "dst gw oif table scope protocol priority metrics",
        defaults=(
            0,
            None,
        ),
    )
):
    # dst: ipaddress.IPv4Network | ipaddress.IPv6Network
    # gw: str
    # oif: int
    # table: int
    # scope: int
    # protocol: int
    # priority: int = 0
    # metrics: dict[int, int] = field(default_factory=dict)
    __slots__ = ()


class Neighbour(namedtuple("Neighbour", "index ip mac state flags family")):
    # index: int; ip: str; mac: str; state: int; flags: int; family: int (AF_BRIDGE: FDB)
    __slots__ = ()


def parse_link(body: bytes) -> Link:
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body)
    a = attrs_of(body, _IFINFOMSG.size)
    kind = ""
    if IFLA_LINKINFO in a:
        info = attrs_of(a[IFLA_LINKINFO])
        kind = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode()
    return Link(
        index=index,
        name=a.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(),
        flags=flags,
        mac=mac_text(a.get(IFLA_ADDRESS, b"")),
        mtu=struct.unpack("=I", a[IFLA_MTU])[0] if IFLA_MTU in a else 0,
        master=struct.unpack("=I", a[IFLA_MASTER])[0] if IFLA_MASTER in a else 0,
        kind=kind,
    )


def _ip_bytes(family: int, raw: bytes) -> str:
    return socket.inet_ntop(family, raw)


def parse_addr(body: bytes) -> Addr:
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(body)
    a = attrs_of(body, _IFADDRMSG.size)
    raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS) or b""
    return Addr(index, ipaddress.ip_interface(f"{_ip_bytes(family, raw)}/{prefixlen}"))


def parse_route(body: bytes) -> RouteEntry:
    family, dst_len, _src_len, _tos, table, protocol, scope, _type, _flags = _RTMSG.unpack_from(
        body
    )
    a = attrs_of(body, _RTMSG.size)
    zero = "0.0.0.0" if family == socket.AF_INET else "::"
    dst = _ip_bytes(family, a[RTA_DST]) if RTA_DST in a else zero
    if RTA_TABLE in a:
        table = struct.unpack("=I", a[RTA_TABLE])[0]
    metrics = {}
    if RTA_METRICS in a:
        metrics = {k: struct.unpack("=I", v)[0] for k, v in attrs_of(a[RTA_METRICS]).items()}
    return RouteEntry(
        dst=ipaddress.ip_network(f"{dst}/{dst_len}", strict=False),
        gw=_ip_bytes(family, a[RTA_GATEWAY]) if RTA_GATEWAY in a else "",
        oif=struct.unpack("=I", a[RTA_OIF])[0] if RTA_OIF in a else 0,
        table=table,
        scope=scope,
        protocol=protocol,
        priority=struct.unpack("=I", a[RTA_PRIORITY])[0] if RTA_PRIORITY in a else 0,
        metrics=metrics,
    )


def parse_neigh(body: bytes) -> Neighbour:
    """A neighbour (`ip neigh`) or, with family AF_BRIDGE, an FDB entry (`bridge fdb`)."""
    family, index, state, flags, _type = _NDMSG.unpack_from(body)
    a = attrs_of(body, _NDMSG.size)
    ip = ""
    if NDA_DST in a:
        raw = a[NDA_DST]
        ip = _ip_bytes(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
    return Neighbour(index, ip, mac_text(a.get(NDA_LLADDR, b"")), state, flags, family)


def encode_addr(
    index: int,
    iface: ipaddress.IPv4Interface | ipaddress.IPv6Interface,
    broadcast: bool = True,
) -> bytes:
    """`ip addr add IFACE dev INDEX`; `broadcast`: with `brd +` (IPv4 shorter than /31)."""
    fam = ip_family(iface)
    raw = iface.ip.packed
    body = _IFADDRMSG.pack(fam.af, iface.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    body += attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
    if broadcast and fam.has_broadcast(iface.network.prefixlen):
        body += attr(IFA_BROADCAST, iface.network.broadcast_address.packed)
    return body


def encode_route(
    dst: ipaddress.IPv4Network | ipaddress.IPv6Network,
    gw: str = "",
    oif: int = 0,
    scope: int = RT_SCOPE_UNIVERSE,
    table: int = 0,
    priority: int = 0,
    mtu: int = 0,
    advmss: int = 0,
    protocol: int = RTPROT_BOOT,
    onlink: bool = False,
    prefsrc: str = "",
) -> bytes:
    """`ip route add DST [via GW] [dev OIF] [onlink] [src PREFSRC] ...`."""
    table = table or RT_TABLE_MAIN
    flags = RTNH_F_ONLINK if onlink else 0
    body = _RTMSG.pack(
        ip_family(dst).af,
        dst.prefixlen,
        0,
        0,
        table if table < 256 else 0,
        protocol,
        scope,
        RTN_UNICAST,
        flags,
    )
    if dst.prefixlen:
        body += attr(RTA_DST, dst.network_address.packed)
    if gw:
        body += attr(RTA_GATEWAY, ipaddress.ip_address(gw).packed)
    if oif:
        body += attr_u32(RTA_OIF, oif)
    if priority:
        body += attr_u32(RTA_PRIORITY, priority)
    if prefsrc:
        body += attr(RTA_PREFSRC, ipaddress.ip_address(prefsrc).packed)
    if table >= 256:
        body += attr_u32(RTA_TABLE, table)
    metrics = b""
    if mtu:
        metrics += attr_u32(RTAX_MTU, mtu)
    if advmss:
        metrics += attr_u32(RTAX_ADVMSS, advmss)
    if metrics:
        body += attr(RTA_METRICS | NLA_F_NESTED, metrics)
    return body


def _link_head(name: str, mtu: int, mac: str) -> bytes:
    """What every new link message starts with: `NAME [mtu M] [address MAC]`."""
    body = ifinfomsg() + attr_str(IFLA_IFNAME, name)
    if mtu:
        body += attr_u32(IFLA_MTU, mtu)
    if mac:
        body += attr(IFLA_ADDRESS, mac_bytes(mac))
    return body


def encode_veth(
    name: str, peer: str, mtu: int = 0, peer_netns_fd: int = -1, mac: str = "", peer_mac: str = ""
) -> bytes:
    peer_body = _link_head(peer, mtu, peer_mac)
    if peer_netns_fd >= 0:
        peer_body += attr_u32(IFLA_NET_NS_FD, peer_netns_fd)
    data = attr(VETH_INFO_PEER, peer_body)
    info = attr_str(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, data)
    return _link_head(name, mtu, mac) + attr(IFLA_LINKINFO, info)


def encode_link(
    name: str, kind: str, mtu: int = 0, mac: str = "", data: bytes = b"", master: int = 0
) -> bytes:
    """`ip link add NAME [mtu M] [address MAC] [master INDEX] type KIND [DATA]`."""
    body = _link_head(name, mtu, mac)
    if master:
        body += attr_u32(IFLA_MASTER, master)
    info = attr_str(IFLA_INFO_KIND, kind)
    if data:
        info += attr(IFLA_INFO_DATA, data)
    return body + attr(IFLA_LINKINFO, info)


def encode_vxlan(
    name: str,
    vni: int,
    local: str = "",
    port: int = 0,
    learning: bool = True,
    mtu: int = 0,
    mac: str = "",
) -> bytes:
    """`ip link add NAME type vxlan id VNI [local IP] [dstport PORT] [nolearning]`."""
    data = attr_u32(IFLA_VXLAN_ID, vni)
    if local:
        data += attr(IFLA_VXLAN_LOCAL, ipaddress.ip_address(local).packed)
    if port:
        data += attr(IFLA_VXLAN_PORT, struct.pack("!H", port))  # network order, unlike the rest
    data += attr_u8(IFLA_VXLAN_LEARNING, int(learning))
    return encode_link(name, "vxlan", mtu, mac, data)


def encode_neigh(
    index: int,
    ip: str,
    mac: str,
    state: int = NUD_PERMANENT,
    family: int = 0,
    flags: int = 0,
) -> bytes:
    """`ip neigh add IP lladdr MAC dev INDEX nud permanent`; with family AF_BRIDGE an FDB entry
    (`bridge fdb add MAC dev INDEX dst IP`), where `ip` is the remote VTEP."""
    addr = ipaddress.ip_address(ip) if ip else None
    if not family:
        family = ip_family(addr).af if addr is not None else socket.AF_INET
    body = _NDMSG.pack(family, index, state, flags, 0)
    if addr is not None:
        body += attr(NDA_DST, addr.packed)
    if mac:
        body += attr(NDA_LLADDR, mac_bytes(mac))
    return body


def encode_fdb(index: int, mac: str, dst: str) -> bytes:
    """`bridge fdb add MAC dev INDEX dst DST` (self, permanent), as iproute2 and pyroute2 send it."""
    return encode_neigh(index, dst, mac, NUD_PERMANENT | NUD_NOARP, AF_BRIDGE, NTF_SELF)


# --------------------------------------------------------------------------- socket


class Rtnl:
    """A NETLINK_ROUTE socket; it stays in the network namespace it was opened in."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one request; (type, body) of every reply, raising NetlinkError on a refusal."""
        self.seq += 1
        seq = self.seq
        self.sock.send(message(kind, flags | NLM_F_REQUEST | NLM_F_ACK, seq, body))
        out: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(65536)
            for mtype, _mflags, mseq, mbody in parse_messages(data):
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", mbody)
                    if code:
                        raise NetlinkError(-code, os.strerror(-code))
                    return out
                if mtype == NLMSG_DONE:
                    return out
                out.append((mtype, mbody))

    # links

    def links(self) -> list[Link]:
        return [
            parse_link(b)
            for t, b in self.request(RTM_GETLINK, NLM_F_DUMP, ifinfomsg())
            if t == RTM_NEWLINK
        ]

    def link_get(self, name: str) -> Link | None:
        return self._link(ifinfomsg() + attr_str(IFLA_IFNAME, name))

    def link_by_index(self, index: int) -> Link | None:
        return self._link(ifinfomsg(index))

    def _link(self, query: bytes) -> Link | None:
        """The link `query` names; None when there is none."""
        try:
            replies = self.request(RTM_GETLINK, 0, query)
        except NetlinkError as err:
            if err.errno in (19, 2):  # ENODEV, ENOENT
                return None
            raise
        return next((parse_link(b) for t, b in replies if t == RTM_NEWLINK), None)

    def index(self, name: str) -> int:
        """The index of link `name`; NetlinkError(ENODEV) when there is none."""
        link = self.link_get(name)
        if link is None:
            raise NetlinkError(19, f"no link {name}")
        return link.index

    def bridge_add(self, name: str, mtu: int = 0, mac: str = "") -> None:
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, encode_link(name, "bridge", mtu, mac))

    def vxlan_add(self, name: str, vni: int, **options: object) -> None:
        """`ip link add NAME type vxlan id VNI ...`, with `encode_vxlan`'s options."""
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, encode_vxlan(name, vni, **options))

    def veth_add(
        self,
        name: str,
        peer: str,
        mtu: int = 0,
        peer_netns_fd: int = -1,
        mac: str = "",
        peer_mac: str = "",
    ) -> None:
        self.request(
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            encode_veth(name, peer, mtu, peer_netns_fd, mac, peer_mac),
        )

    def link_set(
        self,
        index: int,
        up: bool | None = None,
        promisc: bool | None = None,
        master: int | None = None,
        mtu: int = 0,
        mac: str = "",
        netns_fd: int = -1,
    ) -> None:
        """`ip link set INDEX [up|down] [promisc on|off] [master M|nomaster] [mtu N]
        [address MAC] [netns FD]`."""
        flags = change = 0
        if up is not None:
            change |= IFF_UP
            flags |= IFF_UP if up else 0
        if promisc is not None:
            change |= IFF_PROMISC
            flags |= IFF_PROMISC if promisc else 0
        body = ifinfomsg(index, flags, change)
        if master is not None:
            body += attr_u32(IFLA_MASTER, master)
        if mtu:
            body += attr_u32(IFLA_MTU, mtu)
        if mac:
            body += attr(IFLA_ADDRESS, mac_bytes(mac))
        if netns_fd >= 0:
            body += attr_u32(IFLA_NET_NS_FD, netns_fd)
        self.request(RTM_NEWLINK, 0, body)

    def link_del(self, index: int) -> None:
        self.request(RTM_DELLINK, 0, ifinfomsg(index))

    def brport_set(self, index: int, hairpin: bool) -> None:
        """`bridge link set dev X hairpin on|off`."""
        protinfo = attr(IFLA_PROTINFO | NLA_F_NESTED, attr_u8(IFLA_BRPORT_MODE, int(hairpin)))
        self.request(RTM_SETLINK, 0, ifinfomsg(index, family=AF_BRIDGE) + protinfo)

    # addresses and routes

    def addrs(self, index: int = 0) -> list[Addr]:
        body = _IFADDRMSG.pack(0, 0, 0, 0, 0)
        found = [
            parse_addr(b)
            for t, b in self.request(RTM_GETADDR, NLM_F_DUMP, body)
            if t == RTM_NEWADDR
        ]
        return [a for a in found if not index or a.index == index]

    def addr_add(
        self,
        index: int,
        iface: ipaddress.IPv4Interface | ipaddress.IPv6Interface,
        replace: bool = False,
        broadcast: bool = True,
    ) -> None:
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        self.request(RTM_NEWADDR, flags, encode_addr(index, iface, broadcast))

    def addr_del(
        self, index: int, iface: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    ) -> None:
        self.request(RTM_DELADDR, 0, encode_addr(index, iface))

    def routes(self, family: int = 0) -> list[RouteEntry]:
        body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
        return [
            parse_route(b)
            for t, b in self.request(RTM_GETROUTE, NLM_F_DUMP, body)
            if t == RTM_NEWROUTE
        ]

    def route_add(
        self,
        dst: ipaddress.IPv4Network | ipaddress.IPv6Network,
        replace: bool = False,
        **kw: object,
    ) -> None:
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        self.request(RTM_NEWROUTE, flags, encode_route(dst, **kw))  # type: ignore[arg-type]

    def route_del(self, dst: ipaddress.IPv4Network | ipaddress.IPv6Network, **kw: object) -> None:
        self.request(RTM_DELROUTE, 0, encode_route(dst, **kw))  # type: ignore[arg-type]

    # neighbours and FDB entries

    def neighbours(self, family: int = 0) -> list[Neighbour]:
        """`ip neigh show` (family AF_BRIDGE: `bridge fdb show`)."""
        body = _NDMSG.pack(family, 0, 0, 0, 0)
        return [
            parse_neigh(b)
            for t, b in self.request(RTM_GETNEIGH, NLM_F_DUMP, body)
            if t == RTM_NEWNEIGH
        ]

    def neigh_add(
        self, index: int, ip: str, mac: str, state: int = NUD_PERMANENT, replace: bool = False
    ) -> None:
        """`ip neigh add|replace IP lladdr MAC dev INDEX nud permanent`."""
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        self.request(RTM_NEWNEIGH, flags, encode_neigh(index, ip, mac, state))

    def fdb_add(self, index: int, mac: str, dst: str) -> None:
        """`bridge fdb add MAC dev INDEX dst DST`: where a VXLAN device sends frames for MAC."""
        self.request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, encode_fdb(index, mac, dst))


def open_in(netns_fd: int) -> Rtnl:
    """A route socket bound to the namespace of `netns_fd` (the caller stays where it is)."""
    from podnet.kernel.netns import entered

    with entered(netns_fd):
        return Rtnl()
