"""The nftables rendering of NetworkPolicy enforces exactly the engine's matrix.

An evaluator of the rendered text (only the rule shapes the renderer writes; anything else fails
the test) walks each connection through the hooks it meets on its nodes, and the result is
compared, cell by cell, with the engine on random clusters and on the upstream model cases.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from ipaddress import ip_address, ip_network

import pytest
from hypothesis import HealthCheck, given, settings

from podnet.model.cluster import Cluster, load_cluster
from podnet.policy.engine import PolicyEngine, declared_ports
from podnet.policy.nftables import render_node
from tests.policy_model import model_cluster
from tests.test_policy_engine import QUERIES, clusters
from tests.test_policy_semantics import CASES

SHOP = os.path.join(os.path.dirname(__file__), "..", "examples", "shop")

_RULE = re.compile(
    r"^(?:(?P<fam>ip6?) (?P<field>saddr|daddr) \{ (?P<set>[^}]*) \} ?)?"
    r"(?:(?:meta l4proto (?P<proto>\w+))|(?:(?P<l4>tcp|udp|sctp) dport (?P<lo>\d+)(?:-(?P<hi>\d+))?))? ?"
    r"(?P<verdict>accept|return|drop)(?: comment \"[^\"]*\")?$"
)


class Ruleset:
    """A parsed rendering of one node: chains of rules and the two dispatch maps."""

    def __init__(self, text: str):
        self.maps: dict[str, dict[str, str]] = {}
        self.chains: dict[str, list[str]] = {}
        current = None
        for raw in text.splitlines():
            line = raw.strip()
            if m := re.match(r"map (\S+) \{", line):
                current = ("map", m.group(1))
                self.maps[m.group(1)] = {}
            elif m := re.match(r"elements = \{ (.*) \}", line):
                assert current and current[0] == "map"
                for element in m.group(1).split(", "):
                    addr, _, target = element.partition(" : jump ")
                    self.maps[current[1]][addr] = target
            elif m := re.match(r"chain (\S+) \{", line):
                current = ("chain", m.group(1))
                self.chains[m.group(1)] = []
            elif line in ("}", "") or line.startswith(("table ", "type ")):
                continue
            else:
                assert current and current[0] == "chain", line
                self.chains[current[1]].append(line)

    def run(self, hook: str, src: str, dst: str, proto: str, port: int) -> bool:
        """False when the packet is dropped in this hook."""
        for line in self.chains[hook]:
            if line.startswith(("ct state", "meta mark")):
                continue  # a new connection, not marked by kube-proxy (no Service on the way)
            m = re.match(r"ip6? (saddr|daddr) vmap @(\S+)$", line)
            assert m, f"unmatched rule {line!r}"
            target = self.maps[m.group(2)].get(src if m.group(1) == "saddr" else dst)
            if target is None:
                continue
            verdict = self.chain(target, src, dst, proto, port)
            if verdict == "drop":
                return False
            if verdict == "accept":
                return True
        return True

    def chain(self, name: str, src: str, dst: str, proto: str, port: int) -> str:
        for line in self.chains[name]:
            m = _RULE.match(line)
            assert m, f"unmatched rule {line!r}"
            if m["set"] is not None:
                addr = ip_address(src if m["field"] == "saddr" else dst)
                if not any(addr in ip_network(e) for e in m["set"].split(", ")):
                    continue
            if m["proto"] and m["proto"] != proto.lower():
                continue
            if m["l4"] and (
                m["l4"] != proto.lower() or not int(m["lo"]) <= port <= int(m["hi"] or m["lo"])
            ):
                continue
            return m["verdict"]
        return "return"


def kernel_matrix(
    cluster: Cluster, engine: PolicyEngine, port: int, proto: str
) -> list[list[bool]]:
    """What the rendered rules let through, connection by connection."""
    rules = {n.name: Ruleset(render_node(cluster, n.name)) for n in cluster.nodes}
    node_ips = {str(ip): n.name for n in cluster.nodes for ip in n.ips}
    out = []
    for a, sip in zip(engine.pods, engine.ips, strict=True):
        row = []
        for b, dip in zip(engine.pods, engine.ips, strict=True):
            s, d = str(sip), str(dip)
            if a.key == b.key:
                row.append(True)  # never leaves the pod's namespace
            elif a.host_network:
                # From the host: to its own pods through output (unfiltered), else to the peer.
                row.append(
                    a.node_name == b.node_name
                    or b.host_network
                    or rules[b.node_name].run("forward", s, d, proto, port)
                )
            elif d in node_ips:
                # To a node address: input on that node, after forward when it is another node.
                here = node_ips[d] == a.node_name
                row.append(
                    rules[a.node_name].run("input" if here else "forward", s, d, proto, port)
                )
            elif a.node_name == b.node_name:
                row.append(rules[a.node_name].run("forward", s, d, proto, port))
            else:
                row.append(
                    rules[a.node_name].run("forward", s, d, proto, port)
                    and rules[b.node_name].run("forward", s, d, proto, port)
                )
        out.append(row)
    return out


def assert_same(cluster: Cluster, queries) -> None:  # type: ignore[no-untyped-def]
    engine = PolicyEngine(cluster)
    for port, proto in queries:
        want = engine.matrix(port, proto).tolist()
        got = kernel_matrix(cluster, engine, port, proto)
        diffs = [
            (engine.pods[i].key, engine.pods[j].key)
            for i in range(len(want))
            for j in range(len(want))
            if want[i][j] != got[i][j]
        ]
        assert not diffs, (port, proto, diffs[:5])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_rendered_rules_enforce_the_engine_matrix(cluster: Cluster) -> None:
    assert_same(cluster, sorted(set(QUERIES) | set(declared_ports(cluster.running_pods))))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upstream_model_cases(case) -> None:  # type: ignore[no-untyped-def]
    text = case.policies
    if callable(text):
        text = text({p.key: str(p.ips[0]) for p in model_cluster().pods})
    assert_same(model_cluster(text), [(case.port, case.protocol)])


def test_nft_accepts_the_rendering() -> None:
    if shutil.which("nft") is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI must check the rendering with nft -c (run as root with nftables installed)"
            )
        pytest.skip("needs nft and root")
    cluster = load_cluster([SHOP])
    name = f"pnpol-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for node in cluster.nodes:
            proc = subprocess.run(
                ["ip", "netns", "exec", name, "nft", "-c", "-f", "-"],
                input=render_node(cluster, node.name),
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_overlapping_excepts() -> None:
    """`except` entries may overlap one another; every one of them is cut out."""
    cluster = model_cluster(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
        "  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.244.0.0/24, 10.0.0.0/8, 10.244.1.2/32]}}]\n"
    )
    assert_same(cluster, [(80, "TCP")])
