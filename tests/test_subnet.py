"""podnet.ipam.subnet and `podnet subnet`: values checked against ipcalc 0.42 and sipcalc 1.1.6,
transcribed below (the tests do not run those tools), plus property tests."""

from __future__ import annotations

import io
import json
import sys
from ipaddress import IPv4Address, IPv6Address, collapse_addresses, ip_address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import podnet.cli
from podnet.errors import InvalidValue
from podnet.ipam import subnet as sn
from podnet.report import subnet as subnet_report

# ---------------------------------------------------------------------------------------------
# `info`, IPv4: the values `ipcalc -n -b INPUT` prints (Network, Netmask, Wildcard, Broadcast,
# HostMin, HostMax, Hosts/Net, Class). ipcalc writes a mask after a space; podnet after '/'.
# Where podnet differs on purpose the row says so.

V4 = [
    # input,                         network,            netmask,           wildcard,
    #                                broadcast,          first,             last,
    #                                hosts,       class
    (
        "0.0.0.0/0",
        "0.0.0.0/0",
        "0.0.0.0",
        "255.255.255.255",
        "255.255.255.255",
        "0.0.0.1",
        "255.255.255.254",
        4294967294,
        "A",
    ),
    (
        "1.2.3.4/1",
        "0.0.0.0/1",
        "128.0.0.0",
        "127.255.255.255",
        "127.255.255.255",
        "0.0.0.1",
        "127.255.255.254",
        2147483646,
        "A",
    ),
    (
        "10.0.0.0/8",
        "10.0.0.0/8",
        "255.0.0.0",
        "0.255.255.255",
        "10.255.255.255",
        "10.0.0.1",
        "10.255.255.254",
        16777214,
        "A",
    ),
    (
        "10.255.255.255/8",
        "10.0.0.0/8",
        "255.0.0.0",
        "0.255.255.255",
        "10.255.255.255",
        "10.0.0.1",
        "10.255.255.254",
        16777214,
        "A",
    ),
    (
        "127.0.0.1/8",
        "127.0.0.0/8",
        "255.0.0.0",
        "0.255.255.255",
        "127.255.255.255",
        "127.0.0.1",
        "127.255.255.254",
        16777214,
        "A",
    ),
    (
        "127.255.255.255/1",
        "0.0.0.0/1",
        "128.0.0.0",
        "127.255.255.255",
        "127.255.255.255",
        "0.0.0.1",
        "127.255.255.254",
        2147483646,
        "A",
    ),
    (
        "128.0.0.0/16",
        "128.0.0.0/16",
        "255.255.0.0",
        "0.0.255.255",
        "128.0.255.255",
        "128.0.0.1",
        "128.0.255.254",
        65534,
        "B",
    ),
    (
        "128.0.0.1/2",
        "128.0.0.0/2",
        "192.0.0.0",
        "63.255.255.255",
        "191.255.255.255",
        "128.0.0.1",
        "191.255.255.254",
        1073741822,
        "B",
    ),
    (
        "191.255.0.0/16",
        "191.255.0.0/16",
        "255.255.0.0",
        "0.0.255.255",
        "191.255.255.255",
        "191.255.0.1",
        "191.255.255.254",
        65534,
        "B",
    ),
    (
        "192.0.0.0/24",
        "192.0.0.0/24",
        "255.255.255.0",
        "0.0.0.255",
        "192.0.0.255",
        "192.0.0.1",
        "192.0.0.254",
        254,
        "C",
    ),
    (
        "200.100.50.25/23",
        "200.100.50.0/23",
        "255.255.254.0",
        "0.0.1.255",
        "200.100.51.255",
        "200.100.50.1",
        "200.100.51.254",
        510,
        "C",
    ),
    (
        "223.255.255.0/24",
        "223.255.255.0/24",
        "255.255.255.0",
        "0.0.0.255",
        "223.255.255.255",
        "223.255.255.1",
        "223.255.255.254",
        254,
        "C",
    ),
    (
        "224.0.0.1/4",
        "224.0.0.0/4",
        "240.0.0.0",
        "15.255.255.255",
        "239.255.255.255",
        "224.0.0.1",
        "239.255.255.254",
        268435454,
        "D",
    ),
    (
        "239.255.255.255/8",
        "239.0.0.0/8",
        "255.0.0.0",
        "0.255.255.255",
        "239.255.255.255",
        "239.0.0.1",
        "239.255.255.254",
        16777214,
        "D",
    ),
    (
        "240.0.0.0/4",
        "240.0.0.0/4",
        "240.0.0.0",
        "15.255.255.255",
        "255.255.255.255",
        "240.0.0.1",
        "255.255.255.254",
        268435454,
        "E",
    ),
    # ipcalc prints "Class invalid"; 240-255 is class E as CCNA teaches it.
    (
        "255.255.255.255/32",
        "255.255.255.255/32",
        "255.255.255.255",
        "0.0.0.0",
        None,
        "255.255.255.255",
        "255.255.255.255",
        1,
        "E",
    ),
    (
        "172.16.5.4/12",
        "172.16.0.0/12",
        "255.240.0.0",
        "0.15.255.255",
        "172.31.255.255",
        "172.16.0.1",
        "172.31.255.254",
        1048574,
        "B",
    ),
    (
        "172.31.255.254/20",
        "172.31.240.0/20",
        "255.255.240.0",
        "0.0.15.255",
        "172.31.255.255",
        "172.31.240.1",
        "172.31.255.254",
        4094,
        "B",
    ),
    (
        "192.168.1.77/26",
        "192.168.1.64/26",
        "255.255.255.192",
        "0.0.0.63",
        "192.168.1.127",
        "192.168.1.65",
        "192.168.1.126",
        62,
        "C",
    ),
    (
        "192.168.1.77/255.255.255.192",
        "192.168.1.64/26",
        "255.255.255.192",
        "0.0.0.63",
        "192.168.1.127",
        "192.168.1.65",
        "192.168.1.126",
        62,
        "C",
    ),
    (
        "10.1.2.3/0xffff0000",
        "10.1.0.0/16",
        "255.255.0.0",
        "0.0.255.255",
        "10.1.255.255",
        "10.1.0.1",
        "10.1.255.254",
        65534,
        "A",
    ),
    (
        "10.1.2.3/0xfffffffc",
        "10.1.2.0/30",
        "255.255.255.252",
        "0.0.0.3",
        "10.1.2.3",
        "10.1.2.1",
        "10.1.2.2",
        2,
        "A",
    ),
    # RFC 3021: ipcalc prints no broadcast and HostMin/HostMax are the two addresses.
    (
        "10.0.0.1/31",
        "10.0.0.0/31",
        "255.255.255.254",
        "0.0.0.1",
        None,
        "10.0.0.0",
        "10.0.0.1",
        2,
        "A",
    ),
    # ipcalc: "Hostroute: 10.0.0.1", Hosts/Net 1.
    (
        "10.0.0.1/32",
        "10.0.0.1/32",
        "255.255.255.255",
        "0.0.0.0",
        None,
        "10.0.0.1",
        "10.0.0.1",
        1,
        "A",
    ),
    (
        "10.0.0.0/30",
        "10.0.0.0/30",
        "255.255.255.252",
        "0.0.0.3",
        "10.0.0.3",
        "10.0.0.1",
        "10.0.0.2",
        2,
        "A",
    ),
    (
        "169.254.10.20/16",
        "169.254.0.0/16",
        "255.255.0.0",
        "0.0.255.255",
        "169.254.255.255",
        "169.254.0.1",
        "169.254.255.254",
        65534,
        "B",
    ),
    (
        "100.64.0.1/10",
        "100.64.0.0/10",
        "255.192.0.0",
        "0.63.255.255",
        "100.127.255.255",
        "100.64.0.1",
        "100.127.255.254",
        4194302,
        "A",
    ),
    (
        "203.0.113.77/28",
        "203.0.113.64/28",
        "255.255.255.240",
        "0.0.0.15",
        "203.0.113.79",
        "203.0.113.65",
        "203.0.113.78",
        14,
        "C",
    ),
    (
        "198.51.100.200/25",
        "198.51.100.128/25",
        "255.255.255.128",
        "0.0.0.127",
        "198.51.100.255",
        "198.51.100.129",
        "198.51.100.254",
        126,
        "C",
    ),
    (
        "8.8.8.8/24",
        "8.8.8.0/24",
        "255.255.255.0",
        "0.0.0.255",
        "8.8.8.255",
        "8.8.8.1",
        "8.8.8.254",
        254,
        "A",
    ),
    (
        "63.255.255.255/7",
        "62.0.0.0/7",
        "254.0.0.0",
        "1.255.255.255",
        "63.255.255.255",
        "62.0.0.1",
        "63.255.255.254",
        33554430,
        "A",
    ),
    (
        "192.168.255.255/9",
        "192.128.0.0/9",
        "255.128.0.0",
        "0.127.255.255",
        "192.255.255.255",
        "192.128.0.1",
        "192.255.255.254",
        8388606,
        "C",
    ),
    # sipcalc ADDRESS 0xMASK (Network address, Network mask, Broadcast, Cisco wildcard,
    # Usable range; "Addresses in network" minus 2).
    (
        "10.1.2.3/0xfffffff0",
        "10.1.2.0/28",
        "255.255.255.240",
        "0.0.0.15",
        "10.1.2.15",
        "10.1.2.1",
        "10.1.2.14",
        14,
        "A",
    ),
    (
        "172.20.1.1/0xfffe0000",
        "172.20.0.0/15",
        "255.254.0.0",
        "0.1.255.255",
        "172.21.255.255",
        "172.20.0.1",
        "172.21.255.254",
        131070,
        "B",
    ),
    (
        "192.168.100.5/0xffffff80",
        "192.168.100.0/25",
        "255.255.255.128",
        "0.0.0.127",
        "192.168.100.127",
        "192.168.100.1",
        "192.168.100.126",
        126,
        "C",
    ),
    (
        "10.0.0.0/0xff000000",
        "10.0.0.0/8",
        "255.0.0.0",
        "0.255.255.255",
        "10.255.255.255",
        "10.0.0.1",
        "10.255.255.254",
        16777214,
        "A",
    ),
    # sipcalc 0.0.0.0 0x00000000 prints 4294967295 addresses, one short; ipcalc agrees with
    # 2^32 (Hosts/Net 4294967294 + 2).
    (
        "0.0.0.0/0x00000000",
        "0.0.0.0/0",
        "0.0.0.0",
        "255.255.255.255",
        "255.255.255.255",
        "0.0.0.1",
        "255.255.255.254",
        4294967294,
        "A",
    ),
]


@pytest.mark.parametrize(
    "text,network,netmask,wildcard,bcast,first,last,hosts,klass", V4, ids=[r[0] for r in V4]
)
def test_info_ipv4_matches_ipcalc(
    text, network, netmask, wildcard, bcast, first, last, hosts, klass
):
    info = subnet_report.info_json(sn.describe(sn.parse_interface(text)))
    assert info["network"] == network
    assert info["netmask"] == netmask
    assert info["hostmask"] == wildcard
    assert info["broadcast"] == bcast
    assert (info["first"], info["last"]) == (first, last)
    assert info["hosts"] == hosts
    assert info["class"] == klass
    prefixlen = int(network.split("/")[1])
    assert info["prefixlen"] == prefixlen
    assert info["addresses"] == 2 ** (32 - prefixlen)
    assert info["netmask_hex"] == "0x" + "".join(f"{int(o):02x}" for o in netmask.split("."))


# `info`, IPv6: sipcalc's "Subnet prefix (masked)", "Prefix address" (the mask), "Network range"
# and "Reverse DNS" (the address's PTR name; the zone is its tail). Usable first and last
# follow RFC 4291 (Subnet-Router anycast) and RFC 6164 (/127), which sipcalc does not print.
V6 = [
    # input, network, netmask, range first, range last, first usable, hosts, sipcalc PTR
    (
        "2001:db8::1/64",
        "2001:db8::/64",
        "ffff:ffff:ffff:ffff::",
        "2001:db8::",
        "2001:db8::ffff:ffff:ffff:ffff",
        "2001:db8::1",
        2**64 - 1,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
    ),
    (
        "2001:db8::1/127",
        "2001:db8::/127",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
        "2001:db8::",
        "2001:db8::1",
        "2001:db8::",
        2,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
    ),
    (
        "2001:db8::1/128",
        "2001:db8::1/128",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db8::1",
        "2001:db8::1",
        "2001:db8::1",
        1,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
    ),
    (
        "::/0",
        "::/0",
        "::",
        "::",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "::1",
        2**128 - 1,
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    ),
    (
        "fe80::1/10",
        "fe80::/10",
        "ffc0::",
        "fe80::",
        "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "fe80::1",
        2**118 - 1,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.",
    ),
    (
        "fd00:1234::5/48",
        "fd00:1234::/48",
        "ffff:ffff:ffff::",
        "fd00:1234::",
        "fd00:1234:0:ffff:ffff:ffff:ffff:ffff",
        "fd00:1234::1",
        2**80 - 1,
        "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.3.2.1.0.0.d.f.ip6.arpa.",
    ),
    (
        "::1/128",
        "::1/128",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "::1",
        "::1",
        "::1",
        1,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    ),
    (
        "ff02::1/16",
        "ff02::/16",
        "ffff::",
        "ff02::",
        "ff02:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "ff02::1",
        2**112 - 1,
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.f.f.ip6.arpa.",
    ),
    (
        "2001:db8:abcd:12::/56",
        "2001:db8:abcd::/56",
        "ffff:ffff:ffff:ff00::",
        "2001:db8:abcd::",
        "2001:db8:abcd:ff:ffff:ffff:ffff:ffff",
        "2001:db8:abcd::1",
        2**72 - 1,
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.1.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa.",
    ),
    (
        "2001:db8:abcd:12:3456::/62",
        "2001:db8:abcd:10::/62",
        "ffff:ffff:ffff:fffc::",
        "2001:db8:abcd:10::",
        "2001:db8:abcd:13:ffff:ffff:ffff:ffff",
        "2001:db8:abcd:10::1",
        2**66 - 1,
        "0.0.0.0.0.0.0.0.0.0.0.0.6.5.4.3.2.1.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa.",
    ),
    (
        "2600:1f18:abc::/44",
        "2600:1f18:ab0::/44",
        "ffff:ffff:fff0::",
        "2600:1f18:ab0::",
        "2600:1f18:abf:ffff:ffff:ffff:ffff:ffff",
        "2600:1f18:ab0::1",
        2**84 - 1,
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.a.0.8.1.f.1.0.0.6.2.ip6.arpa.",
    ),
    (
        "64:ff9b::c000:201/96",
        "64:ff9b::/96",
        "ffff:ffff:ffff:ffff:ffff:ffff::",
        "64:ff9b::",
        "64:ff9b::ffff:ffff",
        "64:ff9b::1",
        2**32 - 1,
        "1.0.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.",
    ),
]


@pytest.mark.parametrize(
    "text,network,netmask,range_first,range_last,first,hosts,ptr", V6, ids=[r[0] for r in V6]
)
def test_info_ipv6_matches_sipcalc(
    text, network, netmask, range_first, range_last, first, hosts, ptr
):
    info = subnet_report.info_json(sn.describe(sn.parse_interface(text)))
    assert info["network"] == network
    assert info["netmask"] == netmask
    net = ip_network(network)
    assert str(net.network_address) == range_first
    assert info["last"] == range_last  # IPv6 has no broadcast: the last address is usable
    assert info["first"] == first
    assert info["hosts"] == hosts
    assert info["broadcast"] is None
    assert info["class"] is None
    assert ptr.endswith("." + info["reverse_zone"]) or ptr == info["reverse_zone"]
    nibbles = info["reverse_zone"].removesuffix("ip6.arpa.").count(".")
    assert nibbles == info["prefixlen"] // 4


REVERSE_ZONES = [
    ("192.168.1.0/24", "1.168.192.in-addr.arpa."),
    ("192.168.1.77/26", "1.168.192.in-addr.arpa."),  # RFC 2317 territory: the enclosing zone
    ("10.0.0.0/8", "10.in-addr.arpa."),
    ("172.16.0.0/12", "172.in-addr.arpa."),
    ("172.16.0.0/16", "16.172.in-addr.arpa."),
    ("0.0.0.0/0", "in-addr.arpa."),
    ("10.1.2.3/32", "3.2.1.10.in-addr.arpa."),
    ("2001:db8::/32", "8.b.d.0.1.0.0.2.ip6.arpa."),
    ("2001:db8::/30", "b.d.0.1.0.0.2.ip6.arpa."),
]


@pytest.mark.parametrize("text,zone", REVERSE_ZONES)
def test_reverse_zone(text, zone):
    assert sn.reverse_zone(sn.parse_interface(text).network) == zone


SCOPES = [
    ("10.1.0.0/16", "private"),
    ("172.16.0.0/12", "private"),
    ("172.32.0.0/16", "global"),
    ("192.168.100.0/24", "private"),
    ("100.64.0.0/10", "shared"),
    ("100.127.255.0/24", "shared"),
    ("100.128.0.0/16", "global"),
    ("127.0.0.1/32", "loopback"),
    ("169.254.1.0/24", "link-local"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.7/32", "documentation"),
    ("203.0.113.0/28", "documentation"),
    ("224.0.0.0/24", "multicast"),
    ("240.0.0.0/8", "reserved"),
    ("255.255.255.255/32", "broadcast"),
    ("0.0.0.0/8", "this-network"),
    ("8.8.8.0/24", "global"),
    ("0.0.0.0/0", "mixed"),
    ("10.0.0.0/7", "mixed"),
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("fe80::/64", "link-local"),
    ("fd12:3456::/48", "unique-local"),
    ("ff02::/16", "multicast"),
    ("2001:db8:1::/48", "documentation"),
    ("2600:1f18::/32", "global"),
    ("::ffff:10.0.0.0/104", "ipv4-mapped"),
]


@pytest.mark.parametrize("text,scope", SCOPES)
def test_scope(text, scope):
    assert sn.scope(sn.parse_network(text))[0] == scope


BINARY = [
    # ipcalc marks the boundary with a space; podnet with '|', in place of a group separator
    # that falls on the boundary.
    ("192.168.1.77", 26, "11000000.10101000.00000001.01|001101"),
    ("10.1.2.3", 16, "00001010.00000001|00000010.00000011"),
    ("10.0.0.1", 32, "00001010.00000000.00000000.00000001|"),
    ("0.0.0.0", 0, "|00000000.00000000.00000000.00000000"),
    ("224.0.0.1", 4, "1110|0000.00000000.00000000.00000001"),
    ("2001:db8::", 32, "0010000000000001:0000110110111000|" + ":".join(["0" * 16] * 6)),
]


@pytest.mark.parametrize("addr,prefixlen,bits", BINARY)
def test_binary(addr, prefixlen, bits):
    assert sn.binary(ip_address(addr), prefixlen) == bits


# ---------------------------------------------------------------------------------------------
# Bad input: one line naming the value.

BAD = [
    ("10.0.0.300/24", "'10.0.0.300' is not an IPv4 or IPv6 address"),
    ("10.0.0.0/33", "prefix length /33 is out of range for IPv4 (0-32)"),
    ("2001:db8::/129", "prefix length /129 is out of range for IPv6 (0-128)"),
    ("10.0.0.0/255.0.255.0", "mask 255.0.255.0 is not contiguous"),
    ("10.0.0.0/0xff00ff00", "mask 0xff00ff00 is not contiguous"),
    ("10.0.0.0/0x1ffffffff", "hex mask 0x1ffffffff is wider than 32 bits"),
    ("10.0.0.0/255.255.300.0", "'255.255.300.0' is not a mask"),
    ("10.0.0.0/abc", "'abc' is not a prefix length or mask"),
    ("2001:db8::/ffff::", "'ffff::' is not a prefix length"),
    ("10.0.0.0/", "nothing after '/'"),
    ("banana", "'banana' is not an IPv4 or IPv6 address"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_input(text, message):
    with pytest.raises(InvalidValue) as err:
        sn.parse_interface(text)
    assert message in str(err.value)
    assert text in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text,network",
    [
        ("192.168.1.77/26", "192.168.1.64/26"),
        ("10.0.0.1/8", "10.0.0.0/8"),
        ("2001:db8::1/64", "2001:db8::/64"),
        ("10.1.2.3/255.255.0.0", "10.1.0.0/16"),
    ],
)
def test_network_required_rejects_host_bits(text, network):
    with pytest.raises(InvalidValue, match=f"host bits set \\(the network is {network}\\)"):
        sn.parse_network(text)


def test_parse_network_accepts_networks_in_every_notation():
    assert str(sn.parse_network("10.1.0.0/16")) == "10.1.0.0/16"
    assert str(sn.parse_network("10.1.0.0/255.255.0.0")) == "10.1.0.0/16"
    assert str(sn.parse_network("10.1.0.0/0xffff0000")) == "10.1.0.0/16"
    assert str(sn.parse_network("10.1.0.0/0.0.255.255")) == "10.1.0.0/16"  # Cisco wildcard
    assert str(sn.parse_network("10.1.2.3")) == "10.1.2.3/32"
    assert str(sn.parse_network("2001:db8::")) == "2001:db8::/128"


# ---------------------------------------------------------------------------------------------
# split, vlsm, free, summarize, overlap, range

SPLITS = [
    # sipcalc 10.0.0.0/24 -s 26 and sipcalc 2001:db8::/62 -S 64
    ("10.0.0.0/24", 26, ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"]),
    (
        "2001:db8::/62",
        64,
        ["2001:db8::/64", "2001:db8:0:1::/64", "2001:db8:0:2::/64", "2001:db8:0:3::/64"],
    ),
    ("10.0.0.0/31", 32, ["10.0.0.0/32", "10.0.0.1/32"]),
    ("10.0.0.0/24", 24, ["10.0.0.0/24"]),
]


@pytest.mark.parametrize("network,prefixlen,expected", SPLITS)
def test_split(network, prefixlen, expected):
    assert [str(n) for n in sn.split(sn.parse_network(network), prefixlen)] == expected


@pytest.mark.parametrize(
    "count,prefixlen", [(1, 24), (2, 25), (3, 26), (4, 26), (5, 27), (256, 32)]
)
def test_split_by_count(count, prefixlen):
    assert sn.prefix_for_count(sn.parse_network("10.0.0.0/24"), count) == prefixlen


def test_split_refuses_bad_prefix_and_huge_listings():
    with pytest.raises(InvalidValue, match="expected /24-/32"):
        sn.split(sn.parse_network("10.0.0.0/24"), 20)
    with pytest.raises(InvalidValue, match="at most 65536 are listed"):
        sn.split(sn.parse_network("10.0.0.0/8"), 32)
    with pytest.raises(InvalidValue, match="cannot be split into 3 subnets"):
        sn.prefix_for_count(sn.parse_network("10.0.0.1/32"), 3)


VLSM = [
    # The classic exercise (CCNA): 120, 60, 28 and 2 hosts in a /24, largest first; a two-host
    # link gets a /30. (ipcalc 0.42 -s gives 60 hosts a /27, which holds 30: a known bug.)
    (
        "192.168.0.0/24",
        "120,60,28,2",
        False,
        ["192.168.0.0/25", "192.168.0.128/26", "192.168.0.192/27", "192.168.0.224/30"],
        ["192.168.0.228/30", "192.168.0.232/29", "192.168.0.240/28"],
        10,
    ),
    # Requests in any order: the plan is placed largest first, the answer keeps their order.
    (
        "192.168.0.0/24",
        "2,28,120,60",
        False,
        ["192.168.0.224/30", "192.168.0.192/27", "192.168.0.0/25", "192.168.0.128/26"],
        ["192.168.0.228/30", "192.168.0.232/29", "192.168.0.240/28"],
        10,
    ),
    # RFC 3021 point-to-point links, as ipcalc -s places them.
    (
        "192.168.0.0/24",
        "120,60,28,2",
        True,
        ["192.168.0.0/25", "192.168.0.128/26", "192.168.0.192/27", "192.168.0.224/31"],
        ["192.168.0.226/31", "192.168.0.228/30", "192.168.0.232/29", "192.168.0.240/28"],
        10,
    ),
    (
        "10.0.0.0/24",
        "62,62,62,62",
        False,
        ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"],
        [],
        0,
    ),
    (
        "10.0.0.0/24",
        "lan=100,wan=1",
        True,
        ["10.0.0.0/25", "10.0.0.128/32"],
        [
            "10.0.0.129/32",
            "10.0.0.130/31",
            "10.0.0.132/30",
            "10.0.0.136/29",
            "10.0.0.144/28",
            "10.0.0.160/27",
            "10.0.0.192/26",
        ],
        26,
    ),
    (
        "2001:db8::/120",
        "100,20",
        False,
        ["2001:db8::/121", "2001:db8::80/123"],
        ["2001:db8::a0/123", "2001:db8::c0/122"],
        38,
    ),
]


@pytest.mark.parametrize("parent,hosts,p2p,expected,free,waste", VLSM)
def test_vlsm(parent, hosts, p2p, expected, free, waste):
    plan = sn.vlsm(sn.parse_network(parent), sn.parse_requests(hosts), point_to_point=p2p)
    assert [str(a.network) for a in plan.in_request_order()] == expected
    assert [str(n) for n in plan.free] == free
    assert plan.waste == waste


def test_vlsm_that_does_not_fit_says_so():
    with pytest.raises(InvalidValue) as err:
        sn.vlsm(sn.parse_network("192.168.0.0/25"), sn.parse_requests("120,60"))
    assert str(err.value) == (
        "hosts 120,60 do not fit in 192.168.0.0/25: they need 192 addresses, it has 128"
    )


@pytest.mark.parametrize("text", ["", "a,b", "10,-2", "lan=", "1.5"])
def test_vlsm_bad_host_counts(text):
    with pytest.raises(InvalidValue):
        sn.parse_requests(text)


FREE = [
    (
        "10.0.0.0/16",
        ["10.0.1.0/24", "10.0.128.0/17"],
        [
            "10.0.0.0/24",
            "10.0.2.0/23",
            "10.0.4.0/22",
            "10.0.8.0/21",
            "10.0.16.0/20",
            "10.0.32.0/19",
            "10.0.64.0/18",
        ],
    ),
    ("10.0.0.0/24", [], ["10.0.0.0/24"]),
    ("10.0.0.0/24", ["10.0.0.0/24"], []),
    ("10.0.0.0/24", ["10.0.0.0/8"], []),
    ("10.0.0.0/24", ["192.168.0.0/16", "2001:db8::/32"], ["10.0.0.0/24"]),
    ("10.0.0.0/24", ["10.0.0.0/26", "10.0.0.0/25", "10.0.0.192/26"], ["10.0.0.128/26"]),
    ("0.0.0.0/0", ["0.0.0.0/1"], ["128.0.0.0/1"]),
    ("0.0.0.0/0", ["128.0.0.0/1"], ["0.0.0.0/1"]),
    ("2001:db8::/48", ["2001:db8::/64"], [f"2001:db8:0:{1 << i:x}::/{64 - i}" for i in range(16)]),
]


@pytest.mark.parametrize("parent,used,expected", FREE)
def test_free(parent, used, expected):
    blocks = sn.free(sn.parse_network(parent), [sn.parse_network(u) for u in used])
    assert [str(n) for n in blocks] == expected


def test_first_fit():
    blocks = sn.free(
        sn.parse_network("10.0.0.0/16"),
        [sn.parse_network("10.0.1.0/24"), sn.parse_network("10.0.128.0/17")],
    )
    assert str(sn.first_fit(blocks, 20)) == "10.0.16.0/20"
    assert str(sn.first_fit(blocks, 24)) == "10.0.0.0/24"
    assert str(sn.first_fit(blocks, 23)) == "10.0.2.0/23"
    assert sn.first_fit(blocks, 17) is None


SUMMARIES = [
    (
        ["10.0.0.0/24", "10.0.1.0/24", "10.0.3.0/24"],
        ["10.0.0.0/23", "10.0.3.0/24"],
        ["10.0.0.0/22"],
        256,
    ),
    (
        ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"],
        ["10.0.0.0/22"],
        ["10.0.0.0/22"],
        0,
    ),
    (["192.168.1.0/24", "192.168.1.128/25"], ["192.168.1.0/24"], ["192.168.1.0/24"], 0),
    (["10.0.0.0/8", "11.0.0.0/8"], ["10.0.0.0/7"], ["10.0.0.0/7"], 0),
    (["11.0.0.0/8", "12.0.0.0/8"], ["11.0.0.0/8", "12.0.0.0/8"], ["8.0.0.0/5"], 6 * 2**24),
    (
        ["2001:db8::/64", "2001:db8:0:1::/64", "10.0.0.0/24"],
        ["10.0.0.0/24", "2001:db8::/63"],
        ["10.0.0.0/24", "2001:db8::/63"],
        0,
    ),
]


@pytest.mark.parametrize("nets,exact,cover,extra", SUMMARIES)
def test_summarize(nets, exact, cover, extra):
    parsed = [sn.parse_network(n) for n in nets]
    assert [str(n) for n in sn.summarize(parsed)] == exact
    covers = sn.supernets(parsed)
    assert [str(c.network) for c in covers] == cover
    assert sum(c.extra_addresses for c in covers) == extra


def test_overlaps_lists_every_pair_once():
    nets = [
        sn.parse_network(n)
        for n in (
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "192.168.0.0/16",
            "10.1.0.0/16",
            "10.2.0.0/16",
            "2001:db8::/32",
            "2001:db8:1::/48",
            "11.0.0.0/8",
        )
    ]
    pairs = [(str(p.outer), str(p.inner), p.relation) for p in sn.overlaps(nets)]
    assert pairs == [
        ("10.0.0.0/8", "10.1.0.0/16", "contains"),
        ("10.0.0.0/8", "10.1.2.0/24", "contains"),
        ("10.0.0.0/8", "10.2.0.0/16", "contains"),
        ("10.1.0.0/16", "10.1.0.0/16", "equal"),
        ("10.1.0.0/16", "10.1.2.0/24", "contains"),
        ("2001:db8::/32", "2001:db8:1::/48", "contains"),
    ]


RANGES = [
    # ipcalc -r FIRST LAST ("deaggregate")
    (
        "10.0.0.5",
        "10.0.0.70",
        [
            "10.0.0.5/32",
            "10.0.0.6/31",
            "10.0.0.8/29",
            "10.0.0.16/28",
            "10.0.0.32/27",
            "10.0.0.64/30",
            "10.0.0.68/31",
            "10.0.0.70/32",
        ],
    ),
    ("192.168.0.0", "192.168.3.255", ["192.168.0.0/22"]),
    ("172.16.0.1", "172.16.0.1", ["172.16.0.1/32"]),
    ("1.1.1.255", "1.1.2.0", ["1.1.1.255/32", "1.1.2.0/32"]),
    (
        "192.168.1.1",
        "192.168.1.254",
        [
            "192.168.1.1/32",
            "192.168.1.2/31",
            "192.168.1.4/30",
            "192.168.1.8/29",
            "192.168.1.16/28",
            "192.168.1.32/27",
            "192.168.1.64/26",
            "192.168.1.128/26",
            "192.168.1.192/27",
            "192.168.1.224/28",
            "192.168.1.240/29",
            "192.168.1.248/30",
            "192.168.1.252/31",
            "192.168.1.254/32",
        ],
    ),
    ("0.0.0.0", "255.255.255.255", ["0.0.0.0/0"]),
    ("2001:db8::", "2001:db8::ffff", ["2001:db8::/112"]),
]


@pytest.mark.parametrize("first,last,expected", RANGES)
def test_range(first, last, expected):
    blocks = sn.address_range(ip_address(first), ip_address(last))
    assert [str(n) for n in blocks] == expected


def test_range_rejects_reversed_and_mixed_ends():
    with pytest.raises(InvalidValue, match="the first address is above the last"):
        sn.address_range(ip_address("10.0.0.9"), ip_address("10.0.0.1"))
    with pytest.raises(InvalidValue, match="different families"):
        sn.address_range(ip_address("10.0.0.1"), ip_address("::1"))


# ---------------------------------------------------------------------------------------------
# Properties


@st.composite
def v4_networks(draw, min_prefix=0, max_prefix=32):
    prefixlen = draw(st.integers(min_prefix, max_prefix))
    addr = draw(st.integers(0, 2**32 - 1))
    return sn.parse_interface(f"{IPv4Address(addr)}/{prefixlen}").network


@st.composite
def v6_networks(draw, min_prefix=0, max_prefix=128):
    prefixlen = draw(st.integers(min_prefix, max_prefix))
    addr = draw(st.integers(0, 2**128 - 1))
    return sn.parse_interface(f"{IPv6Address(addr)}/{prefixlen}").network


networks = st.one_of(v4_networks(), v6_networks())


@st.composite
def subnets_of(draw, parent):
    fam = sn.family(parent)
    prefixlen = draw(st.integers(parent.prefixlen, fam.bits))
    offset = draw(st.integers(0, parent.num_addresses - 1))
    return sn.parse_interface(f"{parent.network_address + offset}/{prefixlen}").network


@given(
    parent=st.one_of(v4_networks(0, 30), v6_networks(64, 126)),
    hosts=st.lists(st.integers(1, 5000), min_size=1, max_size=12),
    p2p=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_property_vlsm_blocks_disjoint_aligned_inside(parent, hosts, p2p):
    requests = [sn.Request(name="", hosts=h) for h in hosts]
    try:
        plan = sn.vlsm(parent, requests, point_to_point=p2p)
    except InvalidValue:
        fam = sn.family(parent)
        need = sum(2 ** (fam.bits - sn.prefix_for_hosts(h, fam, p2p)) for h in hosts)
        assert need > parent.num_addresses
        return
    blocks = [a.network for a in plan.allocations]
    for block, req in zip(plan.in_request_order(), requests, strict=True):
        assert block.request == req
        assert sn.usable_hosts(block.network) >= req.hosts
    for block in blocks:
        assert block.subnet_of(parent)
        # aligned: a block is a valid network (no host bits), checked by constructing it strictly
        assert ip_network(str(block), strict=True) == block
    assert not sn.overlaps(blocks)
    # largest first
    assert [b.prefixlen for b in blocks] == sorted(b.prefixlen for b in blocks)
    assert (
        sum(b.num_addresses for b in blocks) + sum(n.num_addresses for n in plan.free)
        == parent.num_addresses
    )


@given(parent=st.one_of(v4_networks(8, 32), v6_networks(96, 128)), data=st.data())
@settings(max_examples=300, deadline=None)
def test_property_free_plus_used_is_parent(parent, data):
    inside = data.draw(st.lists(subnets_of(parent), max_size=8))
    others = data.draw(st.lists(networks, max_size=3))
    used = inside + others
    blocks = sn.free(parent, used)
    # free is disjoint from the used space and sorted
    assert blocks == sorted(blocks, key=sn.sort_key)
    for block in blocks:
        assert block.subnet_of(parent)
        assert not any(block.overlaps(u) for u in used if u.version == block.version)
    # free and used inside the parent make up the parent exactly
    clipped = [u for u in used if u.version == parent.version and u.subnet_of(parent)]
    if any(u.version == parent.version and parent.subnet_of(u) for u in used):
        assert blocks == []
        return
    assert list(collapse_addresses(blocks + clipped)) == [parent]
    # maximal: no two free blocks merge into one
    assert len(list(collapse_addresses(blocks))) == len(blocks)


@given(nets=st.lists(v4_networks(8, 32), min_size=1, max_size=10))
@settings(max_examples=300, deadline=None)
def test_property_summary_covers_exactly_its_inputs(nets):
    exact = sn.summarize(nets)
    # same addresses: the difference is empty both ways
    for net in nets:
        assert any(net.subnet_of(s) for s in exact)
    for s in exact:
        assert not sn.free(s, nets)
    assert not sn.overlaps(exact)
    (cover,) = sn.supernets(nets)
    assert all(n.subnet_of(cover.network) for n in nets)
    total = sum(s.num_addresses for s in exact)
    assert total + cover.extra_addresses == cover.network.num_addresses
    if cover.network.prefixlen < 32:  # smallest: neither half would do
        for half in cover.network.subnets():
            assert not all(n.subnet_of(half) for n in nets)


@given(first=st.integers(0, 2**32 - 1), length=st.integers(0, 2**20))
@settings(max_examples=300, deadline=None)
def test_property_range_blocks_cover_exactly(first, length):
    last = min(first + length, 2**32 - 1)
    blocks = sn.address_range(ip_address(first), ip_address(last))
    assert int(blocks[0].network_address) == first
    assert int(blocks[-1].broadcast_address) == last
    assert sum(b.num_addresses for b in blocks) == last - first + 1
    assert not sn.overlaps(blocks)


@given(nets=st.lists(networks, max_size=12))
@settings(max_examples=300, deadline=None)
def test_property_overlaps_match_pairwise_check(nets):
    found = {(p.outer, p.inner) for p in sn.overlaps(nets)}
    distinct = sorted(set(nets), key=sn.sort_key)
    expected = {
        (a, b) if a.prefixlen <= b.prefixlen else (b, a)
        for i, a in enumerate(distinct)
        for b in distinct[i + 1 :]
        if a.version == b.version and a.overlaps(b)
    } | {(n, n) for n in distinct if nets.count(n) > 1}
    assert found == expected


@given(iface=st.one_of(v4_networks(), v6_networks()))
@settings(max_examples=300, deadline=None)
def test_property_info_is_consistent(iface):
    info = subnet_report.info_json(sn.describe(sn.parse_interface(str(iface))))
    net = ip_network(info["network"])
    first, last = ip_address(info["first"]), ip_address(info["last"])
    assert first in net and last in net
    assert int(last) - int(first) + 1 == info["hosts"]
    assert info["addresses"] == net.num_addresses
    assert (
        sn.parse_interface(
            f"{net.network_address}/{info['netmask']}" if net.version == 4 else str(net)
        ).network
        == net
    )


# ---------------------------------------------------------------------------------------------
# The command


def run(monkeypatch, capsys, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["podnet", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as ex:
        podnet.cli.main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return ex.value.code or 0, out, err


CONTRACT_KEYS = {
    "network",
    "prefixlen",
    "netmask",
    "hostmask",
    "broadcast",
    "first",
    "last",
    "addresses",
    "hosts",
    "class",
    "scope",
    "reverse_zone",
}


def test_cli_info_json_contract(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "subnet", "info", "192.168.1.77/26", "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert data.keys() >= CONTRACT_KEYS
    assert data["network"] == "192.168.1.64/26"
    assert data["hostmask"] == "0.0.0.63"
    assert data["class"] == "C"
    assert data["scope"] == "private"
    assert data["reverse_zone"] == "1.168.192.in-addr.arpa."
    code, out, _ = run(monkeypatch, capsys, "subnet", "info", "2001:db8::1/64", "-o", "json")
    data = json.loads(out)
    assert data["broadcast"] is None and data["class"] is None


def test_cli_info_reads_stdin_and_files(monkeypatch, capsys, tmp_path):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "info",
        "-o",
        "json",
        stdin="10.0.0.1/8 # a comment\n172.16.0.0/12, 192.168.0.0/16\n",
    )
    assert code == 0
    assert [d["network"] for d in json.loads(out)] == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ]
    f = tmp_path / "nets.txt"
    f.write_text("10.1.0.0/16\n")
    code, out, _ = run(monkeypatch, capsys, "subnet", "info", "-f", str(f), "-o", "json")
    assert json.loads(out)["network"] == "10.1.0.0/16"


def test_cli_info_table(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "subnet", "info", "192.168.1.77/26")
    assert code == 0
    for text in (
        "192.168.1.64/26",
        "255.255.255.192 = /26 = 0xffffffc0",
        "0.0.0.63",
        "192.168.1.127",
        "192.168.1.65",
        "192.168.1.126",
        "private (RFC 1918)",
        "1.168.192.in-addr.arpa.",
        "11000000.10101000.00000001.01|001101",
    ):
        assert text in out


CLI_BAD = [
    (["subnet", "info", "10.0.0.300/24"], "10.0.0.300"),
    (["subnet", "info", "10.0.0.0/33"], "/33"),
    (["subnet", "info", "10.0.0.0/255.0.255.0"], "255.0.255.0 is not contiguous"),
    (["subnet", "split", "192.168.1.77/26", "--prefix", "28"], "192.168.1.77/26"),
    (["subnet", "vlsm", "192.168.1.77/26", "--hosts", "10"], "host bits set"),
    (["subnet", "free", "10.0.0.1/8", "--used", "10.1.0.0/16"], "10.0.0.1/8"),
    (["subnet", "free", "10.0.0.0/8", "--used", "10.1.0.1/16"], "10.1.0.1/16"),
    (["subnet", "summarize", "10.0.0.1/24"], "10.0.0.1/24"),
    (["subnet", "overlap", "10.0.0.0/8", "10.0.0.0/33"], "10.0.0.0/33"),
    (["subnet", "split", "10.0.0.0/24"], "exactly one of --prefix and --count"),
    (["subnet", "split", "10.0.0.0/24", "-p", "40"], "bad prefix length '40'"),
    (["subnet", "vlsm", "192.168.0.0/25", "--hosts", "120,60"], "do not fit"),
    (
        ["subnet", "free", "10.0.0.0/24", "--used", "10.0.0.0/25", "--fit", "24"],
        "no free /24 in 10.0.0.0/24",
    ),
    (["subnet", "range", "10.0.0.9", "10.0.0.1"], "above the last"),
    (["subnet", "range", "10.0.0.9"], "a range needs a first and a last address"),
    (["subnet", "info"], "no networks given"),
]


@pytest.mark.parametrize("args,needle", CLI_BAD, ids=[" ".join(a) for a, _ in CLI_BAD])
def test_cli_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, args, needle):
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 2
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert needle in err
    assert "Traceback" not in err


def test_cli_split_vlsm_free_json(monkeypatch, capsys):
    _, out, _ = run(monkeypatch, capsys, "subnet", "split", "10.0.0.0/24", "-n", "3", "-o", "json")
    assert json.loads(out) == ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"]
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "vlsm",
        "192.168.0.0/24",
        "--hosts",
        "2,120,60,28",
        "-o",
        "json",
    )
    # largest block first, as allocated; `index` keeps the order of --hosts
    assert [(b["index"], b["network"]) for b in json.loads(out)] == [
        (1, "192.168.0.0/25"),
        (2, "192.168.0.128/26"),
        (3, "192.168.0.192/27"),
        (0, "192.168.0.224/30"),
    ]
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "free",
        "10.0.0.0/22",
        "--used",
        "10.0.1.0/24",
        "--used",
        "10.0.3.0/25",
        "-o",
        "json",
    )
    assert json.loads(out) == ["10.0.0.0/24", "10.0.2.0/24", "10.0.3.128/25"]
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "free",
        "10.0.0.0/22",
        "--used",
        "10.0.1.0/24",
        "--fit",
        "/25",
        "-o",
        "json",
    )
    assert json.loads(out) == ["10.0.0.0/25"]


def test_cli_vlsm_table_is_largest_block_first(monkeypatch, capsys):
    """As CCNA material and ipcalc -s print a plan: in allocation order, whatever the order of
    --hosts; `#` is the request's position there."""
    code, out, _ = run(
        monkeypatch, capsys, "subnet", "vlsm", "192.168.0.0/24", "--hosts", "wan=2,28,lan=120,60"
    )
    assert code == 0
    rows = [line.split("│")[1:4] for line in out.splitlines() if line.startswith("│")]
    assert [[c.strip() for c in row] for row in rows] == [
        ["3", "lan", "120"],
        ["4", "-", "60"],
        ["2", "-", "28"],
        ["1", "wan", "2"],
    ]
    assert "largest block first" in out
    assert "#: the request's position in --hosts" in out


def test_cli_vlsm_json_blocks(monkeypatch, capsys):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "vlsm",
        "10.0.0.0/24",
        "--hosts",
        "wan=1,lan=100",
        "--point-to-point",
        "-o",
        "json",
    )
    assert code == 0
    assert json.loads(out) == [
        {
            "index": 1,
            "name": "lan",
            "wanted": 100,
            "network": "10.0.0.0/25",
            "prefixlen": 25,
            "netmask": "255.255.255.128",
            "first": "10.0.0.1",
            "last": "10.0.0.126",
            "broadcast": "10.0.0.127",
            "usable": 126,
            "waste": 26,
        },
        {
            "index": 0,
            "name": "wan",
            "wanted": 1,
            "network": "10.0.0.128/32",
            "prefixlen": 32,
            "netmask": "255.255.255.255",
            "first": "10.0.0.128",
            "last": "10.0.0.128",
            "broadcast": None,
            "usable": 1,
            "waste": 0,
        },
    ]
    _, out, _ = run(
        monkeypatch, capsys, "subnet", "vlsm", "2001:db8::/120", "--hosts", "20,100", "-o", "json"
    )
    blocks = json.loads(out)
    assert [(b["index"], b["network"], b["broadcast"], b["name"]) for b in blocks] == [
        (1, "2001:db8::/121", None, None),
        (0, "2001:db8::80/123", None, None),
    ]


def test_cli_vlsm_json_feeds_the_next_command(monkeypatch, capsys):
    _, plan, _ = run(
        monkeypatch, capsys, "subnet", "vlsm", "192.168.0.0/24", "--hosts", "120,60", "-o", "json"
    )
    code, out, _ = run(monkeypatch, capsys, "subnet", "summarize", "-o", "json", stdin=plan)
    assert code == 0
    assert json.loads(out) == ["192.168.0.0/25", "192.168.0.128/26"]
    _, info, _ = run(
        monkeypatch, capsys, "subnet", "info", "10.0.0.0/25", "10.0.0.128/25", "-o", "json"
    )
    _, out, _ = run(monkeypatch, capsys, "subnet", "summarize", "-o", "json", stdin=info)
    assert json.loads(out) == ["10.0.0.0/24"]
    code, _, err = run(monkeypatch, capsys, "subnet", "summarize", stdin='[{"cidr": "10.0.0.0/8"}]')
    assert code == 2
    assert 'objects with a "network"' in err


def test_cli_free_reads_used_from_stdin_and_file(monkeypatch, capsys, tmp_path):
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "free",
        "10.0.0.0/24",
        "--used",
        "-",
        "-o",
        "json",
        stdin='["10.0.0.0/25"]',
    )
    assert json.loads(out) == ["10.0.0.128/25"]
    f = tmp_path / "used"
    f.write_text("10.0.0.128/25\n")
    _, out, _ = run(
        monkeypatch, capsys, "subnet", "free", "10.0.0.0/24", "--used", f"@{f}", "-o", "json"
    )
    assert json.loads(out) == ["10.0.0.0/25"]
    code, out, err = run(
        monkeypatch, capsys, "subnet", "free", "10.0.0.0/24", "-f", str(tmp_path / "missing")
    )
    assert code == 2 and "cannot read" in err


def test_cli_free_table_reports_ignored_and_fit(monkeypatch, capsys):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "free",
        "10.0.0.0/16",
        "--used",
        "10.0.1.0/24,10.0.128.0/17,192.168.0.0/24",
        "--fit",
        "20",
    )
    assert code == 0
    assert "10.0.64.0/18" in out
    assert "ignored (outside the parent): 192.168.0.0/24" in out
    assert "first free /20: 10.0.16.0/20" in out


def test_cli_pipes_json_into_the_next_command(monkeypatch, capsys):
    _, out, _ = run(monkeypatch, capsys, "subnet", "split", "10.0.0.0/24", "-p", "26", "-o", "json")
    _, out, _ = run(monkeypatch, capsys, "subnet", "summarize", "-o", "json", stdin=out)
    assert json.loads(out) == ["10.0.0.0/24"]


def test_cli_summarize_overlap_contains_range(monkeypatch, capsys):
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "summarize",
        "10.0.0.0/24,10.0.1.0/24",
        "10.0.3.0/24",
        "-o",
        "json",
    )
    assert json.loads(out) == ["10.0.0.0/23", "10.0.3.0/24"]
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "summarize",
        "10.0.0.0/24",
        "10.0.3.0/24",
        "--supernet",
        "-o",
        "json",
    )
    assert json.loads(out) == ["10.0.0.0/22"]
    _, out, _ = run(monkeypatch, capsys, "subnet", "summarize", "10.0.0.0/24", "10.0.3.0/24")
    assert "covering supernet 10.0.0.0/22: 512 addresses beyond the inputs" in out
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "overlap",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "192.168.0.0/16",
        "-o",
        "json",
    )
    assert json.loads(out) == [["10.0.0.0/8", "10.1.0.0/16"]]
    _, out, _ = run(monkeypatch, capsys, "subnet", "overlap", "10.0.0.0/16", "10.1.0.0/16")
    assert "no overlaps" in out
    code, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "contains",
        "10.0.0.0/8",
        "10.1.2.3",
        "10.2.0.0/16",
        "-o",
        "json",
    )
    assert code == 0 and json.loads(out) == ["10.1.2.3", "10.2.0.0/16"]
    code, out, _ = run(
        monkeypatch, capsys, "subnet", "contains", "10.0.0.0/8", "10.1.2.3", "11.0.0.1"
    )
    assert code == 1 and "11.0.0.1" in out
    _, out, _ = run(monkeypatch, capsys, "subnet", "range", "10.0.0.5-10.0.0.70", "-o", "json")
    assert json.loads(out)[0] == "10.0.0.5/32" and json.loads(out)[-1] == "10.0.0.70/32"
    _, out, _ = run(
        monkeypatch,
        capsys,
        "subnet",
        "range",
        "-o",
        "json",
        stdin="10.0.0.0 10.0.0.255\n10.0.1.0-10.0.1.1\n",
    )
    assert json.loads(out) == ["10.0.0.0/24", "10.0.1.0/31"]
