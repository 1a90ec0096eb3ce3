"""Why one connection is allowed or denied: per direction, the policies that select the pod and
the rule (with the peer and port entry) that allows it. Pure; built on `policy.semantics`,
rendered by `report.explain`."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

from podnet.errors import InvalidValue, NotFound
from podnet.ipam.addresses import split_host_port
from podnet.model.cluster import Cluster
from podnet.model.objects import PROTOCOLS, PolicyType
from podnet.policy.semantics import (
    DIRECTIONS,
    DirectionVerdict,
    Peer,
    direction_verdict,
    exempt,
    peer_matches,
    pod_peer,
    port_matches,
)


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that allows the connection, located by field path in its policy."""

    policy: str  # ns/name
    rule: str  # spec.ingress[0]
    peer: str  # "from[1] namespaceSelector ...", or "every source" / "every destination"
    port: str  # "ports[0] TCP/80", or "every port"


@dataclass(frozen=True, slots=True)
class Explanation:
    src: Peer
    dst: Peer
    port: int
    protocol: str
    exempt: str
    directions: tuple[DirectionVerdict, ...]
    reasons: dict[str, tuple[Reason, ...]]

    @property
    def allowed(self) -> bool:
        return bool(self.exempt) or all(d.allowed for d in self.directions)


def parse_endpoint(
    cluster: Cluster, text: str, version: int | None = None
) -> tuple[Peer, int | None]:
    """`ns/pod`, a node name or an address, each with an optional port (`x/a:80`, `[::1]:80`).
    Pods and nodes are taken by their address of `version` (their primary one by default)."""
    host, port = split_host_port(text)
    if "/" in host:
        pod = cluster.pod(host)
        if pod is None:
            raise NotFound("pod", host)
        if not pod.ips:
            raise _no_address("pod", host, "has no address (not scheduled, or finished)")
        if version is not None and not any(ip.version == version for ip in pod.ips):
            raise _no_address("pod", host, f"has no IPv{version} address")
        return pod_peer(pod, version), port
    if any(n.name == host for n in cluster.nodes):
        node = cluster.node(host)
        ips = [ip for ip in node.ips if version is None or ip.version == version]
        if not ips:
            raise _no_address("node", host, f"has no IPv{version} address")
        return Peer(ips[0], None, node.name), port
    try:
        ip = ip_address(host)
    except ValueError:
        why = "is neither a pod (namespace/name), a node nor an IP address"
        raise InvalidValue("endpoint", text, why, message=f"{text!r} {why}") from None
    return peer_of_address(cluster, ip), port


def _no_address(kind: str, name: str, why: str) -> InvalidValue:
    return InvalidValue(kind, name, why, message=f"{kind} {name} {why}")


def peer_of_address(cluster: Cluster, ip) -> Peer:  # type: ignore[no-untyped-def]
    """The pod that owns an address (not host-network), else the node, else outside."""
    for pod in cluster.running_pods:
        if ip in pod.ips and not pod.host_network:
            return Peer(ip, pod, pod.node_name)
    for node in cluster.nodes:
        if ip in node.ips:
            return Peer(ip, None, node.name)
    return Peer(ip)


def explain(cluster: Cluster, src: Peer, dst: Peer, port: int, protocol: str) -> Explanation:
    if protocol not in PROTOCOLS:
        why = f"must be one of {', '.join(PROTOCOLS)}"
        raise InvalidValue("protocol", protocol, why, message=f"protocol {protocol!r}: {why}")
    # The source's egress first: the order a packet meets them.
    verdicts = tuple(
        direction_verdict(cluster, d, src, dst, port, protocol) for d in reversed(DIRECTIONS)
    )
    reasons = {v.direction: tuple(_reasons(cluster, v, src, dst, port, protocol)) for v in verdicts}
    return Explanation(src, dst, port, protocol, exempt(src, dst), verdicts, reasons)


def _reasons(
    cluster: Cluster, v: DirectionVerdict, src: Peer, dst: Peer, port: int, protocol: str
) -> list[Reason]:
    other = dst if v.direction == PolicyType.Egress else src
    peers_key = "to" if v.direction == PolicyType.Egress else "from"
    out = []
    for match in v.allowing:
        rule = match.policy.rules(v.direction)[match.rule]
        field = f"spec.{v.direction.lower()}[{match.rule}]"
        if rule.peers:
            i, peer = next(
                (i, p)
                for i, p in enumerate(rule.peers)
                if peer_matches(cluster, match.policy, p, other)
            )
            peer_text = f"{peers_key}[{i}] {peer}"
        else:
            peer_text = "every source" if v.direction == PolicyType.Ingress else "every destination"
        if rule.ports:
            j, entry = next(
                (j, e) for j, e in enumerate(rule.ports) if port_matches(e, port, protocol, dst)
            )
            port_text = f"ports[{j}] {entry}"
        else:
            port_text = "every port"
        out.append(Reason(match.policy.key, field, peer_text, port_text))
    return out
