"""kube-proxy's IPVS mode on one node: virtual servers, ipsets and iptables rules, as upstream's
IPVS proxier (`pkg/proxy/ipvs/proxier.go`) builds them, and their rendering.

The state starts from the same `NodeProxy` as the other modes (endpoint selection, traffic
policies, topology, terminating endpoints): a virtual server per ClusterIP, externalIP and
LoadBalancer ingress IP and per node address and NodePort, each with the real servers
`syncEndpoint` gives it (weight 1; endpoints that are terminating while others are ready stay
with weight 0, as the graceful-termination manager leaves them while their connections drain);
the addresses bound to the `kube-ipvs0` dummy interface; the ipsets named and typed as upstream
(IPv6 sets are `KUBE-6-...`, cut to 31 characters); and the iptables rules `writeIptablesRules`
writes around them.

`render_ipvs` writes three sections, each headed by a comment line: `# ipvsadm`
(`ipvsadm-save -n` syntax), `# ipset` (`ipset restore` syntax) and `# iptables`
(`iptables-restore` input; `# ip6tables` follows on a dual-stack node).

Pure: values and text in memory, never the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podnet.family import FAMILIES
from podnet.ipam.addresses import HostPort, join_host_port
from podnet.model.cluster import Cluster
from podnet.model.config import MASQUERADE_MARK
from podnet.model.objects import IPAddress
from podnet.proxy.endpoints import ProxyEndpoint, endpoints_by_service_port
from podnet.proxy.node import NodeProxy, PortState, families, node_proxy, paused_gc

if TYPE_CHECKING:
    from podnet.proxy.verdict import Verdict

MODE = "ipvs"  # ProxyMode's value for kube-proxy's IPVS mode
DUMMY_DEVICE = "kube-ipvs0"
DEFAULT_SCHEDULER = "rr"
IPSET_NAME_MAX = 31  # IPSET_MAXNAMELEN - 1
PORT_RANGE = "0-65535"  # bitmap:port sets, upstream's DefaultPortRange

# ipsetInfo: every set the proxier creates, in upstream's order, with its type and comment.
IPSETS = (
    ("KUBE-LOOP-BACK", "hash:ip,port,ip", "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
    ("KUBE-CLUSTER-IP", "hash:ip,port", "Kubernetes service cluster ip + port for masquerade purpose"),
    ("KUBE-EXTERNAL-IP", "hash:ip,port", "Kubernetes service external ip + port for masquerade and filter purpose"),
    ("KUBE-EXTERNAL-IP-LOCAL", "hash:ip,port", "Kubernetes service external ip + port with externalTrafficPolicy=local"),
    ("KUBE-LOAD-BALANCER", "hash:ip,port", "Kubernetes service lb portal"),
    ("KUBE-LOAD-BALANCER-FW", "hash:ip,port", "Kubernetes service load balancer ip + port for load balancer with sourceRange"),
    ("KUBE-LOAD-BALANCER-LOCAL", "hash:ip,port", "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"),
    ("KUBE-LOAD-BALANCER-SOURCE-IP", "hash:ip,port,ip", "Kubernetes service load balancer ip + port + source IP for packet filter purpose"),
    ("KUBE-LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net", "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"),
    ("KUBE-NODE-PORT-TCP", "bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"),
    ("KUBE-NODE-PORT-LOCAL-TCP", "bitmap:port", "Kubernetes nodeport TCP port with externalTrafficPolicy=local"),
    ("KUBE-NODE-PORT-UDP", "bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"),
    ("KUBE-NODE-PORT-LOCAL-UDP", "bitmap:port", "Kubernetes nodeport UDP port with externalTrafficPolicy=local"),
    ("KUBE-NODE-PORT-SCTP-HASH", "hash:ip,port", "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"),
    ("KUBE-NODE-PORT-LOCAL-SCTP-HASH", "hash:ip,port", "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"),
    ("KUBE-HEALTH-CHECK-NODE-PORT", "bitmap:port", "Kubernetes health check node port"),
    ("KUBE-IPVS-IPS", "hash:ip", "Addresses on the ipvs interface"),
)  # fmt: skip
IPSET_COMMENTS = {name: comment for name, _, comment in IPSETS}

# ipsetWithIptablesChain: (set, table, chain, target, match directions, protocol), in order.
IPSET_RULES = (
    ("KUBE-LOOP-BACK", "nat", "KUBE-POSTROUTING", "MASQUERADE", "dst,dst,src", ""),
    ("KUBE-LOAD-BALANCER", "nat", "KUBE-SERVICES", "KUBE-LOAD-BALANCER", "dst,dst", ""),
    ("KUBE-LOAD-BALANCER-LOCAL", "nat", "KUBE-LOAD-BALANCER", "RETURN", "dst,dst", ""),
    ("KUBE-NODE-PORT-LOCAL-TCP", "nat", "KUBE-NODE-PORT", "RETURN", "dst", "tcp"),
    ("KUBE-NODE-PORT-TCP", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "tcp"),
    ("KUBE-NODE-PORT-LOCAL-UDP", "nat", "KUBE-NODE-PORT", "RETURN", "dst", "udp"),
    ("KUBE-NODE-PORT-UDP", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "udp"),
    ("KUBE-NODE-PORT-LOCAL-SCTP-HASH", "nat", "KUBE-NODE-PORT", "RETURN", "dst,dst", "sctp"),
    ("KUBE-NODE-PORT-SCTP-HASH", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst,dst", "sctp"),
    ("KUBE-LOAD-BALANCER-FW", "filter", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL", "dst,dst", ""),
    ("KUBE-LOAD-BALANCER-SOURCE-CIDR", "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN", "dst,dst,src", ""),
    ("KUBE-LOAD-BALANCER-SOURCE-IP", "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN", "dst,dst,src", ""),
)  # fmt: skip

# iptablesChains, in upstream's order.
NAT_CHAINS = (
    "KUBE-SERVICES",
    "KUBE-POSTROUTING",
    "KUBE-NODE-PORT",
    "KUBE-LOAD-BALANCER",
    "KUBE-MARK-MASQ",
)
FILTER_CHAINS = (
    "KUBE-FORWARD",
    "KUBE-NODE-PORT",
    "KUBE-PROXY-FIREWALL",
    "KUBE-SOURCE-RANGES-FIREWALL",
    "KUBE-IPVS-FILTER",
    "KUBE-IPVS-OUT-FILTER",
)  # fmt: skip

# iptablesJumpChain: (table, built-in chain, chain, comment), each prepended in this order.
JUMPS = (
    ("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals"),
    ("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals"),
    ("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules"),
    ("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"),
    ("filter", "INPUT", "KUBE-NODE-PORT", "kubernetes health check rules"),
    ("filter", "INPUT", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
    ("filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
    ("filter", "INPUT", "KUBE-IPVS-FILTER", "kubernetes ipvs access filter"),
    ("filter", "OUTPUT", "KUBE-IPVS-OUT-FILTER", "kubernetes ipvs access filter"),
)

# ipvsadm's protocol options.
PROTOCOL_OPTIONS = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}


def ipset_name(name: str, family: int) -> str:
    """Upstream's set name in `family`: IPv6 sets are "KUBE-6-...", at most 31 characters."""
    if family == 6 and name.startswith("KUBE-"):
        return ("KUBE-6-" + name[5:])[:IPSET_NAME_MAX]
    return name


@dataclass(frozen=True, slots=True)
class RealServer:
    """An IPVS destination: an endpoint, masqueraded (`-m`), with its weight."""

    ip: IPAddress
    port: int
    weight: int  # 1; 0 for a terminating endpoint while its connections drain

    @property
    def key(self) -> str:
        return join_host_port(str(self.ip), self.port)


@dataclass(frozen=True, slots=True)
class VirtualServer:
    """An IPVS service: address, port and protocol, the scheduler, ClientIP persistence."""

    address: IPAddress
    port: int
    protocol: str  # TCP | UDP | SCTP
    scheduler: str
    timeout: int  # persistence (ClientIP session affinity) in seconds; 0: not persistent
    service: str  # the service port, "ns/name:port"
    kind: str  # cluster | external | load-balancer | node-port
    real_servers: tuple[RealServer, ...] = ()

    @property
    def key(self) -> str:
        return join_host_port(str(self.address), self.port)

    @property
    def flags(self) -> tuple[str, ...]:
        """IPVS service flags kube-proxy sets: persistent (ClientIP affinity), and the
        source-port hash the "mh" scheduler needs."""
        out = ("persistent",) if self.timeout else ()
        return out + (("mh-port",) if self.scheduler == "mh" else ())

    @property
    def active(self) -> tuple[RealServer, ...]:
        """The real servers a new connection may be scheduled to (weight above 0)."""
        return tuple(r for r in self.real_servers if r.weight > 0)


@dataclass(frozen=True, slots=True)
class IPSet:
    name: str  # as created in this family
    type: str  # hash:ip,port | hash:ip,port,ip | hash:ip,port,net | bitmap:port | hash:ip
    family: int
    comment: str
    entries: tuple[str, ...]  # upstream's entry text ("10.96.0.1,tcp:443", "30080"), sorted


@dataclass(frozen=True)
class IPVSState:
    """The IPVS proxier's state on one node for one IP family."""

    proxy: NodeProxy
    virtual_servers: tuple[VirtualServer, ...]
    bound: tuple[IPAddress, ...]  # the addresses on kube-ipvs0, sorted
    ipsets: tuple[IPSet, ...]  # every set, in upstream's order (empty ones too)
    nat: tuple[str, ...]  # iptables-restore rule lines of the nat table
    filter: tuple[str, ...]
    by_key: dict[tuple[IPAddress, str, int], VirtualServer] = field(default_factory=dict)

    def virtual_server(self, ip: IPAddress, protocol: str, port: int) -> VirtualServer | None:
        return self.by_key.get((ip, protocol.upper(), port))

    def ipset(self, base: str) -> IPSet:
        """A set by its IPv4 (base) name."""
        name = ipset_name(base, self.proxy.family)
        return next(s for s in self.ipsets if s.name == name)


def ipvs_proxy(cluster: Cluster, node: str, family: int) -> IPVSState:
    """The IPVS proxier's state on `node` for `family`, whatever the cluster's kubeProxyMode."""
    return ipvs_state(node_proxy(cluster, node, family, MODE))


def ipvs_state(np: NodeProxy) -> IPVSState:
    config = np.cluster.config.ipvs
    scheduler = config.scheduler or DEFAULT_SCHEDULER
    proto_of = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
    sets: dict[str, set[str]] = {name: set() for name, _, _ in IPSETS}
    servers: dict[tuple[IPAddress, str, int], VirtualServer] = {}
    bound: set[IPAddress] = set()
    node_addresses = set(np.node_ips)
    all_endpoints = endpoints_by_service_port(np.cluster.endpoint_slices, np.node.name, np.family)
    nodeport_ips = _nodeport_addresses(np)
    # (LB IP, protocol, port) the node must not reach (outside the source ranges).
    no_node_access: list[tuple[IPAddress, str, int]] = []

    def add(st: PortState, ip: IPAddress, port: int, kind: str, local: bool) -> None:
        info = st.info
        key = (ip, info.name.protocol, port)
        if key in servers:
            return
        servers[key] = VirtualServer(
            ip,
            port,
            info.name.protocol,
            scheduler,
            info.affinity_timeout,
            str(info.name),
            kind,
            _real_servers(st, all_endpoints.get(info.name, ()), local),
        )

    for st in np.ports:
        info = st.info
        proto, number = proto_of[info.name.protocol], info.port.port
        for e in all_endpoints.get(info.name, ()):
            if e.is_local:
                sets["KUBE-LOOP-BACK"].add(f"{e.address},{proto}:{e.port},{e.address}")
        sets["KUBE-CLUSTER-IP"].add(f"{info.cluster_ip},{proto}:{number}")
        add(st, info.cluster_ip, number, "cluster", info.internal_policy_local)
        bound.add(info.cluster_ip)
        local = info.external_policy_local
        for ip in info.external_ips:
            name = "KUBE-EXTERNAL-IP-LOCAL" if local else "KUBE-EXTERNAL-IP"
            sets[name].add(f"{ip},{proto}:{number}")
            add(st, ip, number, "external", local)
            if ip not in node_addresses:
                bound.add(ip)
        for ip in info.load_balancer_vips:
            entry = f"{ip},{proto}:{number}"
            sets["KUBE-LOAD-BALANCER"].add(entry)
            if local:
                sets["KUBE-LOAD-BALANCER-LOCAL"].add(entry)
            ranges = info.load_balancer_source_ranges
            if ranges:
                sets["KUBE-LOAD-BALANCER-FW"].add(entry)
                sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"].update(f"{entry},{r}" for r in ranges)
                primary = np.primary_ip
                if primary is not None and any(primary in r for r in ranges):
                    sets["KUBE-LOAD-BALANCER-SOURCE-IP"].add(f"{entry},{ip}")
                else:
                    no_node_access.append((ip, proto, number))
            add(st, ip, number, "load-balancer", local)
            if ip not in node_addresses:
                bound.add(ip)
        if info.node_port and nodeport_ips:
            if proto == "sctp":
                entries = [f"{ip},sctp:{info.node_port}" for ip in nodeport_ips]
                sets["KUBE-NODE-PORT-SCTP-HASH"].update(entries)
                if local:
                    sets["KUBE-NODE-PORT-LOCAL-SCTP-HASH"].update(entries)
            else:
                upper = proto.upper()
                sets[f"KUBE-NODE-PORT-{upper}"].add(str(info.node_port))
                if local:
                    sets[f"KUBE-NODE-PORT-LOCAL-{upper}"].add(str(info.node_port))
            for ip in nodeport_ips:
                add(st, ip, info.node_port, "node-port", local)
        if info.health_check_node_port:
            sets["KUBE-HEALTH-CHECK-NODE-PORT"].add(str(info.health_check_node_port))
    sets["KUBE-IPVS-IPS"] = {str(ip) for ip in bound}

    ipsets = tuple(
        IPSet(ipset_name(name, np.family), kind, np.family, comment, tuple(sorted(sets[name])))
        for name, kind, comment in IPSETS
    )
    ordered = sorted(servers.values(), key=lambda v: (v.address, v.protocol, v.port))
    state = IPVSState(
        proxy=np,
        virtual_servers=tuple(ordered),
        bound=tuple(sorted(bound)),
        ipsets=ipsets,
        nat=(),
        filter=(),
        by_key=servers,
    )
    nat, filt = _iptables_rules(state, no_node_access)
    return IPVSState(np, state.virtual_servers, state.bound, ipsets, nat, filt, servers)


def _nodeport_addresses(np: NodeProxy) -> tuple[IPAddress, ...]:
    """The addresses NodePort virtual servers are made on: those nodePortAddresses selects, or
    every node address (upstream: every local address but those on kube-ipvs0 and loopback)."""
    ips = np.node_port_ips if np.node_port_ips is not None else np.node_ips
    return tuple(ip for ip in ips if not ip.is_loopback)


def _real_servers(
    st: PortState, endpoints: tuple[ProxyEndpoint, ...], only_local: bool
) -> tuple[RealServer, ...]:
    """syncEndpoint: the node's endpoints when the policy is Local and it has some, else the
    cluster's (kubernetes#97081: pods reach the VIP even without a local endpoint), weight 1;
    then the terminating endpoints no longer chosen, weight 0, as graceful termination leaves
    them while their connections drain."""
    chosen = st.endpoints.local if only_local and st.endpoints.local else st.endpoints.cluster
    keys = {e.key for e in chosen}
    draining = [
        e
        for e in endpoints
        if e.terminating and e.key not in keys and (e.is_local or not (only_local and chosen))
    ]
    out = [RealServer(e.ip, e.port, 1) for e in chosen]
    out += [RealServer(e.ip, e.port, 0) for e in draining]
    return tuple(sorted(out, key=lambda r: r.key))


def _iptables_rules(
    state: IPVSState, no_node_access: list[tuple[IPAddress, str, int]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """writeIptablesRules: the nat and filter rules, in upstream's order."""
    np = state.proxy
    mark = f"{MASQUERADE_MARK:#08x}"
    loopback = FAMILIES[np.family].loopback
    nat: list[str] = [f"-A KUBE-SERVICES -s {loopback} -j RETURN"]
    filt: list[str] = []

    def name(base: str) -> str:
        return ipset_name(base, np.family)

    def used(base: str) -> bool:
        return bool(state.ipset(base).entries)

    def match(base: str) -> str:
        return f'-m comment --comment "{IPSET_COMMENTS[base]}" -m set --match-set {name(base)}'

    for base, table, chain, target, dirs, proto in IPSET_RULES:
        if used(base):
            p = f"-p {proto} " if proto else ""
            (nat if table == "nat" else filt).append(
                f"-A {chain} {p}{match(base)} {dirs} -j {target}"
            )
    if used("KUBE-CLUSTER-IP"):
        head = f"-A KUBE-SERVICES {match('KUBE-CLUSTER-IP')}"
        if np.masquerade_all:
            nat.append(f"{head} dst,dst -j KUBE-MARK-MASQ")
        elif np.local_cidr is not None:
            nat.append(f"{head} dst,dst ! -s {np.local_cidr} -j KUBE-MARK-MASQ")
        else:
            # Without a detector: node traffic whose source is a VIP (kube-ipvs0 gives the
            # VIP as source towards another VIP) is masqueraded.
            nat.append(f"{head} src,dst -j KUBE-MARK-MASQ")
    for base, masquerade in (("KUBE-EXTERNAL-IP", True), ("KUBE-EXTERNAL-IP-LOCAL", False)):
        if used(base):
            head = f"-A KUBE-SERVICES {match(base)} dst,dst"
            if masquerade:
                nat.append(f"{head} -j KUBE-MARK-MASQ")
            nat.append(
                f"{head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT"
            )
            nat.append(f"{head} -m addrtype --dst-type LOCAL -j ACCEPT")
    nat.append("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT")
    nat.append("-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ")
    filt.append("-A KUBE-SOURCE-RANGES-FIREWALL -j DROP")
    for ip, proto, number in no_node_access:
        filt.append(
            f"-A KUBE-IPVS-OUT-FILTER -s {ip} -m ipvs --vaddr {ip} --vproto {proto}"
            f" --vport {number} -j DROP"
        )
    for base in ("KUBE-CLUSTER-IP", "KUBE-LOAD-BALANCER"):
        if used(base):
            nat.append(f"-A KUBE-SERVICES -m set --match-set {name(base)} dst,dst -j ACCEPT")
    filt.append(
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules"'
        f" -m mark --mark {mark}/{mark} -j ACCEPT"
    )
    filt.append(
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule"'
        " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    )
    filt.append(f"-A KUBE-NODE-PORT {match('KUBE-HEALTH-CHECK-NODE-PORT')} dst -j ACCEPT")
    for base in (
        "KUBE-LOAD-BALANCER",
        "KUBE-CLUSTER-IP",
        "KUBE-EXTERNAL-IP",
        "KUBE-EXTERNAL-IP-LOCAL",
    ):
        filt.append(f"-A KUBE-IPVS-FILTER -m set --match-set {name(base)} dst,dst -j RETURN")
    filt.append(
        f"-A KUBE-IPVS-FILTER -m set --match-set {name('KUBE-HEALTH-CHECK-NODE-PORT')} dst -j RETURN"
    )
    filt.append(
        "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW"
        f" -m set --match-set {name('KUBE-IPVS-IPS')} dst -j REJECT"
    )
    nat += [
        f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE --random-fully",
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}",
    ]
    return tuple(nat), tuple(filt)


# rendering ---------------------------------------------------------------------------------------


def render_ipvs(cluster: Cluster, node: str) -> str:
    """The node's IPVS proxier state as three sections: `# ipvsadm`, `# ipset`, `# iptables`
    (and `# ip6tables` on a dual-stack node)."""
    with paused_gc():
        states = [ipvs_proxy(cluster, node, f) for f in families(cluster)]
    config = cluster.config.ipvs
    out = ["# ipvsadm"]
    if config.tcp_timeout or config.tcp_fin_timeout or config.udp_timeout:
        # ipvsadm --set, as kube-proxy configures when any timeout is given (0 keeps the kernel's).
        out.append(f"--set {config.tcp_timeout} {config.tcp_fin_timeout} {config.udp_timeout}")
    for s in states:
        out += render_ipvsadm(s)
    out.append("# ipset")
    for s in states:
        out += render_ipset(s)
    for s in states:
        out.append(f"# {FAMILIES[s.proxy.family].iptables}")
        out += render_iptables_part(s)
    return "\n".join(out) + "\n"


def render_ipvsadm(state: IPVSState) -> list[str]:
    """`ipvsadm-save -n` lines: each virtual server, then its real servers (masquerading)."""
    out = []
    for vs in state.virtual_servers:
        service = f"{PROTOCOL_OPTIONS[vs.protocol]} {vs.key}"
        line = f"-A {service} -s {vs.scheduler}"
        if vs.timeout:
            line += f" -p {vs.timeout}"
        if vs.scheduler == "mh":
            line += " -b mh-port"
        out.append(line)
        out += [f"-a {service} -r {r.key} -m -w {r.weight}" for r in vs.real_servers]
    return out


def render_ipset(state: IPVSState) -> list[str]:
    """`ipset restore` lines: every set created as upstream's CreateSet does, then its entries."""
    out = []
    inet = "inet6" if state.proxy.family == 6 else "inet"
    for s in state.ipsets:
        if s.type == "bitmap:port":
            out.append(f"create {s.name} {s.type} range {PORT_RANGE}")
        else:
            out.append(f"create {s.name} {s.type} family {inet} hashsize 1024 maxelem 65536")
        out += [f"add {s.name} {e}" for e in s.entries]
    return out


def render_iptables_part(state: IPVSState) -> list[str]:
    """`iptables-restore` input (nat, then filter, as upstream restores them); the jumps from the
    built-in chains, which kube-proxy prepends before each restore, come first as `-I` lines."""
    out = []
    for table, chains, rules in (
        ("nat", NAT_CHAINS, state.nat),
        ("filter", FILTER_CHAINS, state.filter),
    ):
        out.append(f"*{table}")
        out += [f":{c} - [0:0]" for c in chains]
        out += [
            f'-I {builtin} -m comment --comment "{comment}" -j {chain}'
            for t, builtin, chain, comment in JUMPS
            if t == table
        ]
        out += rules
        out.append("COMMIT")
    return out


# the semantics -----------------------------------------------------------------------------------


def decide_ipvs(
    state: IPVSState, src: IPAddress, dst: IPAddress, port: int, protocol: str
) -> Verdict:
    """What the IPVS proxier's state does to a packet, stated directly (the tracer replays the
    rendering of the same state; the tests compare the two). A `verdict.Verdict`."""
    from podnet.proxy.verdict import ProxyVerdict, Verdict, firewall_allows

    np = state.proxy
    proto = protocol.upper()
    bound = set(state.bound)

    def local(ip: IPAddress) -> bool:
        return np.is_local_address(ip) or ip in bound

    vs = state.virtual_server(dst, proto, port)
    if vs is None:
        health = proto == "TCP" and str(port) in state.ipset("KUBE-HEALTH-CHECK-NODE-PORT").entries
        if dst in bound and not health:
            return Verdict(
                ProxyVerdict.REJECT,
                reason=f"{dst} is on {DUMMY_DEVICE} but no virtual server has {proto} port {port}"
                " (KUBE-IPVS-FILTER)",
            )
        return Verdict(ProxyVerdict.NONE, reason="no virtual server has this destination")
    st = next(
        s for s in np.ports if str(s.info.name) == vs.service and s.info.name.protocol == proto
    )
    from_node = local(src)
    firewalled = vs.kind == "load-balancer" and st.uses_firewall_chain
    if firewalled and not from_node and not firewall_allows(np, st, src):
        return Verdict(
            ProxyVerdict.DROP,
            service=vs.service,
            reason=f"{src} is outside the loadBalancerSourceRanges",
        )
    if not vs.active:
        return Verdict(
            ProxyVerdict.REJECT,
            service=vs.service,
            reason="the virtual server has no real server: IPVS answers port unreachable",
        )
    if firewalled and from_node and src == dst:
        primary = np.primary_ip
        if primary is None or not any(primary in r for r in st.info.load_balancer_source_ranges):
            return Verdict(
                ProxyVerdict.DROP,
                service=vs.service,
                reason="the node is outside the loadBalancerSourceRanges (KUBE-IPVS-OUT-FILTER)",
            )
    snat = _marked(state, src, dst, port, proto, local)
    targets = tuple(HostPort(r.ip, r.port) for r in vs.active)
    loop = state.ipset("KUBE-LOOP-BACK").entries
    hairpin = any(f"{r.ip},{proto.lower()}:{r.port},{src}" in loop for r in vs.active)
    what = {"cluster": "ClusterIP", "external": "externalIP", "load-balancer": "LoadBalancer IP"}
    why = f"{what.get(vs.kind, 'NodePort')} virtual server {vs.key}, scheduler {vs.scheduler}"
    return Verdict(
        ProxyVerdict.ACCEPT,
        tuple(sorted(targets, key=str)),
        snat or hairpin,
        vs.service,
        why + (" (hairpin)" if hairpin and not snat else ""),
        snat=snat,
    )


def _marked(
    state: IPVSState,
    src: IPAddress,
    dst: IPAddress,
    port: int,
    proto: str,
    local: Callable[[IPAddress], bool],
) -> bool:
    """Whether nat KUBE-SERVICES marks the packet for masquerading (prerouting or output)."""
    np = state.proxy
    if src in FAMILIES[np.family].loopback:
        return False  # -s 127.0.0.0/8 -j RETURN
    p = proto.lower()
    entry = f"{dst},{p}:{port}"

    def has(base: str, value: str) -> bool:
        return value in state.ipset(base).entries

    mark = False
    if has("KUBE-LOAD-BALANCER", entry):
        mark = not has("KUBE-LOAD-BALANCER-LOCAL", entry)
    if has("KUBE-CLUSTER-IP", entry):
        if np.masquerade_all:
            mark = True
        elif np.local_cidr is not None:
            mark = mark or not np.is_local_traffic(src)
        else:
            mark = mark or has("KUBE-CLUSTER-IP", f"{src},{p}:{port}")
    if has("KUBE-EXTERNAL-IP", entry):
        return True  # marked, then accepted: every external IP is local (kube-ipvs0 or the node's)
    if has("KUBE-EXTERNAL-IP-LOCAL", entry):
        return mark
    if local(dst):  # -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
        if p == "sctp":
            if has("KUBE-NODE-PORT-LOCAL-SCTP-HASH", entry):
                return mark
            mark = mark or has("KUBE-NODE-PORT-SCTP-HASH", entry)
        else:
            if has(f"KUBE-NODE-PORT-LOCAL-{proto}", str(port)):
                return mark
            mark = mark or has(f"KUBE-NODE-PORT-{proto}", str(port))
    return mark
