"""host-local side by side with the reference binary: allocation sequences and shared data dirs.

host-local touches only its data directory, so these run the plugins directly (no namespace);
they live here because they need the reference plugins that `make test` installs.
"""

from __future__ import annotations

import json
import os
import random
import subprocess

import pytest

from podnet.cni import install

from .conftest import require_binary

REF = "/usr/lib/cni/host-local"


@pytest.fixture(scope="module")
def podnet_host_local(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = str(tmp_path_factory.mktemp("cnibin"))
    install.install(directory, names=["host-local"])
    return os.path.join(directory, "host-local")


def ipam_conf(data_dir: str, ranges: list) -> dict:
    return {
        "cniVersion": "1.0.0",
        "name": "pncni-seq",
        "type": "bridge",
        "ipam": {
            "type": "host-local",
            "dataDir": data_dir,
            "ranges": ranges,
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }


def host_local(
    binary: str, command: str, conf: dict, cid: str, ifname: str = "eth0"
) -> tuple[int, dict | None]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_IFNAME": ifname,
        "CNI_NETNS": "/run/netns/pncni-none",
        "CNI_PATH": "/usr/lib/cni",
    }
    proc = subprocess.run(
        [binary], input=json.dumps(conf).encode(), env=env, capture_output=True, check=False
    )
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None)


RANGES = {
    "small-v4": [[{"subnet": "10.251.0.0/29"}]],
    "start-end-gateway": [
        [
            {
                "subnet": "10.251.0.0/24",
                "rangeStart": "10.251.0.10",
                "rangeEnd": "10.251.0.20",
                "gateway": "10.251.0.15",
            }
        ]
    ],
    "two-ranges": [
        [{"subnet": "10.251.0.0/30"}, {"subnet": "10.251.1.0/29", "rangeEnd": "10.251.1.4"}]
    ],
    "dual-stack": [[{"subnet": "10.251.0.0/29"}], [{"subnet": "fd00:251::/125"}]],
}


@pytest.mark.parametrize("ranges", list(RANGES))
def test_same_allocation_sequence(ranges, podnet_host_local, tmp_path):
    require_binary("host-local", "/usr/lib/cni")
    rng = random.Random(ranges)
    ops, live = [], []
    for step in range(60):
        if live and (rng.random() < 0.45 or len(live) >= 5):
            ops.append(("DEL", live.pop(rng.randrange(len(live)))))
        else:
            ops.append(("ADD", f"c{step}"))
            live.append(f"c{step}")
    seen = {}
    for side, binary in (("ref", REF), ("podnet", podnet_host_local)):
        conf = ipam_conf(str(tmp_path / side), RANGES[ranges])
        outcome = []
        for command, cid in ops:
            status, out = host_local(binary, command, conf, cid)
            if command == "ADD":
                outcome.append(
                    (
                        status,
                        [(ip["address"], ip.get("gateway")) for ip in out.get("ips", [])]
                        if status == 0
                        else "error",
                    )
                )
                if status == 0:
                    assert out["routes"] == [{"dst": "0.0.0.0/0"}]
            else:
                outcome.append((status, None))
        files = {}
        directory = tmp_path / side / "pncni-seq"
        for name in sorted(os.listdir(directory)):
            if name != "lock":
                files[name] = (directory / name).read_bytes()
        seen[side] = (outcome, files)
    assert seen["podnet"] == seen["ref"]


def test_each_reads_the_others_data_dir(podnet_host_local, tmp_path):
    require_binary("host-local", "/usr/lib/cni")
    conf = ipam_conf(str(tmp_path), RANGES["small-v4"])
    assert host_local(REF, "ADD", conf, "a")[1]["ips"][0]["address"] == "10.251.0.2/29"
    assert (
        host_local(podnet_host_local, "ADD", conf, "b")[1]["ips"][0]["address"] == "10.251.0.3/29"
    )  # round robin continues
    assert host_local(REF, "ADD", conf, "c")[1]["ips"][0]["address"] == "10.251.0.4/29"
    status, out = host_local(podnet_host_local, "ADD", conf, "a")
    assert status == 1 and "duplicate allocation" in out["msg"]
    assert host_local(podnet_host_local, "DEL", conf, "a")[0] == 0  # the reference's reservation
    assert host_local(REF, "DEL", conf, "b")[0] == 0  # podnet's reservation
    assert host_local(REF, "CHECK", {**conf, "cniVersion": "1.0.0"}, "c")[0] == 0
    assert host_local(podnet_host_local, "CHECK", conf, "c")[0] == 0
    assert sorted(f for f in os.listdir(tmp_path / "pncni-seq") if f[0].isdigit()) == ["10.251.0.4"]
    # both continue after the last reserved address, wrapping past the end of the range
    assert (
        host_local(podnet_host_local, "ADD", conf, "d")[1]["ips"][0]["address"] == "10.251.0.5/29"
    )
    assert host_local(REF, "ADD", conf, "e")[1]["ips"][0]["address"] == "10.251.0.6/29"
    assert (
        host_local(podnet_host_local, "ADD", conf, "f")[1]["ips"][0]["address"] == "10.251.0.2/29"
    )
