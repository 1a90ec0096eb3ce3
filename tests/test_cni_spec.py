"""The CNI protocol layer: environment, versions, results, configuration lists (no root)."""

from __future__ import annotations

import pytest

from podnet.cni import spec
from podnet.cni.spec import CniError

ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "abc",
    "CNI_NETNS": "/run/netns/x",
    "CNI_IFNAME": "eth0",
}

ENV_CASES = [
    # (name, environment, expected code or None, message fragment)
    ("add ok", ADD_ENV, None, ""),
    ("no command", {}, 4, "CNI_COMMAND"),
    ("unknown command", {"CNI_COMMAND": "UP"}, 4, "unknown CNI_COMMAND"),
    ("add without netns", {**ADD_ENV, "CNI_NETNS": ""}, 4, "CNI_NETNS"),
    (
        "add without ifname",
        {k: v for k, v in ADD_ENV.items() if k != "CNI_IFNAME"},
        4,
        "CNI_IFNAME",
    ),
    (
        "add without two",
        {"CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0"},
        4,
        "CNI_CONTAINERID,CNI_NETNS",
    ),
    ("del without netns", {**ADD_ENV, "CNI_COMMAND": "DEL", "CNI_NETNS": ""}, None, ""),
    ("check needs netns", {**ADD_ENV, "CNI_COMMAND": "CHECK", "CNI_NETNS": ""}, 4, "CNI_NETNS"),
    ("gc needs path", {"CNI_COMMAND": "GC"}, 4, "CNI_PATH"),
    ("status needs nothing", {"CNI_COMMAND": "STATUS"}, None, ""),
    ("version needs nothing", {"CNI_COMMAND": "VERSION"}, None, ""),
    ("bad container id", {**ADD_ENV, "CNI_CONTAINERID": "-abc"}, 4, "containerID"),
    ("ifname too long", {**ADD_ENV, "CNI_IFNAME": "a" * 16}, 4, "too long"),
    ("ifname with slash", {**ADD_ENV, "CNI_IFNAME": "a/b"}, 4, "invalid character"),
    ("ifname dot", {**ADD_ENV, "CNI_IFNAME": ".."}, 4, ". or .."),
    ("bad CNI_ARGS", {**ADD_ENV, "CNI_ARGS": "IgnoreUnknown"}, 4, "CNI_ARGS"),
]


@pytest.mark.parametrize(
    ("name", "env", "code", "fragment"), ENV_CASES, ids=[c[0] for c in ENV_CASES]
)
def test_environment(name, env, code, fragment):
    if code is None:
        parsed = spec.parse_environment(env)
        assert parsed.command == env["CNI_COMMAND"]
        return
    with pytest.raises(CniError) as err:
        spec.parse_environment(env)
    assert err.value.code == code
    assert fragment in err.value.msg


def test_environment_values():
    env = spec.parse_environment(
        {
            **ADD_ENV,
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web-0;IP=10.0.0.5",
            "CNI_PATH": "/opt/cni/bin::/usr/lib/cni",
        }
    )
    assert (
        env.arg("K8S_POD_NAME") == "web-0"
        and env.arg("IP") == "10.0.0.5"
        and env.arg("nope") is None
    )
    assert env.path == ("/opt/cni/bin", "/usr/lib/cni")


VERSION_CASES = [
    ({"cniVersion": "1.0.0"}, "1.0.0"),
    ({"cniVersion": "0.4.0"}, "0.4.0"),
    ({"cniVersion": "1.1.0"}, "1.1.0"),
    ({"cniVersion": "0.3.1", "cniVersions": ["0.3.1", "1.0.0", "1.1.0", "2.0.0"]}, "1.1.0"),
    ({"cniVersions": ["0.4.0", "1.0.0"]}, "1.0.0"),
    ({"cniVersion": "0.3.1"}, 1),
    ({"cniVersion": "2.0.0"}, 1),
    ({}, 1),
    ({"cniVersion": 1}, 6),
    ({"cniVersions": "1.0.0"}, 6),
]


@pytest.mark.parametrize(("conf", "expected"), VERSION_CASES)
def test_choose_version(conf, expected):
    if isinstance(expected, str):
        assert spec.choose_version(conf) == expected
    else:
        with pytest.raises(CniError) as err:
            spec.choose_version(conf)
        assert err.value.code == expected


def sample_result() -> spec.Result:
    return spec.Result(
        interfaces=[
            spec.Interface("cni0", "aa:bb:cc:dd:ee:ff"),
            spec.Interface("eth0", "02:00:00:00:00:01", mtu=1400, sandbox="/run/netns/x"),
        ],
        ips=[spec.IPConfig("10.0.0.2/24", "10.0.0.1", 1), spec.IPConfig("fd00::2/64", "", 1)],
        routes=[spec.Route("0.0.0.0/0", "10.0.0.1", mtu=1400, priority=5, scope=0)],
        dns=spec.DNS(["10.96.0.10"], "cluster.local", ["svc.cluster.local"], ["ndots:5"]),
    )


def test_result_versions():
    r = sample_result()
    v04 = r.to_json("0.4.0")
    assert [ip["version"] for ip in v04["ips"]] == ["4", "6"]
    assert v04["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]
    assert "mtu" not in v04["interfaces"][1]
    v10 = r.to_json("1.0.0")
    assert "version" not in v10["ips"][0]
    assert v10["ips"][0] == {"interface": 1, "address": "10.0.0.2/24", "gateway": "10.0.0.1"}
    v11 = r.to_json("1.1.0")
    assert v11["routes"] == [
        {"dst": "0.0.0.0/0", "gw": "10.0.0.1", "mtu": 1400, "priority": 5, "scope": 0}
    ]
    assert v11["interfaces"][1]["mtu"] == 1400
    assert v11["dns"] == {
        "nameservers": ["10.96.0.10"],
        "domain": "cluster.local",
        "search": ["svc.cluster.local"],
        "options": ["ndots:5"],
    }
    for version in (
        spec.SUPPORTED_VERSIONS
    ):  # every version reads back to the same result (less what it cannot say)
        back = spec.parse_result(r.to_json(version))
        assert [ip.address for ip in back.ips] == ["10.0.0.2/24", "fd00::2/64"]
        assert back.dns == r.dns


BAD_RESULTS = [
    ({"cniVersion": "9.9.9"}, 1),
    ({"ips": [{"address": "10.0.0.300/24"}]}, 6),
    ({"ips": [{"address": "10.0.0.3/24", "interface": 3}]}, 6),
    ({"routes": [{"dst": "nope"}]}, 6),
    ({"interfaces": [{"mac": "x"}]}, 6),
    ({"dns": {"nameservers": "10.0.0.1"}}, 6),
    ([], 6),
]


@pytest.mark.parametrize(("data", "code"), BAD_RESULTS)
def test_bad_prev_results(data, code):
    with pytest.raises(CniError) as err:
        spec.parse_result(data)
    assert err.value.code == code


def test_error_json():
    assert CniError(7, "bad", "why").to_json("1.0.0") == {
        "cniVersion": "1.0.0",
        "code": 7,
        "msg": "bad",
        "details": "why",
    }
    assert CniError(4, "x").to_json() == {"cniVersion": "1.1.0", "code": 4, "msg": "x"}


def test_expand_list():
    conflist = {
        "cniVersion": "1.0.0",
        "cniVersions": ["1.0.0", "1.1.0"],
        "name": "k8s-pod-network",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }
    version, plugins = spec.expand_list(
        conflist, {"portMappings": [{"hostPort": 80, "containerPort": 8080}], "bandwidth": {}}
    )
    assert version == "1.1.0"
    assert plugins[0] == {
        "type": "bridge",
        "bridge": "cni0",
        "ipam": {"type": "host-local"},
        "name": "k8s-pod-network",
        "cniVersion": "1.1.0",
    }
    assert plugins[1]["runtimeConfig"] == {
        "portMappings": [{"hostPort": 80, "containerPort": 8080}]
    }
    assert "capabilities" not in plugins[1]
    for bad in (
        {"name": "x", "cniVersion": "1.0.0"},
        {"name": "-x", "cniVersion": "1.0.0", "plugins": [{}]},
        {"name": "x", "cniVersion": "1.0.0", "plugins": [{"bridge": "y"}]},
    ):
        with pytest.raises(CniError) as err:
            spec.expand_list(bad)
        assert err.value.code == 7


def test_valid_attachments():
    conf = {
        "cni.dev/valid-attachments": [
            {"containerID": "a", "ifname": "eth0"},
            {"containerID": "b", "ifname": "net1"},
        ]
    }
    assert spec.valid_attachments(conf) == {("a", "eth0"), ("b", "net1")}
    with pytest.raises(CniError):
        spec.valid_attachments({"cni.dev/valid-attachments": [{"ifname": "eth0"}]})
