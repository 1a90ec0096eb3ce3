"""The rules kube-proxy's iptables proxier writes on a node, as `iptables-restore` text.

The same decisions as the nftables rendering (`podnet.proxy.node`), written with upstream's
iptables layout (`pkg/proxy/iptables/proxier.go`): nat `KUBE-SERVICES` dispatching to per-port
`KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-` and `KUBE-FW-` chains and per-endpoint `KUBE-SEP-` chains
(hash: 16 characters of base32(sha256)), `statistic` probabilities, `recent` for ClientIP
affinity, and filter `KUBE-SERVICES`, `KUBE-EXTERNAL-SERVICES`, `KUBE-NODEPORTS`,
`KUBE-PROXY-FIREWALL` and `KUBE-FORWARD`. The jumps from the built-in chains, which kube-proxy
installs with `iptables -I` before each restore, come first in each table as `-I` lines.

Pure: text in memory. A dual-stack node gets an `ip6tables-restore` part after the IPv4 one.
"""

from __future__ import annotations

import hashlib

from podnet.model.cluster import Cluster
from podnet.model.config import MASQUERADE_MARK
from podnet.proxy.endpoints import ProxyEndpoint
from podnet.proxy.nftables import base32_prefix
from podnet.proxy.node import (
    LOOPBACK,
    NodeProxy,
    PortState,
    families,
    node_proxy,
    paused_gc,
)

LARGE_CLUSTER_ENDPOINTS = 1000  # above this, no comments on endpoint rules (upstream)

# (table, chain, built-in chain, comment, extra match), in upstream's iptablesJumpChains order.
JUMPS = (
    (
        "filter",
        "KUBE-EXTERNAL-SERVICES",
        "INPUT",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-EXTERNAL-SERVICES",
        "FORWARD",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW",
    ),
    ("filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", ""),
    (
        "filter",
        "KUBE-SERVICES",
        "FORWARD",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-SERVICES",
        "OUTPUT",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW",
    ),
    ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", ""),
    (
        "filter",
        "KUBE-PROXY-FIREWALL",
        "INPUT",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-PROXY-FIREWALL",
        "OUTPUT",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-PROXY-FIREWALL",
        "FORWARD",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", ""),
    ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", ""),
    ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", ""),
)


def render_iptables(cluster: Cluster, node: str) -> str:
    """`iptables-restore` input for the node (then `ip6tables-restore` input if dual-stack)."""
    parts = []
    with paused_gc():
        for family in families(cluster):
            tool = "iptables-restore" if family == 4 else "ip6tables-restore"
            np = node_proxy(cluster, node, family, "iptables")
            parts.append(f"# {tool}\n" + render_family(np))
    return "\n".join(parts)


def port_proto_hash(name: str, protocol: str) -> str:
    return base32_prefix(hashlib.sha256((name + protocol).encode()).digest(), 16)


def endpoint_chain(name: str, protocol: str, ep: ProxyEndpoint) -> str:
    text = f"{name}{protocol}{ep.key}"
    return "KUBE-SEP-" + base32_prefix(hashlib.sha256(text.encode()).digest(), 16)


def _quote(comment: str) -> str:
    return f'"{comment}"' if " " in comment else comment


class _Tables:
    def __init__(self) -> None:
        self.filter_chains = [
            "KUBE-NODEPORTS",
            "KUBE-SERVICES",
            "KUBE-EXTERNAL-SERVICES",
            "KUBE-FIREWALL",
            "KUBE-FORWARD",
            "KUBE-PROXY-FIREWALL",
        ]
        self.nat_chains = ["KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"]
        self.filter: list[str] = []
        self.nat: list[str] = []
        self.services_tail: list[str] = []  # nat KUBE-SERVICES rules that must come last

    def text(self) -> str:
        out = ["*filter"]
        out += [f":{c} - [0:0]" for c in self.filter_chains]
        out += _jumps("filter")
        out += self.filter
        out += ["COMMIT", "*nat"]
        out += [f":{c} - [0:0]" for c in self.nat_chains]
        out += _jumps("nat")
        out += self.nat + self.services_tail
        out.append("COMMIT")
        return "\n".join(out) + "\n"


def _jumps(table: str) -> list[str]:
    out = []
    # Prepended one by one, so the first of upstream's list ends up first: insert in reverse.
    for t, chain, builtin, comment, extra in reversed(JUMPS):
        if t == table:
            match = f"{extra} " if extra else ""
            out.append(f'-I {builtin} {match}-m comment --comment "{comment}" -j {chain}')
    return out


def render_family(np: NodeProxy) -> str:
    t = _Tables()
    mark = f"{MASQUERADE_MARK:#x}"
    loopback = LOOPBACK[np.family]
    t.filter += [
        '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections"'
        f" -d {loopback} ! -s {loopback} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules"'
        f" -m mark --mark {mark}/{mark} -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule"'
        " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    t.nat += [
        f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE --random-fully",
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}",
    ]
    large = np.total_endpoints > LARGE_CLUSTER_ENDPOINTS
    for st in np.ports:
        _service_port(t, np, st, large)
    tail = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
    if np.node_port_ips is None:
        guard = f" ! -d {loopback}" if np.family == 6 else ""
        t.services_tail.append(f"{tail} -m addrtype --dst-type LOCAL{guard} -j KUBE-NODEPORTS")
    else:
        t.services_tail += [f"{tail} -d {ip} -j KUBE-NODEPORTS" for ip in np.node_port_ips]
    return t.text()


def _service_port(t: _Tables, np: NodeProxy, st: PortState, large: bool) -> None:
    info, eps = st.info, st.endpoints
    name, proto, number = str(info.name), info.protocol, info.port.port
    h = port_proto_hash(name, proto)
    cluster_chain, local_chain = f"KUBE-SVC-{h}", f"KUBE-SVL-{h}"
    external_chain, firewall_chain = f"KUBE-EXT-{h}", f"KUBE-FW-{h}"
    sep = {e.key: endpoint_chain(name, proto, e) for e in eps.reachable}
    uses_cluster = bool(eps.cluster) and info.uses_cluster_endpoints
    uses_local = bool(eps.local) and info.uses_local_endpoints
    uses_external = eps.has_any and info.externally_accessible
    uses_firewall = bool(info.load_balancer_vips and info.load_balancer_source_ranges)
    internal_chain = local_chain if info.internal_policy_local else cluster_chain
    external_policy = local_chain if info.external_policy_local else cluster_chain
    lb_chain = firewall_chain if uses_firewall else external_chain
    for used, chain in (
        (uses_cluster, cluster_chain),
        (uses_local, local_chain),
        (uses_external, external_chain),
        (uses_firewall, firewall_chain),
    ):
        if used:
            t.nat_chains.append(chain)
    t.nat_chains += [sep[str(e)] for e in eps.reachable]

    if not eps.has_any:
        internal_target = external_target = "REJECT"
        internal_comment = external_comment = f'"{name} has no endpoints"'
    else:
        internal_target = external_target = "DROP"
        internal_comment = f'"{name} has no local endpoints"'
        external_comment = f'"{name} has no local endpoints"'
    match = f"-m {proto} -p {proto}"

    cip = f"{match} -d {info.cluster_ip} --dport {number}"
    if st.has_internal_endpoints:
        t.nat.append(
            f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" {cip} -j {internal_chain}'
        )
    else:
        t.filter.append(
            f"-A KUBE-SERVICES -m comment --comment {internal_comment} {cip} -j {internal_target}"
        )
    for ip in info.external_ips:
        if not _owns(np, st, ip):
            continue
        dest = f"{match} -d {ip} --dport {number}"
        if eps.has_any:
            t.nat.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} external IP" {dest} -j {external_chain}'
            )
        if not st.has_external_endpoints:
            t.filter.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {external_comment} {dest} -j {external_target}"
            )
    vips = [ip for ip in info.load_balancer_vips if _owns(np, st, ip)]
    for ip in vips:
        dest = f"{match} -d {ip} --dport {number}"
        if eps.has_any:
            t.nat.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} loadbalancer IP" {dest} -j {lb_chain}'
            )
        if uses_firewall:
            t.filter.append(
                f'-A KUBE-PROXY-FIREWALL -m comment --comment "{name} traffic not accepted by {firewall_chain}" {dest} -j DROP'
            )
    if not st.has_external_endpoints:
        for ip in vips:
            dest = f"{match} -d {ip} --dport {number}"
            t.filter.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {external_comment} {dest} -j {external_target}"
            )
    if info.node_port and np.node_ports.get((info.name.protocol, info.node_port)) is st:
        if eps.has_any:
            t.nat.append(
                f"-A KUBE-NODEPORTS -m comment --comment {_quote(name)} {match} --dport {info.node_port} -j {external_chain}"
            )
        if not st.has_external_endpoints:
            t.filter.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {external_comment} -m addrtype --dst-type LOCAL"
                f" {match} --dport {info.node_port} -j {external_target}"
            )
    if info.health_check_node_port:
        t.filter.append(
            f'-A KUBE-NODEPORTS -m comment --comment "{name} health check node port"'
            f" -m tcp -p tcp --dport {info.health_check_node_port} -j ACCEPT"
        )

    if st.has_internal_endpoints:
        head = f'-A {internal_chain} -m comment --comment "{name} cluster IP" {cip}'
        if np.masquerade_all:
            t.nat.append(f"{head} -j KUBE-MARK-MASQ")
        elif np.local_cidr is not None:
            t.nat.append(f"{head} ! -s {np.local_cidr} -j KUBE-MARK-MASQ")

    if uses_external:
        ext = f"-A {external_chain} -m comment --comment"
        if not info.external_policy_local:
            t.nat.append(
                f'{ext} "masquerade traffic for {name} external destinations" -j KUBE-MARK-MASQ'
            )
        else:
            if np.local_cidr is not None:
                t.nat.append(
                    f'{ext} "pod traffic for {name} external destinations" -s {np.local_cidr} -j {cluster_chain}'
                )
            t.nat.append(
                f'{ext} "masquerade LOCAL traffic for {name} external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ'
            )
            t.nat.append(
                f'{ext} "route LOCAL traffic for {name} external destinations" -m addrtype --src-type LOCAL -j {cluster_chain}'
            )
        if st.has_external_endpoints:
            t.nat.append(f"-A {external_chain} -j {external_policy}")

    if uses_firewall:
        fw = f'-A {firewall_chain} -m comment --comment "{name} loadbalancer IP"'
        sources = [str(r) for r in info.load_balancer_source_ranges]
        node_ip = np.primary_ip
        if node_ip is not None and any(node_ip in r for r in info.load_balancer_source_ranges):
            sources += [str(v) for v in info.load_balancer_vips]
        t.nat += [f"{fw} -s {s} -j {external_chain}" for s in sources]
        t.nat.append(
            f'-A {firewall_chain} -m comment --comment "other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"'
        )

    if uses_cluster:
        _to_endpoints(t, st, cluster_chain, eps.cluster, sep, large)
    if uses_local:
        _to_endpoints(t, st, local_chain, eps.local, sep, large)

    for e in eps.reachable:
        chain = sep[str(e)]
        comment = "" if large else f" -m comment --comment {_quote(name)}"
        t.nat.append(f"-A {chain}{comment} -s {e.address} -j KUBE-MARK-MASQ")
        recent = f" -m recent --name {chain} --set" if info.affinity_timeout else ""
        t.nat.append(f"-A {chain}{comment}{recent} {match} -j DNAT --to-destination {e}")


def _owns(np: NodeProxy, st: PortState, ip: object) -> bool:
    """Whether this service port is the one dispatched for (ip, protocol, port)."""
    hit = np.service_ips.get((ip, st.info.name.protocol, st.info.port.port))  # type: ignore[arg-type]
    return hit is not None and hit[0] is st


def _to_endpoints(
    t: _Tables,
    st: PortState,
    chain: str,
    endpoints: tuple[ProxyEndpoint, ...],
    sep: dict[str, str],
    large: bool,
) -> None:
    name = str(st.info.name)
    timeout = st.info.affinity_timeout

    def comment(e: ProxyEndpoint) -> str:
        return "" if large else f' -m comment --comment "{name} -> {e}"'

    if timeout:
        for e in endpoints:
            target = sep[str(e)]
            t.nat.append(
                f"-A {chain}{comment(e)} -m recent --name {target} --rcheck --seconds {timeout} --reap -j {target}"
            )
    n = len(endpoints)
    for i, e in enumerate(endpoints):
        chance = (
            f" -m statistic --mode random --probability {1.0 / (n - i):0.10f}" if i < n - 1 else ""
        )
        t.nat.append(f"-A {chain}{comment(e)}{chance} -j {sep[str(e)]}")
