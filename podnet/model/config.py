"""Cluster-wide settings that manifests do not carry: podnet's ClusterNetwork, or a kind config.

Defaults are those of kubeadm, kind and Flannel (see docs/contracts.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from ipaddress import IPv4Network, ip_network
from typing import Any

from podnet.family import family
from podnet.ipam.allocate import primaries_first
from podnet.model import validation as v
from podnet.model.fields import Field, quote, type_name
from podnet.model.objects import IPAddress, IPNetwork, Origin, Taint


class Backend(StrEnum):
    """How pod traffic crosses between nodes (Flannel's backends)."""

    host_gw = "host-gw"
    vxlan = "vxlan"


class ProxyMode(StrEnum):
    """kube-proxy's --proxy-mode."""

    nftables = "nftables"
    iptables = "iptables"
    ipvs = "ipvs"


BACKENDS = tuple(Backend)
PROXY_MODES = tuple(ProxyMode)
# The IPVS schedulers of the Linux kernel (net/netfilter/ipvs, ip_vs_<name>.ko). kube-proxy takes
# any name since 1.27 and fails to start when the kernel has no such scheduler.
IPVS_SCHEDULERS = (
    "rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "twos",
)  # fmt: skip
DETECT_LOCAL_MODES = ("ClusterCIDR", "NodeCIDR", "None")
NODE_PORT_PRIMARY = "primary"  # nodePortAddresses: the node's primary IPs
DNS_POD_MODES = ("insecure", "verified", "disabled")
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
# The mark kube-proxy sets on packets it will masquerade: 1 << --masquerade-bit (default 14).
# NetworkPolicy rules read it too.
MASQUERADE_MARK = 0x4000


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node declared by the configuration rather than by a Node object."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    ips: tuple[IPAddress, ...] = ()  # `ip` or `ips`: the primary of each family first
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True, slots=True)
class IPVSConfig:
    """kube-proxy's IPVS settings (KubeProxyIPVSConfiguration), used by the `ipvs` mode."""

    scheduler: str = "rr"  # one of IPVS_SCHEDULERS ("" means rr upstream)
    strict_arp: bool = False
    # Connection timeouts kube-proxy sets on IPVS, seconds; 0 leaves the kernel's value.
    tcp_timeout: int = 0
    tcp_fin_timeout: int = 0
    udp_timeout: int = 0
    exclude_cidrs: tuple[IPNetwork, ...] = ()  # real servers kube-proxy must not clean up


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    name: str = "podnet"
    pod_subnets: tuple[IPNetwork, ...] = (IPv4Network("10.244.0.0/16"),)
    service_subnets: tuple[IPNetwork, ...] = (IPv4Network("10.96.0.0/12"),)
    node_cidr_mask_size: int = 24
    node_cidr_mask_size_v6: int = 64
    node_subnet: IPNetwork = IPv4Network("172.18.0.0/16")
    dns_domain: str = "cluster.local"
    backend: Backend = Backend.host_gw
    service_node_port_range: tuple[int, int] = (30000, 32767)
    kube_proxy_mode: ProxyMode = ProxyMode.nftables
    ipvs: IPVSConfig = IPVSConfig()
    masquerade_all: bool = False
    detect_local_mode: str = "ClusterCIDR"
    node_port_addresses: tuple[IPNetwork, ...] = ()
    # nodePortAddresses: [primary]: the node's primary IP of each family only (the nftables
    # mode's default when nodePortAddresses is empty).
    node_port_primary: bool = False
    load_balancer_pool: tuple[IPNetwork, ...] = ()
    dns_pods: str = "insecure"
    dns_ttl: int = 30
    origin: Origin = Origin()  # the configuration document, when there is one
    document: str = ""  # "ClusterNetwork demo" or "Cluster kind", for messages
    nodes: tuple[NodeSpec, ...] = (NodeSpec("node-1"), NodeSpec("node-2"))

    @property
    def families(self) -> tuple[int, ...]:
        """IP versions of the pod network, primary first."""
        return tuple(n.version for n in self.pod_subnets)

    def node_mask(self, version: int) -> int:
        return self.node_cidr_mask_size if version == 4 else self.node_cidr_mask_size_v6


DEFAULT_NODES = ClusterConfig().nodes


def parse_config(docs: list[Field]) -> ClusterConfig:
    """The one configuration document, or the defaults. Problems go to the documents' contexts."""
    if not docs:
        return ClusterConfig(nodes=DEFAULT_NODES)
    for extra in docs[1:]:
        extra.error(
            f"only one ClusterNetwork or kind Cluster document is allowed ({docs[0].ctx.obj})"
        )
    doc = docs[0]
    config = _kind_cluster(doc) if doc["kind"].value == "Cluster" else _cluster_network(doc)
    d = doc.ctx.doc
    return replace(config, origin=Origin(d.file, d.index, d.line()), document=doc.ctx.obj)


def _networks(f: Field, *, strict: bool = True, family_pair: bool = True) -> tuple[IPNetwork, ...]:
    """A CIDR, a comma-separated pair (dual-stack, as kubeadm writes it) or a list.

    With `family_pair`, at most one network of each IP family (a dual-stack setting).
    """
    texts = (
        f.strings()
        if isinstance(f.value, list)
        else [t.strip() for t in f.str().split(",") if t.strip()]
    )
    nets = []
    for t in texts:
        net = v.parse_cidr(t, strict=strict)
        if net is None:
            bits = " without host bits" if strict else ""
            f.error(f"Invalid value: {quote(t)}: must be a valid CIDR{bits} (e.g. 10.0.0.0/16)")
        else:
            nets.append(net)
    if family_pair and len({n.version for n in nets}) < len(nets):
        f.error("Invalid value: a dual-stack value needs one IPv4 and one IPv6 CIDR")
    return tuple(nets)


# The fields of a ClusterNetwork's spec, of spec.dns and of a spec.nodes entry.
SPEC_FIELDS = (
    "podSubnet", "serviceSubnet", "nodeSubnet", "nodeCIDRMaskSize", "nodeCIDRMaskSizeIPv6",
    "dnsDomain", "backend", "kubeProxyMode", "detectLocalMode", "masqueradeAll",
    "serviceNodePortRange", "loadBalancerPool", "nodePortAddresses", "dns", "nodes", "ipvs",
)  # fmt: skip
DNS_FIELDS = ("pods", "ttl")
# KubeProxyIPVSConfiguration's fields, with its names. syncPeriod and minSyncPeriod shape when
# kube-proxy writes its state, not the state itself, so they are not read.
IPVS_FIELDS = (
    "scheduler", "strictARP", "tcpTimeout", "tcpFinTimeout", "udpTimeout", "excludeCIDRs",
)  # fmt: skip
NODE_FIELDS = ("name", "labels", "ip", "ips")


def _cluster_network(doc: Field) -> ClusterConfig:
    spec = doc["spec"]
    spec.unknown_fields(SPEC_FIELDS)
    spec["dns"].unknown_fields(DNS_FIELDS)
    d = ClusterConfig()
    values: dict[str, Any] = {"name": doc["metadata"]["name"].str(d.name) or d.name}
    if doc["metadata"]["name"].present:
        doc["metadata"]["name"].check(values["name"], v.dns1123_label)
    for key, attr in (("podSubnet", "pod_subnets"), ("serviceSubnet", "service_subnets")):
        if spec[key].present:
            values[attr] = _networks(spec[key]) or getattr(d, attr)
    if spec["nodeSubnet"].present:
        nets = _networks(spec["nodeSubnet"])
        if nets:
            values["node_subnet"] = nets[0]
    for key, attr, low, high in (
        ("nodeCIDRMaskSize", "node_cidr_mask_size", 1, 32),
        ("nodeCIDRMaskSizeIPv6", "node_cidr_mask_size_v6", 1, 128),
    ):
        if not spec[key].present:
            continue
        n = spec[key].int()
        if n is not None and not low <= n <= high:
            spec[key].error(f"Invalid value: {n}: must be between {low} and {high}")
        elif n is not None:
            values[attr] = n
    values["dns_domain"] = spec["dnsDomain"].str(d.dns_domain) or d.dns_domain
    if spec["dnsDomain"].present:
        spec["dnsDomain"].check(values["dns_domain"], v.dns1123_subdomain)
    values["backend"] = Backend(spec["backend"].choice(BACKENDS, d.backend))
    values["kube_proxy_mode"] = ProxyMode(
        spec["kubeProxyMode"].choice(PROXY_MODES, d.kube_proxy_mode)
    )
    values["detect_local_mode"] = spec["detectLocalMode"].choice(
        DETECT_LOCAL_MODES, d.detect_local_mode
    )
    values["masquerade_all"] = spec["masqueradeAll"].bool(False)
    if spec["ipvs"].present:
        values["ipvs"] = _ipvs(spec["ipvs"])
    if spec["serviceNodePortRange"].present:
        values["service_node_port_range"] = _port_range(spec["serviceNodePortRange"])
    if spec["loadBalancerPool"].present:
        values["load_balancer_pool"] = _networks(
            spec["loadBalancerPool"], strict=False, family_pair=False
        )
    if spec["nodePortAddresses"].present:
        values.update(_node_port_addresses(spec["nodePortAddresses"]))
    dns = spec["dns"]
    values["dns_pods"] = dns["pods"].choice(DNS_POD_MODES, d.dns_pods)
    ttl = dns["ttl"].int(d.dns_ttl)
    if ttl is not None and not 0 <= ttl <= 3600:
        dns["ttl"].error(f"Invalid value: {ttl}: must be between 0 and 3600")
    else:
        values["dns_ttl"] = ttl
    nodes = []
    names: set[str] = set()
    for n in spec["nodes"].objects():
        n.unknown_fields(NODE_FIELDS)
        name = n["name"].str(required=True)
        if name:
            n["name"].check(name, v.dns1123_subdomain)
            if name in names:
                n["name"].error(f'Duplicate value: "{name}"')
            names.add(name)
        nodes.append(NodeSpec(name, n["labels"].string_map(), _node_ips(n)))
    values["nodes"] = tuple(nodes) if spec["nodes"].present else DEFAULT_NODES
    config = ClusterConfig(**values)
    for subnet in config.pod_subnets:
        key = "nodeCIDRMaskSize" if subnet.version == 4 else "nodeCIDRMaskSizeIPv6"
        _check_node_mask(spec[key] if spec[key].present else spec["podSubnet"], config, subnet)
    return config


def _ipvs(f: Field) -> IPVSConfig:
    """spec.ipvs: kube-proxy's KubeProxyIPVSConfiguration, checked as kube-proxy's validation
    does (timeouts >= 0, excludeCIDRs CIDRs), whatever kubeProxyMode says: `--mode ipvs` shows any
    cluster in the IPVS mode, with these settings."""
    if not f.is_map():
        return IPVSConfig()
    f.unknown_fields(IPVS_FIELDS)
    d = IPVSConfig()
    scheduler = f["scheduler"].str(d.scheduler) or d.scheduler
    if scheduler not in IPVS_SCHEDULERS:
        f["scheduler"].error(
            f"Unsupported value: {quote(scheduler)}: not an IPVS scheduler of the Linux kernel"
            " (kube-proxy would fail to start): supported values: "
            + ", ".join(f'"{s}"' for s in IPVS_SCHEDULERS)
        )
        scheduler = d.scheduler
    timeouts = {
        attr: _duration_seconds(f[key])
        for key, attr in (
            ("tcpTimeout", "tcp_timeout"),
            ("tcpFinTimeout", "tcp_fin_timeout"),
            ("udpTimeout", "udp_timeout"),
        )
    }
    return IPVSConfig(
        scheduler=scheduler,
        strict_arp=f["strictARP"].bool(d.strict_arp),
        exclude_cidrs=_networks(f["excludeCIDRs"], strict=False, family_pair=False)
        if f["excludeCIDRs"].present
        else d.exclude_cidrs,
        **timeouts,
    )


# Go's time.ParseDuration, which metav1.Duration reads with: "900s", "15m", "1h30m", "1.5h".
_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_NANOSECONDS = {
    "ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
    "h": 3600 * 10**9,
}  # fmt: skip
_MAX_DURATION = 2**63 - 1  # nanoseconds: Go's time.Duration is an int64


def parse_duration(text: str) -> int | None:
    """A Go duration in nanoseconds (truncated, as Go does), or None when it is not one."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.removeprefix("+"))
    if body == "0":
        return 0
    total, at = Decimal(0), 0
    while at < len(body):
        m = _DURATION.match(body, at)
        if m is None or m[1] in ("", "."):
            return None
        total += Decimal(m[1]) * _NANOSECONDS[m[2]]
        at = m.end()
    if not body or total > _MAX_DURATION:
        return None
    return sign * int(total)


def _duration_seconds(f: Field) -> int:
    """A timeout kube-proxy hands to IPVS: a duration, in whole seconds, at least 0."""
    if f.value is None:
        return 0
    if not isinstance(f.value, str):
        f.error(f'must be a duration such as "900s" or "15m", not {type_name(f.value)}')
        return 0
    ns = parse_duration(f.value)
    if ns is None:
        f.error(f'Invalid value: {quote(f.value)}: must be a duration such as "900s" or "15m"')
        return 0
    if ns < 0:
        f.error(f"Invalid value: {quote(f.value)}: must be greater than or equal to 0")
        return 0
    return ns // 10**9


def _node_ips(n: Field) -> tuple[IPAddress, ...]:
    """A configured node's addresses: `ip` (one) or `ips` (several: InternalIPs, the first of
    each family its primary)."""
    if n["ip"].present and n["ips"].present:
        n["ips"].error("Forbidden: give either ip or ips, not both")
        return ()
    if n["ip"].present:
        given = [(n["ip"], n["ip"].str())]
    elif isinstance(n["ips"].value, list):
        given = n["ips"].string_items()
    else:
        if n["ips"].present:
            n["ips"].error(f"must be a list of IP addresses, not {type_name(n['ips'].value)}")
        return ()
    ips: list[IPAddress] = []
    for f, text in given:
        ip = v.parse_ip(text)
        if ip is None:
            f.error(f"Invalid value: {quote(f.value)}: must be a valid IP address")
        elif ip in ips:
            f.error(f"Duplicate value: {quote(text)}")
        else:
            ips.append(ip)
    return primaries_first(ips)


def _node_port_addresses(f: Field) -> dict[str, Any]:
    """kube-proxy's --nodeport-addresses: CIDRs, or the one word `primary`."""
    items = (
        f.string_items()
        if isinstance(f.value, list)
        else [(f, t.strip()) for t in f.str().split(",") if t.strip()]
    )
    if any(text == NODE_PORT_PRIMARY for _, text in items):
        if len(items) > 1:
            at = next(g for g, text in items if text == NODE_PORT_PRIMARY)
            at.error(
                f"Invalid value: {quote(NODE_PORT_PRIMARY)}: can't use both 'primary' and CIDRs"
            )
        return {"node_port_primary": True}
    return {"node_port_addresses": _networks(f, strict=False, family_pair=False)}


def _check_node_mask(f: Field, config: ClusterConfig, subnet: IPNetwork) -> None:
    """kube-controller-manager's range allocator: the node mask must fit in the pod subnet and,
    for IPv6, be at most 16 bits longer than it."""
    mask = config.node_mask(subnet.version)
    if mask < subnet.prefixlen:
        f.error(
            f"Invalid value: node CIDR mask /{mask} is larger than the pod subnet {subnet}:"
            " it cannot be carved from it"
        )
    elif (
        limit := family(subnet).max_node_mask_bits
    ) is not None and mask - subnet.prefixlen > limit:
        f.error(
            f"Invalid value: node CIDR mask /{mask} is more than {limit} bits longer than the pod"
            f" subnet {subnet} (kube-controller-manager refuses it)"
        )


def _port_range(f: Field) -> tuple[int, int]:
    text = str(f.value)
    low, _, high = text.partition("-")
    try:
        lo, hi = int(low), int(high or low)
    except ValueError:
        f.error(f"Invalid value: {quote(text)}: must be a port range such as 30000-32767")
        return ClusterConfig.service_node_port_range
    if not (1 <= lo <= hi <= 65535):
        f.error(f"Invalid value: {quote(text)}: must be a port range such as 30000-32767")
        return ClusterConfig.service_node_port_range
    return (lo, hi)


def _kind_cluster(doc: Field) -> ClusterConfig:
    """A kind `Cluster` config: its networking and nodes mapped onto podnet's settings."""
    net = doc["networking"]
    family = net["ipFamily"].choice(("ipv4", "ipv6", "dual"), "ipv4")
    pods = {
        "ipv4": "10.244.0.0/16",
        "ipv6": "fd00:10:244::/56",
        "dual": "10.244.0.0/16,fd00:10:244::/56",
    }
    services = {
        "ipv4": "10.96.0.0/16",
        "ipv6": "fd00:10:96::/112",
        "dual": "10.96.0.0/16,fd00:10:96::/112",
    }
    values: dict[str, Any] = {"name": doc["name"].str("kind") or "kind"}
    values["pod_subnets"] = (
        _networks(net["podSubnet"]) if net["podSubnet"].present else _defaults(pods[family])
    )
    values["service_subnets"] = (
        _networks(net["serviceSubnet"])
        if net["serviceSubnet"].present
        else _defaults(services[family])
    )
    mode = net["kubeProxyMode"].str("iptables") or "iptables"
    if mode not in (*PROXY_MODES, "none"):
        net["kubeProxyMode"].error(f'Unsupported value: "{mode}"')
    else:
        values["kube_proxy_mode"] = ProxyMode(mode) if mode in PROXY_MODES else ProxyMode.nftables
    roles = [(n, n["role"].str("control-plane") or "control-plane") for n in doc["nodes"].objects()]
    if not roles:
        roles = [(None, "control-plane")]
    workers = sum(1 for _, r in roles if r == "worker")
    nodes, counts = [], {"control-plane": 0, "worker": 0}
    for f, role in roles:
        if role not in counts:
            if f is not None:
                f["role"].error(
                    f'Unsupported value: "{role}": supported values: "control-plane", "worker"'
                )
            continue
        counts[role] += 1
        suffix = "" if counts[role] == 1 else str(counts[role])
        labels = f["labels"].string_map() if f is not None else {}
        taints: tuple[Taint, ...] = ()
        if role == "control-plane":
            labels = {CONTROL_PLANE_LABEL: "", **labels}
            if workers:
                taints = (Taint(CONTROL_PLANE_LABEL, "", "NoSchedule"),)
        nodes.append(NodeSpec(f"{values['name']}-{role}{suffix}", labels, (), taints))
    values["nodes"] = tuple(nodes)
    config = ClusterConfig(**values)
    for subnet in config.pod_subnets:
        _check_node_mask(net["podSubnet"], config, subnet)
    return config


def _defaults(text: str) -> tuple[IPNetwork, ...]:
    return tuple(ip_network(t) for t in text.split(","))
