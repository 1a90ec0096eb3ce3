"""The iptables rendering: golden files (stable sort: tables apart, chains declared, rules in
order within each chain), `iptables-restore --test`, upstream's chain names and probabilities,
and the tracer's refusal of rule shapes it does not know."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

import pytest

from podnet.proxy.iptables import render_iptables
from podnet.proxy.trace_iptables import trace_iptables
from podnet.proxy.tracer import RulesetError
from tests.test_proxy_flows import base_cluster, dual_stack_cluster
from tests.test_proxy_helpers import cluster, ep, service, slice_
from tests.test_proxy_nftables import small_cluster

GOLDEN = Path(__file__).parent / "golden" / "proxy"
UPDATE = os.environ.get("PODNET_UPDATE_GOLDEN") == "1"


def stable_sort(text: str) -> list[str]:
    """Per restore part and table: chain declarations sorted, rules grouped by chain (sorted)
    in their order within the chain; comments and blank lines dropped."""
    out: list[str] = []
    part, table = "", ""
    keyed: list[tuple] = []
    for i, line in enumerate(text.splitlines()):
        line = line.strip()
        if line.startswith("# ip"):
            part = line
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line
            continue
        if line == "COMMIT":
            continue
        chain = line.split()[1] if line[0] == "-" else line[1:].split()[0]
        keyed.append(((part, table, line[0] != ":", chain, i if line[0] == "-" else 0), line))
    out += [line for _, line in sorted(keyed)]
    return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert stable_sort(text) == stable_sort(path.read_text())


@pytest.mark.parametrize("node", ["node-1", "node-2"])
def test_golden_iptables(node: str) -> None:
    check_golden(f"small-{node}.iptables", render_iptables(small_cluster(), node))


def test_golden_iptables_dual_stack() -> None:
    check_golden("dual-stack-node-1.iptables", render_iptables(dual_stack_cluster(), "node-1"))


def test_upstream_chain_names() -> None:
    text = render_iptables(base_cluster(), "node-1")
    # The names upstream's iptables proxier_test expects for the same service ports.
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]" in text
    assert ":KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]" in text
    assert ":KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]" in text
    assert "-j DNAT --to-destination 10.180.0.1:80" in text


def test_probabilities() -> None:
    svc = service("ns", "s", "172.30.0.1")
    eps = [ep(f"10.180.0.{i}") for i in range(1, 5)]
    text = render_iptables(cluster([svc], [slice_("ns", "s", *eps)]), "node-1")
    chances = [
        line.split("--probability ")[1].split()[0]
        for line in text.splitlines()
        if "--probability" in line
    ]
    assert chances == ["0.2500000000", "0.3333333333", "0.5000000000"]


def test_no_comments_above_1000_endpoints() -> None:
    eps = [ep(f"10.180.{i // 250}.{i % 250 + 1}") for i in range(1001)]
    c = cluster([service("ns", "s", "172.30.0.1")], [slice_("ns", "s", *eps)])
    text = render_iptables(c, "node-1")
    sep = [line for line in text.splitlines() if line.startswith("-A KUBE-SEP-")]
    assert sep and not any("--comment" in line for line in sep)
    small = render_iptables(replace(c, endpoint_slices=(slice_("ns", "s", *eps[:10]),)), "node-1")
    assert "-m comment --comment ns/s:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ" in small


def can_check() -> bool:
    return shutil.which("iptables-restore") is not None and os.geteuid() == 0


@pytest.mark.skipif(
    not can_check() and os.environ.get("CI") != "true",
    reason="needs iptables-restore and root (--test)",
)
@pytest.mark.parametrize("variant", ["base", "no detector", "dual-stack"])
def test_iptables_restore_accepts_the_rendering(variant: str) -> None:
    c = {
        "base": lambda: base_cluster(kube_proxy_mode="iptables"),
        "no detector": lambda: base_cluster(detect_local_mode="None", masquerade_all=True),
        "dual-stack": dual_stack_cluster,
    }[variant]()
    for node in ("node-1", "node-2"):
        text = render_iptables(c, node)
        parts = text.split("# ip6tables-restore\n")
        for tool, part in zip(("iptables-restore", "ip6tables-restore"), parts, strict=False):
            done = subprocess.run([tool, "--test"], input=part, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr


NODE = (ip_address("192.168.0.2"),)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-A KUBE-SERVICES -m set --match-set x dst -j ACCEPT", "unknown match module"),
        ("-A KUBE-SERVICES -j DNAT --to 1.2.3.4", "unmatched target"),
        ("-A KUBE-NOWHERE -j ACCEPT", "undeclared chain"),
        ("-A KUBE-SERVICES -d fd00::1 -j ACCEPT", "IPv6 address in IPv4 rules"),
        ("-N KUBE-X", "not a rule"),
    ],
)
def test_tracer_refuses_unknown_shapes(line: str, message: str) -> None:
    mark = "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"
    text = render_iptables(small_cluster(), "node-1").replace(mark, f"{mark}\n{line}")
    with pytest.raises(RulesetError, match=message):
        trace_iptables(text, NODE, ip_address("10.180.0.2"), ip_address("172.30.0.41"), 80)


def test_trace_lists_the_rules_hit() -> None:
    text = render_iptables(small_cluster(), "node-1")
    t = trace_iptables(text, NODE, ip_address("10.180.0.2"), ip_address("172.30.0.41"), 80)
    assert (t.verdict, t.endpoints, t.masquerade) == (
        "ACCEPT",
        ("10.180.0.1:80", "10.180.1.1:80"),
        False,
    )
    assert (
        t.rules[0]
        == 'nat PREROUTING: -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    )
    assert any("--probability 0.5000000000" in r for r in t.rules)
