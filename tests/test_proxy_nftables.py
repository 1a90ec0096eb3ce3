"""The nftables rendering: golden files (compared after upstream's stable sort), `nft -c` on a
varied cluster, chain names as upstream computes them, and the tracer's refusal of rule shapes
it does not know."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from podnet.errors import NotFound
from podnet.proxy.nftables import hash_and_truncate, render_nftables
from podnet.proxy.trace_nftables import trace_nftables as trace
from podnet.proxy.tracer import RulesetError
from tests.test_proxy_flows import base_cluster, base_services, base_slices, dual_stack_cluster
from tests.test_proxy_helpers import cluster

GOLDEN = Path(__file__).parent / "golden" / "proxy"
UPDATE = os.environ.get("PODNET_UPDATE_GOLDEN") == "1"
SMALL = ("ns1", "ns2", "ns4", "ns5", "ns6", "kube-system")


def small_cluster():
    """A few services of the flow tables: ClusterIP, eTP Local LB, ExternalIP, source ranges
    with affinity, no endpoints, and DNS over UDP and TCP."""
    return cluster(
        [s for s in base_services() if s.namespace in SMALL],
        [s for s in base_slices() if s.namespace in SMALL],
    )


_ORDER = {"table": 0, "chain": 1, "set": 2, "map": 3, "rule": 4, "element": 5}


def stable_sort(text: str) -> list[str]:
    """Upstream's sortNFTablesTransaction: blank lines and comments dropped, objects sorted by
    type then name, rules kept in their order within a chain."""
    keyed = []
    for i, line in enumerate(text.splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        kind, name = words[1], words[4] if len(words) > 4 else ""
        keyed.append(((_ORDER[kind], name, i if kind == "rule" else line), line))
    return [line for _, line in sorted(keyed)]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert stable_sort(text) == stable_sort(path.read_text())


@pytest.mark.parametrize("node", ["node-1", "node-2"])
def test_golden_nftables(node: str) -> None:
    check_golden(f"small-{node}.nft", render_nftables(small_cluster(), node))


def test_golden_nftables_dual_stack() -> None:
    check_golden("dual-stack-node-1.nft", render_nftables(dual_stack_cluster(), "node-1"))


def test_stable_sort_keeps_rule_order() -> None:
    text = "add rule ip t b x\nadd chain ip t b\n\n# c\nadd rule ip t a y\nadd rule ip t b w\n"
    assert stable_sort(text) == [
        "add chain ip t b",
        "add rule ip t a y",
        "add rule ip t b x",
        "add rule ip t b w",
    ]


def test_upstream_chain_names() -> None:
    # The names upstream's proxier_test expects for the same service ports.
    assert hash_and_truncate("ns1/svc1/tcp/p80") == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert hash_and_truncate("ns5/svc5/tcp/p80").startswith("HVFWP5L3-")
    text = render_nftables(base_cluster(), "node-1")
    assert "add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80\n" in text
    assert "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80" in text
    assert "firewall-HVFWP5L3-ns5/svc5/tcp/p80" in text
    v6 = render_nftables(dual_stack_cluster(), "node-1")
    assert re.search(r"endpoint-\w{8}-ns1/svc1/tcp/p80__fd00\.10\.180\.\.1/80", v6)


def test_deterministic() -> None:
    assert render_nftables(base_cluster(), "node-1") == render_nftables(base_cluster(), "node-1")


def test_tables_per_family() -> None:
    v4 = render_nftables(base_cluster(), "node-1")
    assert "table ip6" not in v4
    both = render_nftables(dual_stack_cluster(), "node-1")
    assert both.count('add table ip kube-proxy { comment "rules for kube-proxy" ; }') == 1
    assert both.count('add table ip6 kube-proxy { comment "rules for kube-proxy" ; }') == 1
    assert "ip6 daddr != ::1" not in both  # nftables default: NodePorts on the primary IPs
    assert "add element ip6 kube-proxy nodeport-ips { fd00:192:168::2 }" in both


def test_unknown_node() -> None:
    with pytest.raises(NotFound, match="no node 'node-9'"):
        render_nftables(base_cluster(), "node-9")


NFT = shutil.which("nft")


def nft_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "ruleset.nft"
    path.write_text(text)
    return subprocess.run([NFT or "nft", "-c", "-f", str(path)], capture_output=True, text=True)


def can_check() -> bool:
    return NFT is not None and os.geteuid() == 0


@pytest.mark.skipif(
    not can_check() and os.environ.get("CI") != "true", reason="needs nft and root (nft -c)"
)
@pytest.mark.parametrize(
    "variant",
    ["base", "masquerade-all", "no detector", "NodeCIDR", "nodePortAddresses", "dual-stack"],
)
def test_nft_accepts_the_rendering(variant: str, tmp_path: Path) -> None:
    c = {
        "base": lambda: base_cluster(),
        "masquerade-all": lambda: base_cluster(masquerade_all=True),
        "no detector": lambda: base_cluster(detect_local_mode="None"),
        "NodeCIDR": lambda: base_cluster(detect_local_mode="NodeCIDR"),
        "nodePortAddresses": lambda: base_cluster(
            node_port_addresses=(ip_network("192.168.0.0/24"), ip_network("0.0.0.0/0"))
        ),
        "dual-stack": dual_stack_cluster,
    }[variant]()
    for node in ("node-1", "node-2", "node-3"):
        done = nft_check(render_nftables(c, node), tmp_path)
        assert done.returncode == 0, done.stderr


@pytest.mark.skipif(
    not can_check() and os.environ.get("CI") != "true", reason="needs nft and root (nft -c)"
)
def test_nft_rejects_a_broken_ruleset(tmp_path: Path) -> None:
    text = render_nftables(base_cluster(), "node-1").replace("jump services", "jump nowhere", 1)
    assert nft_check(text, tmp_path).returncode != 0


NODE = (ip_address("192.168.0.2"),)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("add rule ip kube-proxy services ip daddr 10.0.0.1 counter accept", "unmatched rule"),
        ("add rule ip kube-proxy services ip saddr 10.0.0.1", "without an action"),
        ("add rule ip kube-proxy nowhere jump services", "undeclared chain"),
        ("add rule ip kube-proxy services ip6 daddr ::1 drop", "ip6 match in an ip table"),
        ("flush ruleset", "not an nft command"),
        ("add element ip kube-proxy nothing { 10.0.0.1 }", "undeclared set"),
        (
            "add rule ip kube-proxy services numgen random mod 2 vmap { 0 : goto services }",
            "does not cover",
        ),
    ],
)
def test_tracer_refuses_unknown_shapes(line: str, message: str) -> None:
    text = render_nftables(small_cluster(), "node-1") + line + "\n"
    with pytest.raises(RulesetError, match=message):
        trace(text, NODE, ip_address("10.180.0.2"), ip_address("172.30.0.41"), 80)


def test_trace_lists_the_rules_hit() -> None:
    text = render_nftables(small_cluster(), "node-1")
    t = trace(text, NODE, ip_address("10.180.0.2"), ip_address("172.30.0.41"), 80)
    assert t.verdict == "ACCEPT"
    assert t.rules[:3] == (
        "filter-prerouting-pre-dnat: ct state new jump firewall-check",
        "nat-prerouting: jump services",
        "services: ip daddr . meta l4proto . th dport vmap @service-ips",
    )
    assert any(r.endswith("dnat to 10.180.0.1:80") for r in t.rules)
    assert any(r.endswith("dnat to 10.180.1.1:80") for r in t.rules)


def test_trace_of_a_family_without_table() -> None:
    text = render_nftables(small_cluster(), "node-1")
    t = trace(text, NODE, ip_address("fd00::1"), ip_address("fd00::2"), 80)
    assert (t.verdict, t.rules) == ("NONE", ())
