"""What the realiser builds for a cluster, computed without touching the kernel. Pure.

A plan lists, in creation order, every network namespace and what goes in it (links, addresses,
routes, neighbour and FDB entries, sysctls, the nftables ruleset), every CNI invocation (the
configuration on stdin and the environment, as a runtime calls the plugin), every file written
(pods' resolv.conf, probe agents' listener lists) and every long-running process.

Layout (see docs/linux.md):
- `pn-<cluster>-underlay` holds the cluster's L2 network: a bridge with one veth port per node and
  one for the external client; no address.
- a node is `pn-<cluster>-<node>`: `eth0` on the underlay with the node's IP, a default route via
  the node subnet's first address (the "outside world", held by the external namespace, as the
  Docker network's gateway is on kind), routes to the other nodes' podCIDRs (host-gw: via the
  peer's IP; vxlan: Flannel's `flannel.1` with a permanent neighbour, an FDB entry and an onlink
  route per peer, the route's source being the node's IP so that nodes are seen by their own
  address as the model says), the CNI bridge `cni0`, and one nftables transaction: kube-proxy's
  tables, the NetworkPolicy table and podnet's masquerade for traffic leaving the cluster.
- a pod is `pn-<cluster>-<namespace>_<pod>` (`_` appears in no Kubernetes name, so pod and node
  namespaces never collide; long names are shortened with a hash), wired by podnet's CNI bridge
  plugin with the model's address; host-network pods live in their node's namespace.
- a node's other IPv4 addresses (several in status.addresses or `ips:`) are on its `eth0` as
  well: with the node subnet's prefix inside it, as /32 outside it (then the external client and
  the other nodes route them via the node's primary IP).
- `pn-<cluster>-external` is the external client: the last address of the node subnet (as
  `path.trace` says), with a route for each LoadBalancer IP and external IP outside the node
  subnet via the node the model sends that traffic to. Such an address inside the node subnet
  (the default load-balancer pool's) is a /32 on that node's `eth0` instead, so that the node
  answers ARP for it as a layer-2 announcer (kube-vip, MetalLB's layer-2 mode) makes it do.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network, ip_network

from podnet.dns.resolver import pod_resolv_conf
from podnet.errors import InvalidValue
from podnet.kernel.ipvs import IPVSSupport
from podnet.kernel.netns import NETNS_DIR
from podnet.linux.realised import Realised, RealisedPod, RealisedProcess
from podnet.model.cluster import Cluster
from podnet.model.config import BACKENDS, Backend, ProxyMode
from podnet.model.objects import Node, Pod, Service
from podnet.model.topology import entry_node, external_client
from podnet.nftables import Chain, Element, Rule, Set, Transaction
from podnet.policy.nftables import render_node as render_policy
from podnet.policy.semantics import Peer
from podnet.proxy.nftables import render_nftables

STATE_ROOT = "/run/podnet"
ETC_NETNS = "/etc/netns"
NETNS_PREFIX = "pn"
RESERVED_NODE_NAMES = ("underlay", "external")
UNDERLAY_MTU = 1500
VXLAN_ID = 1
VXLAN_PORT = 8472  # the kernel's (and Flannel's) default
VXLAN_DEVICE = f"flannel.{VXLAN_ID}"
VXLAN_OVERHEAD = 50
CNI_BRIDGE = "cni0"
CNI_VERSION = "1.1.0"
POD_IFNAME = "eth0"
NODE_IFNAME = "eth0"
MASQ_TABLE = "podnet-masq"
DNS_APP_LABEL = ("k8s-app", "kube-dns")
DNS_PORT = 53
MAX_NETNS_NAME = 64
# Probes to closed ports are answered by ICMP port unreachable: without these, the kernel answers
# about one a second per peer and the other probes would look dropped.
ICMP_SYSCTLS = (("net/ipv4/icmp_ratelimit", "0"), ("net/ipv4/icmp_msgs_per_sec", "1000000"))
_CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    kind: str  # bridge | veth | vxlan
    peer: str = ""  # veth: the other end's name ...
    peer_netns: str = ""  # ... and the namespace it is moved to
    master: str = ""  # the bridge this link is a port of
    mtu: int = 0
    mac: str = ""
    vxlan_local: str = ""
    vxlan_id: int = 0
    vxlan_port: int = 0


@dataclass(frozen=True, slots=True)
class Route:
    dst: str
    gateway: str = ""
    dev: str = ""
    onlink: bool = False
    src: str = ""


@dataclass(frozen=True, slots=True)
class Neighbour:
    dev: str
    ip: str
    mac: str


@dataclass(frozen=True, slots=True)
class FdbEntry:
    dev: str
    mac: str
    dst: str


@dataclass(frozen=True, slots=True)
class Netns:
    """One network namespace and everything created in it, in order."""

    name: str
    role: str  # underlay | external | node | pod
    links: tuple[Link, ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()  # (link, "IP/prefix"), primary first
    up: tuple[str, ...] = ("lo",)  # links set up, after the addresses
    sysctls: tuple[tuple[str, str], ...] = ()  # ("net/ipv4/ip_forward", "1")
    routes: tuple[Route, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    fdb: tuple[FdbEntry, ...] = ()
    ruleset: str = ""  # one `nft -f` transaction

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"


@dataclass(frozen=True, slots=True)
class CniCall:
    """One plugin invocation: run `plugin` in `node_netns` with `env` and `config` on stdin."""

    pod: str
    node_netns: str
    plugin: str
    config: str
    env: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PodPlan:
    key: str  # namespace/name
    node: str
    netns: str  # the node's namespace for host-network pods
    ips: tuple[str, ...]
    host_network: bool
    ports: tuple[tuple[int, str], ...]  # declared (port, protocol)
    cni: CniCall | None
    resolv_conf: str  # the file's content, as the model computes it


@dataclass(frozen=True, slots=True)
class Listener:
    """A socket the probe agent serves: it answers `identity` (who was reached)."""

    netns: str
    port: int
    protocol: str  # TCP | UDP
    identity: str


@dataclass(frozen=True, slots=True)
class Process:
    name: str  # "agent node-1", "dns kube-system/coredns-..."
    netns: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    cluster: str
    backend: str
    state_dir: str
    cni_bin: str
    namespaces: tuple[Netns, ...]  # in creation order: underlay, external, nodes, pods
    pods: tuple[PodPlan, ...]
    files: tuple[tuple[str, str], ...]  # (path, content)
    processes: tuple[Process, ...]
    external_ip: str
    nodes: dict[str, str] = field(default_factory=dict)  # node name -> namespace
    default_namespace: str = "default"  # of the manifests' objects that state none (`up -n`)

    @property
    def namespace_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.namespaces)

    def netns(self, name: str) -> Netns:
        return next(n for n in self.namespaces if n.name == name)

    def pod(self, key: str) -> PodPlan | None:
        return next((p for p in self.pods if p.key == key), None)

    def realised(self, state_dir: str = "") -> Realised:
        """What `up` records once it has built this plan (`state_dir`: where it keeps it)."""
        return Realised(
            cluster=self.cluster,
            backend=self.backend,
            namespaces=self.namespace_names,
            nodes=dict(self.nodes),
            pods={p.key: RealisedPod(p.netns, p.node, p.ips) for p in self.pods},
            external_netns=netns_name(self.cluster, "external"),
            external_ip=self.external_ip,
            processes=tuple(RealisedProcess(p.name, p.netns, p.argv) for p in self.processes),
            state_dir=state_dir,
            default_namespace=self.default_namespace,
        )

    def to_json(self) -> dict:
        """A summary (for `podnet up --dry-run -o json`): the record, without where it is kept."""
        return self.realised().to_json()


# names ------------------------------------------------------------------------------------------


def check_cluster_name(name: str) -> str:
    if not _CLUSTER_NAME.match(name):
        why = (
            "use 1-20 lowercase letters, digits and '-', starting and ending with a letter or"
            " digit (it prefixes every namespace podnet creates)"
        )
        raise InvalidValue("cluster name", name, why, message=f"cluster name {name!r}: {why}")
    return name


def netns_name(cluster: str, part: str) -> str:
    """`pn-<cluster>-<part>`; a part too long for a readable name is cut and hashed."""
    name = f"{NETNS_PREFIX}-{cluster}-{part}"
    if len(name) <= MAX_NETNS_NAME:
        return name
    digest = hashlib.sha256(part.encode()).hexdigest()[:10]
    keep = MAX_NETNS_NAME - len(f"{NETNS_PREFIX}-{cluster}-") - len(digest) - 1
    return f"{NETNS_PREFIX}-{cluster}-{part[:keep]}-{digest}"


def netns_prefix(cluster: str) -> str:
    return f"{NETNS_PREFIX}-{cluster}-"


def pod_netns_name(cluster: str, pod: Pod) -> str:
    return netns_name(cluster, f"{pod.namespace}_{pod.name}")


def link_prefix(cluster: str) -> str:
    """The short prefix of the links podnet names itself (at most 15 characters in all)."""
    return "pn" + hashlib.sha1(cluster.encode()).hexdigest()[:4]


def vtep_mac(ip: IPv4Address) -> str:
    """A node's VXLAN device MAC: locally administered, derived from its IP (stable)."""
    return "0e:00:" + ":".join(f"{b:02x}" for b in ip.packed)


def pod_mac(ip: IPv4Address) -> str:
    """A pod's MAC: 0a:58 and its IPv4 address, as Kubernetes' network plugins make them."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ip.packed)


def container_id(cluster: str, pod_key: str) -> str:
    return hashlib.sha256(f"{cluster}/{pod_key}".encode()).hexdigest()[:32]


def state_dir(cluster: str) -> str:
    return f"{STATE_ROOT}/{cluster}"


def is_dns_pod(pod: Pod) -> bool:
    key, value = DNS_APP_LABEL
    return pod.namespace == "kube-system" and pod.labels.get(key) == value and not pod.host_network


# the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a plan puts things: the cluster's name and directories, each node's namespace, the
    pods' MTU and the interpreter that runs podnet's own processes."""

    cluster: str
    state: str
    cni_bin: str
    nodes_ns: dict[str, str]  # node name -> namespace
    mtu: int
    python: str
    default_namespace: str  # of the manifests' objects that state none


@dataclass(frozen=True, slots=True)
class _PodPart:
    """One pod's share of a plan."""

    pod: PodPlan
    netns: Netns | None  # None for a host-network pod (it lives in its node's namespace)
    files: tuple[tuple[str, str], ...]
    server: Process | None  # the DNS server of a cluster DNS pod
    served: tuple[tuple[int, str], ...]  # the ports its node's probe agent answers on


def make_plan(
    cluster: Cluster,
    name: str | None = None,
    backend: str | None = None,
    python: str = sys.executable,
    *,
    ipvs: IPVSSupport | None = None,
) -> Plan:
    """The plan of `cluster`. `ipvs`, what the kernel offers of IPVS (`kernel.ipvs`), only words
    the refusal of a cluster in the ipvs mode."""
    name = check_cluster_name(name or cluster.name)
    backend = backend or cluster.config.backend
    if backend not in BACKENDS:
        raise InvalidValue("backend", backend, "must be host-gw or vxlan")
    check_kube_proxy_mode(cluster, ipvs)
    _check_supported(cluster)
    state = state_dir(name)
    subnet = cluster.config.node_subnet
    assert isinstance(subnet, IPv4Network)
    outside = external_client(cluster)
    node_ips = {n.name: n.ips[0] for n in cluster.nodes}
    held = {ip for n in cluster.nodes for ip in n.ips}
    gateway = subnet[1] if subnet[1] not in held else outside
    layout = _Layout(
        cluster=name,
        state=state,
        cni_bin=f"{state}/bin",
        nodes_ns={n.name: netns_name(name, n.name) for n in cluster.nodes},
        mtu=UNDERLAY_MTU - VXLAN_OVERHEAD if backend == Backend.vxlan else UNDERLAY_MTU,
        python=python,
        default_namespace=cluster.default_namespace,
    )
    announced = _announced(cluster)
    nodes = [
        _node_netns(
            cluster,
            node.name,
            layout.nodes_ns[node.name],
            backend,
            gateway,
            layout.mtu,
            tuple(announced[node.name]),
        )
        for node in cluster.nodes
    ]
    parts = [_pod_part(cluster, layout, pod) for pod in cluster.running_pods]
    agent_files, agents = _agents(cluster, layout, parts)
    return Plan(
        cluster=name,
        backend=backend,
        state_dir=state,
        cni_bin=layout.cni_bin,
        namespaces=(
            _underlay_netns(cluster, layout),
            _external_netns(cluster, layout, outside, gateway, node_ips),
            *nodes,
            *(part.netns for part in parts if part.netns is not None),
        ),
        pods=tuple(part.pod for part in parts),
        files=(*(f for part in parts for f in part.files), *agent_files),
        processes=(*agents, *(part.server for part in parts if part.server is not None)),
        external_ip=str(outside),
        nodes=layout.nodes_ns,
        default_namespace=cluster.default_namespace,
    )


def _underlay_netns(cluster: Cluster, layout: _Layout) -> Netns:
    """The cluster's L2 network: a bridge with a veth port to each node and to the external
    client."""
    prefix = link_prefix(layout.cluster)
    bridge = f"{prefix}br"
    links = [Link(bridge, "bridge", mtu=UNDERLAY_MTU)]
    for i, node in enumerate(cluster.nodes):
        ns = layout.nodes_ns[node.name]
        links.append(Link(f"{prefix}n{i}", "veth", NODE_IFNAME, ns, bridge, UNDERLAY_MTU))
    external_ns = netns_name(layout.cluster, "external")
    links.append(Link(f"{prefix}ext", "veth", NODE_IFNAME, external_ns, bridge, UNDERLAY_MTU))
    return Netns(
        netns_name(layout.cluster, "underlay"),
        "underlay",
        links=tuple(links),
        up=("lo", *(link.name for link in links)),
        sysctls=(("net/bridge/bridge-nf-call-iptables", "0"),),
    )


def _external_netns(
    cluster: Cluster,
    layout: _Layout,
    outside: IPv4Address,
    gateway: IPv4Address,
    node_ips: dict,
) -> Netns:
    """The external client, which also holds the nodes' default gateway."""
    prefixlen = cluster.config.node_subnet.prefixlen
    addresses = [(NODE_IFNAME, f"{outside}/{prefixlen}")]
    if gateway != outside:
        addresses.append((NODE_IFNAME, f"{gateway}/{prefixlen}"))
    return Netns(
        netns_name(layout.cluster, "external"),
        "external",
        sysctls=ICMP_SYSCTLS,
        addresses=tuple(addresses),
        up=("lo", NODE_IFNAME),
        routes=tuple(_external_routes(cluster, node_ips)),
    )


def _pod_part(cluster: Cluster, layout: _Layout, pod: Pod) -> _PodPart:
    node = cluster.node(pod.node_name)
    ports = tuple(sorted({(p.container_port, p.protocol) for p in pod.ports}))
    resolv = pod_resolv_conf(cluster, pod).text()
    ips = tuple(map(str, pod.ips))
    node_ns = layout.nodes_ns[node.name]
    if pod.host_network:
        plan = PodPlan(pod.key, node.name, node_ns, ips, True, ports, None, resolv)
        return _PodPart(plan, None, (), None, ports)
    where = pod_netns_name(layout.cluster, pod)
    gw = node.pod_cidrs[0].network_address + 1
    # Static neighbours both ways (the node's are in its own namespace): the kernel's neighbour
    # table is shared by every namespace and overflows at 1024 dynamic entries, which a thousand
    # pods and their nodes would pass; permanent ones do not count.
    netns = Netns(
        where,
        "pod",
        sysctls=ICMP_SYSCTLS,
        neighbours=(Neighbour(POD_IFNAME, str(gw), pod_mac(gw)),),
    )
    cni = _cni_call(
        layout.cluster, layout.cni_bin, layout.state, pod, node, node_ns, where, layout.mtu
    )
    plan = PodPlan(pod.key, node.name, where, ips, False, ports, cni, resolv)
    files = ((f"{ETC_NETNS}/{where}/resolv.conf", resolv),)
    if not is_dns_pod(pod):
        return _PodPart(plan, netns, files, None, ports)
    served = tuple(p for p in ports if p[0] != DNS_PORT)
    return _PodPart(plan, netns, files, _dns_server(layout, pod, where), served)


def _dns_server(layout: _Layout, pod: Pod, where: str) -> Process:
    """`podnet dns serve` in a cluster DNS pod, on the manifests `up` keeps."""
    argv = (
        layout.python,
        "-m",
        "podnet",
        "dns",
        "serve",
        f"{layout.state}/manifests",
        "--listen",
        f"{pod.ips[0]}:{DNS_PORT}",
    )
    if layout.default_namespace != "default":
        argv += ("--namespace", layout.default_namespace)
    return Process(f"dns {pod.key}", where, argv)


def _agents(
    cluster: Cluster, layout: _Layout, parts: list[_PodPart]
) -> tuple[list[tuple[str, str]], list[Process]]:
    """A probe agent per node, and the file listing the sockets it serves."""
    listeners = _listeners(cluster, parts)
    files = []
    agents = []
    for node in cluster.nodes:
        spec = f"{layout.state}/agents/{node.name}.json"
        files.append((spec, agent_spec(listeners[node.name])))
        argv = (layout.python, "-m", "podnet.linux.agent", spec)
        agents.append(Process(f"agent {node.name}", layout.nodes_ns[node.name], argv))
    return files, agents


def _listeners(cluster: Cluster, parts: list[_PodPart]) -> dict[str, list[Listener]]:
    """Node name -> the sockets its agent opens, in pod order."""
    out: dict[str, list[Listener]] = {n.name: [] for n in cluster.nodes}
    for part in parts:
        mine = out[part.pod.node]
        where = part.pod.netns
        taken = {(x.netns, x.port, x.protocol) for x in mine}
        for port, protocol in part.served:
            if protocol == "SCTP" or (where, port, protocol) in taken:
                continue  # no SCTP sockets here; host-network pods may share a node's port
            mine.append(Listener(where, port, protocol, part.pod.key))
    return out


def agent_spec(listeners: list[Listener]) -> str:
    return json.dumps(
        [
            {
                "netns": f"{NETNS_DIR}/{x.netns}",
                "port": x.port,
                "protocol": x.protocol,
                "identity": x.identity,
            }
            for x in listeners
        ],
        indent=1,
    )


_IPVS_HERE = {
    None: "podnet up builds kube-proxy's rules in nftables only",
    IPVSSupport.absent: (
        "podnet up builds kube-proxy's rules in nftables only, and this kernel has no IPVS"
        " (no /proc/net/ip_vs, no ip_vs module)"
    ),
    IPVSSupport.module: (
        "podnet up builds kube-proxy's rules in nftables only: it does not drive IPVS, although"
        " this kernel has the ip_vs module (not loaded)"
    ),
    IPVSSupport.loaded: (
        "podnet up builds kube-proxy's rules in nftables only: it does not drive IPVS, although"
        " this kernel has it (/proc/net/ip_vs)"
    ),
}


def check_kube_proxy_mode(cluster: Cluster, ipvs: IPVSSupport | None = None) -> None:
    """The realisation writes kube-proxy's nftables tables (the iptables mode's as well, with its
    NodePort addresses): the ipvs mode's virtual servers are never built, so a cluster in that
    mode is refused before anything is created. `ipvs` says what the kernel has of IPVS."""
    if cluster.config.kube_proxy_mode != ProxyMode.ipvs:
        return
    why = _IPVS_HERE[ipvs]
    message = (
        f"kubeProxyMode ipvs: {why}; the ipvs mode cannot be built here, nothing was built."
        " Use kubeProxyMode: nftables to build this cluster; the ipvs mode stays usable in the"
        " model: `podnet proxy rules --mode ipvs`, `podnet proxy trace --mode ipvs`"
    )
    raise InvalidValue("kubeProxyMode", "ipvs", why, message=message)


def _check_supported(cluster: Cluster) -> None:
    if cluster.config.families != (4,) or cluster.config.node_subnet.version != 4:
        why = "the pod and node subnets must be IPv4"
        message = f"podnet up builds IPv4 clusters only ({why})"
        raise InvalidValue("cluster", cluster.name, why, message=message)
    subnet = cluster.config.node_subnet
    for node in cluster.nodes:
        if node.name in RESERVED_NODE_NAMES:
            why = f"the name is taken by podnet's own namespace pn-<cluster>-{node.name}"
            message = f"node {node.name!r}: {why}; rename the node"
            raise InvalidValue("node", node.name, why, message=message)
        if not node.ips or not node.pod_cidrs:
            why = "no address or no podCIDR"
            raise InvalidValue("node", node.name, why, message=f"node {node.name} has {why}")
        if node.ips[0] not in subnet:
            why = f"{node.ips[0]} is outside the node subnet {subnet}"
            raise InvalidValue("node", node.name, why, message=f"node {node.name}: {why}")
        if external_client(cluster) in node.ips:
            why = f"{external_client(cluster)} is the address of podnet's external client"
            raise InvalidValue("node", node.name, why, message=f"node {node.name}: {why}")


@dataclass(frozen=True, slots=True)
class _Overlay:
    """What a backend adds to a node's namespace to reach the other nodes' pods."""

    links: tuple[Link, ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()
    routes: tuple[Route, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    fdb: tuple[FdbEntry, ...] = ()


def _vxlan(node: Node, peers: list[Node]) -> _Overlay:
    """Flannel's VXLAN: `flannel.1`, and per peer a permanent neighbour, an FDB entry and an
    onlink route whose source is the node's own IP."""
    ip, cidr = node.ips[0], node.pod_cidrs[0]
    device = Link(
        VXLAN_DEVICE,
        "vxlan",
        mtu=UNDERLAY_MTU - VXLAN_OVERHEAD,
        mac=vtep_mac(ip),  # type: ignore[arg-type]
        vxlan_local=str(ip),
        vxlan_id=VXLAN_ID,
        vxlan_port=VXLAN_PORT,
    )
    neighbours, fdb, routes = [], [], []
    for peer in peers:
        pcidr, pip = peer.pod_cidrs[0], peer.ips[0]
        mac = vtep_mac(pip)  # type: ignore[arg-type]
        neighbours.append(Neighbour(VXLAN_DEVICE, str(pcidr.network_address), mac))
        fdb.append(FdbEntry(VXLAN_DEVICE, mac, str(pip)))
        routes.append(Route(str(pcidr), str(pcidr.network_address), VXLAN_DEVICE, True, str(ip)))
    return _Overlay(
        links=(device,),
        # A /32 on the network address, as Flannel does, so that no broadcast route appears.
        addresses=((VXLAN_DEVICE, f"{cidr.network_address}/32"),),
        routes=tuple(routes),
        neighbours=tuple(neighbours),
        fdb=tuple(fdb),
    )


def _bridge_neighbours(cluster: Cluster, node: str) -> list[Neighbour]:
    """A permanent entry on `cni0` for each pod of the node."""
    return [
        Neighbour(CNI_BRIDGE, str(pod.ips[0]), pod_mac(pod.ips[0]))
        for pod in cluster.running_pods
        if pod.node_name == node and not pod.host_network and pod.ips
    ]


def _node_netns(
    cluster: Cluster,
    node_name: str,
    ns: str,
    backend: str,
    gateway: IPv4Address,
    mtu: int,
    announced: tuple[IPv4Address, ...] = (),
) -> Netns:
    """A node's namespace; `announced`: the service addresses on the node subnet it answers
    for (see `_announced`)."""
    node = cluster.node(node_name)
    ip = node.ips[0]
    subnet = cluster.config.node_subnet
    cidr = node.pod_cidrs[0]
    peers = [n for n in cluster.nodes if n.name != node.name]
    if backend == Backend.vxlan:
        overlay = _vxlan(node, peers)
    else:
        overlay = _Overlay(
            routes=tuple(Route(str(p.pod_cidrs[0]), str(p.ips[0]), NODE_IFNAME) for p in peers)
        )
    # cni0 made ahead of the plugin (which keeps an existing bridge and its MAC), so that its MAC
    # and the pods' are known: the neighbour entries are static (see `_pod_part`).
    bridge = Link(CNI_BRIDGE, "bridge", mtu=mtu, mac=pod_mac(cidr.network_address + 1))
    sysctls = (
        ("net/ipv4/ip_forward", "1"),
        ("net/ipv4/conf/all/rp_filter", "0"),
        ("net/ipv4/conf/default/rp_filter", "0"),
        # Bridged pod-to-pod traffic on cni0 must pass the inet hooks: kube-proxy's DNAT for
        # hairpin and same-node Service traffic, and NetworkPolicy between pods of one node.
        ("net/bridge/bridge-nf-call-iptables", "1"),
        *ICMP_SYSCTLS,
    )
    return Netns(
        ns,
        "node",
        links=(*overlay.links, bridge),
        addresses=(
            (NODE_IFNAME, f"{ip}/{subnet.prefixlen}"),
            *_extra_addresses(cluster, node, announced),
            *overlay.addresses,
        ),
        up=("lo", NODE_IFNAME, *(link.name for link in overlay.links), CNI_BRIDGE),
        sysctls=sysctls,
        routes=(
            Route("0.0.0.0/0", str(gateway), NODE_IFNAME),
            *overlay.routes,
            *(r for p in peers for r in _routes_to_extra_addresses(cluster, p)),
        ),
        neighbours=(*overlay.neighbours, *_bridge_neighbours(cluster, node.name)),
        fdb=overlay.fdb,
        ruleset=node_ruleset(cluster, node_name),
    )


def node_ruleset(cluster: Cluster, node: str) -> str:
    """kube-proxy's tables, the NetworkPolicy table and podnet's masquerade, as one transaction."""
    return "\n".join(
        [
            render_nftables(_serving_node_ports_as_configured(cluster), node),
            render_policy(cluster, node),
            masquerade_table(cluster),
        ]
    )


def _serving_node_ports_as_configured(cluster: Cluster) -> Cluster:
    """The kernel gets kube-proxy's nftables rules whatever the mode; a cluster in iptables mode
    without nodePortAddresses serves NodePorts on every local address, as the model says, where
    the nftables mode would serve them on the primary IPs only."""
    config = cluster.config
    if (
        config.kube_proxy_mode != ProxyMode.iptables
        or config.node_port_addresses
        or config.node_port_primary
    ):
        return cluster
    every = (ip_network("0.0.0.0/0"), ip_network("::/0"))
    return replace(cluster, config=replace(config, node_port_addresses=every))


def masquerade_table(cluster: Cluster) -> str:
    """Pod traffic leaving the cluster (not to a pod, not to a node) gets the node's address, as
    Flannel's `ipMasq` does; pod-to-pod and pod-to-node traffic keeps its source."""
    pods = ", ".join(str(n) for n in cluster.config.pod_subnets)
    tx = Transaction("ip", MASQ_TABLE)
    tx.add(Set("node-ips", "ipv4_addr"))
    for node in cluster.nodes:
        for ip in node.ips:
            if ip.version == 4:
                tx.add(Element("node-ips", str(ip)))
    tx.add(Chain("postrouting", "nat", "postrouting", "srcnat", "accept"))
    tx.add(
        Rule(
            "postrouting",
            f"ip saddr {{ {pods} }} ip daddr != {{ {pods} }} ip daddr != @node-ips"
            " masquerade fully-random",
            "pod traffic leaving the cluster",
        )
    )
    return tx.definition()


def cni_config(cluster_name: str, state: str, node: str, pod_cidrs: list[str], mtu: int) -> dict:
    """The bridge plugin's configuration on a node, as Flannel's CNI plugin delegates it."""
    return {
        "cniVersion": CNI_VERSION,
        "name": f"pn-{cluster_name}",
        "type": "bridge",
        "bridge": CNI_BRIDGE,
        "isGateway": True,
        "isDefaultGateway": True,
        "hairpinMode": True,
        "ipMasq": False,
        "mtu": mtu,
        "ipam": {
            "type": "host-local",
            "dataDir": f"{state}/ipam/{node}",
            "ranges": [[{"subnet": c}] for c in pod_cidrs],
        },
    }


def _cni_call(
    cluster_name: str,
    cni_bin: str,
    state: str,
    pod: Pod,
    node: Node,
    node_ns: str,
    pod_ns: str,
    mtu: int,
) -> CniCall:
    cid = container_id(cluster_name, pod.key)
    config = cni_config(cluster_name, state, node.name, [str(c) for c in node.pod_cidrs], mtu)
    args = ";".join(
        [
            "IgnoreUnknown=1",
            f"K8S_POD_NAMESPACE={pod.namespace}",
            f"K8S_POD_NAME={pod.name}",
            f"K8S_POD_INFRA_CONTAINER_ID={cid}",
            f"IP={','.join(str(ip) for ip in pod.ips)}",
            f"MAC={pod_mac(pod.ips[0])}",
        ]
    )
    env = (
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", cid),
        ("CNI_NETNS", f"{NETNS_DIR}/{pod_ns}"),
        ("CNI_IFNAME", POD_IFNAME),
        ("CNI_ARGS", args),
        ("CNI_PATH", cni_bin),
    )
    return CniCall(pod.key, node_ns, "bridge", json.dumps(config, sort_keys=True), env)


def _announced(cluster: Cluster) -> dict[str, list[IPv4Address]]:
    """Node name -> the LoadBalancer IPs and external IPs that it announces on the node
    subnet: the node `path.trace` delivers them to; never an address a node already holds."""
    outside = Peer(external_client(cluster))
    held = {ip for n in cluster.nodes for ip in n.ips}
    subnet = cluster.config.node_subnet
    out: dict[str, list[IPv4Address]] = {n.name: [] for n in cluster.nodes}
    seen: set = set()
    for svc in cluster.services:
        for vip in _service_addresses(svc):
            if vip.version != 4 or vip not in subnet or vip in held or vip in seen:
                continue
            seen.add(vip)
            out[entry_node(cluster, outside, vip, svc)].append(vip)  # type: ignore[arg-type]
    return out


def _service_addresses(svc: Service) -> list:  # type: ignore[type-arg]
    vips = [i.ip for i in svc.load_balancer if i.ip is not None and i.ip_mode != "Proxy"]
    return [*vips, *svc.external_ips]


def _extra_addresses(
    cluster: Cluster, node: Node, announced: tuple[IPv4Address, ...]
) -> list[tuple[str, str]]:
    """The node's other IPv4 addresses, then the service addresses it announces (/32)."""
    subnet = cluster.config.node_subnet
    out = [
        (NODE_IFNAME, f"{ip}/{subnet.prefixlen if ip in subnet else 32}")
        for ip in node.ips[1:]
        if ip.version == 4
    ]
    out += [(NODE_IFNAME, f"{vip}/32") for vip in announced]
    return out


def _routes_to_extra_addresses(cluster: Cluster, node: Node) -> list[Route]:
    """Routes to `node`'s IPv4 addresses outside the node subnet, via its primary IP."""
    subnet = cluster.config.node_subnet
    return [
        Route(f"{ip}/32", str(node.ips[0]), NODE_IFNAME)
        for ip in node.ips[1:]
        if ip.version == 4 and ip not in subnet
    ]


def _external_routes(cluster: Cluster, node_ips: dict) -> list[Route]:
    """LoadBalancer IPs and external IPs outside the node subnet, routed to the node
    `path.trace` delivers them to, and the nodes' addresses outside the node subnet."""
    outside = Peer(external_client(cluster))
    routes: dict[str, Route] = {}
    for svc in cluster.services:
        for vip in _service_addresses(svc):
            if vip.version != 4 or vip in cluster.config.node_subnet:
                continue
            node = entry_node(cluster, outside, vip, svc)
            routes.setdefault(str(vip), Route(f"{vip}/32", str(node_ips[node]), NODE_IFNAME))
    for n in cluster.nodes:
        for r in _routes_to_extra_addresses(cluster, n):
            routes.setdefault(r.dst, r)
    return list(routes.values())
