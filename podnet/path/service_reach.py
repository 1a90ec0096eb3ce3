"""Pods to Service ports: what `podnet reach --services` shows. Pure; rendered by
`report.service_reach`.

A cell is allowed when some endpoint that kube-proxy on the client's node may choose for the
ClusterIP accepts the connection under NetworkPolicy (on the target port, after DNAT); the
per-endpoint verdicts say which. Built on `path.trace`, so a cell and a trace never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from podnet.ipam.addresses import HostPort
from podnet.model.cluster import Cluster
from podnet.path.trace import deliver
from podnet.policy.semantics import pod_peer
from podnet.proxy.verdict import ProxyVerdict, decide


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


def service_reach(cluster: Cluster) -> ServiceReach:
    family = cluster.config.families[0]
    pods = sorted(
        (p for p in cluster.running_pods if any(ip.version == family for ip in p.ips)),
        key=lambda p: p.key,
    )
    targets = []
    for svc in cluster.services:
        vip = next((ip for ip in svc.cluster_ips if ip.version == family), None)
        if vip is None:
            continue
        for sp in svc.ports:
            targets.append((f"{svc.key}:{sp.port}/{sp.protocol}", vip, sp.port, sp.protocol))
    cells: dict[str, dict[str, ServiceCell]] = {}
    for pod in pods:
        src = pod_peer(pod, family)
        row = {}
        for name, vip, port, proto in targets:
            v = decide(cluster, pod.node_name, src.ip, vip, port, proto)
            endpoints: dict[HostPort, bool] = {}
            if v.verdict == ProxyVerdict.ACCEPT:
                for ep in v.targets:
                    endpoints[ep] = deliver(cluster, src, pod.node_name, ep, proto, v).allowed
            elif v.verdict == ProxyVerdict.NONE:  # not a proxied address: the packet goes as it is
                ep = HostPort(vip, port)
                endpoints[ep] = deliver(cluster, src, pod.node_name, ep, proto, v).allowed
            row[name] = ServiceCell(v.verdict, endpoints)
        cells[pod.key] = row
    return ServiceReach([p.key for p in pods], [t[0] for t in targets], cells)
