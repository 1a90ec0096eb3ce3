"""NetworkPolicy semantics, written directly from the specification, one connection at a time.

This is podnet's single statement of what `networking.k8s.io/v1` NetworkPolicy means, and of the
admin tiers around it (ClusterNetworkPolicy; AdminNetworkPolicy and BaselineAdminNetworkPolicy,
held in the same form: `model.cluster_policy`). It is deliberately plain: `explain` uses it to say
why, and the vectorised engine (`policy.engine`) is tested against it on random clusters. Pure.

Each direction is judged on its own, egress at the source, ingress at the destination, in tiers:
the Admin tier (policies by priority, rules in order; the first rule that matches decides: Accept
and Deny are final, Pass skips the rest of the tier), then NetworkPolicy (when one selects the pod
for that direction, it decides), then the Baseline tier (the same way; Pass goes on), then the
default: allowed.

podnet's choices where upstream leaves behaviour to the plugin:
- a pod always reaches itself (traffic to its own address never leaves its network namespace);
- pods with `hostNetwork: true` are never policy subjects and are matched by no pod or namespace
  selector; their traffic carries their node's address, which ipBlocks match;
- traffic from a node (or a host-network pod) to the pods on that same node is always allowed,
  as kubelet health probes need (Calico and Cilium behave so by default);
- admin tiers: `domainNames` peers match nothing. Data planes learn a name's addresses from the DNS
  answers a pod receives; the model has no names outside the cluster, and a cluster name resolves
  to a ClusterIP, which is translated to a pod's address before any policy sees the packet. So an
  Accept by domain name never opens anything in the model: the lower-precedence Deny it is meant
  to be paired with decides;
- admin tiers: a peer written only with fields podnet does not know fails closed, as upstream
  asks: it matches nothing in an Accept rule and makes a Deny or Pass rule deny everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from podnet.model.cluster import Cluster
from podnet.model.cluster_policy import (
    Action,
    ClusterPolicy,
    ClusterPolicyPeer,
    ClusterPolicyProtocol,
    ClusterPolicyRule,
    Tier,
)
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
class TierMatch:
    """The rule of an admin tier that matched a connection first: it decided the direction
    (Accept, Deny) or passed it on (Pass)."""

    policy: ClusterPolicy
    direction: str
    rule: int
    action: Action  # Deny for a Deny or Pass rule that fails closed
    peer: int | None  # the matching `from`/`to` item; None when the rule failed closed
    protocol: int | None  # the matching protocols/ports entry; None: the rule has none

    @property
    def fails_closed(self) -> bool:
        return self.peer is None


# Which tier decided a direction (`DirectionVerdict.tier`).
ADMIN, NETWORK_POLICY, BASELINE, DEFAULT = "admin", "networkpolicy", "baseline", "default"


@dataclass(frozen=True, slots=True)
class DirectionVerdict:
    """How one side decides: the admin rule that matched first, the NetworkPolicies selecting
    the pod and their rules that allow, and the baseline rule that matched first."""

    direction: str
    subject: Peer
    applies: bool  # False when this side is not a policy subject (external, host-network)
    selecting: tuple[NetworkPolicy, ...]
    allowing: tuple[RuleMatch, ...]
    admin: TierMatch | None = None
    baseline: TierMatch | None = None

    @property
    def isolated(self) -> bool:
        return bool(self.selecting)

    @property
    def tier(self) -> str:
        """The tier that decided: ADMIN, NETWORK_POLICY, BASELINE or DEFAULT (allowed)."""
        if self.admin is not None and self.admin.action != Action.Pass:
            return ADMIN
        if self.isolated:
            return NETWORK_POLICY
        if self.baseline is not None and self.baseline.action != Action.Pass:
            return BASELINE
        return DEFAULT

    @property
    def allowed(self) -> bool:
        tier = self.tier
        if tier == ADMIN:
            assert self.admin is not None
            return self.admin.action == Action.Accept
        if tier == NETWORK_POLICY:
            return bool(self.allowing)
        if tier == BASELINE:
            assert self.baseline is not None
            return self.baseline.action == Action.Accept
        return True


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


# The admin tiers -------------------------------------------------------------------------------


def cluster_policy_selects(cluster: Cluster, policy: ClusterPolicy, pod: Pod) -> bool:
    """Whether `policy`'s subject takes `pod` (never a host-network pod)."""
    if pod.host_network:
        return False
    subject = policy.subject
    namespace_labels = cluster.namespace_labels(pod.namespace)
    if subject.pods is not None:
        return subject.pods.namespace_selector.matches(
            namespace_labels
        ) and subject.pods.pod_selector.matches(pod.labels)
    assert subject.namespaces is not None
    return subject.namespaces.matches(namespace_labels)


def cluster_peer_matches(cluster: Cluster, peer: ClusterPolicyPeer, other: Peer) -> bool:
    """Whether the `from`/`to` item takes the other end of the connection. `namespaces` and
    `pods` take pods (not host-network ones); `networks` and `nodes` take addresses, so pod IPs
    and node IPs alike, and host-network pods on a selected node through its address."""
    if peer.namespaces is not None or peer.pods is not None:
        if not other.is_pod:
            return False
        assert other.pod is not None
        namespace_labels = cluster.namespace_labels(other.pod.namespace)
        if peer.namespaces is not None:
            return peer.namespaces.matches(namespace_labels)
        assert peer.pods is not None
        return peer.pods.namespace_selector.matches(
            namespace_labels
        ) and peer.pods.pod_selector.matches(other.pod.labels)
    if peer.nodes is not None:
        return any(other.ip in n.ips for n in cluster.nodes if peer.nodes.matches(n.labels))
    if peer.networks:
        return any(other.ip.version == n.version and other.ip in n for n in peer.networks)
    return False  # domainNames (see the module's docstring), unknown peers


def protocol_matches(entry: ClusterPolicyProtocol, port: int, protocol: str, dst: Peer) -> bool:
    """A named port resolves on the destination pod's container ports (the subject for
    ingress, the peer for egress), so it may be a different number on every pod."""
    if entry.named_port:
        if not dst.is_pod:
            return False
        assert dst.pod is not None
        return dst.pod.named_port(entry.named_port, protocol) == port
    if entry.protocol != protocol or entry.port is None:
        return False
    end = entry.end_port if entry.end_port is not None else entry.port
    return entry.port <= port <= end


def tier_rule_match(
    cluster: Cluster,
    policy: ClusterPolicy,
    direction: str,
    index: int,
    rule: ClusterPolicyRule,
    other: Peer,
    dst: Peer,
    port: int,
    protocol: str,
) -> TierMatch | None:
    if rule.fails_closed and rule.action != Action.Accept:
        return TierMatch(policy, direction, index, Action.Deny, None, None)
    peer = next(
        (i for i, p in enumerate(rule.peers) if cluster_peer_matches(cluster, p, other)), None
    )
    if peer is None:
        return None
    if not rule.protocols:
        return TierMatch(policy, direction, index, rule.action, peer, None)
    entry = next(
        (j for j, e in enumerate(rule.protocols) if protocol_matches(e, port, protocol, dst)),
        None,
    )
    if entry is None:
        return None
    return TierMatch(policy, direction, index, rule.action, peer, entry)


def tier_match(
    cluster: Cluster,
    tier: Tier,
    direction: str,
    subject: Pod,
    other: Peer,
    dst: Peer,
    port: int,
    protocol: str,
) -> TierMatch | None:
    """The first rule of `tier` that matches, policies in evaluation order, or None."""
    for policy in cluster.cluster_policies:
        if policy.tier != tier or not cluster_policy_selects(cluster, policy, subject):
            continue
        for i, rule in enumerate(policy.rules(direction)):
            found = tier_rule_match(cluster, policy, direction, i, rule, other, dst, port, protocol)
            if found is not None:
                return found
    return None


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
    if not cluster.cluster_policies:
        return DirectionVerdict(direction, subject, True, selecting, allowing)
    admin, baseline = (
        tier_match(cluster, t, direction, subject.pod, other, dst, port, protocol)
        for t in (Tier.Admin, Tier.Baseline)
    )
    return DirectionVerdict(direction, subject, True, selecting, allowing, admin, baseline)


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
