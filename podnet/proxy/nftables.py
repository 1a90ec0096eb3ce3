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
from dataclasses import dataclass, field

from podnet.model.cluster import Cluster
from podnet.model.config import MASQUERADE_MARK
from podnet.proxy.endpoints import ProxyEndpoint
from podnet.proxy.node import (
    LOOPBACK,
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


def render_nftables(cluster: Cluster, node: str) -> str:
    """The node's whole ruleset: `table ip kube-proxy`, and `table ip6 kube-proxy` when the
    cluster is dual-stack."""
    with paused_gc():
        return "\n".join(
            render_table(node_proxy(cluster, node, f, "nftables")) for f in families(cluster)
        )


def hash_and_truncate(name: str) -> str:
    """Upstream's chain name base: 8 characters of base32(sha256(name)), then the name."""
    return f"{base32_prefix(hashlib.sha256(name.encode()).digest(), 8)}-{name}"


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def base32_prefix(digest: bytes, chars: int) -> str:
    """The first `chars` (a multiple of 8) characters of base64.b32encode(digest), faster."""
    n = chars * 5 // 8
    value = int.from_bytes(digest[:n], "big")
    return "".join(_BASE32[(value >> (5 * i)) & 31] for i in range(chars - 1, -1, -1))


def port_chain_base(st: PortState) -> str:
    n = st.info.name
    return hash_and_truncate(f"{n.namespace}/{n.name}/{st.info.protocol}/{n.port}")


def endpoint_chain_base(st: PortState, ep: ProxyEndpoint) -> str:
    n = st.info.name
    ip = ep.address.replace(":", ".")
    return hash_and_truncate(f"{n.namespace}/{n.name}/{st.info.protocol}/{n.port}__{ip}/{ep.port}")


@dataclass
class _Table:
    family: str  # ip | ip6
    chains: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    rules: dict[str, list[str]] = field(default_factory=dict)
    elements: dict[str, list[str]] = field(default_factory=dict)

    def chain(self, name: str, spec: str = "") -> None:
        self.chains.append(f"add chain {self.family} {TABLE} {name}{spec}")
        self.rules[name] = []

    def rule(self, chain: str, text: str) -> None:
        self.rules[chain].append(text)

    def element(self, name: str, text: str) -> None:
        self.elements.setdefault(name, []).append(text)

    def text(self) -> str:
        head = f'add table {self.family} {TABLE} {{ comment "rules for kube-proxy" ; }}'
        rules = [
            f"add rule {self.family} {TABLE} {chain} {r}"
            for chain, rs in self.rules.items()
            for r in rs
        ]
        # One `add element` per set: nft parses and commits that far faster than a line per
        # element (upstream's transaction shape), which matters with thousands of Services.
        elements = [
            f"add element {self.family} {TABLE} {name} {{ {', '.join(items)} }}"
            for name, items in self.elements.items()
        ]
        return "\n".join([head, *self.chains, *self.sets, *rules, *elements]) + "\n"


def render_table(np: NodeProxy) -> str:
    """One family's table."""
    fam = "ip" if np.family == 4 else "ip6"
    addr_type = "ipv4_addr" if np.family == 4 else "ipv6_addr"
    t = _Table(fam)
    _base(t, np, fam, addr_type)
    for st in np.ports:
        _service_port(t, np, st, fam, addr_type)
    _elements(t, np)
    return t.text()


def _base(t: _Table, np: NodeProxy, fam: str, addr_type: str) -> None:
    for name, (kind, hook, prio) in BASE_CHAINS.items():
        t.chain(name, f" {{ type {kind} hook {hook} priority {prio} ; }}")
    for name in HELPER_CHAINS:
        comment = ' { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }'
        t.chain(name, comment if name == "reject-chain" else "")
    key = f"{addr_type} . inet_proto . inet_service"
    t.sets += [
        f'add set {fam} {TABLE} cluster-ips {{ type {addr_type} ; comment "Active ClusterIPs" ; }}',
        f"add set {fam} {TABLE} nodeport-ips {{ type {addr_type} ;"
        ' comment "IPs that accept NodePort traffic" ; }',
        f"add map {fam} {TABLE} firewall-ips {{ type {key} : verdict ;"
        ' comment "destinations that are subject to LoadBalancerSourceRanges" ; }',
        f"add map {fam} {TABLE} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ;"
        ' comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }',
        f"add map {fam} {TABLE} no-endpoint-services {{ type {key} : verdict ;"
        ' comment "vmap to drop or reject packets to services with no endpoints" ; }',
        f"add map {fam} {TABLE} service-ips {{ type {key} : verdict ;"
        ' comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
        f"add map {fam} {TABLE} service-nodeports {{ type inet_proto . inet_service : verdict ;"
        ' comment "NodePort traffic" ; }',
    ]
    new = "ct state new"
    t.rule("filter-prerouting-pre-dnat", f"{new} jump firewall-check")
    t.rule("filter-output-pre-dnat", f"{new} jump firewall-check")
    t.rule("filter-forward", f"{new} jump service-endpoints-check")
    t.rule("filter-forward", f"{new} jump cluster-ips-check")
    t.rule("filter-input", f"{new} jump nodeport-endpoints-check")
    t.rule("filter-input", f"{new} jump service-endpoints-check")
    t.rule("filter-output", f"{new} jump service-endpoints-check")
    t.rule("filter-output", f"{new} jump cluster-ips-check")
    t.rule("nat-prerouting", "jump services")
    t.rule("nat-output", "jump services")
    t.rule("nat-postrouting", "jump masquerading")
    t.rule(
        "cluster-ips-check",
        f'{fam} daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
    )
    if np.service_cidrs:
        cidrs = ", ".join(str(c) for c in np.service_cidrs)
        t.rule(
            "cluster-ips-check",
            f'{fam} daddr {{ {cidrs} }} drop comment "Drop traffic to unallocated ClusterIPs"',
        )
    t.rule("firewall-check", f"{fam} daddr . meta l4proto . th dport vmap @firewall-ips")
    mark = f"{MASQUERADE_MARK:#x}"
    t.rule("mark-for-masquerade", f"mark set mark or {mark}")
    t.rule("masquerading", f"mark and {mark} == 0 return")
    t.rule("masquerading", f"mark set mark xor {mark}")
    t.rule("masquerading", "masquerade fully-random")
    if np.node_port_ips is None:
        dest = f"fib daddr type local {fam} daddr != {_loopback(np.family)}"
    else:
        dest = f"{fam} daddr @nodeport-ips"
    t.rule(
        "nodeport-endpoints-check", f"{dest} meta l4proto . th dport vmap @no-endpoint-nodeports"
    )
    t.rule("reject-chain", "reject")
    t.rule(
        "service-endpoints-check",
        f"{fam} daddr . meta l4proto . th dport vmap @no-endpoint-services",
    )
    t.rule("services", f"{fam} daddr . meta l4proto . th dport vmap @service-ips")
    t.rule("services", f"{dest} meta l4proto . th dport vmap @service-nodeports")


def _loopback(family: int) -> str:
    net = LOOPBACK[family]
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _service_port(t: _Table, np: NodeProxy, st: PortState, fam: str, addr_type: str) -> None:
    info, eps = st.info, st.endpoints
    base = port_chain_base(st)
    cluster_chain, local_chain = f"service-{base}", f"local-{base}"
    external_chain, firewall_chain = f"external-{base}", f"firewall-{base}"
    affinity = info.affinity_timeout
    ep_chains = {str(e): f"endpoint-{endpoint_chain_base(st, e)}" for e in eps.reachable}
    uses_cluster = bool(eps.cluster) and info.uses_cluster_endpoints
    uses_local = bool(eps.local) and info.uses_local_endpoints
    uses_external = eps.has_any and info.externally_accessible
    uses_firewall = bool(info.load_balancer_vips and info.load_balancer_source_ranges)
    internal_chain = local_chain if info.internal_policy_local else cluster_chain
    external_policy = local_chain if info.external_policy_local else cluster_chain
    for used, name in (
        (uses_cluster, cluster_chain),
        (uses_local, local_chain),
        (uses_external, external_chain),
        (uses_firewall, firewall_chain),
    ):
        if used:
            t.chain(name)
    for e in eps.reachable:
        t.chain(ep_chains[str(e)])
        if affinity:
            t.sets.append(
                f"add set {fam} {TABLE} affinity-{ep_chains[str(e)][len('endpoint-') :]}"
                f" {{ type {addr_type} ; flags dynamic,timeout ; timeout {affinity}s ; }}"
            )

    if st.has_internal_endpoints:
        match = f"{fam} daddr {info.cluster_ip} {info.protocol} dport {info.port.port}"
        if np.masquerade_all:
            t.rule(internal_chain, f"{match} jump mark-for-masquerade")
        elif np.local_cidr is not None:
            t.rule(
                internal_chain, f"{match} {fam} saddr != {np.local_cidr} jump mark-for-masquerade"
            )

    if uses_cluster:
        _to_endpoints(t, st, cluster_chain, eps.cluster, ep_chains, fam)
    if uses_local:
        _to_endpoints(t, st, local_chain, eps.local, ep_chains, fam)

    if uses_external:
        if not info.external_policy_local:
            t.rule(external_chain, "jump mark-for-masquerade")
        else:
            if np.local_cidr is not None:
                t.rule(
                    external_chain,
                    f'{fam} saddr {np.local_cidr} goto {cluster_chain} comment "short-circuit pod traffic"',
                )
            t.rule(
                external_chain,
                'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
            )
            t.rule(
                external_chain,
                f'fib saddr type local goto {cluster_chain} comment "short-circuit local traffic"',
            )
        if st.has_external_endpoints:
            t.rule(external_chain, f"goto {external_policy}")

    if uses_firewall:
        sources = [str(r) for r in info.load_balancer_source_ranges]
        node_ip = np.primary_ip
        if node_ip is not None and any(node_ip in r for r in info.load_balancer_source_ranges):
            sources += [str(v) for v in info.load_balancer_vips]
        t.rule(firewall_chain, f"{fam} saddr != {{ {', '.join(sources)} }} drop")

    for e in eps.reachable:
        chain = ep_chains[str(e)]
        t.rule(chain, f"{fam} saddr {e.address} jump mark-for-masquerade")
        if affinity:
            t.rule(chain, f"update @affinity-{chain[len('endpoint-') :]} {{ {fam} saddr }}")
        t.rule(chain, f"meta l4proto {info.protocol} dnat to {e}")


def _to_endpoints(
    t: _Table,
    st: PortState,
    chain: str,
    endpoints: tuple[ProxyEndpoint, ...],
    ep_chains: dict[str, str],
    fam: str,
) -> None:
    if st.info.affinity_timeout:
        for e in endpoints:
            target = ep_chains[str(e)]
            t.rule(chain, f"{fam} saddr @affinity-{target[len('endpoint-') :]} goto {target}")
    vmap = " , ".join(f"{i} : goto {ep_chains[str(e)]}" for i, e in enumerate(endpoints))
    t.rule(chain, f"numgen random mod {len(endpoints)} vmap {{ {vmap} }}")


def _elements(t: _Table, np: NodeProxy) -> None:
    """Set and map elements, from the node's dispatch tables (one service port per key)."""
    reject = "goto reject-chain"
    if np.node_port_ips:
        for ip in np.node_port_ips:
            t.element("nodeport-ips", str(ip))
    seen = set()
    for st in np.ports:
        ip = st.info.cluster_ip
        if ip not in seen:
            seen.add(ip)
            t.element("cluster-ips", str(ip))
    for (ip, _, number), (st, kind) in np.service_ips.items():
        info = st.info
        base = port_chain_base(st)
        key = f"{ip} . {info.protocol} . {number}"
        comment = f'comment "{info.name}"'
        if kind == "cluster":
            if st.has_internal_endpoints:
                internal = "local" if info.internal_policy_local else "service"
                t.element("service-ips", f"{key} : goto {internal}-{base}")
            else:
                verdict = "drop" if st.endpoints.has_any else reject
                t.element("no-endpoint-services", f"{key} {comment} : {verdict}")
            continue
        if st.endpoints.has_any:
            t.element("service-ips", f"{key} : goto external-{base}")
        if not st.has_external_endpoints:
            verdict = "drop" if st.endpoints.has_any else reject
            t.element("no-endpoint-services", f"{key} {comment} : {verdict}")
        if kind == "load-balancer" and info.load_balancer_source_ranges:
            t.element("firewall-ips", f"{key} {comment} : goto firewall-{base}")
    for (_, number), st in np.node_ports.items():
        key = f"{st.info.protocol} . {number}"
        if st.endpoints.has_any:
            t.element("service-nodeports", f"{key} : goto external-{port_chain_base(st)}")
        if not st.has_external_endpoints:
            verdict = "drop" if st.endpoints.has_any else reject
            t.element("no-endpoint-nodeports", f'{key} comment "{st.info.name}" : {verdict}')
