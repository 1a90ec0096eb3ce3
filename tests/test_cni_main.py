"""podnet-cni as a runtime sees it: every malformed input gives the spec's error JSON (no root)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from podnet.cni import main as cni_main

ADD = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "abc",
    "CNI_NETNS": "/run/netns/pncni-does-not-exist",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/nonexistent",
}
BRIDGE = {
    "cniVersion": "1.0.0",
    "name": "net",
    "type": "bridge",
    "ipam": {"type": "host-local", "subnet": "10.0.0.0/24"},
}


def invoke(env: dict, stdin: bytes | dict, argv0: str = "podnet-cni") -> tuple[int, dict | None]:
    data = json.dumps(stdin).encode() if isinstance(stdin, dict) else stdin
    out = io.BytesIO()
    status = cni_main.main([argv0], env, io.BytesIO(data), out)
    text = out.getvalue()
    return status, (json.loads(text) if text else None)


ERROR_CASES = [
    # (name, environment, stdin, code, message fragment)
    ("bad json", ADD, b"{not json", 6, "decoding"),
    ("json not an object", ADD, b"[1, 2]", 6, "decoding"),
    ("empty stdin", ADD, b"", 6, "decoding"),
    ("binary garbage", ADD, b"\xff\xfe\x00", 6, "decoding"),
    ("no cniVersion", ADD, {"name": "net", "type": "bridge"}, 1, "incompatible"),
    ("old version", ADD, {**BRIDGE, "cniVersion": "0.3.1"}, 1, "incompatible"),
    ("future version", ADD, {**BRIDGE, "cniVersion": "2.0.0"}, 1, "incompatible"),
    ("no type", ADD, {"cniVersion": "1.0.0", "name": "net"}, 7, "type"),
    ("unknown type", ADD, {**BRIDGE, "type": "macvlan"}, 7, "unknown plugin type"),
    ("no name", ADD, {k: v for k, v in BRIDGE.items() if k != "name"}, 7, "name"),
    ("bad name", ADD, {**BRIDGE, "name": "a b"}, 7, "name"),
    ("mtu not an int", ADD, {**BRIDGE, "mtu": "1500"}, 7, "mtu"),
    (
        "hairpin and promisc",
        ADD,
        {**BRIDGE, "hairpinMode": True, "promiscMode": True},
        7,
        "hairpin",
    ),
    ("ipam without type", ADD, {**BRIDGE, "ipam": {}}, 7, "ipam.type"),
    ("missing netns path", ADD, BRIDGE, 4, "CNI_NETNS"),
    ("missing env", {"CNI_COMMAND": "ADD"}, BRIDGE, 4, "CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME"),
    ("no command", {}, BRIDGE, 4, "CNI_COMMAND"),
    ("bad command", {**ADD, "CNI_COMMAND": "PUT"}, BRIDGE, 4, "PUT"),
    ("GC at 1.0.0", {"CNI_COMMAND": "GC", "CNI_PATH": "/x"}, BRIDGE, 1, "GC"),
    ("STATUS at 1.0.0", {"CNI_COMMAND": "STATUS"}, BRIDGE, 1, "STATUS"),
    (
        "CHECK without prevResult",
        {**ADD, "CNI_COMMAND": "CHECK"},
        {**BRIDGE, "ipam": None},
        7,
        "prevResult",
    ),
    (
        "bad prevResult",
        {**ADD, "CNI_COMMAND": "CHECK"},
        {**BRIDGE, "prevResult": {"ips": [{"address": "x"}]}},
        6,
        "address",
    ),
    (
        "ipam plugin not in CNI_PATH",
        {**ADD, "CNI_COMMAND": "DEL"},
        BRIDGE,
        7,
        "failed to find plugin",
    ),
    (
        "host-local without ranges",
        ADD,
        {"cniVersion": "1.0.0", "name": "n", "type": "host-local", "ipam": {"type": "host-local"}},
        7,
        "no IP ranges",
    ),
    (
        "portmap not chained",
        ADD,
        {"cniVersion": "1.0.0", "name": "n", "type": "portmap"},
        7,
        "chained",
    ),
    (
        "bad port mapping",
        ADD,
        {
            "cniVersion": "1.0.0",
            "name": "n",
            "type": "portmap",
            "prevResult": {"cniVersion": "1.0.0"},
            "runtimeConfig": {"portMappings": [{"hostPort": 0, "containerPort": 80}]},
        },
        7,
        "hostPort",
    ),
    (
        "gc attachments not a list",
        {"CNI_COMMAND": "GC", "CNI_PATH": "/x"},
        {
            "cniVersion": "1.1.0",
            "name": "n",
            "type": "host-local",
            "ipam": {
                "type": "host-local",
                "subnet": "10.0.0.0/24",
                "dataDir": "/nonexistent/pncni",
            },
            "cni.dev/valid-attachments": {},
        },
        7,
        "valid-attachments",
    ),
]


@pytest.mark.parametrize(
    ("name", "env", "stdin", "code", "fragment"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_errors(name, env, stdin, code, fragment):
    status, out = invoke(env, stdin)
    assert status == 1
    assert set(out) <= {"cniVersion", "code", "msg", "details"}
    assert out["code"] == code, out
    assert fragment.lower() in (out["msg"] + out.get("details", "")).lower()
    assert out["cniVersion"] in ("0.4.0", "1.0.0", "1.1.0")


def test_version():
    assert invoke({"CNI_COMMAND": "VERSION"}, b"") == (
        0,
        {"cniVersion": "1.1.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]},
    )
    assert invoke({"CNI_COMMAND": "VERSION"}, {"cniVersion": "1.0.0"})[1]["cniVersion"] == "1.0.0"


def test_plugin_chosen_by_program_name_before_type(tmp_path):
    conf = {
        "cniVersion": "1.0.0",
        "name": "n",
        "type": "bridge",
        "ipam": {"type": "host-local", "subnet": "10.1.0.0/24", "dataDir": str(tmp_path)},
    }
    status, out = invoke({**ADD, "CNI_NETNS": "/x"}, conf, argv0="/opt/cni/bin/host-local")
    assert status == 0 and out["ips"] == [{"address": "10.1.0.2/24", "gateway": "10.1.0.1"}]
    status, _ = invoke({**ADD, "CNI_COMMAND": "DEL"}, conf, argv0="/opt/cni/bin/host-local")
    assert status == 0


def test_the_executable_never_prints_a_traceback():
    for stdin in (
        b"{",
        json.dumps({**BRIDGE, "mtu": 10**30}).encode(),
        json.dumps({**BRIDGE, "dns": 5}).encode(),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "podnet.cni.main"],
            input=stdin,
            env=ADD,
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 1
        assert b"Traceback" not in proc.stderr and b"Traceback" not in proc.stdout
        assert json.loads(proc.stdout)["code"] in (4, 6, 7)
