"""The ruleset kube-proxy's nftables proxier writes on a node, as `nft -f` text.

The layout is upstream's (`pkg/proxy/nftables/proxier.go`): one `kube-proxy` table per IP
family; filter base chains before DNAT (LoadBalancer source ranges) and after it (no-endpoint
verdicts, invalid ClusterIPs); nat base chains dispatching through the `service-ips` and
`service-nodeports` verdict maps to per-service-port chains named `service-`, `local-`,
`external-` and `firewall-<hash>-ns/name/proto/port`, then `numgen` to per-endpoint chains
`endpoint-<hash>-...__IP/port` that DNAT; ClientIP affinity in per-endpoint dynamic sets.

Pure: text in memory, never applied. The output is deterministic (service ports by name,
endpoints by "IP:port").
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from podnet.family import FAMILIES
from podnet.model.cluster import Cluster
from podnet.model.config import MASQUERADE_MARK, ProxyMode
from podnet.nftables import Chain, Element, Map, Rule, Set, Table, Transaction
from podnet.proxy.endpoints import ProxyEndpoint
from podnet.proxy.node import (
    NodeProxy,
    PortState,
    families,
    node_proxy,
    paused_gc,
)

TABLE = "kube-proxy"

# name: (type, hook, priority)
BASE_CHAINS = {
    "filter-prerouting-pre-dnat": ("filter", "prerouting", -110),
    "filter-output-pre-dnat": ("filter", "output", -110),
    "filter-forward": ("filter", "forward", 0),
    "filter-input": ("filter", "input", 0),
    "filter-output": ("filter", "output", 0),
    "nat-prerouting": ("nat", "prerouting", -100),
    "nat-output": ("nat", "output", -100),
    "nat-postrouting": ("nat", "postrouting", 100),
}
HELPER_CHAINS = (
    "cluster-ips-check",
    "firewall-check",
    "mark-for-masquerade",
    "masquerading",
    "nodeport-endpoints-check",
    "reject-chain",
    "service-endpoints-check",
    "services",
)
AFFINITY_FLAGS = ("dynamic", "timeout")  # of the per-endpoint ClientIP affinity sets


def render_nftables(cluster: Cluster, node: str) -> str:
    """The node's whole ruleset: `table ip kube-proxy`, and `table ip6 kube-proxy` when the
    cluster is dual-stack."""
    with paused_gc():
        return "\n".join(
            render_table(node_proxy(cluster, node, f, ProxyMode.nftables))
            for f in families(cluster)
        )


def hash_and_truncate(name: str) -> str:
    """Upstream's chain name base: 8 characters of base32(sha256(name)), then the name."""
    return f"{base32_prefix(hashlib.sha256(name.encode()).digest(), 8)}-{name}"


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_BASE32_PAIRS = [a + b for a in _BASE32 for b in _BASE32]  # by 10 bits, as base64's own table


def base32_prefix(digest: bytes, chars: int) -> str:
    """The first `chars` (a multiple of 8) characters of base64.b32encode(digest), without its
    per-call overhead: tens of thousands of chain names per ruleset."""
    out: list[str] = []
    pairs = _BASE32_PAIRS
    for i in range(0, chars * 5 // 8, 5):
        v = int.from_bytes(digest[i : i + 5], "big")
        out += (pairs[v >> 30], pairs[(v >> 20) & 1023], pairs[(v >> 10) & 1023], pairs[v & 1023])
    return "".join(out)


def service_port_chain_name(st: PortState) -> str:
    """What upstream's servicePortChainNameBase hashes: "ns/name/protocol/port"."""
    n = st.info.name
    return f"{n.namespace}/{n.name}/{st.info.protocol}/{n.port}"


def endpoint_chain_name(port_name: str, ep: ProxyEndpoint) -> str:
    """What upstream's servicePortEndpointChainNameBase hashes: the port's name, then
    "__IP/port" (the colons of an IPv6 address as dots)."""
    return f"{port_name}__{ep.address.replace(':', '.')}/{ep.port}"


class _PortChains(NamedTuple):
    """A service port's chain names (their hashes are costly: computed once per port)."""

    st: PortState
    base: str  # hash_and_truncate of "ns/name/proto/port"
    endpoint_chains: dict[str, str]  # "IP:port" -> its `endpoint-` chain, in reachable order

    @property
    def names(self) -> tuple[tuple[bool, str], ...]:
        """(used, chain) of the port's own chains, in the order they are declared."""
        st, base = self.st, self.base
        return (
            (st.uses_cluster_chain, f"service-{base}"),
            (st.uses_local_chain, f"local-{base}"),
            (st.uses_external_chain, f"external-{base}"),
            (st.uses_firewall_chain, f"firewall-{base}"),
        )


def _port_chains(st: PortState) -> _PortChains:
    name = service_port_chain_name(st)
    return _PortChains(
        st,
        hash_and_truncate(name),
        {
            e.key: f"endpoint-{hash_and_truncate(endpoint_chain_name(name, e))}"
            for e in st.endpoints.reachable
        },
    )


def render_table(np: NodeProxy) -> str:
    """One family's table: every chain, then every set and map, every rule by chain, and the
    elements last, so that each command finds what it names already declared."""
    fam, addr_type = FAMILIES[np.family].nft, FAMILIES[np.family].nft_addr_type
    ports = [_port_chains(st) for st in np.ports]
    tx = Transaction(fam, TABLE)
    tx.add(Table(comment="rules for kube-proxy"))
    _chains(tx, ports)
    _sets(tx, ports, addr_type)
    _base_rules(tx, np, fam)
    for pc in ports:
        _service_port(tx, np, pc, fam)
    _elements(tx, np, {id(pc.st): pc.base for pc in ports})
    return str(tx)


def _chains(tx: Transaction, ports: list[_PortChains]) -> None:
    """The base chains, the helpers, then each service port's own chains and endpoint chains."""
    for name, (kind, hook, prio) in BASE_CHAINS.items():
        tx.add(Chain(name, kind, hook, prio))
    for name in HELPER_CHAINS:
        if name == "reject-chain":
            tx.add(Chain(name, comment="helper for @no-endpoint-services / @no-endpoint-nodeports"))
        else:
            tx.add(Chain(name))
    for pc in ports:
        for used, name in pc.names:
            if used:
                tx.add(Chain(name))
        for chain in pc.endpoint_chains.values():
            tx.add(Chain(chain))


def _sets(tx: Transaction, ports: list[_PortChains], addr_type: str) -> None:
    key = f"{addr_type} . inet_proto . inet_service"
    port_key = "inet_proto . inet_service"
    tx.add(Set("cluster-ips", addr_type, comment="Active ClusterIPs"))
    tx.add(Set("nodeport-ips", addr_type, comment="IPs that accept NodePort traffic"))
    for name, key_type, comment in (
        ("firewall-ips", key, "destinations that are subject to LoadBalancerSourceRanges"),
        (
            "no-endpoint-nodeports",
            port_key,
            "vmap to drop or reject packets to service nodeports with no endpoints",
        ),
        (
            "no-endpoint-services",
            key,
            "vmap to drop or reject packets to services with no endpoints",
        ),
        ("service-ips", key, "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
        ("service-nodeports", port_key, "NodePort traffic"),
    ):
        tx.add(Map(name, f"{key_type} : verdict", comment=comment))
    # ClientIP affinity: the clients each endpoint has seen, forgotten after the timeout.
    for pc in ports:
        timeout = pc.st.info.affinity_timeout
        if timeout:
            for chain in pc.endpoint_chains.values():
                tx.add(Set(_affinity(chain), addr_type, flags=AFFINITY_FLAGS, timeout=timeout))


def _affinity(endpoint_chain: str) -> str:
    """The affinity set of an endpoint chain: the same name after `endpoint-`."""
    return f"affinity-{endpoint_chain[len('endpoint-') :]}"


def _base_rules(tx: Transaction, np: NodeProxy, fam: str) -> None:
    new = "ct state new"
    for chain, rule in (
        ("filter-prerouting-pre-dnat", f"{new} jump firewall-check"),
        ("filter-output-pre-dnat", f"{new} jump firewall-check"),
        ("filter-forward", f"{new} jump service-endpoints-check"),
        ("filter-forward", f"{new} jump cluster-ips-check"),
        ("filter-input", f"{new} jump nodeport-endpoints-check"),
        ("filter-input", f"{new} jump service-endpoints-check"),
        ("filter-output", f"{new} jump service-endpoints-check"),
        ("filter-output", f"{new} jump cluster-ips-check"),
        ("nat-prerouting", "jump services"),
        ("nat-output", "jump services"),
        ("nat-postrouting", "jump masquerading"),
    ):
        tx.add(Rule(chain, rule))
    tx.add(
        Rule(
            "cluster-ips-check",
            f"{fam} daddr @cluster-ips reject",
            "Reject traffic to invalid ports of ClusterIPs",
        )
    )
    if np.service_cidrs:
        cidrs = ", ".join(str(c) for c in np.service_cidrs)
        tx.add(
            Rule(
                "cluster-ips-check",
                f"{fam} daddr {{ {cidrs} }} drop",
                "Drop traffic to unallocated ClusterIPs",
            )
        )
    tx.add(Rule("firewall-check", f"{fam} daddr . meta l4proto . th dport vmap @firewall-ips"))
    mark = f"{MASQUERADE_MARK:#x}"
    tx.add(Rule("mark-for-masquerade", f"mark set mark or {mark}"))
    tx.add(Rule("masquerading", f"mark and {mark} == 0 return"))
    tx.add(Rule("masquerading", f"mark set mark xor {mark}"))
    tx.add(Rule("masquerading", "masquerade fully-random"))
    if np.node_port_ips is None:
        dest = f"fib daddr type local {fam} daddr != {_loopback(np.family)}"
    else:
        dest = f"{fam} daddr @nodeport-ips"
    tx.add(
        Rule(
            "nodeport-endpoints-check",
            f"{dest} meta l4proto . th dport vmap @no-endpoint-nodeports",
        )
    )
    tx.add(Rule("reject-chain", "reject"))
    tx.add(
        Rule(
            "service-endpoints-check",
            f"{fam} daddr . meta l4proto . th dport vmap @no-endpoint-services",
        )
    )
    tx.add(Rule("services", f"{fam} daddr . meta l4proto . th dport vmap @service-ips"))
    tx.add(Rule("services", f"{dest} meta l4proto . th dport vmap @service-nodeports"))


def _loopback(family: int) -> str:
    net = FAMILIES[family].loopback
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _service_port(tx: Transaction, np: NodeProxy, pc: _PortChains, fam: str) -> None:
    """A service port's rules, chain by chain in the order `_chains` declared them."""
    st = pc.st
    info, eps = st.info, st.endpoints
    cluster_chain, local_chain = f"service-{pc.base}", f"local-{pc.base}"
    masquerade = _internal_masquerade(np, st, fam)
    if st.uses_cluster_chain:
        if masquerade and not info.internal_policy_local:
            tx.add(Rule(cluster_chain, masquerade))
        _to_endpoints(tx, pc, cluster_chain, eps.cluster, fam)
    if st.uses_local_chain:
        if masquerade and info.internal_policy_local:
            tx.add(Rule(local_chain, masquerade))
        _to_endpoints(tx, pc, local_chain, eps.local, fam)
    if st.uses_external_chain:
        _external(tx, np, pc, fam)
    if st.uses_firewall_chain:
        sources = ", ".join(str(s) for s in st.firewall_sources)
        tx.add(Rule(f"firewall-{pc.base}", f"{fam} saddr != {{ {sources} }} drop"))
    affinity = info.affinity_timeout
    proto = info.protocol
    for e in eps.reachable:
        chain = pc.endpoint_chains[e.key]
        tx.add(Rule(chain, f"{fam} saddr {e.address} jump mark-for-masquerade"))
        if affinity:
            tx.add(Rule(chain, f"update @{_affinity(chain)} {{ {fam} saddr }}"))
        tx.add(Rule(chain, f"meta l4proto {proto} dnat to {e.key}"))


def _internal_masquerade(np: NodeProxy, st: PortState, fam: str) -> str:
    """The rule marking ClusterIP traffic for masquerading ("" when none is written):
    everything with --masquerade-all, else what the local-traffic detector calls not pod traffic."""
    if not st.has_internal_endpoints or not (np.masquerade_all or np.local_cidr is not None):
        return ""
    info = st.info
    match = f"{fam} daddr {info.cluster_ip} {info.protocol} dport {info.port.port}"
    if np.masquerade_all:
        return f"{match} jump mark-for-masquerade"
    return f"{match} {fam} saddr != {np.local_cidr} jump mark-for-masquerade"


def _external(tx: Transaction, np: NodeProxy, pc: _PortChains, fam: str) -> None:
    """NodePort, external and LoadBalancer IP traffic: masquerade it all (eTP Cluster), or keep
    the client's address and short-circuit what pods and the node send (eTP Local)."""
    st = pc.st
    chain, cluster_chain = f"external-{pc.base}", f"service-{pc.base}"
    if not st.info.external_policy_local:
        tx.add(Rule(chain, "jump mark-for-masquerade"))
    else:
        if np.local_cidr is not None:
            tx.add(
                Rule(
                    chain,
                    f"{fam} saddr {np.local_cidr} goto {cluster_chain}",
                    "short-circuit pod traffic",
                )
            )
        tx.add(
            Rule(chain, "fib saddr type local jump mark-for-masquerade", "masquerade local traffic")
        )
        tx.add(
            Rule(chain, f"fib saddr type local goto {cluster_chain}", "short-circuit local traffic")
        )
    if st.has_external_endpoints:
        policy = "local" if st.info.external_policy_local else "service"
        tx.add(Rule(chain, f"goto {policy}-{pc.base}"))


def _to_endpoints(
    tx: Transaction,
    pc: _PortChains,
    chain: str,
    endpoints: tuple[ProxyEndpoint, ...],
    fam: str,
) -> None:
    """Affinity first (a client seen before goes back to its endpoint), then a random choice."""
    targets = [pc.endpoint_chains[e.key] for e in endpoints]
    if pc.st.info.affinity_timeout:
        for target in targets:
            tx.add(Rule(chain, f"{fam} saddr @{_affinity(target)} goto {target}"))
    vmap = " , ".join(f"{i} : goto {target}" for i, target in enumerate(targets))
    tx.add(Rule(chain, f"numgen random mod {len(targets)} vmap {{ {vmap} }}"))


def _elements(tx: Transaction, np: NodeProxy, bases: dict[int, str]) -> None:
    """Set and map elements, from the node's dispatch tables (one service port per key);
    `bases` are the ports' chain name bases by id of their PortState."""
    reject = "goto reject-chain"
    if np.node_port_ips:
        for ip in np.node_port_ips:
            tx.add(Element("nodeport-ips", str(ip)))
    seen = set()
    for st in np.ports:
        ip = st.info.cluster_ip
        if ip not in seen:
            seen.add(ip)
            tx.add(Element("cluster-ips", str(ip)))
    for (ip, _, number), (st, kind) in np.service_ips.items():
        info = st.info
        base = bases[id(st)]
        key = f"{ip} . {info.protocol} . {number}"
        name = str(info.name)
        no_endpoints = "drop" if st.endpoints.has_any else reject
        if kind == "cluster":
            if st.has_internal_endpoints:
                internal = "local" if info.internal_policy_local else "service"
                tx.add(Element("service-ips", key, f"goto {internal}-{base}"))
            else:
                tx.add(Element("no-endpoint-services", key, no_endpoints, name))
            continue
        if st.endpoints.has_any:
            tx.add(Element("service-ips", key, f"goto external-{base}"))
        if not st.has_external_endpoints:
            tx.add(Element("no-endpoint-services", key, no_endpoints, name))
        if kind == "load-balancer" and st.uses_firewall_chain:
            tx.add(Element("firewall-ips", key, f"goto firewall-{base}", name))
    for (_, number), st in np.node_ports.items():
        key = f"{st.info.protocol} . {number}"
        base = bases[id(st)]
        if st.endpoints.has_any:
            tx.add(Element("service-nodeports", key, f"goto external-{base}"))
        if not st.has_external_endpoints:
            verdict = "drop" if st.endpoints.has_any else reject
            tx.add(Element("no-endpoint-nodeports", key, verdict, str(st.info.name)))
