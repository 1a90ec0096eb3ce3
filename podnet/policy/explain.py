"""Why one connection is allowed or denied: per direction, the policies that select the pod and
the rule (with the peer and port entry) that allows it; when none does, what nearly matched (in a
rule whose ports match, a peer with one selector wrong; an ipBlock's `except`; in a rule whose
peers match, each port entry). In a cluster with admin tiers, also which tier decided and the
first admin and baseline rule that matched (`TierDecision`). Pure; built on `policy.semantics`,
rendered by `report.explain`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from podnet.errors import InvalidValue
from podnet.model.cluster import Cluster
from podnet.model.cluster_policy import BASELINE_ADMIN_NETWORK_POLICY, Action
from podnet.model.names import Named, NameKind, address_owner
from podnet.model.objects import (
    PROTOCOLS,
    NetworkPolicy,
    PolicyPeer,
    PolicyPort,
    PolicyType,
)
from podnet.policy import semantics
from podnet.policy.semantics import (
    DIRECTIONS,
    DirectionVerdict,
    Peer,
    TierMatch,
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
class NearMiss:
    """A `from`/`to` item or a `ports` entry that kept a rule of a selecting policy from allowing
    a denied connection, when the rest of the rule matched: one thing differs."""

    policy: str  # ns/name
    rule: str  # spec.ingress[0]
    field: str  # spec.ingress[0].from[1], spec.ingress[0].ports[0]
    kind: str  # one of NEAR_MISS_KINDS
    message: str
    file: str = ""
    line: int | None = None  # where `field` is written


NEAR_MISS_KINDS = (
    "namespace-selector",  # the item's namespaceSelector did not match; its podSelector did
    "pod-selector",  # the item's podSelector did not match; the namespace was the right one
    "policy-namespace",  # a podSelector alone matched the labels of a pod of another namespace
    "host-network",  # the selectors match a host-network pod, which selectors never take
    "ip-block-except",  # the address is in the ipBlock's cidr, but in one of its `except`s
    "protocol",  # the peers matched; the entry is of another protocol
    "port",  # the peers matched; the entry is another port
    "port-range",  # the peers matched; the port is outside the entry's port..endPort
    "named-port",  # the peers matched; the named port is not the destination's port
)


@dataclass(frozen=True, slots=True)
class TierDecision:
    """The admin or baseline rule that matched a direction first, located in its policy."""

    action: str  # Accept, Deny (also a Deny or Pass rule that fails closed) or Pass
    kind: str  # ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy
    policy: str  # its name (cluster-scoped)
    priority: int | None  # None for a BaselineAdminNetworkPolicy, which has none
    rule: str  # spec.ingress[1]
    name: str  # the rule's `name`, or ""
    peer: str  # "from[0] namespaces ns=y", or why the rule failed closed
    port: str  # "protocols[0] TCP/80" ("ports[0]" in v1alpha1), or "every port"
    file: str = ""
    line: int | None = None

    @property
    def title(self) -> str:
        """`ClusterNetworkPolicy deny-payments (priority 10)`."""
        if self.priority is None:
            return f"{self.kind} {self.policy}"
        return f"{self.kind} {self.policy} (priority {self.priority})"


@dataclass(frozen=True, slots=True)
class Tiers:
    """How the tiers decided one direction: `decided_by` is semantics' ADMIN, NETWORK_POLICY,
    BASELINE or DEFAULT; `admin` and `baseline` the first rule of each tier that matched (a
    tier below the one that decided is not consulted, so its rule is None)."""

    decided_by: str
    admin: TierDecision | None
    baseline: TierDecision | None


@dataclass(frozen=True, slots=True)
class Explanation:
    src: Peer
    dst: Peer
    port: int
    protocol: str
    exempt: str
    directions: tuple[DirectionVerdict, ...]
    reasons: dict[str, tuple[Reason, ...]]
    # Per denied direction, what nearly allowed it (empty for a direction that allows).
    near_misses: Mapping[str, tuple[NearMiss, ...]] = field(default_factory=dict)
    # Per direction whose subject is a pod, how the admin tiers decided; empty when the cluster
    # has no ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy.
    tiers: Mapping[str, Tiers] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return bool(self.exempt) or all(d.allowed for d in self.directions)


@dataclass(frozen=True, slots=True)
class Explanations:
    """One explanation per (source, destination) pair, when a name stands for several pods."""

    source: str  # the names as podnet prints them: shop/deploy/frontend, shop/svc/cart, ...
    target: str
    items: tuple[Explanation, ...]

    @property
    def allowed(self) -> int:
        """How many of the connections are allowed."""
        return sum(e.allowed for e in self.items)


def endpoint_peers(cluster: Cluster, named: Named, version: int | None = None) -> tuple[Peer, ...]:
    """The ends of connections a name stands for: each of its pods (a Service's: those it sends
    to), a node or an address. Pods and nodes are taken by their address of `version` (their
    primary one by default)."""
    if named.kind == NameKind.node:
        assert named.node is not None
        ips = [ip for ip in named.node.ips if version is None or ip.version == version]
        if not ips:
            raise _no_address("node", named.name, f"has no IPv{version} address")
        return (Peer(ips[0], None, named.node.name),)
    if named.kind == NameKind.address:
        assert named.address is not None
        return (peer_of_address(cluster, named.address),)
    if named.kind == NameKind.external:
        assert named.address is not None
        return (Peer(named.address),)
    if named.kind == NameKind.dns:
        why = "is neither a pod, a workload, a Service, a node nor an IP address"
        raise InvalidValue("name", named.text, why, message=f"{named.text!r} {why}")
    if not named.pods:  # a Service without endpoints
        why = "sends to no pod with an address"
        raise InvalidValue(named.kind, named.name, why, message=f"{named.name} {why}")
    for pod in named.pods:
        if version is not None and not any(ip.version == version for ip in pod.ips):
            raise _no_address("pod", pod.key, f"has no IPv{version} address")
    return tuple(pod_peer(pod, version) for pod in named.pods)


def _no_address(kind: str, name: str, why: str) -> InvalidValue:
    return InvalidValue(kind, name, why, message=f"{kind} {name} {why}")


def peer_of_address(cluster: Cluster, ip) -> Peer:  # type: ignore[no-untyped-def]
    """The pod that owns an address (not host-network), else the node, else outside."""
    pod, node = address_owner(cluster, ip)
    if pod is not None:
        return Peer(ip, pod, pod.node_name)
    return Peer(ip, None, node.name) if node is not None else Peer(ip)


def explain_names(
    cluster: Cluster,
    src: Named,
    dst: Named,
    port: int | None = None,
    protocol: str | None = None,
    version: int | None = None,
) -> Explanations:
    """Every connection from the pods (or node, or address) `src` names to those `dst` names.
    The port is `port`, else the one `dst` was given with, else the destination pod's first
    declared port; to a Service, its port is the Service's, translated to each pod's target
    port. Raises InvalidValue("port", ...) when no port settles."""
    sources, targets = (
        _peers(cluster, n, version, side) for n, side in ((src, "source"), (dst, "target"))
    )
    items = []
    for s in sources:
        for t in targets:
            if s.ip.version != t.ip.version:
                why = "are of different IP families"
                raise InvalidValue(
                    "name", dst.text, why, message=f"{s} ({s.ip}) and {t} ({t.ip}) {why}"
                )
            to_port, proto = _target_port(cluster, dst, t, port or dst.port, protocol)
            items.append(explain(cluster, s, t, to_port, proto))
    return Explanations(src.name, dst.name, tuple(items))


def _peers(cluster: Cluster, named: Named, version: int | None, side: str) -> tuple[Peer, ...]:
    """`endpoint_peers`, its errors naming the `side` ("source" or "target")."""
    try:
        return endpoint_peers(cluster, named, version)
    except InvalidValue as err:
        raise InvalidValue(side, named.text, str(err)) from None


def _target_port(
    cluster: Cluster, dst: Named, to: Peer, port: int | None, protocol: str | None
) -> tuple[int, str]:
    """The port and protocol the connection reaches `to` on: without one asked for, the first it
    declares, a Service's target port included."""
    proto = protocol or "TCP"
    if dst.service is not None:
        service = dst.service
        ports = [p for p in service.ports if p.protocol == proto]
        listed = ", ".join(f"{p.port}/{p.protocol}" for p in service.ports) or "none"
        chosen = [p for p in ports if port is None or p.port == port]
        if len(chosen) != 1:
            why = (
                f"has no port {port}/{proto} ({listed})"
                if port is not None
                else f"has several or no {proto} ports ({listed})"
            )
            raise InvalidValue("port", dst.name, why, message=f"Service {service.key} {why}")
        target = chosen[0].target
        if isinstance(target, str):
            number = to.pod.named_port(target, proto) if to.pod is not None else None
            if number is None:
                why = f"declares no {proto} port named {target} (Service {service.key})"
                raise InvalidValue("port", str(to), why, message=f"{to} {why}")
            target = number
        return target, proto
    if port is not None:
        return port, proto
    from podnet.policy.engine import declared_ports  # NumPy: loaded only when it is needed

    declared = declared_ports([to.pod] if to.pod else [], cluster)
    declared = [pp for pp in declared if protocol is None or pp[1] == protocol]
    if not declared:
        why = f"declares no {protocol + ' ' if protocol else ''}port"
        name = dst.text if len(dst.pods) <= 1 else str(to)
        raise InvalidValue("port", name, why, message=f"{name} {why}")
    return declared[0]


def explain(cluster: Cluster, src: Peer, dst: Peer, port: int, protocol: str) -> Explanation:
    if protocol not in PROTOCOLS:
        why = f"must be one of {', '.join(PROTOCOLS)}"
        raise InvalidValue("protocol", protocol, why, message=f"protocol {protocol!r}: {why}")
    # The source's egress first: the order a packet meets them.
    verdicts = tuple(
        direction_verdict(cluster, d, src, dst, port, protocol) for d in reversed(DIRECTIONS)
    )
    reasons = {v.direction: tuple(_reasons(cluster, v, src, dst, port, protocol)) for v in verdicts}
    near = {v.direction: tuple(near_misses(cluster, v, src, dst, port, protocol)) for v in verdicts}
    tiers = {}
    if cluster.cluster_policies:
        tiers = {v.direction: _tiers(v) for v in verdicts if v.applies}
    return Explanation(src, dst, port, protocol, exempt(src, dst), verdicts, reasons, near, tiers)


def _tiers(v: DirectionVerdict) -> Tiers:
    decided = v.tier
    baseline = v.baseline if decided in (semantics.BASELINE, semantics.DEFAULT) else None
    return Tiers(decided, _decision(v.admin), _decision(baseline))


def _decision(m: TierMatch | None) -> TierDecision | None:
    if m is None:
        return None
    pol = m.policy
    rule = pol.rules(m.direction)[m.rule]
    field = f"spec.{m.direction.lower()}[{m.rule}]"
    peers_key = "to" if m.direction == PolicyType.Egress else "from"
    if m.peer is None:
        i, unknown = next((i, p) for i, p in enumerate(rule.peers) if p.fails_closed)
        peer = (
            f"{peers_key}[{i}] sets only fields podnet does not know ({', '.join(unknown.unknown)}):"
            f" a {rule.action} rule with such a peer fails closed and denies everything"
        )
        action = Action.Deny
    else:
        peer = f"{peers_key}[{m.peer}] {rule.peers[m.peer]}"
        action = m.action
    port = (
        "every port"
        if m.protocol is None
        else f"{pol.ports_field}[{m.protocol}] {rule.protocols[m.protocol]}"
    )
    priority = None if pol.kind == BASELINE_ADMIN_NETWORK_POLICY else pol.priority
    return TierDecision(
        str(action),
        pol.kind,
        pol.name,
        priority,
        field,
        rule.name,
        peer,
        port,
        pol.origin.file,
        pol.origin.line_of(field),
    )


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


# What nearly matched ------------------------------------------------------------------------------


def near_misses(
    cluster: Cluster, v: DirectionVerdict, src: Peer, dst: Peer, port: int, protocol: str
) -> list[NearMiss]:
    """For a direction that denies: in each rule of the selecting policies whose ports match, the
    peers that nearly take the other end; in each rule whose peers match, every port entry and
    how it differs. Rules that differ in both are not near."""
    if not v.applies or v.allowed:
        return []
    other = dst if v.direction == PolicyType.Egress else src
    peers_key = "to" if v.direction == PolicyType.Egress else "from"
    out = []
    for pol in v.selecting:
        for r, rule in enumerate(pol.rules(v.direction)):
            base = f"spec.{v.direction.lower()}[{r}]"
            peers_ok = not rule.peers or any(
                peer_matches(cluster, pol, p, other) for p in rule.peers
            )
            ports_ok = not rule.ports or any(
                port_matches(e, port, protocol, dst) for e in rule.ports
            )
            if peers_ok:
                misses = [
                    (f"ports[{j}]", _port_miss(e, port, protocol, dst))
                    for j, e in enumerate(rule.ports)
                ]
            elif ports_ok:
                misses = [
                    (f"{peers_key}[{p}]", _peer_miss(cluster, pol, peer, other))
                    for p, peer in enumerate(rule.peers)
                ]
            else:
                misses = []
            for where, miss in misses:
                if miss is not None:
                    out.append(_near_miss(pol, base, f"{base}.{where}", *miss))
    return out


def _near_miss(pol: NetworkPolicy, rule: str, field: str, kind: str, message: str) -> NearMiss:
    line = pol.origin.line_of(field)
    return NearMiss(pol.key, rule, field, kind, message, pol.origin.file, line)


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"


def _peer_miss(
    cluster: Cluster, pol: NetworkPolicy, peer: PolicyPeer, other: Peer
) -> tuple[str, str] | None:
    """How a `from`/`to` item that does not take `other` nearly does, or None."""
    if peer.ip_block is not None:
        block = peer.ip_block
        if other.ip.version != block.cidr.version or other.ip not in block.cidr:
            return None
        excepted = next(e for e in block.except_ if other.ip in e)
        return (
            "ip-block-except",
            f"ipBlock {block.cidr} contains {other.ip}, but its except {excepted} leaves it out",
        )
    pod = other.pod
    if pod is None:
        return None
    ns_labels = cluster.namespace_labels(pod.namespace)
    if peer.namespace_selector is None:
        ns_ok = pod.namespace == pol.namespace
    else:
        ns_ok = peer.namespace_selector.matches(ns_labels)
    pod_ok = peer.pod_selector is None or peer.pod_selector.matches(pod.labels)
    if pod.host_network:
        if ns_ok and pod_ok:
            return (
                "host-network",
                f"{peer} would match {pod.key}, but it runs on the host network, which no selector"
                f" matches: its traffic carries its node's address {other.ip}, which only an"
                " ipBlock matches",
            )
        return None
    if pod_ok and not ns_ok:
        if peer.namespace_selector is None:
            return (
                "policy-namespace",
                f"podSelector {peer.pod_selector} matches {pod.key}, but without a"
                f" namespaceSelector in the same item it selects only pods of the policy's"
                f" namespace {pol.namespace}, and {pod.key} is in {pod.namespace}",
            )
        if peer.pod_selector is None:
            return (
                "namespace-selector",
                f"namespaceSelector {peer.namespace_selector} does not match the namespace"
                f" {pod.namespace} of {pod.key} (labels {_labels(ns_labels)})",
            )
        return (
            "namespace-selector",
            f"podSelector {peer.pod_selector} matches {pod.key}, but namespaceSelector"
            f" {peer.namespace_selector} does not match its namespace {pod.namespace}"
            f" (labels {_labels(ns_labels)})",
        )
    if ns_ok and not pod_ok:
        where = (
            ""
            if peer.namespace_selector is None
            else f"namespaceSelector {peer.namespace_selector} matches namespace {pod.namespace},"
            " but "
        )
        return (
            "pod-selector",
            f"{where}podSelector {peer.pod_selector} does not match {pod.key}"
            f" (labels {_labels(pod.labels)})",
        )
    return None


def _port_miss(entry: PolicyPort, port: int, protocol: str, dst: Peer) -> tuple[str, str] | None:
    """How a port entry of a rule whose peers match differs from the connection's port."""
    if port_matches(entry, port, protocol, dst):
        return None
    if entry.protocol != protocol:
        return "protocol", f"{entry} is {entry.protocol}; the connection is {protocol}/{port}"
    if isinstance(entry.port, str):
        if not dst.is_pod:
            what = "on the host network" if dst.pod is not None else "not a pod"
            return (
                "named-port",
                f"{entry}: a named port is resolved on the destination pod's container ports,"
                f" and {dst} is {what}",
            )
        assert dst.pod is not None
        number = dst.pod.named_port(entry.port, protocol)
        if number is None:
            return (
                "named-port",
                f"{entry}: {dst.pod.key} declares no {protocol} container port named {entry.port}",
            )
        return (
            "named-port",
            f"{entry}: {dst.pod.key}'s port {entry.port} is {number}; the connection is to {port}",
        )
    if entry.end_port is not None:
        return "port-range", f"{entry}: {port} is outside {entry.port}-{entry.end_port}"
    return "port", f"{entry}: the connection is to {protocol}/{port}"
