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
from typing import NamedTuple

from podnet.family import FAMILIES
from podnet.model.cluster import Cluster
from podnet.model.config import MASQUERADE_MARK, ProxyMode
from podnet.proxy.endpoints import ProxyEndpoint
from podnet.proxy.nftables import base32_prefix
from podnet.proxy.node import (
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
            tool = f"{FAMILIES[family].iptables}-restore"
            np = node_proxy(cluster, node, family, ProxyMode.iptables)
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
    loopback = FAMILIES[np.family].loopback
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
        guard = "" if FAMILIES[np.family].route_localnet else f" ! -d {loopback}"
        t.services_tail.append(f"{tail} -m addrtype --dst-type LOCAL{guard} -j KUBE-NODEPORTS")
    else:
        t.services_tail += [f"{tail} -d {ip} -j KUBE-NODEPORTS" for ip in np.node_port_ips]
    return t.text()


class _PortChains(NamedTuple):
    """A service port's chain names: KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW- and KUBE-SEP-."""

    cluster: str
    local: str
    external: str
    firewall: str
    endpoints: dict[str, str]  # "IP:port" -> its KUBE-SEP- chain

    @classmethod
    def of(cls, st: PortState) -> _PortChains:
        name, proto = str(st.info.name), st.info.protocol
        h = port_proto_hash(name, proto)
        return cls(
            f"KUBE-SVC-{h}",
            f"KUBE-SVL-{h}",
            f"KUBE-EXT-{h}",
            f"KUBE-FW-{h}",
            {e.key: endpoint_chain(name, proto, e) for e in st.endpoints.reachable},
        )


def _service_port(t: _Tables, np: NodeProxy, st: PortState, large: bool) -> None:
    c = _PortChains.of(st)
    for used, chain in (
        (st.uses_cluster_chain, c.cluster),
        (st.uses_local_chain, c.local),
        (st.uses_external_chain, c.external),
        (st.uses_firewall_chain, c.firewall),
    ):
        if used:
            t.nat_chains.append(chain)
    t.nat_chains += c.endpoints.values()
    _dispatch(t, np, st, c)
    _port_rules(t, np, st, c, large)


def _dispatch(t: _Tables, np: NodeProxy, st: PortState, c: _PortChains) -> None:
    """The rules that send the port's traffic to its chains (nat) or drop or reject it (filter):
    by ClusterIP, external IP and LoadBalancer IP in KUBE-SERVICES, by NodePort in KUBE-NODEPORTS."""
    info, eps = st.info, st.endpoints
    name, proto, number = str(info.name), info.protocol, info.port.port
    internal_chain = c.local if info.internal_policy_local else c.cluster
    lb_chain = c.firewall if st.uses_firewall_chain else c.external
    if not eps.has_any:
        target, why = "REJECT", f'"{name} has no endpoints"'
    else:
        target, why = "DROP", f'"{name} has no local endpoints"'
    match = f"-m {proto} -p {proto}"

    cip = f"{match} -d {info.cluster_ip} --dport {number}"
    if st.has_internal_endpoints:
        t.nat.append(
            f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" {cip} -j {internal_chain}'
        )
    else:
        t.filter.append(f"-A KUBE-SERVICES -m comment --comment {why} {cip} -j {target}")
    no_external = f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {why}"
    for ip in info.external_ips:
        if not _owns(np, st, ip):
            continue
        dest = f"{match} -d {ip} --dport {number}"
        if eps.has_any:
            t.nat.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} external IP" {dest} -j {c.external}'
            )
        if not st.has_external_endpoints:
            t.filter.append(f"{no_external} {dest} -j {target}")
    vips = [ip for ip in info.load_balancer_vips if _owns(np, st, ip)]
    for ip in vips:
        dest = f"{match} -d {ip} --dport {number}"
        if eps.has_any:
            t.nat.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} loadbalancer IP" {dest} -j {lb_chain}'
            )
        if st.uses_firewall_chain:
            t.filter.append(
                f'-A KUBE-PROXY-FIREWALL -m comment --comment "{name} traffic not accepted by {c.firewall}" {dest} -j DROP'
            )
    if not st.has_external_endpoints:
        for ip in vips:
            t.filter.append(f"{no_external} {match} -d {ip} --dport {number} -j {target}")
    if info.node_port and np.node_ports.get((info.name.protocol, info.node_port)) is st:
        if eps.has_any:
            t.nat.append(
                f"-A KUBE-NODEPORTS -m comment --comment {_quote(name)} {match} --dport {info.node_port} -j {c.external}"
            )
        if not st.has_external_endpoints:
            t.filter.append(
                f"{no_external} -m addrtype --dst-type LOCAL {match} --dport {info.node_port} -j {target}"
            )
    if info.health_check_node_port:
        t.filter.append(
            f'-A KUBE-NODEPORTS -m comment --comment "{name} health check node port"'
            f" -m tcp -p tcp --dport {info.health_check_node_port} -j ACCEPT"
        )


def _port_rules(t: _Tables, np: NodeProxy, st: PortState, c: _PortChains, large: bool) -> None:
    """The rules of the port's own chains: masquerading, the firewall, the choice of endpoint
    and the DNAT of each endpoint chain."""
    info, eps = st.info, st.endpoints
    name, proto = str(info.name), info.protocol
    if st.has_internal_endpoints:
        internal_chain = c.local if info.internal_policy_local else c.cluster
        cip = f"-m {proto} -p {proto} -d {info.cluster_ip} --dport {info.port.port}"
        head = f'-A {internal_chain} -m comment --comment "{name} cluster IP" {cip}'
        if np.masquerade_all:
            t.nat.append(f"{head} -j KUBE-MARK-MASQ")
        elif np.local_cidr is not None:
            t.nat.append(f"{head} ! -s {np.local_cidr} -j KUBE-MARK-MASQ")
    if st.uses_external_chain:
        _external(t, np, st, c)
    if st.uses_firewall_chain:
        fw = f'-A {c.firewall} -m comment --comment "{name} loadbalancer IP"'
        t.nat += [f"{fw} -s {s} -j {c.external}" for s in st.firewall_sources]
        t.nat.append(
            f'-A {c.firewall} -m comment --comment "other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"'
        )
    if st.uses_cluster_chain:
        _to_endpoints(t, st, c.cluster, eps.cluster, c.endpoints, large)
    if st.uses_local_chain:
        _to_endpoints(t, st, c.local, eps.local, c.endpoints, large)
    comment = "" if large else f" -m comment --comment {_quote(name)}"
    for e in eps.reachable:
        chain = c.endpoints[e.key]
        t.nat.append(f"-A {chain}{comment} -s {e.address} -j KUBE-MARK-MASQ")
        recent = f" -m recent --name {chain} --set" if info.affinity_timeout else ""
        t.nat.append(
            f"-A {chain}{comment}{recent} -m {proto} -p {proto} -j DNAT --to-destination {e}"
        )


def _external(t: _Tables, np: NodeProxy, st: PortState, c: _PortChains) -> None:
    """KUBE-EXT-: masquerade everything (eTP Cluster), or keep the client's address and
    short-circuit what pods and the node send (eTP Local)."""
    name = str(st.info.name)
    ext = f"-A {c.external} -m comment --comment"
    if not st.info.external_policy_local:
        t.nat.append(
            f'{ext} "masquerade traffic for {name} external destinations" -j KUBE-MARK-MASQ'
        )
    else:
        if np.local_cidr is not None:
            t.nat.append(
                f'{ext} "pod traffic for {name} external destinations" -s {np.local_cidr} -j {c.cluster}'
            )
        t.nat.append(
            f'{ext} "masquerade LOCAL traffic for {name} external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ'
        )
        t.nat.append(
            f'{ext} "route LOCAL traffic for {name} external destinations" -m addrtype --src-type LOCAL -j {c.cluster}'
        )
    if st.has_external_endpoints:
        policy = c.local if st.info.external_policy_local else c.cluster
        t.nat.append(f"-A {c.external} -j {policy}")


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
            target = sep[e.key]
            t.nat.append(
                f"-A {chain}{comment(e)} -m recent --name {target} --rcheck --seconds {timeout} --reap -j {target}"
            )
    n = len(endpoints)
    for i, e in enumerate(endpoints):
        chance = (
            f" -m statistic --mode random --probability {1.0 / (n - i):0.10f}" if i < n - 1 else ""
        )
        t.nat.append(f"-A {chain}{comment(e)}{chance} -j {sep[e.key]}")
