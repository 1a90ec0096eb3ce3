"""NetworkPolicy semantics, written directly from the specification, one connection at a time.

This is podnet's single statement of what `networking.k8s.io/v1` NetworkPolicy means. It is
deliberately plain: `explain` uses it to say why, and the vectorised engine (`policy.engine`) is
tested against it on random clusters. Pure.

podnet's choices where upstream leaves behaviour to the plugin:
- a pod always reaches itself (traffic to its own address never leaves its network namespace);
- pods with `hostNetwork: true` are never policy subjects and are matched by no pod or namespace
  selector; their traffic carries their node's address, which ipBlocks match;
- traffic from a node (or a host-network pod) to the pods on that same node is always allowed,
  as kubelet health probes need (Calico and Cilium behave so by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from podnet.model.cluster import Cluster
from podnet.model.objects import (
    IPAddress,
    NetworkPolicy,
    Pod,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    PolicyType,
)

DIRECTIONS = (PolicyType.Ingress, PolicyType.Egress)


@dataclass(frozen=True, slots=True)
class Peer:
    """One end of a connection, as a NetworkPolicy peer sees it: an address, the pod that owns it
    (if any) and its node."""

    ip: IPAddress
    pod: Pod | None = None
    node: str = ""  # the node the address lives on, for pods and nodes

    @property
    def is_pod(self) -> bool:
        """An address on the pod network that policies can select (not host-network)."""
        return self.pod is not None and not self.pod.host_network

    def __str__(self) -> str:
        return self.pod.key if self.pod is not None else str(self.ip)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that allows a connection: the policy, the direction and the rule's index."""

    policy: NetworkPolicy
    direction: str
    rule: int


@dataclass(frozen=True, slots=True)
class DirectionVerdict:
    """How one side decides: the policies selecting the pod and the rules that allow."""

    direction: str
    subject: Peer
    applies: bool  # False when this side is not a policy subject (external, host-network)
    selecting: tuple[NetworkPolicy, ...]
    allowing: tuple[RuleMatch, ...]

    @property
    def isolated(self) -> bool:
        return bool(self.selecting)

    @property
    def allowed(self) -> bool:
        return not self.isolated or bool(self.allowing)


def selects(policy: NetworkPolicy, pod: Pod) -> bool:
    return (
        not pod.host_network
        and pod.namespace == policy.namespace
        and policy.pod_selector.matches(pod.labels)
    )


def peer_matches(cluster: Cluster, policy: NetworkPolicy, peer: PolicyPeer, other: Peer) -> bool:
    if peer.ip_block is not None:
        return peer.ip_block.contains(other.ip)
    if not other.is_pod:
        return False
    assert other.pod is not None
    return peer_selects(cluster, policy, peer, other.pod)


def peer_selects(cluster: Cluster, policy: NetworkPolicy, peer: PolicyPeer, pod: Pod) -> bool:
    """Whether a peer's selectors take `pod`, whether or not it has an address yet (ipBlock peers
    match addresses, never a pod as such)."""
    if peer.ip_block is not None or pod.host_network:
        return False
    if peer.namespace_selector is None:
        in_namespace = pod.namespace == policy.namespace
    else:
        in_namespace = peer.namespace_selector.matches(cluster.namespace_labels(pod.namespace))
    return in_namespace and (peer.pod_selector is None or peer.pod_selector.matches(pod.labels))


def port_matches(entry: PolicyPort, port: int, protocol: str, dst: Peer) -> bool:
    """Named ports resolve against the destination pod's container ports only."""
    if entry.protocol != protocol:
        return False
    if entry.port is None:
        return True
    if isinstance(entry.port, str):
        if not dst.is_pod:
            return False
        assert dst.pod is not None
        return dst.pod.named_port(entry.port, protocol) == port
    end = entry.end_port if entry.end_port is not None else entry.port
    return entry.port <= port <= end


def rule_allows(
    cluster: Cluster,
    policy: NetworkPolicy,
    rule: PolicyRule,
    other: Peer,
    dst: Peer,
    port: int,
    protocol: str,
) -> bool:
    peers_ok = not rule.peers or any(peer_matches(cluster, policy, p, other) for p in rule.peers)
    ports_ok = not rule.ports or any(port_matches(e, port, protocol, dst) for e in rule.ports)
    return peers_ok and ports_ok


def direction_verdict(
    cluster: Cluster, direction: str, src: Peer, dst: Peer, port: int, protocol: str
) -> DirectionVerdict:
    """Egress is decided at the source, ingress at the destination."""
    subject, other = (src, dst) if direction == PolicyType.Egress else (dst, src)
    if not subject.is_pod:
        return DirectionVerdict(direction, subject, False, (), ())
    assert subject.pod is not None
    selecting = tuple(
        p for p in cluster.policies if direction in p.policy_types and selects(p, subject.pod)
    )
    allowing = tuple(
        RuleMatch(p, direction, i)
        for p in selecting
        for i, rule in enumerate(p.rules(direction))
        if rule_allows(cluster, p, rule, other, dst, port, protocol)
    )
    return DirectionVerdict(direction, subject, True, selecting, allowing)


def exempt(src: Peer, dst: Peer) -> str:
    """Why a connection is allowed whatever the policies say, or "" when it is not exempt."""
    if src.pod is not None and dst.pod is not None and src.pod.key == dst.pod.key:
        return "a pod always reaches itself"
    if src.node and not src.is_pod and dst.is_pod and src.node == dst.node:
        return f"traffic from node {src.node} to its own pods is always allowed"
    return ""


def allowed(cluster: Cluster, src: Peer, dst: Peer, port: int, protocol: str) -> bool:
    if exempt(src, dst):
        return True
    return all(direction_verdict(cluster, d, src, dst, port, protocol).allowed for d in DIRECTIONS)


def pod_peer(pod: Pod, version: int | None = None) -> Peer:
    """A pod as an endpoint, by its primary address or its address of `version`."""
    ips = [ip for ip in pod.ips if version is None or ip.version == version]
    return Peer(ips[0], pod, pod.node_name)
