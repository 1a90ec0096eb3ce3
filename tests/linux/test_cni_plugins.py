"""podnet-cni on the kernel, side by side with the reference plugins (containernetworking-plugins).

Each twin test gives the same configuration and environment to the reference binary and to
podnet's, in twin namespaces (a 'node' namespace the plugin runs in, and pod namespaces), and
compares results and kernel state after normalising what is random by design (MACs, host veth
names, namespace paths). Every namespace is named `pncni-*` and removed after the test.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time

import pytest

from podnet.cni import install

from .conftest import NetNS, require_binary

REF_DIR = "/usr/lib/cni"


@pytest.fixture(scope="module")
def podnet_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = str(tmp_path_factory.mktemp("cnibin"))
    install.install(directory)
    return directory


@pytest.fixture
def ref_bin() -> str:
    require_binary("bridge", REF_DIR)
    require_binary("host-local", REF_DIR)
    return REF_DIR


def cni(
    bindir: str,
    plugin: str,
    command: str,
    conf: dict,
    host: NetNS,
    pod: NetNS | None = None,
    ifname: str = "eth0",
    cid: str = "pod1",
    netns_path: str | None = None,
    path: str | None = None,
) -> tuple[int, dict | None]:
    """Run one plugin command in the node namespace; (exit status, decoded stdout)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_IFNAME": ifname,
        "CNI_PATH": path or bindir,
    }
    if netns_path is not None:
        env["CNI_NETNS"] = netns_path
    elif pod is not None:
        env["CNI_NETNS"] = pod.path
    proc = host.run(
        os.path.join(bindir, plugin), input=json.dumps(conf).encode(), env=env, check=False
    )
    out = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, out


def bridge_conf(data_dir: str, **options) -> dict:
    conf = {
        "cniVersion": "1.0.0",
        "name": "pncni-net",
        "type": "bridge",
        "bridge": "pncnibr0",
        "isGateway": True,
        "ipam": {
            "type": "host-local",
            "dataDir": data_dir,
            "ranges": [[{"subnet": "10.250.0.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}],
        },
        "dns": {"nameservers": ["10.96.0.10"], "search": ["default.svc.cluster.local"]},
    }
    conf.update(options)
    return conf


# --------------------------------------------------------------------------- normalising


def norm_result(result: dict, pod_path: str) -> dict:
    out = copy.deepcopy(result)
    for itf in out.get("interfaces", []):
        itf.pop("mac", None)
        if itf["name"].startswith("veth"):
            itf["name"] = "VETH"
        if itf.get("sandbox") == pod_path:
            itf["sandbox"] = "SANDBOX"
    return out


def pod_state(pod: NetNS) -> dict:
    links = []
    for link in pod.ip_json("-d", "link"):
        links.append(
            (
                link["ifname"],
                sorted(link["flags"]),
                link["mtu"],
                link.get("linkinfo", {}).get("info_kind"),
            )
        )
    addrs = []
    for link in pod.ip_json("addr"):
        for a in link.get("addr_info", []):
            if a["family"] == "inet6" and a.get("scope") == "link":
                continue  # derived from the random MAC
            addrs.append(
                (
                    link["ifname"],
                    a["family"],
                    a["local"],
                    a["prefixlen"],
                    a.get("scope"),
                    a.get("broadcast"),
                )
            )
    routes = pod.ip_json("route") + pod.ip_json("-6", "route")
    routes = [r for r in routes if not r.get("dst", "").startswith("fe80")]
    return {"links": sorted(links), "addrs": sorted(addrs), "routes": routes}


def node_state(host: NetNS) -> dict:
    links = []
    for link in host.ip_json("-d", "link"):
        info = link.get("linkinfo", {})
        slave = info.get("info_slave_data", {})
        name = "VETH" if link["ifname"].startswith("veth") else link["ifname"]
        links.append(
            (
                name,
                sorted(link["flags"]),
                link["mtu"],
                link.get("master"),
                info.get("info_kind"),
                slave.get("hairpin"),
                link.get("promiscuity"),
            )
        )
    addrs = []
    for link in host.ip_json("addr"):
        for a in link.get("addr_info", []):
            if a["family"] == "inet":
                addrs.append((link["ifname"], a["local"], a["prefixlen"], a.get("broadcast")))
    routes = [r for r in host.ip_json("route")]
    forward = host.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()
    return {
        "links": sorted(links, key=repr),
        "addrs": sorted(addrs),
        "routes": routes,
        "ip_forward": forward,
    }


SERVER = (
    "import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
    "s.bind(('0.0.0.0',int(sys.argv[1])));s.listen();s.settimeout(10);c,_=s.accept();c.sendall(b'pong');c.close()"
)
CLIENT = (
    "import socket,sys,time\n"
    "for _ in range(100):\n"
    " try:\n"
    "  s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2);print(s.recv(4).decode());break\n"
    " except OSError: time.sleep(0.05)"
)


def tcp_exchange(
    server: NetNS, client: NetNS, address: str, port: int, listen_port: int | None = None
) -> bytes:
    """What a TCP client in `client` reads from a one-shot server in `server` (namespaces of ours only)."""
    srv = subprocess.Popen(
        ["ip", "netns", "exec", server.name, "python3", "-c", SERVER, str(listen_port or port)]
    )
    try:
        return client.run("python3", "-c", CLIENT, address, str(port), timeout=20).stdout.strip()
    finally:
        srv.kill()
        srv.wait()


# --------------------------------------------------------------------------- side by side

BRIDGE_VARIANTS = {
    "gateway": {},
    "default-gateway": {"isDefaultGateway": True, "ipam": "noroutes"},
    "hairpin-mtu": {"hairpinMode": True, "mtu": 1400},
    "promisc": {"promiscMode": True},
    "l2-only": {"isGateway": False, "ipam": "none"},
}


@pytest.mark.parametrize("variant", list(BRIDGE_VARIANTS))
def test_bridge_side_by_side(variant, make_netns, podnet_bin, ref_bin, tmp_path):
    states = {}
    for side, bindir in (("ref", ref_bin), ("podnet", podnet_bin)):
        conf = bridge_conf(str(tmp_path / side))
        options = dict(BRIDGE_VARIANTS[variant])
        if options.pop("ipam", None) is not None:
            if variant == "l2-only":
                del conf["ipam"]
            else:
                conf["ipam"]["routes"] = []
        conf.update(options)
        host = make_netns("pncni-node")
        pods = [make_netns("pncni-pod") for _ in range(3)]
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
            assert cni(bindir, "bridge", "DEL", conf, host, pod, cid=f"c{i}")[0] == 0
            assert (
                cni(bindir, "bridge", "DEL", conf, host, pod, cid=f"c{i}")[0] == 0
            )  # twice is fine
        assert [link["ifname"] for link in host.ip_json("link")] == ["lo", "pncnibr0"]
    assert states["podnet"]["results"] == states["ref"]["results"]
    assert states["podnet"]["pods"] == states["ref"]["pods"]
    assert states["podnet"]["node"] == states["ref"]["node"]


def test_loopback_side_by_side(make_netns, podnet_bin, ref_bin):
    require_binary("loopback", REF_DIR)
    conf = {"cniVersion": "1.0.0", "name": "pncni-lo", "type": "loopback"}
    seen = {}
    for side, bindir in (("ref", ref_bin), ("podnet", podnet_bin)):
        host, pod = make_netns("pncni-node"), make_netns("pncni-pod")
        status, result = cni(bindir, "loopback", "ADD", conf, host, pod, ifname="lo")
        assert status == 0, result
        seen[side] = (norm_result(result, pod.path), pod_state(pod))
        assert cni(bindir, "loopback", "DEL", conf, host, pod, ifname="lo")[0] == 0
        assert (
            cni(
                bindir,
                "loopback",
                "DEL",
                conf,
                host,
                None,
                ifname="lo",
                netns_path="/run/netns/pncni-gone",
            )[0]
            == 0
        )
    assert seen["podnet"] == seen["ref"]


def test_ptp_side_by_side_wiring(make_netns, podnet_bin, tmp_path):
    """Calico-style ptp: /32 in the pod, default via 169.254.1.1, proxy ARP, host routes; pods reach each other."""
    conf = bridge_conf(str(tmp_path), type="ptp")
    host = make_netns("pncni-node")
    # A node has an uplink and a default route; proxy ARP answers for 169.254.1.1 because of it.
    host.run("ip", "link", "add", "pncniup0", "type", "veth", "peer", "name", "pncniup1")
    host.run("ip", "link", "set", "pncniup1", "up")
    host.run("ip", "addr", "add", "172.31.255.1/24", "dev", "pncniup0")
    host.run("ip", "link", "set", "pncniup0", "up")
    host.run("ip", "route", "add", "default", "dev", "pncniup0")
    a, b = make_netns("pncni-pod"), make_netns("pncni-pod")
    ips = []
    for i, pod in enumerate((a, b)):
        status, result = cni(podnet_bin, "ptp", "ADD", conf, host, pod, cid=f"p{i}")
        assert status == 0, result
        assert result["ips"][0]["address"].endswith("/32")
        ips.append(result["ips"][0]["address"].split("/")[0])
        host_if = result["interfaces"][0]["name"]
        assert result["interfaces"][0]["mac"] == "ee:ee:ee:ee:ee:ee"
        assert (
            host.run("cat", f"/proc/sys/net/ipv4/conf/{host_if}/proxy_arp").stdout.strip() == b"1"
        )
        routes = pod.ip_json("route")
        assert {"dst": "default", "gateway": "169.254.1.1"}.items() <= routes[0].items()
        assert any(r["dst"] == "169.254.1.1" and r.get("scope") == "link" for r in routes)
        assert any(r["dst"] == ips[-1] and r["dev"] == host_if for r in host.ip_json("route"))
        assert (
            cni(podnet_bin, "ptp", "CHECK", {**conf, "prevResult": result}, host, pod, cid=f"p{i}")[
                0
            ]
            == 0
        )
    assert tcp_exchange(server=b, client=a, address=ips[1], port=8080) == b"pong"
    for i, pod in enumerate((a, b)):
        assert cni(podnet_bin, "ptp", "DEL", conf, host, pod, cid=f"p{i}")[0] == 0
    assert [link["ifname"] for link in host.ip_json("link")] == ["lo", "pncniup1", "pncniup0"]
    assert not [r for r in host.ip_json("route") if r["dst"].startswith("10.250.")]


# --------------------------------------------------------------------------- delegation, CHECK, errors


@pytest.mark.parametrize("ipam_from", ["podnet", "reference"])
def test_bridge_delegates_ipam(ipam_from, make_netns, podnet_bin, ref_bin, tmp_path):
    """podnet's bridge finds ipam.type in CNI_PATH: podnet's host-local, or the reference one."""
    path = podnet_bin if ipam_from == "podnet" else f"{ref_bin}:{podnet_bin}"
    conf = bridge_conf(str(tmp_path))
    host, pod = make_netns("pncni-node"), make_netns("pncni-pod")
    status, result = cni(podnet_bin, "bridge", "ADD", conf, host, pod, path=path)
    assert status == 0, result
    assert result["ips"][0]["address"] == "10.250.0.2/24"
    assert (tmp_path / "pncni-net" / "10.250.0.2").read_bytes() == b"pod1\r\neth0"
    status, out = cni(
        podnet_bin, "bridge", "CHECK", {**conf, "prevResult": result}, host, pod, path=path
    )
    assert status == 0, out
    pod.run("ip", "addr", "del", "10.250.0.2/24", "dev", "eth0")
    status, out = cni(
        podnet_bin, "bridge", "CHECK", {**conf, "prevResult": result}, host, pod, path=path
    )
    assert status == 1 and "10.250.0.2/24" in out["msg"]
    assert cni(podnet_bin, "bridge", "DEL", conf, host, pod, path=path)[0] == 0
    assert not (tmp_path / "pncni-net" / "10.250.0.2").exists()


def test_add_fails_when_the_interface_exists(make_netns, podnet_bin, tmp_path):
    host, pod = make_netns("pncni-node"), make_netns("pncni-pod")
    pod.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "pncnipeer0")
    conf = bridge_conf(str(tmp_path))
    status, out = cni(podnet_bin, "bridge", "ADD", conf, host, pod)
    assert status == 1 and "already exists" in out["msg"]
    assert sorted(link["ifname"] for link in pod.ip_json("link")) == [
        "eth0",
        "lo",
        "pncnipeer0",
    ]  # untouched
    assert [
        link["ifname"] for link in host.ip_json("link") if link["ifname"].startswith("veth")
    ] == []
    assert (
        not [f for f in os.listdir(tmp_path / "pncni-net") if f[0].isdigit()]
        if (tmp_path / "pncni-net").exists()
        else True
    )


def test_missing_namespace_and_gone_namespace(make_netns, podnet_bin, tmp_path):
    host, pod = make_netns("pncni-node"), make_netns("pncni-pod")
    conf = bridge_conf(str(tmp_path))
    status, out = cni(
        podnet_bin, "bridge", "ADD", conf, host, netns_path="/run/netns/pncni-does-not-exist"
    )
    assert status == 1 and out["code"] == 4 and "CNI_NETNS" in out["msg"]
    assert cni(podnet_bin, "bridge", "ADD", conf, host, pod)[0] == 0
    subprocess.run(["ip", "netns", "del", pod.name], check=True)
    assert cni(podnet_bin, "bridge", "DEL", conf, host, netns_path=pod.path)[0] == 0
    assert cni(podnet_bin, "bridge", "DEL", conf, host, netns_path="")[0] == 0
    assert not (tmp_path / "pncni-net" / "10.250.0.2").exists()


def test_gc_frees_what_is_not_valid(make_netns, podnet_bin, tmp_path):
    host = make_netns("pncni-node")
    pods = [make_netns("pncni-pod") for _ in range(3)]
    conf = bridge_conf(str(tmp_path), cniVersion="1.1.0")
    for i, pod in enumerate(pods):
        assert cni(podnet_bin, "bridge", "ADD", conf, host, pod, cid=f"c{i}")[0] == 0
    gc = {**conf, "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]}
    status, out = cni(podnet_bin, "bridge", "GC", gc, host)
    assert status == 0, out
    assert sorted(f for f in os.listdir(tmp_path / "pncni-net") if f[0].isdigit()) == ["10.250.0.3"]
    assert cni(podnet_bin, "bridge", "STATUS", conf, host)[0] == 0


# --------------------------------------------------------------------------- concurrency and crashes


def test_100_concurrent_adds(make_netns, podnet_bin, tmp_path):
    host = make_netns("pncni-node")
    pods = [make_netns("pncni-pod") for _ in range(100)]
    conf = json.dumps(bridge_conf(str(tmp_path))).encode()
    procs = []
    for i, pod in enumerate(pods):
        env = {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": f"c{i}",
            "CNI_IFNAME": "eth0",
            "CNI_NETNS": pod.path,
            "CNI_PATH": podnet_bin,
            "PATH": os.environ["PATH"],
        }
        cmd = ["ip", "netns", "exec", host.name, os.path.join(podnet_bin, "bridge")]
        procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE))
    for p in procs:
        p.stdin.write(conf)
        p.stdin.close()
    results = [json.loads(p.stdout.read()) for p in procs]
    assert all(p.wait() == 0 for p in procs), [r for r in results if "code" in r][:3]
    addresses = {r["ips"][0]["address"] for r in results}
    assert len(addresses) == 100
    assert len([link for link in host.ip_json("link") if link["ifname"].startswith("veth")]) == 100
    for i, pod in enumerate(pods):
        assert cni(podnet_bin, "bridge", "DEL", json.loads(conf), host, pod, cid=f"c{i}")[0] == 0
    assert not [f for f in os.listdir(tmp_path / "pncni-net") if f[0].isdigit()]
    assert not [link for link in host.ip_json("link") if link["ifname"].startswith("veth")]


def test_killed_add_is_cleaned_up_by_del_or_gc(make_netns, podnet_bin, tmp_path):
    host = make_netns("pncni-node")
    conf = bridge_conf(str(tmp_path), cniVersion="1.1.0")
    body = json.dumps(conf).encode()
    for attempt, delay in enumerate((0.005, 0.015, 0.025, 0.035, 0.05)):
        pod = make_netns("pncni-pod")
        env = {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": f"k{attempt}",
            "CNI_IFNAME": "eth0",
            "CNI_NETNS": pod.path,
            "CNI_PATH": podnet_bin,
            "PATH": os.environ["PATH"],
        }
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host.name, os.path.join(podnet_bin, "bridge")],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        proc.stdin.write(body)
        proc.stdin.close()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if attempt % 2:
            assert cni(podnet_bin, "bridge", "DEL", conf, host, pod, cid=f"k{attempt}")[0] == 0
            assert [link["ifname"] for link in pod.ip_json("link")] == ["lo"]
    gc = {**conf, "cni.dev/valid-attachments": []}
    assert cni(podnet_bin, "bridge", "GC", gc, host)[0] == 0
    assert (
        not [f for f in os.listdir(tmp_path / "pncni-net") if f[0].isdigit()]
        if (tmp_path / "pncni-net").exists()
        else True
    )


# --------------------------------------------------------------------------- portmap


def test_portmap_chained_after_bridge(make_netns, podnet_bin, tmp_path):
    require_binary("nft")
    host, pod = make_netns("pncni-node"), make_netns("pncni-pod")
    pod.run("ip", "link", "set", "lo", "up")
    conf = bridge_conf(str(tmp_path))
    status, result = cni(podnet_bin, "bridge", "ADD", conf, host, pod)
    assert status == 0, result
    pm = {
        "cniVersion": "1.0.0",
        "name": "pncni-net",
        "type": "portmap",
        "runtimeConfig": {
            "portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]
        },
        "prevResult": result,
    }
    status, out = cni(podnet_bin, "portmap", "ADD", pm, host, pod)
    assert status == 0, out
    assert out == result
    assert (
        tcp_exchange(server=pod, client=host, address="10.250.0.1", port=18080, listen_port=80)
        == b"pong"
    )
    assert cni(podnet_bin, "portmap", "CHECK", pm, host, pod)[0] == 0
    assert cni(podnet_bin, "portmap", "DEL", pm, host, pod)[0] == 0
    assert cni(podnet_bin, "portmap", "DEL", pm, host, pod)[0] == 0
    assert b"podnet-portmap" not in host.run("nft", "list", "ruleset").stdout
    assert cni(podnet_bin, "bridge", "DEL", conf, host, pod)[0] == 0


def test_ip_masq_table(make_netns, podnet_bin, tmp_path):
    require_binary("nft")
    host, pod = make_netns("pncni-node"), make_netns("pncni-pod")
    conf = bridge_conf(str(tmp_path), ipMasq=True)
    assert cni(podnet_bin, "bridge", "ADD", conf, host, pod)[0] == 0
    rules = host.run("nft", "list", "ruleset").stdout.decode()
    assert (
        "ip saddr 10.250.0.2 ip daddr != 10.250.0.0/24 ip daddr != 224.0.0.0/4 masquerade" in rules
    )
    assert cni(podnet_bin, "bridge", "DEL", conf, host, pod)[0] == 0
    assert "podnet-masq" not in host.run("nft", "list", "ruleset").stdout.decode()
