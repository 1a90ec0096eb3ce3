"""podnet-cni over IPv6 and dual stack on the kernel, side by side with the reference plugins.

The twin-namespace method of `test_cni_plugins.py`: the same configuration and environment to
the reference `bridge` + `host-local` and to podnet's, then results, addresses, routes and links
compared after normalising what is random by design (MACs, host veth names, link-local
addresses). Duplicate address detection is off in the namespaces unless a test is about it.
Every namespace is named `pncni6-*` and removed after the test.
"""

from __future__ import annotations

import subprocess

import pytest

from podnet.cni.ptp import GATEWAY_V6

from . import test_cni_plugins
from .conftest import NetNS
from .test_cni_plugins import CLIENT, bridge_conf, cni, norm_result, tcp_exchange

podnet_bin = test_cni_plugins.podnet_bin  # fixtures
ref_bin = test_cni_plugins.ref_bin

V4 = "10.244.1.0/24"
V6 = "fd00:10:244:1::/64"

# Flags of `ip -j addr` that say where duplicate address detection is, not what was configured.
DAD_STATE = {"tentative", "dadfailed", "optimistic"}
ADDR_IGNORED = {"valid_life_time", "preferred_life_time", "label", "index"} | DAD_STATE


def write_sysctl(ns: NetNS, path: str, value: str) -> None:
    ns.run("sh", "-c", f"echo {value} > /proc/sys/{path}")


def read_sysctl(ns: NetNS, path: str) -> str:
    return ns.run("cat", f"/proc/sys/{path}").stdout.decode().strip()


def make_ns(make_netns, role: str, dad: bool = False) -> NetNS:
    ns = make_netns(f"pncni6-{role}")
    if not dad:
        for scope in ("all", "default"):
            write_sysctl(ns, f"net/ipv6/conf/{scope}/accept_dad", "0")
    return ns


def ipam(ranges: list[str], routes: list[str], data_dir: str) -> dict:
    return {
        "type": "host-local",
        "dataDir": data_dir,
        "ranges": [[{"subnet": subnet}] for subnet in ranges],
        "routes": [{"dst": dst} for dst in routes],
    }


def conf_for(data_dir: str, ranges: list[str], routes: list[str], **options) -> dict:
    conf = bridge_conf(data_dir, name="pncni6-net", bridge="pncni6br0")
    conf["ipam"] = ipam(ranges, routes, data_dir)
    conf["dns"] = {"nameservers": ["fd00:10:96::a"], "search": ["default.svc.cluster.local"]}
    conf.update(options)
    return conf


def addr_state(ns: NetNS) -> list[tuple]:
    """Every address but link-local ones, with its configured flags."""
    out = []
    for link in ns.ip_json("addr"):
        name = "VETH" if link["ifname"].startswith("veth") else link["ifname"]
        for a in link.get("addr_info", []):
            if a["family"] == "inet6" and a["local"].startswith("fe80:"):
                continue  # derived from the random MAC
            flags = sorted(k for k, v in a.items() if v is True and k not in ADDR_IGNORED)
            rest = sorted(
                (k, v)
                for k, v in a.items()
                if v is not True and k not in ADDR_IGNORED and k not in ("family", "local")
            )
            out.append((name, a["family"], a["local"], tuple(flags), tuple(rest)))
    return sorted(out)


def route_state(ns: NetNS) -> list[dict]:
    routes = ns.ip_json("route") + ns.ip_json("-6", "route")
    out = []
    for r in routes:
        if r.get("dst", "").startswith("fe80"):
            continue
        r = dict(r)
        if r.get("dev", "").startswith("veth"):
            r["dev"] = "VETH"
        out.append(r)
    return out


# Per-link settings the plugins make: router advertisements off on the node side, and in the
# pod no duplicate address detection and a gratuitous ARP when the link comes up.
LINK_SYSCTLS = ("ipv6/conf/{}/accept_ra", "ipv6/conf/{}/accept_dad", "ipv4/conf/{}/arp_notify")


def link_state(ns: NetNS) -> list[tuple]:
    links = []
    for link in ns.ip_json("-d", "link"):
        info = link.get("linkinfo", {})
        name = link["ifname"]
        sysctls = " ".join(f"/proc/sys/net/{s.format(name)}" for s in LINK_SYSCTLS)
        links.append(
            (
                "VETH" if name.startswith("veth") else name,
                ns.run("cat", *sysctls.split()).stdout.decode().split(),
                sorted(link["flags"]),
                link["mtu"],
                link.get("master"),
                info.get("info_kind"),
                info.get("info_slave_data", {}).get("hairpin"),
                link.get("promiscuity"),
            )
        )
    return sorted(links, key=repr)


def node_state(host: NetNS) -> dict:
    return {
        "links": link_state(host),
        "addrs": addr_state(host),
        "routes": route_state(host),
        "ip_forward": read_sysctl(host, "net/ipv4/ip_forward"),
        "ipv6_forwarding": read_sysctl(host, "net/ipv6/conf/all/forwarding"),
    }


def pod_state(pod: NetNS) -> dict:
    return {"links": link_state(pod), "addrs": addr_state(pod), "routes": route_state(pod)}


# --------------------------------------------------------------------------- side by side

VARIANTS = {
    "v6-gateway": ([V6], ["::/0"], {}),
    "v6-default-gateway": ([V6], [], {"isDefaultGateway": True}),
    "v6-no-gateway": ([V6], ["fd00:10:96::/108"], {"isGateway": False}),
    "dual-gateway": ([V4, V6], ["0.0.0.0/0", "::/0"], {}),
    "dual-default-gateway": ([V4, V6], [], {"isDefaultGateway": True}),
    "dual-v6-first": ([V6, V4], ["::/0", "0.0.0.0/0"], {"mtu": 1400}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_bridge_ipv6_side_by_side(variant, make_netns, podnet_bin, ref_bin, tmp_path):
    ranges, routes, options = VARIANTS[variant]
    states = {}
    for side, bindir in (("ref", ref_bin), ("podnet", podnet_bin)):
        conf = conf_for(str(tmp_path / side), ranges, routes, **options)
        host = make_ns(make_netns, "node")
        pods = [make_ns(make_netns, "pod") for _ in range(2)]
        results = []
        for i, pod in enumerate(pods):
            status, result = cni(bindir, "bridge", "ADD", conf, host, pod, cid=f"c{i}")
            assert status == 0, result
            results.append(norm_result(result, pod.path))
        states[side] = {
            "results": results,
            "pods": [pod_state(p) for p in pods],
            "node": node_state(host),
        }
        for i, pod in enumerate(pods):
            for _ in range(2):  # twice is fine
                assert cni(bindir, "bridge", "DEL", conf, host, pod, cid=f"c{i}")[0] == 0
            assert [link["ifname"] for link in pod.ip_json("link")] == ["lo"]
        assert [link["ifname"] for link in host.ip_json("link")] == ["lo", "pncni6br0"]
        left = tmp_path / side / "pncni6-net"
        assert not [f for f in left.iterdir() if f.name[0].isdigit() or ":" in f.name]
    assert states["podnet"]["results"] == states["ref"]["results"]
    assert states["podnet"]["pods"] == states["ref"]["pods"]
    assert states["podnet"]["node"] == states["ref"]["node"]


# --------------------------------------------------------------------------- duplicate address detection

SERVER6 = (
    "import socket,sys;s=socket.socket(socket.AF_INET6);s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
    "s.bind(('::',int(sys.argv[1])));s.listen();s.settimeout(10);c,_=s.accept();c.sendall(b'pong');c.close()"
)
BIND = "import socket,sys;socket.socket(socket.AF_INET6).bind((sys.argv[1],0))"


def tcp6_exchange(server: NetNS, client: NetNS, address: str, port: int) -> bytes:
    srv = subprocess.Popen(
        ["ip", "netns", "exec", server.name, "python3", "-c", SERVER6, str(port)]
    )
    try:
        return client.run("python3", "-c", CLIENT, address, str(port), timeout=20).stdout.strip()
    finally:
        srv.kill()
        srv.wait()


def dad_state(ns: NetNS) -> list[tuple]:
    out = []
    for link in ns.ip_json("addr"):
        for a in link.get("addr_info", []):
            if a["family"] == "inet6" and not a["local"].startswith("fe80:"):
                out.append((link["ifname"], a["local"], sorted(k for k in DAD_STATE if a.get(k))))
    return out


@pytest.mark.parametrize("variant", ["plain", "hairpin"])
def test_bridge_ipv6_addresses_usable_at_once(variant, make_netns, podnet_bin, ref_bin, tmp_path):
    """With duplicate address detection on in the namespaces, the pod's IPv6 address is usable as
    soon as ADD returns (the reference turns detection off on the pod interface), with hairpin
    too (where detection would see its own echo)."""
    options = {"hairpinMode": True} if variant == "hairpin" else {}
    seen = {}
    for side, bindir in (("ref", ref_bin), ("podnet", podnet_bin)):
        conf = conf_for(str(tmp_path / side), [V4, V6], ["0.0.0.0/0", "::/0"], **options)
        host = make_ns(make_netns, "node", dad=True)
        pods = [make_ns(make_netns, "pod", dad=True) for _ in range(2)]
        addrs = []
        for i, pod in enumerate(pods):
            status, result = cni(bindir, "bridge", "ADD", conf, host, pod, cid=f"d{i}")
            assert status == 0, result
            addrs.append([ip["address"].split("/")[0] for ip in result["ips"]])
            pod.run("python3", "-c", BIND, addrs[-1][1])
        seen[side] = [dad_state(p) for p in pods]
        assert tcp6_exchange(pods[1], pods[0], addrs[1][1], 8080) == b"pong"
        assert tcp_exchange(pods[1], pods[0], addrs[1][0], 8081) == b"pong"
        for i, pod in enumerate(pods):
            assert cni(bindir, "bridge", "DEL", conf, host, pod, cid=f"d{i}")[0] == 0
    assert (
        seen["podnet"]
        == seen["ref"]
        == [
            [("eth0", "fd00:10:244:1::2", [])],
            [("eth0", "fd00:10:244:1::3", [])],
        ]
    )


# --------------------------------------------------------------------------- ptp


def test_ptp_dual_stack_wiring(make_netns, podnet_bin, tmp_path):
    """Calico-style ptp over both families: /32 and /128 in the pod, defaults via 169.254.1.1 and
    the host end's link-local address, host routes to each address; pods reach each other."""
    conf = conf_for(str(tmp_path), [V4, V6], ["0.0.0.0/0", "::/0"], type="ptp")
    host = make_ns(make_netns, "node")
    host.run("ip", "link", "add", "pncni6up0", "type", "veth", "peer", "name", "pncni6up1")
    host.run("ip", "link", "set", "pncni6up1", "up")
    host.run("ip", "addr", "add", "172.31.255.1/24", "dev", "pncni6up0")
    host.run("ip", "link", "set", "pncni6up0", "up")
    host.run("ip", "route", "add", "default", "dev", "pncni6up0")
    pods = [make_ns(make_netns, "pod") for _ in range(2)]
    addrs = []
    for i, pod in enumerate(pods):
        status, result = cni(podnet_bin, "ptp", "ADD", conf, host, pod, cid=f"p{i}")
        assert status == 0, result
        host_if = result["interfaces"][0]["name"]
        v4, v6 = (ip["address"] for ip in result["ips"])
        assert v4 == f"10.244.1.{i + 2}/32" and v6 == f"fd00:10:244:1::{i + 2}/128"
        assert [ip["gateway"] for ip in result["ips"]] == ["169.254.1.1", GATEWAY_V6]
        addrs.append((v4.split("/")[0], v6.split("/")[0]))
        routes = pod.ip_json("-6", "route")
        assert any(
            r["dst"] == "default" and r["gateway"] == GATEWAY_V6 and r["dev"] == "eth0"
            for r in routes
        ), routes
        host_routes = host.ip_json("-6", "route")
        assert any(r["dst"] == addrs[-1][1] and r["dev"] == host_if for r in host_routes)
        assert read_sysctl(host, f"net/ipv6/conf/{host_if}/accept_ra") == "0"
        check = {**conf, "prevResult": result}
        assert cni(podnet_bin, "ptp", "CHECK", check, host, pod, cid=f"p{i}")[0] == 0
    assert read_sysctl(host, "net/ipv6/conf/all/forwarding") == "1"
    assert tcp6_exchange(server=pods[1], client=pods[0], address=addrs[1][1], port=8080) == b"pong"
    assert tcp_exchange(server=pods[1], client=pods[0], address=addrs[1][0], port=8081) == b"pong"
    for i, pod in enumerate(pods):
        assert cni(podnet_bin, "ptp", "DEL", conf, host, pod, cid=f"p{i}")[0] == 0
        assert [link["ifname"] for link in pod.ip_json("link")] == ["lo"]
    assert [link["ifname"] for link in host.ip_json("link")] == ["lo", "pncni6up1", "pncni6up0"]
    assert not [r for r in route_state(host) if r["dst"].startswith(("10.244.", "fd00:"))]
