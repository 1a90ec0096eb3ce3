"""Pods to Service ports: what `podnet reach --services` shows. Pure; rendered by
`report.service_reach`.

A cell is allowed when some endpoint that kube-proxy on the client's node may choose for the
ClusterIP accepts the connection under NetworkPolicy (on the target port, after DNAT); the
per-endpoint verdicts say which. Built on `path.trace`, so a cell and a trace never disagree;
what pods share (kube-proxy's verdict on a node, policy's for pods no policy tells apart) is
walked once.
"""

from __future__ import annotations

from dataclasses import dataclass

from podnet.ipam.addresses import HostPort
from podnet.model.cluster import Cluster
from podnet.model.objects import IPAddress, Pod
from podnet.path.trace import deliver
from podnet.policy.engine import PolicyEngine
from podnet.policy.semantics import pod_peer
from podnet.proxy.verdict import ProxyVerdict, Verdict, decide


@dataclass(frozen=True)
class ServiceCell:
    verdict: str  # ACCEPT | DROP | REJECT (kube-proxy's)
    endpoints: dict[HostPort, bool]  # endpoint -> allowed by policy

    @property
    def allowed(self) -> bool:
        return any(self.endpoints.values())


@dataclass(frozen=True)
class ServiceReach:
    pods: list[str]
    services: list[str]  # ns/name:port/protocol
    cells: dict[str, dict[str, ServiceCell]]


@dataclass(frozen=True, slots=True)
class Target:
    """One Service port, at its ClusterIP of the family asked about."""

    name: str  # ns/name:port/protocol
    service: str  # ns/name
    vip: IPAddress
    port: int
    protocol: str


def targets(cluster: Cluster, family: int) -> list[Target]:
    out = []
    for svc in cluster.services:
        vip = next((ip for ip in svc.cluster_ips if ip.version == family), None)
        if vip is None:
            continue
        for sp in svc.ports:
            name = f"{svc.key}:{sp.port}/{sp.protocol}"
            out.append(Target(name, svc.key, vip, sp.port, sp.protocol))
    return out


def service_cell(cluster: Cluster, pod: Pod, family: int, t: Target) -> ServiceCell:
    """One cell, walked as `trace` walks it."""
    return _Walk(cluster, family).cell(pod, t)


class _Walk:
    """Cells walked with what pods share remembered: kube-proxy's verdict is the same for every
    pod of a node (host-network pods apart, whose source is the node), and policy's for every
    pod of one policy engine key (namespace, labels, named ports, ipBlock atom), unless the
    source is masqueraded to its node's address or is on the host network (then a node reaches
    its own pods). A pod that is an endpoint of the Service is walked alone: its connection to
    itself hairpins."""

    def __init__(self, cluster: Cluster, family: int, engine: PolicyEngine | None = None):
        self.cluster = cluster
        self.family = family
        self.key_of = (
            {p.key: int(k) for p, k in zip(engine.pods, engine.pod_key, strict=True)}
            if engine is not None
            else {}
        )
        self.endpoint_ips: dict[str, set[str]] = {}
        for s in cluster.endpoint_slices:
            addresses = {a for e in s.endpoints for a in e.addresses}
            self.endpoint_ips.setdefault(f"{s.namespace}/{s.service_name}", set()).update(addresses)
        self.decided: dict[tuple, Verdict] = {}
        self.delivered: dict[tuple, bool] = {}

    def cell(self, pod: Pod, t: Target) -> ServiceCell:
        cluster, node = self.cluster, pod.node_name
        src = pod_peer(pod, self.family)
        key = self.key_of.get(pod.key)
        alone = key is None or str(src.ip) in self.endpoint_ips.get(t.service, ())
        seen: tuple = (node, pod.host_network, t)
        v = None if alone else self.decided.get(seen)
        if v is None:
            v = decide(cluster, node, src.ip, t.vip, t.port, t.protocol)
            if not alone:
                self.decided[seen] = v
        if v.verdict == ProxyVerdict.ACCEPT:
            eps = list(v.targets)
        elif v.verdict == ProxyVerdict.NONE:  # not a proxied address: the packet goes as it is
            eps = [HostPort(t.vip, t.port)]
        else:
            eps = []
        endpoints: dict[HostPort, bool] = {}
        for ep in eps:
            masquerade = v.verdict == ProxyVerdict.ACCEPT and v.masquerades(ep.ip, src.ip)
            where = node if masquerade or pod.host_network else ""
            walked: tuple = (key, where, ep, t.protocol, v.verdict, masquerade)
            ok = None if alone else self.delivered.get(walked)
            if ok is None:
                ok = deliver(cluster, src, node, ep, t.protocol, v).allowed
                if not alone:
                    self.delivered[walked] = ok
            endpoints[ep] = ok
        return ServiceCell(v.verdict, endpoints)


def service_reach(cluster: Cluster) -> ServiceReach:
    """Every pod to every Service port of the cluster's primary IP family."""
    family = cluster.config.families[0]
    pods = sorted(
        (p for p in cluster.running_pods if any(ip.version == family for ip in p.ips)),
        key=lambda p: p.key,
    )
    walk = _Walk(cluster, family, PolicyEngine(cluster, family))
    wanted = targets(cluster, family)
    cells = {pod.key: {t.name: walk.cell(pod, t) for t in wanted} for pod in pods}
    return ServiceReach([p.key for p in pods], [t.name for t in wanted], cells)
