"""The CNI plugin's nftables rulesets and its JSON reader, checked as text (no root)."""

from __future__ import annotations

import ipaddress

from podnet.cni import nft, portmap, spec


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
