"""host-local: range defaults, the round-robin allocator over an in-memory store, the file store (no root)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess

import pytest

from podnet.cni import hostlocal, install, spec
from podnet.cni.spec import CniError

ENV = spec.Environment("ADD", "c1", "/run/netns/x", "eth0")


class MemoryStore:
    def __init__(self) -> None:
        self.held: dict = {}
        self.last: dict = {}

    def reserve(self, cid, ifname, ip, range_id):
        if ip in self.held:
            return False
        self.held[ip] = (cid, ifname)
        self.last[range_id] = ip
        return True

    def last_reserved(self, range_id):
        return self.last.get(range_id)

    def reservations(self):
        return sorted((ip, c, i) for ip, (c, i) in self.held.items())

    def release(self, ip):
        self.held.pop(ip, None)


def rs(*ranges: dict) -> hostlocal.RangeSet:
    return tuple(hostlocal.parse_range(r) for r in ranges)


RANGE_CASES = [
    ({"subnet": "10.0.0.0/24"}, ("10.0.0.1", "10.0.0.254", "10.0.0.1")),
    ({"subnet": "10.0.0.0/24", "gateway": "10.0.0.254"}, ("10.0.0.1", "10.0.0.254", "10.0.0.254")),
    (
        {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.100", "rangeEnd": "10.0.0.110"},
        ("10.0.0.100", "10.0.0.110", "10.0.0.1"),
    ),
    ({"subnet": "fd00::/120"}, ("fd00::1", "fd00::ff", "fd00::1")),
    ({"subnet": "10.0.0.0/31"}, "too small"),
    ({"subnet": "10.0.0.1/24"}, "host bits set"),
    ({"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.5"}, "not in network"),
    ({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.5"}, "after rangeEnd"),
    ({"subnet": "banana"}, "invalid subnet"),
    ({}, "needs a subnet"),
]


@pytest.mark.parametrize(("data", "expected"), RANGE_CASES)
def test_parse_range(data, expected):
    if isinstance(expected, str):
        with pytest.raises(CniError) as err:
            hostlocal.parse_range(data)
        assert err.value.code == 7 and expected in err.value.msg
    else:
        r = hostlocal.parse_range(data)
        assert (str(r.range_start), str(r.range_end), str(r.gateway)) == expected


def test_overlapping_ranges():
    with pytest.raises(CniError, match="overlap"):
        hostlocal.parse_range_sets(
            {"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.0/25"}]]}, {}
        )
    with pytest.raises(CniError, match="range set 0 overlaps with 1"):
        hostlocal.parse_range_sets(
            {"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.128/25"}]]}, {}
        )


def allocate_all(store, range_set, n, cid="c"):
    return [str(hostlocal.allocate(store, range_set, 0, f"{cid}{i}", "eth0")[0]) for i in range(n)]


def test_round_robin_skips_gateway_and_wraps():
    store = MemoryStore()
    r = rs({"subnet": "10.0.0.0/29"})  # .1 gateway, .2-.6 usable
    assert allocate_all(store, r, 3) == ["10.0.0.2/29", "10.0.0.3/29", "10.0.0.4/29"]
    store.release(ipaddress.ip_address("10.0.0.3"))
    # round robin: after the last reserved (.4), not the lowest free
    assert allocate_all(store, r, 3, "d") == ["10.0.0.5/29", "10.0.0.6/29", "10.0.0.3/29"]
    with pytest.raises(CniError, match="no IP addresses available in range set: 10.0.0.1-10.0.0.6"):
        hostlocal.allocate(store, r, 0, "full", "eth0")


def test_range_iter_across_ranges():
    r = rs({"subnet": "10.0.0.0/30"}, {"subnet": "10.0.1.0/29", "rangeEnd": "10.0.1.3"})
    order = [str(ip) for _, ip in hostlocal.range_iter(r, ipaddress.ip_address("10.0.1.2"))]
    assert order == ["10.0.1.3", "10.0.0.2", "10.0.1.2"]
    assert [str(ip) for _, ip in hostlocal.range_iter(r, None)] == [
        "10.0.0.2",
        "10.0.1.2",
        "10.0.1.3",
    ]
    # a last reserved address no range holds (the config changed) starts from the beginning
    assert [str(ip) for _, ip in hostlocal.range_iter(r, ipaddress.ip_address("192.0.2.1"))][
        0
    ] == "10.0.0.2"


def test_requested_and_duplicate():
    store = MemoryStore()
    r = rs({"subnet": "10.0.0.0/24"})
    assert (
        str(hostlocal.allocate(store, r, 0, "a", "eth0", ipaddress.ip_address("10.0.0.50"))[0])
        == "10.0.0.50/24"
    )
    for want, fragment in (
        ("10.0.0.50", "not available"),
        ("10.0.0.1", "gateway"),
        ("10.9.0.1", "not in range set"),
    ):
        with pytest.raises(CniError, match=fragment):
            hostlocal.allocate(store, r, 0, "b", "eth0", ipaddress.ip_address(want))
    with pytest.raises(CniError, match="duplicate allocation"):
        hostlocal.allocate(store, r, 0, "a", "eth0")
    assert hostlocal.release(store, "a", "eth0") == [ipaddress.ip_address("10.0.0.50")]


def test_gc_keeps_valid_attachments():
    store = MemoryStore()
    r = rs({"subnet": "10.0.0.0/24"})
    allocate_all(store, r, 4)
    freed = hostlocal.garbage_collect(store, {("c1", "eth0"), ("c3", "eth0")})
    assert [str(ip) for ip in freed] == ["10.0.0.2", "10.0.0.4"]
    assert [c for _, c, _ in store.reservations()] == ["c1", "c3"]


def test_config_sources_of_requested_ips_and_dns(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "# comment\nnameserver 10.96.0.10\nsearch a.svc b.svc\noptions ndots:5\ndomain cluster.local\n"
    )
    conf = {
        "name": "net",
        "args": {"cni": {"ips": ["10.0.0.7/24"]}},
        "runtimeConfig": {"ips": ["fd00::7"]},
        "ipam": {
            "type": "host-local",
            "subnet": "10.0.0.0/24",
            "ranges": [[{"subnet": "fd00::/120"}]],
            "resolvConf": str(resolv),
        },
    }
    env = spec.Environment("ADD", "c", "/x", "eth0", (("IP", "10.0.0.8"),))
    cfg = hostlocal.parse_config(conf, env)
    assert [str(ip) for ip in cfg.requested] == ["10.0.0.8", "10.0.0.7", "fd00::7"]
    assert cfg.dns == spec.DNS(["10.96.0.10"], "cluster.local", ["a.svc", "b.svc"], ["ndots:5"])
    assert len(cfg.range_sets) == 2 and cfg.data_dir == hostlocal.DEFAULT_DATA_DIR


def test_file_store_layout(tmp_path):
    conf = {
        "name": "net",
        "cniVersion": "1.0.0",
        "ipam": {
            "type": "host-local",
            "dataDir": str(tmp_path),
            "ranges": [[{"subnet": "10.0.0.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }
    result = hostlocal.cmd_add(conf, ENV, "1.0.0")
    assert result.to_json("1.0.0") == {
        "cniVersion": "1.0.0",
        "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {},
    }
    assert (tmp_path / "net" / "10.0.0.2").read_bytes() == b"c1\r\neth0"
    assert (tmp_path / "net" / "last_reserved_ip.0").read_text() == "10.0.0.2"
    (tmp_path / "net" / "10.0.0.9").write_bytes(b"old")  # the id-only format of old plugin versions
    hostlocal.cmd_check(conf, ENV)
    hostlocal.cmd_del(conf, ENV)
    hostlocal.cmd_del(conf, ENV)
    with pytest.raises(CniError, match="Failed to find address"):
        hostlocal.cmd_check(conf, ENV)
    hostlocal.cmd_del(conf, spec.Environment("DEL", "old", "", "eth0"))
    assert sorted(os.listdir(tmp_path / "net")) == ["last_reserved_ip.0", "lock"]


def test_100_concurrent_adds_then_dels(tmp_path):
    bindir = tmp_path / "bin"
    install.install(str(bindir), names=["host-local"])
    conf = json.dumps(
        {
            "name": "net",
            "cniVersion": "1.0.0",
            "ipam": {
                "type": "host-local",
                "dataDir": str(tmp_path / "data"),
                "ranges": [[{"subnet": "10.0.0.0/24"}]],
            },
        }
    ).encode()

    def spawn(command: str, i: int) -> subprocess.Popen:
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": f"c{i}",
            "CNI_IFNAME": "eth0",
            "CNI_NETNS": "/run/netns/none",
        }
        p = subprocess.Popen(
            [str(bindir / "host-local")], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        p.stdin.write(conf)
        p.stdin.close()
        return p

    procs = [spawn("ADD", i) for i in range(100)]
    results = [json.loads(p.stdout.read()) for p in procs]
    assert [p.wait() for p in procs] == [0] * 100
    assert len({r["ips"][0]["address"] for r in results}) == 100
    procs = [spawn("DEL", i) for i in range(100)]
    assert [p.wait() for p in procs] == [0] * 100
    assert sorted(os.listdir(tmp_path / "data" / "net")) == ["last_reserved_ip.0", "lock"]
