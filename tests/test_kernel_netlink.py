"""The rtnetlink codec: requests and replies checked as bytes (no root)."""

from __future__ import annotations

import ipaddress
import socket
import struct

from podnet.kernel import netlink


def test_attributes_are_padded_and_read_back():
    data = (
        netlink.attr_str(netlink.IFLA_IFNAME, "eth0")
        + netlink.attr_u32(netlink.IFLA_MTU, 1400)
        + netlink.attr_u8(7, 1)
    )
    assert len(data) % 4 == 0
    parsed = netlink.attrs_of(data)
    assert parsed[netlink.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", parsed[netlink.IFLA_MTU]) == (1400,)
    assert parsed[7] == b"\x01"


def test_message_framing():
    msg = netlink.message(netlink.RTM_GETLINK, netlink.NLM_F_REQUEST, 7, netlink.ifinfomsg(3))
    ((kind, flags, seq, body),) = list(netlink.parse_messages(msg + b"\0" * 3))
    assert (kind, flags, seq) == (netlink.RTM_GETLINK, netlink.NLM_F_REQUEST, 7)
    assert struct.unpack("=BxHiII", body) == (0, 0, 3, 0, 0)


def test_link_round_trip():
    body = netlink.ifinfomsg(5, netlink.IFF_UP) + netlink.attr_str(netlink.IFLA_IFNAME, "cni0")
    body += netlink.attr(netlink.IFLA_ADDRESS, bytes.fromhex("0242ac110002")) + netlink.attr_u32(
        netlink.IFLA_MTU, 1500
    )
    body += netlink.attr_u32(netlink.IFLA_MASTER, 2) + netlink.attr(
        netlink.IFLA_LINKINFO, netlink.attr_str(netlink.IFLA_INFO_KIND, "bridge")
    )
    link = netlink.parse_link(body)
    assert link == netlink.Link(5, "cni0", netlink.IFF_UP, "02:42:ac:11:00:02", 1500, 2, "bridge")
    assert link.up


def test_veth_request_carries_the_peer_and_its_namespace():
    body = netlink.encode_veth(
        "veth0", "eth0", mtu=1400, peer_netns_fd=9, peer_mac="02:00:00:00:00:01"
    )
    info = netlink.attrs_of(netlink.attrs_of(body, 16)[netlink.IFLA_LINKINFO])
    assert info[netlink.IFLA_INFO_KIND] == b"veth\0"
    peer = netlink.attrs_of(
        netlink.attrs_of(info[netlink.IFLA_INFO_DATA])[netlink.VETH_INFO_PEER], 16
    )
    assert peer[netlink.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", peer[netlink.IFLA_NET_NS_FD]) == (9,)
    assert netlink.mac_text(peer[netlink.IFLA_ADDRESS]) == "02:00:00:00:00:01"


def test_route_round_trip():
    body = netlink.encode_route(
        ipaddress.ip_network("10.1.0.0/16"), gw="10.0.0.1", oif=4, mtu=1400, table=1000
    )
    r = netlink.parse_route(body)
    assert (str(r.dst), r.gw, r.oif, r.table, r.protocol, r.metrics) == (
        "10.1.0.0/16",
        "10.0.0.1",
        4,
        1000,
        netlink.RTPROT_BOOT,
        {netlink.RTAX_MTU: 1400},
    )
    default = netlink.parse_route(netlink.encode_route(ipaddress.ip_network("::/0"), gw="fe80::1"))
    assert (str(default.dst), default.gw, default.table) == (
        "::/0",
        "fe80::1",
        netlink.RT_TABLE_MAIN,
    )


def test_addr_round_trip():
    a = netlink.parse_addr(netlink.encode_addr(3, ipaddress.ip_interface("10.0.0.2/24")))
    assert (a.index, str(a.interface)) == (3, "10.0.0.2/24")
    attrs = netlink.attrs_of(netlink.encode_addr(3, ipaddress.ip_interface("10.0.0.2/24")), 8)
    assert socket.inet_ntoa(attrs[4]) == "10.0.0.255"  # broadcast, as `ip addr add ... brd +`


def test_addr_without_broadcast():
    body = netlink.encode_addr(3, ipaddress.ip_interface("172.18.0.2/16"), broadcast=False)
    assert netlink.IFA_BROADCAST not in netlink.attrs_of(body, 8)


def test_onlink_route_with_a_preferred_source():
    body = netlink.encode_route(
        ipaddress.ip_network("10.244.2.0/24"),
        gw="10.244.2.0",
        oif=5,
        onlink=True,
        prefsrc="172.18.0.2",
        protocol=netlink.RTPROT_STATIC,
    )
    flags = struct.unpack_from("=I", body, 8)[0]
    assert flags & netlink.RTNH_F_ONLINK
    assert socket.inet_ntoa(netlink.attrs_of(body, 12)[netlink.RTA_PREFSRC]) == "172.18.0.2"
    r = netlink.parse_route(body)
    assert (str(r.dst), r.gw, r.oif, r.protocol) == ("10.244.2.0/24", "10.244.2.0", 5, 4)


def test_permanent_neighbour_round_trip():
    n = netlink.parse_neigh(netlink.encode_neigh(7, "10.244.1.1", "0a:58:0a:f4:01:01"))
    assert n == netlink.Neighbour(
        7, "10.244.1.1", "0a:58:0a:f4:01:01", netlink.NUD_PERMANENT, 0, socket.AF_INET
    )


def test_fdb_entry_is_a_bridge_neighbour_with_the_remote_vtep():
    n = netlink.parse_neigh(netlink.encode_fdb(4, "0e:00:ac:12:00:03", "172.18.0.3"))
    assert (n.family, n.index, n.mac, n.ip) == (
        netlink.AF_BRIDGE,
        4,
        "0e:00:ac:12:00:03",
        "172.18.0.3",
    )
    assert n.state == netlink.NUD_PERMANENT | netlink.NUD_NOARP
    assert n.flags == netlink.NTF_SELF


def test_vxlan_request_carries_its_id_local_address_and_port():
    body = netlink.encode_vxlan(
        "flannel.1", 1, "172.18.0.2", 8472, learning=False, mtu=1450, mac="0e:00:ac:12:00:02"
    )
    link = netlink.parse_link(body)
    assert (link.name, link.mtu, link.mac, link.kind) == (
        "flannel.1",
        1450,
        "0e:00:ac:12:00:02",
        "vxlan",
    )
    info = netlink.attrs_of(netlink.attrs_of(body, 16)[netlink.IFLA_LINKINFO])
    data = netlink.attrs_of(info[netlink.IFLA_INFO_DATA])
    assert struct.unpack("=I", data[netlink.IFLA_VXLAN_ID]) == (1,)
    assert socket.inet_ntoa(data[netlink.IFLA_VXLAN_LOCAL]) == "172.18.0.2"
    assert struct.unpack("!H", data[netlink.IFLA_VXLAN_PORT]) == (8472,)
    assert data[netlink.IFLA_VXLAN_LEARNING] == b"\x00"
