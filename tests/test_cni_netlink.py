"""The rtnetlink codec and the nftables rulesets, checked as bytes and text (no root)."""

from __future__ import annotations

import ipaddress
import socket
import struct

from podnet.cni import netlink, nft, portmap, spec


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


def test_masq_table():
    text = nft.masq_table(
        "podnet-masq-x",
        "podnet-cni net c1 eth0",
        [ipaddress.ip_interface("10.0.0.2/24"), ipaddress.ip_interface("fd00::2/64")],
    )
    assert "ip saddr 10.0.0.2 ip daddr != 10.0.0.0/24 ip daddr != 224.0.0.0/4 masquerade" in text
    assert "ip6 saddr fd00::2 ip6 daddr != fd00::/64 ip6 daddr != ff00::/8 masquerade" in text
    assert nft.table_name("podnet-masq", "net", "c1", "eth0") == nft.table_name(
        "podnet-masq", "net", "c1", "eth0"
    )
    assert nft.table_name("podnet-masq", "net", "c1", "eth0") != nft.table_name(
        "podnet-masq", "net", "c1", "eth1"
    )


def test_tables_are_found_with_their_owner():
    ruleset = 'table inet podnet-portmap-ab {\n\tcomment "podnet-cni net c1 eth0"\n\tchain x {\n\t}\n}\ntable ip nat {\n}\n'
    assert nft.tables_in(ruleset, "podnet-portmap") == [
        ("inet", "podnet-portmap-ab", "podnet-cni net c1 eth0")
    ]
    assert nft.attachment_of("podnet-cni net c1 eth0") == ("net", "c1", "eth0")


def test_portmap_ruleset():
    conf = {
        "runtimeConfig": {
            "portMappings": [
                {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                {"hostPort": 5353, "containerPort": 53, "protocol": "UDP", "hostIP": "192.0.2.1"},
            ]
        }
    }
    mappings = portmap.parse_mappings(conf)
    result = spec.parse_result(
        {
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "cni0"}, {"name": "eth0", "sandbox": "/x"}],
            "ips": [{"address": "10.0.0.2/24", "interface": 1}],
        }
    )
    ips = portmap.container_ips(result)
    text = portmap.ruleset("podnet-portmap-x", "podnet-cni n c eth0", mappings, ips, snat=True)
    assert "meta nfproto ipv4 tcp dport 8080 dnat ip to 10.0.0.2:80" in text
    assert "ip daddr 192.0.2.1 udp dport 5353 dnat ip to 10.0.0.2:53" in text
    assert "ct status dnat ip daddr 10.0.0.2 ip saddr { 127.0.0.0/8, 10.0.0.2 } masquerade" in text
    assert "postrouting" not in portmap.ruleset("t", "c", mappings, ips, snat=False)


def test_jsonc_matches_json():
    import json

    from podnet.cni import jsonc

    samples = [
        {
            "cniVersion": "1.0.0",
            "ips": [{"address": "10.0.0.2/24", "interface": 2}],
            "dns": {},
            "routes": [],
            "n": None,
            "t": True,
            "f": False,
        },
        [1, -2, 3.5, 1e100, 'é ☃ \n " \\', {"nested": [[], {}]}],
        "plain",
        0,
    ]
    for value in samples:
        for indent in (None, 4):
            assert jsonc.dumps(value, indent=indent) == json.dumps(value, indent=indent)
        assert jsonc.loads(json.dumps(value).encode()) == value
        assert jsonc.loads("  \n" + json.dumps(value, indent=2) + "\n ") == value
    for bad in (b"", b"{", b"[1,]", b"{} {}", b"nul", b"\xff", b'{"a" 1}'):
        try:
            jsonc.loads(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
